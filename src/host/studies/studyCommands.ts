import { access } from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import { isStudyFileName, studyFileSuffix } from '../../shared/config/study/definitions';
import { type StudyTable, tableCsv, tableMarkdown } from '../../shared/study/table';
import { commandDefinitions, contextKeys } from '../manifest/commandIds';
import { showErrorWithOutput } from '../output';
import { requireTrust } from '../runs/runCommands';
import { describeTrialProgress } from './describeStudy';
import { type StudyCatalog, type StudyEntry, studyLabelOf } from './studyCatalog';
import { type StudyCli, type StudyCliOutcome, studyExitCodes } from './studyCli';
import type { StudyNode } from './studyTree';

export type StudyTableFormat = 'md' | 'csv' | 'json';

export interface StudyCommandDependencies {
  studies: StudyCatalog;
  cli: StudyCli;
  /** The studies' output channel, where the CLI's output goes. */
  output: vscode.LogOutputChannel;
  openPanel(studyFile: string): void;
}

/** What a command was invoked on: nothing (palette), a study file (editor, explorer, CodeLens, panel), or a node. */
type Target = vscode.Uri | StudyNode | undefined;

const tableFormats: Record<StudyTableFormat, { filter: string; render(table: StudyTable): string }> = {
  md: { filter: 'Markdown table', render: tableMarkdown },
  csv: { filter: 'CSV table', render: tableCsv },
  json: { filter: 'JSON', render: (table) => `${JSON.stringify(table, null, 2)}\n` },
};

function isStudyNode(target: unknown): target is StudyNode {
  return (
    typeof target === 'object' &&
    target !== null &&
    !(target instanceof vscode.Uri) &&
    'kind' in target &&
    (target.kind === 'study' || target.kind === 'condition' || target.kind === 'trial')
  );
}

/** The workspace folder of a study file, where its `study` commands run as if typed in a terminal there. */
function workingFolderOf(file: string): string {
  return vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file))?.uri.fsPath ?? path.dirname(file);
}

/**
 * Run Study, Cancel Study, Open Study Panel, Export Study Table and Open Trial Log. A study trains in a
 * `synthpair study run` of its own, the CLI the extension bundles, so it trains the same from VS Code, a
 * terminal or a Slurm login node; the editor's buttons follow the study's state as the catalog reads it,
 * wherever it was started.
 */
