import * as vscode from 'vscode';
import { registerCommands, showErrorWithOutput } from './commands/registerCommands';
import { readWorkerLaunchOptions } from './config/readSettings';
import { type DashboardDependencies, DashboardPanel } from './panels/dashboardPanel';
import { EngineService } from './workerHost/engineService';

/** What `activate` returns: the services other extensions and the integration tests talk to. */
export interface SynthPairApi {
  engine: EngineService;
  currentDashboard(): DashboardPanel | undefined;
  output: vscode.LogOutputChannel;
}

export function activate(context: vscode.ExtensionContext): SynthPairApi {
  const output = vscode.window.createOutputChannel('SynthPair', { log: true });
  const engine = new EngineService({
    workerScript: vscode.Uri.joinPath(context.extensionUri, 'dist', 'worker.js').fsPath,
    launchOptions: () => readWorkerLaunchOptions(context.extensionUri, output),
    log: (level, message) => output[level === 'debug' ? 'debug' : level](`worker: ${message}`),
  });
  engine.on('crashed', (error) => {
    output.error(`${error.message}. Last output of the worker:\n${error.lastLines.join('\n') || '(none)'}`);
    const tail = error.lastLines.slice(-3).join(' | ');
    void showErrorWithOutput(`${error.message}.${tail ? ` Last output: ${tail}` : ''}`, output);
  });

  const dependencies: DashboardDependencies = { extensionUri: context.extensionUri, engine, output };
  context.subscriptions.push(
    output,
    { dispose: () => engine.dispose() },
    ...registerCommands(dependencies),
    vscode.window.registerWebviewPanelSerializer(DashboardPanel.viewType, {
      deserializeWebviewPanel: async (panel) => {
        DashboardPanel.revive(panel, dependencies);
      },
    }),
  );
  return { engine, currentDashboard: () => DashboardPanel.current, output };
}
