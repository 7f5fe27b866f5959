import * as vscode from 'vscode';
import { planStudy } from '../../shared/study/plan';
import { commandDefinitions } from '../manifest/commandIds';
import { describeStudyProgress, describeTrialCounts } from './describeStudy';
import type { StudyCatalog } from './studyCatalog';

/**
 * The actions at the top of a study file: Run Study, or Cancel Study with how far it has got while it works,
 * the study panel, and a summary of its trials.
 */
export class StudyCodeLensProvider implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changeEmitter.event;
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly studies: StudyCatalog) {
    const changed = () => this.changeEmitter.fire();
    this.subscriptions = [
      studies.onDidChange(changed),
      vscode.workspace.onDidGrantWorkspaceTrust(changed),
      // Why the experiment file's lenses are asked again when the active editor changes: codeLens.ts.
      vscode.window.onDidChangeActiveTextEditor(changed),
      this.changeEmitter,
    ];
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    const lens = (title: string, command: string, tooltip: string, ...args: unknown[]) =>
      new vscode.CodeLens(top, { title, command, tooltip, arguments: args });
    const { runStudy, cancelStudy, openStudyPanel } = commandDefinitions;
    const entry = this.studies.get(document.uri.fsPath);
    const trials = entry?.state?.trials ?? [];
    const lenses: vscode.CodeLens[] = [];
    if (entry?.active) {
      lenses.push(
        lens(
          `$(debug-stop) Cancel Study (${trials.length > 0 ? describeStudyProgress(trials) : 'starting'})`,
          cancelStudy.id,
          'Stop the local queue and cancel the Slurm arrays; training trials stop after their step',
          document.uri,
        ),
      );
    } else if (!vscode.workspace.isTrusted) {
      lenses.push(
        lens(
          '$(shield) Run Study (trust the workspace first)',
          runStudy.id,
          'Studies execute training code and are disabled in Restricted Mode',
          document.uri,
        ),
      );
    } else {
      lenses.push(
        lens(
          '$(play) Run Study',
          runStudy.id,
          'Train the trials not yet completed, as the saved file says: completed ones are kept, stopped ones resume',
          document.uri,
        ),
      );
    }
    lenses.push(
      lens(
        '$(table) Open Study Panel',
        openStudyPanel.id,
        'Trials and the table of this study',
        document.uri,
      ),
    );
    const summary = this.summary(entry);
    if (summary)
      lenses.push(lens(summary, openStudyPanel.id, 'Trials and the table of this study', document.uri));
    return lenses;
  }

  private summary(entry: ReturnType<StudyCatalog['get']>): string | undefined {
    if (!entry) return undefined;
    if (entry.problem !== undefined) return '$(error) Not a valid study: see Problems';
    if (entry.state) {
      const { trials } = entry.state;
      return `${trials.length} trial${trials.length === 1 ? '' : 's'}: ${describeTrialCounts(trials)}`;
    }
    if (!entry.study) return undefined;
    const planned = planStudy(entry.study, entry.file).trials.length;
    return `Not run yet: ${planned} trial${planned === 1 ? '' : 's'}`;
  }
}
