import * as vscode from 'vscode';
import { formatBackendReport } from '../../shared/backendReportText';
import type { BackendReport } from '../../shared/protocol/backend';
import { describeWireError, toWireError } from '../../shared/protocol/errors';
import { commandDefinitions } from '../manifest/commandIds';
import { showErrorWithOutput } from '../output';
import type { EngineService } from './engineService';

/** Show Backend Info: writes which TF.js backend the engine worker runs, and why, to the output channel. */
export function registerBackendInfoCommand(
  engine: EngineService,
  output: vscode.LogOutputChannel,
): vscode.Disposable {
  return vscode.commands.registerCommand(
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
  );
}
