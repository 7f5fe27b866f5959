import * as vscode from 'vscode';
import { commandDefinitions, contextKeys } from '../manifest/commandIds';
import type { RunsNode } from '../runs/runsTree';
import { completeWalkthroughStep } from '../walkthrough/walkthrough';
import { type DashboardDependencies, DashboardPanel } from './dashboardPanel';

/**
 * Open Dashboard. From an experiment's editor title or context menu the command gets that file, from the Runs
 * view an experiment or a run, from the palette nothing (the active experiment, if any).
 */
export function registerOpenDashboardCommand(dependencies: DashboardDependencies): vscode.Disposable {
  return vscode.commands.registerCommand(
    commandDefinitions.openDashboard.id,
    async (target?: vscode.Uri | RunsNode) => {
      completeWalkthroughStep(contextKeys.walkthroughDashboardOpened);
      if (target instanceof vscode.Uri) {
        DashboardPanel.createOrShow(dependencies, target.fsPath);
      } else if (target?.kind === 'config') {
        DashboardPanel.createOrShow(dependencies, target.file);
      } else if (target?.kind === 'run') {
        const dashboard = DashboardPanel.createOrShow(dependencies, target.summary.status.configFile);
        await dashboard.selectRun(target.summary.dir);
      } else {
        DashboardPanel.createOrShow(dependencies);
      }
    },
  );
}
