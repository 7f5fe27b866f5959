import * as vscode from 'vscode';
import { isExperimentFileName } from '../../shared/config/experiment/choices';
import { commandDefinitions, contextKeys } from '../manifest/commandIds';
import type { RunsNode } from '../runs/runsTree';
import { completeWalkthroughStep } from '../walkthrough/walkthrough';
import { type DashboardDependencies, DashboardPanel } from './dashboardPanel';

/**
 * Open Dashboard. From an experiment's editor title or context menu the command gets that file, from the Runs
 * view an experiment, a run or a study's trial, from a notification a run folder, from the palette nothing
 * (the active experiment, if any).
 */
export function registerOpenDashboardCommand(dependencies: DashboardDependencies): vscode.Disposable {
  /** Shows the run selected, with the experiment it was trained from. */
  async function showRun(runDir: string, configFile: string | undefined): Promise<void> {
    // A run that has only just appeared (a trial's first epoch) may not be in the catalog yet, and the
    // dashboard selects only runs it lists.
    if (!dependencies.catalog.findRun(runDir)) await dependencies.catalog.refresh();
    const run = dependencies.catalog.findRun(runDir);
    const dashboard = DashboardPanel.createOrShow(dependencies, run?.status.configFile ?? configFile);
    await dashboard.selectRun(runDir);
  }

  return vscode.commands.registerCommand(
    commandDefinitions.openDashboard.id,
    async (target?: vscode.Uri | RunsNode) => {
      completeWalkthroughStep(contextKeys.walkthroughDashboardOpened);
      if (target instanceof vscode.Uri) {
        if (isExperimentFileName(target.fsPath)) DashboardPanel.createOrShow(dependencies, target.fsPath);
        else await showRun(target.fsPath, undefined);
      } else if (target?.kind === 'config') {
        DashboardPanel.createOrShow(dependencies, target.file);
      } else if (target?.kind === 'run') {
        await showRun(target.summary.dir, target.summary.status.configFile);
      } else if (target?.kind === 'trial') {
        await showRun(target.trial.dir, target.experimentFile);
      } else {
        DashboardPanel.createOrShow(dependencies);
      }
    },
  );
}