export function registerStudyCommands(dependencies: StudyCommandDependencies): vscode.Disposable[] {
  const { studies, cli, output } = dependencies;

  async function pickStudy(
    target: Target,
    placeHolder: string,
    offered: (entry: StudyEntry) => boolean,
  ): Promise<string | undefined> {
    if (target instanceof vscode.Uri) {
      if (isStudyFileName(target.fsPath)) return target.fsPath;
      void vscode.window.showErrorMessage(
        `SynthPair: ${path.basename(target.fsPath)} is not a study (*${studyFileSuffix}).`,
      );
      return undefined;
    }
    if (isStudyNode(target)) return target.file;
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active?.scheme === 'file' && isStudyFileName(active.fsPath)) return active.fsPath;
    const candidates = studies.studies.filter(offered);
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage(
        `SynthPair: no study to choose (${placeHolder.toLowerCase()}).`,
      );
      return undefined;
    }
    if (candidates.length === 1) return candidates[0]!.file;
    const picked = await vscode.window.showQuickPick(
      candidates.map((entry) => ({
        label: studyLabelOf(entry),
        description: vscode.workspace.asRelativePath(entry.file),
        file: entry.file,
      })),
      { placeHolder },
    );
    return picked?.file;
  }

  async function runStudy(target: Target): Promise<number | undefined> {
    if (!requireTrust()) return undefined;
    const file = await pickStudy(target, 'Study to run', (entry) => !entry.active);
    if (!file) return undefined;
    const entry = studies.get(file);
    const name = entry ? studyLabelOf(entry) : path.basename(file, studyFileSuffix);
    if (entry?.active || cli.isRunning(file)) {
      const progress = entry?.state ? ` (${describeTrialProgress(entry.state.trials)})` : '';
      void vscode.window.showInformationMessage(
        `SynthPair: study ${name} is already working${progress}; Cancel Study stops it.`,
      );
      return undefined;
    }
    // The CLI reads the study from disk: it runs what the editor shows only once that is saved.
    const document = vscode.workspace.textDocuments.find((open) => open.uri.fsPath === file);
    if (document?.isDirty && !(await document.save())) return undefined;
    const started = cli.run(file, workingFolderOf(file));
    studies.trackLaunch(file, started.exited);
    void started.exited.then((outcome) => announceRun(file, name, outcome));
    return started.pid;
  }

  async function announceRun(file: string, name: string, outcome: StudyCliOutcome): Promise<void> {
    await studies.refresh([file]);
    const entry = studies.get(file);
    const trials = entry?.state?.trials ?? [];
    switch (outcome.code) {
      case studyExitCodes.completed: {
        if (entry?.study?.executor.kind === 'slurm' && entry.active) {
          output.info(`${name}: submitted to Slurm`);
          void vscode.window.showInformationMessage(
            `SynthPair: study ${name} was submitted to Slurm; the Runs view follows its trials.`,
          );
          return;
        }
        const open = 'Open Study Panel';
        const choice = await vscode.window.showInformationMessage(
          `SynthPair: study ${name}: all ${trials.length} trials completed.`,
          open,
        );
        if (choice === open) dependencies.openPanel(file);
        return;
      }
      case studyExitCodes.stopped:
        void vscode.window.showInformationMessage(
          `SynthPair: study ${name} stopped; Run Study resumes the trials that had started.`,
        );
        return;
      case studyExitCodes.trialFailed: {
        const failed = trials.filter((trial) => trial.state === 'failed').length;
        void showErrorWithOutput(
          failed > 0
            ? `SynthPair: study ${name}: ${failed} trial${failed === 1 ? '' : 's'} failed.`
            : `SynthPair: study ${name} failed: ${outcome.message ?? 'see the output'}`,
          output,
        );
        return;
      }
      default:
        void showErrorWithOutput(
          `SynthPair: study ${name}: ${outcome.message ?? describeExit(outcome)}`,
          output,
        );
    }
  }

  async function cancelStudy(target: Target): Promise<number | undefined> {
    const file = await pickStudy(target, 'Study to cancel', (entry) => entry.active);
    if (!file) return undefined;
    const name = path.basename(file, studyFileSuffix);
    // The catalog may not yet have read what a study started elsewhere (a terminal, a login node) wrote.
    await studies.refresh([file]);
    if (!studies.get(file)?.active && !cli.isRunning(file)) {
      void vscode.window.showInformationMessage(`SynthPair: study ${name}: nothing queued or training.`);
      return undefined;
    }
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `SynthPair: cancelling study ${name}…` },
      () => cli.cancel(file, workingFolderOf(file)),
    );
    await studies.refresh([file]);
    if (outcome.code !== 0) {
      void showErrorWithOutput(
        `SynthPair: study ${name} could not be cancelled: ${outcome.message ?? describeExit(outcome)}`,
        output,
      );
    }
    return outcome.code ?? undefined;
  }

  /** Writes the table where the save dialog says, or to `destination` when the caller (a test) gives one. */
  async function exportStudyTable(
    target: Target,
    format?: StudyTableFormat,
    destination?: vscode.Uri,
  ): Promise<vscode.Uri | undefined> {
    const file = await pickStudy(target, 'Study whose table to export', (entry) => entry.state !== undefined);
    if (!file) return undefined;
    await studies.refresh([file]);
    const state = studies.get(file)?.state;
    if (!state) {
      void vscode.window.showInformationMessage(
        `SynthPair: study ${path.basename(file, studyFileSuffix)} has not run yet: there is no table to export.`,
      );
      return undefined;
    }
    const wanted = format ?? 'md';
    const suggested = vscode.Uri.file(
      path.join(path.dirname(file), `${state.manifest.name}-table.${wanted}`),
    );
    const chosenFile =
      destination ??
      (await vscode.window.showSaveDialog({
        defaultUri: suggested,
        // The format asked for first, so the dialog offers it; the name's extension decides.
        filters: Object.fromEntries(
          [
            wanted,
            ...(Object.keys(tableFormats) as StudyTableFormat[]).filter((other) => other !== wanted),
          ].map((kind) => [tableFormats[kind].filter, [kind]]),
        ),
        title: 'Export Study Table',
      }));
    if (!chosenFile) return undefined;
    const extension = path.extname(chosenFile.fsPath).slice(1);
    const chosen = Object.hasOwn(tableFormats, extension) ? (extension as StudyTableFormat) : wanted;
    await vscode.workspace.fs.writeFile(
      chosenFile,
      Buffer.from(tableFormats[chosen].render(state.table), 'utf8'),
    );
    output.info(`${state.manifest.name}: table exported to ${chosenFile.fsPath}`);
    return chosenFile;
  }

  /** Shows a trial's log; the study panel opens it beside itself, in `viewColumn`. */
  async function openTrialLog(target: Target, viewColumn?: vscode.ViewColumn): Promise<void> {
    if (!isStudyNode(target) || target.kind !== 'trial') return;
    const { trial } = target;
    const exists = await access(trial.log).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const waiting = trial.state === 'pending' || trial.state === 'queued';
      void vscode.window.showInformationMessage(
        waiting
          ? `SynthPair: ${trial.id} has no log yet: it has not started.`
          : `SynthPair: ${trial.id} has no log at ${trial.log}.`,
      );
      return;
    }
    await vscode.window.showTextDocument(vscode.Uri.file(trial.log), viewColumn ? { viewColumn } : {});
  }

  let activeKey: string | undefined;
  const publishActive = () => {
    const files = studies.activeFiles();
    const key = files.join('\n');
    if (key === activeKey) return;
    activeKey = key;
    // Unset rather than empty: an empty list would make the key alone true in a when-clause.
    void vscode.commands.executeCommand(
      'setContext',
      contextKeys.activeStudies,
      files.length > 0 ? files : undefined,
    );
  };
  publishActive();

  return [
    studies.onDidChange(publishActive),
    vscode.commands.registerCommand(commandDefinitions.runStudy.id, runStudy),
    vscode.commands.registerCommand(commandDefinitions.cancelStudy.id, cancelStudy),
    vscode.commands.registerCommand(commandDefinitions.openStudyPanel.id, async (target: Target) => {
      const file = await pickStudy(target, 'Study to show', () => true);
      if (file) dependencies.openPanel(file);
    }),
    vscode.commands.registerCommand(commandDefinitions.exportStudyTable.id, exportStudyTable),
    vscode.commands.registerCommand(commandDefinitions.openTrialLog.id, openTrialLog),
  ];
}

function describeExit(outcome: StudyCliOutcome): string {
  return outcome.signal ? `ended by ${outcome.signal}` : `exited with code ${outcome.code}`;
}
