import * as vscode from 'vscode';
import { commandDefinitions } from '../manifest/commandIds';
import type { RunCatalog } from '../runs/runCatalog';
import type { RunController } from '../runs/runController';
import { onRunsChanged } from '../runs/runsChanged';
import { describeProgress } from '../runs/trainingStatus';

/**
 * The actions at the top of an experiment file: Run or Stop (with the progress) depending on whether it
 * trains, Resume when its newest run stopped or failed, and the dashboard.
 */
export class ExperimentCodeLensProvider implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changeEmitter.event;
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly catalog: RunCatalog,
    private readonly controller: RunController,
  ) {
    const changes = onRunsChanged(catalog, controller, () => this.changeEmitter.fire(), 500);
    this.subscriptions = [
      changes,
      vscode.workspace.onDidGrantWorkspaceTrust(() => changes.schedule()),
      // VS Code drops an editor's pending lens request when the editor loses focus, and until something asks
      // again that editor shows the lenses it cached, without their commands: a Run drawn as text that cannot
      // be clicked. A request is pending after every provider registration anywhere (another extension
      // activating), and focus often leaves at the same moment, as when the walkthrough opens beside a new
      // user's experiment and focuses its first step. The active editor changes then, so ask again.
      vscode.window.onDidChangeActiveTextEditor(() => changes.schedule()),
      this.changeEmitter,
    ];
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const file = document.uri.fsPath;
    const top = new vscode.Range(0, 0, 0, 0);
    const lens = (title: string, command: string, tooltip: string, ...args: unknown[]) =>
      new vscode.CodeLens(top, { title, command, tooltip, arguments: args });
    const lenses: vscode.CodeLens[] = [];
    const training = this.controller.running.find((run) => run.request.configFile === file);
    const queued = this.controller.queued.find((request) => request.configFile === file);
    const latest = this.catalog.latestRunOf(file);
    const { runExperiment, stopRun, resumeRun, openDashboard } = commandDefinitions;
    if (training) {
      lenses.push(
        lens(
          `$(debug-stop) Stop (${describeProgress(training)})`,
          stopRun.id,
          'Stop after the current step',
          document.uri,
        ),
      );
    } else if (queued) {
      lenses.push(
        lens('$(watch) Queued: Cancel', stopRun.id, 'Take this run out of the queue', document.uri),
      );
    } else if (latest?.livePid !== undefined) {
      lenses.push(
        lens(
          `$(debug-stop) Stop (trained by process ${latest.livePid})`,
          stopRun.id,
          'Stop the run another process trains',
          document.uri,
        ),
      );
    } else if (!vscode.workspace.isTrusted) {
      lenses.push(
        lens(
          '$(shield) Run (trust the workspace first)',
          runExperiment.id,
          'Runs execute training code and are disabled in Restricted Mode',
          document.uri,
        ),
      );
    } else {
      lenses.push(
        lens(
          '$(play) Run',
          runExperiment.id,
          'Train this experiment as it is in the editor, saved or not',
          document.uri,
        ),
      );
      if (latest && (latest.state === 'stopped' || latest.state === 'failed')) {
        lenses.push(
          lens(
            `$(debug-continue) Resume ${latest.status.name} (epoch ${latest.status.epoch})`,
            resumeRun.id,
            `Continue ${latest.dir} from its last checkpoint`,
            vscode.Uri.file(latest.dir),
          ),
        );
      }
    }
    lenses.push(
      lens(
        '$(graph) Open Dashboard',
        openDashboard.id,
        'Curves, heatmaps and pairs of this experiment',
        document.uri,
      ),
    );
    return lenses;
  }
}
