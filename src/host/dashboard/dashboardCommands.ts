import * as vscode from 'vscode';
import { formatBackendReport } from '../../shared/backendReportText';
import type { BackendReport } from '../../shared/protocol/backend';
import { describeWireError, toWireError } from '../../shared/protocol/errors';
import { commandDefinitions } from '../manifest/commandIds';
import type { RunsNode } from '../runs/runsTree';
import { type DashboardDependencies, DashboardPanel } from './dashboardPanel';

export function registerCommands(dependencies: DashboardDependencies): vscode.Disposable[] {
  const { engine, output } = dependencies;
  return [
    vscode.commands.registerCommand(
      commandDefinitions.showBackendInfo.id,
      async (): Promise<BackendReport | undefined> => {
        try {
          const report = await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Window, title: 'SynthPair: selecting a TF.js backend' },
            () => engine.backendReport(),
          );
          for (const line of formatBackendReport(report).split('\n')) {
            output.info(line);
          }
          output.show(true);
          return report;
        } catch (error) {
          const message = describeWireError(toWireError(error));
          output.error(`Backend selection failed: ${message}`);
          void showErrorWithOutput(`SynthPair could not start a TF.js backend: ${message}`, output);
          return undefined;
        }
      },
    ),
    // From an experiment's editor title or context menu the command gets that file, from the Runs view an
    // experiment or a run, from the palette nothing (the active experiment, if any).
    vscode.commands.registerCommand(
      commandDefinitions.openDashboard.id,
      async (target?: vscode.Uri | RunsNode) => {
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
    ),
  ];
}

export async function showErrorWithOutput(message: string, output: vscode.OutputChannel): Promise<void> {
  const choice = await vscode.window.showErrorMessage(message, 'Show Output');
  if (choice === 'Show Output') {
    output.show();
  }
}
