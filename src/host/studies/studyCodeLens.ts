import * as vscode from 'vscode';
import { describeTrialCounts } from '../../shared/study/trialCounts';
import { commandDefinitions } from '../manifest/commandIds';
import { describeStudyStatus } from './describeStudy';
import type { StudyCatalog, StudyEntry } from './studyCatalog';

export interface StudyCodeLensOptions {
  /** The least time between two signals of changed lenses; see `signal`. */
  signalIntervalMs?: number;
}

interface StudyLens {
  title: string;
  command: string;
  tooltip: string;
}

/**
 * The actions at the top of a study file: Run Study, or Cancel Study with how far it has got while it works,
 * the study panel, and, while it is idle, how far its trials got.
 */
export class StudyCodeLensProvider implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changeEmitter.event;
  private readonly subscriptions: vscode.Disposable[];
  private readonly signalIntervalMs: number;
  /** Every study's lenses as last signalled: a change of the catalog they do not show signals nothing. */
  private signalled: string;
  private signalTimer: NodeJS.Timeout | undefined;
  private signalDue = false;

  constructor(
    private readonly studies: Pick<StudyCatalog, 'onDidChange' | 'get' | 'studies'>,
    options: StudyCodeLensOptions = {},
  ) {
    this.signalIntervalMs = options.signalIntervalMs ?? 1000;
    this.signalled = this.lensesOfEveryStudy();
    this.subscriptions = [
      studies.onDidChange(() => {
        const lenses = this.lensesOfEveryStudy();
        if (lenses === this.signalled) return;
        this.signalled = lenses;
        this.signal();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.signal()),
      // Why the experiment file's lenses are asked again when the active editor changes: codeLens.ts.
      vscode.window.onDidChangeActiveTextEditor(() => this.signal()),
      this.changeEmitter,
      { dispose: () => clearTimeout(this.signalTimer) },
    ];
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    return this.lensesOf(this.studies.get(document.uri.fsPath)).map(
      ({ title, command, tooltip }) =>
        new vscode.CodeLens(top, { title, command, tooltip, arguments: [document.uri] }),
    );
  }

  /**
   * VS Code asks for lenses once its debounce (as long as lenses took to come, 250 ms at least) has passed
   * without a signal, and each signal starts it again: lenses signalled as often as a study's short trials
   * start and fail would stay as they were until the study settled. So a change is signalled at once, and
   * those that follow it within `signalIntervalMs` together once that has passed.
   */
  private signal(): void {
    if (this.signalTimer) {
      this.signalDue = true;
      return;
    }
    this.changeEmitter.fire();
    this.signalTimer = setTimeout(() => {
      this.signalTimer = undefined;
      if (!this.signalDue) return;
      this.signalDue = false;
      this.signal();
    }, this.signalIntervalMs);
  }

  private lensesOfEveryStudy(): string {
    return JSON.stringify(this.studies.studies.map((entry) => [entry.file, this.lensesOf(entry)]));
  }

  private lensesOf(entry: StudyEntry | undefined): StudyLens[] {
    const { runStudy, cancelStudy, openStudyPanel } = commandDefinitions;
    const panel: StudyLens = {
      title: '$(table) Open Study Panel',
      command: openStudyPanel.id,
      tooltip: 'Trials and the table of this study',
    };
    const counts = entry?.state
      ? `${entry.state.trials.length} trials: ${describeTrialCounts(entry.state.trials)}`
      : undefined;
    if (entry?.active) {
      return [
        {
          title: `$(debug-stop) Cancel Study · ${describeStudyStatus(entry) ?? 'starting'}`,
          command: cancelStudy.id,
          tooltip: [
            'Stop the local queue and cancel the Slurm arrays; training trials stop after their step',
            counts,
          ]
            .filter(Boolean)
            .join('\n'),
        },
        panel,
      ];
    }
    const run: StudyLens = vscode.workspace.isTrusted
      ? {
          title: '$(play) Run Study',
          command: runStudy.id,
          tooltip:
            'Train the trials not yet completed, as the saved file says: completed ones are kept, stopped ones resume',
        }
      : {
          title: '$(shield) Run Study (trust the workspace first)',
          command: runStudy.id,
          tooltip: 'Studies execute training code and are disabled in Restricted Mode',
        };
    if (!entry) return [run, panel];
    const summary =
      entry.problem === undefined ? describeStudyStatus(entry) : '$(error) Not a valid study: see Problems';
    return summary
      ? [run, panel, { title: summary, command: openStudyPanel.id, tooltip: counts ?? panel.tooltip }]
      : [run, panel];
  }
}
