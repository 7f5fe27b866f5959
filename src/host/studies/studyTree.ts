import path from 'node:path';
import * as vscode from 'vscode';
import { studyMetricLabels } from '../../shared/config/study/definitions';
import type { StudyManifest, TrialState } from '../../shared/protocol/studyFiles';
import { trialFolder, trialLogFile } from '../../shared/study/studyFolder';
import type { TrialStatus } from '../../shared/study/studyState';
import { describeTrialCounts } from '../../shared/study/trialCounts';
import { commandDefinitions } from '../manifest/commandIds';
import { runsViewItems } from '../manifest/contributions';
import {
  describeMissingRunFolder,
  describeScheduler,
  describeStudyStatus,
  describeTrialProgress,
  hasLog,
  hasRunFolder,
} from './describeStudy';
import type { StudyCatalog, StudyEntry } from './studyCatalog';
import { studyLabelOf } from './studyCatalog';

/** The Runs view's nodes of a study: the study, its conditions, and their trials (one per seed). */
export type StudyNode =
  | { kind: 'study'; file: string }
  | { kind: 'condition'; file: string; condition: string }
  | {
      kind: 'trial';
      file: string;
      trial: TrialStatus;
      /** The base experiment, which the dashboard binds to when it shows the trial's run. */
      experimentFile: string;
    };

const trialIcons: Record<TrialState, vscode.ThemeIcon> = {
  pending: new vscode.ThemeIcon('circle-outline'),
  queued: new vscode.ThemeIcon('watch'),
  running: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue')),
  completed: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  stopped: new vscode.ThemeIcon('debug-pause', new vscode.ThemeColor('charts.yellow')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  cancelled: new vscode.ThemeIcon('circle-slash'),
};

interface StudyLayout {
  experimentFile: string;
  conditions: StudyManifest['conditions'];
  trials: TrialStatus[];
}

/**
 * What the study folder says of the trials the file plans, or, for a study that has not run, every trial
 * pending. So the view shows a study's conditions and seeds as soon as its file is valid.
 */
function layoutOf(entry: StudyEntry): StudyLayout | undefined {
  if (entry.state) {
    const { manifest, trials } = entry.state;
    return { experimentFile: manifest.experimentFile, conditions: manifest.conditions, trials };
  }
  const { plan, studyDir } = entry;
  if (!plan || !studyDir) return undefined;
  return {
    experimentFile: plan.experimentFile,
    conditions: plan.conditions,
    trials: plan.trials.map((trial) => ({
      id: trial.id,
      condition: trial.condition,
      seed: trial.seed,
      dir: trialFolder(studyDir, trial.id),
      log: trialLogFile(studyDir, trial.id),
      state: 'pending',
    })),
  };
}

/** The study nodes of the Runs view, which RunsTreeProvider lists after the experiments. */
export class StudyTreeItems {
  constructor(private readonly studies: StudyCatalog) {}

  roots(): StudyNode[] {
    return this.studies.studies.map((entry): StudyNode => ({ kind: 'study', file: entry.file }));
  }

  children(node: StudyNode): StudyNode[] {
    const entry = this.studies.get(node.file);
    const layout = entry && layoutOf(entry);
    if (!layout) return [];
    if (node.kind === 'study') {
      return layout.conditions.map(
        (condition): StudyNode => ({ kind: 'condition', file: node.file, condition: condition.id }),
      );
    }
    if (node.kind === 'condition') {
      return layout.trials
        .filter((trial) => trial.condition === node.condition)
        .map(
          (trial): StudyNode => ({
            kind: 'trial',
            file: node.file,
            trial,
            experimentFile: layout.experimentFile,
          }),
        );
    }
    return [];
  }

  parent(node: StudyNode): StudyNode | undefined {
    if (node.kind === 'condition') return { kind: 'study', file: node.file };
    if (node.kind === 'trial') return { kind: 'condition', file: node.file, condition: node.trial.condition };
    return undefined;
  }

  item(node: StudyNode): vscode.TreeItem {
    const entry = this.studies.get(node.file);
    switch (node.kind) {
      case 'study':
        return entry ? this.studyItem(entry) : new vscode.TreeItem(path.basename(node.file));
      case 'condition':
        return this.conditionItem(node, entry);
      case 'trial':
        return this.trialItem(node, entry);
    }
  }

  private studyItem(entry: StudyEntry): vscode.TreeItem {
    const layout = layoutOf(entry);
    const item = new vscode.TreeItem(
      studyLabelOf(entry),
      layout ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
    );
    item.id = `study:${entry.file}`;
    item.resourceUri = vscode.Uri.file(entry.file);
    const folder = vscode.workspace.asRelativePath(path.dirname(entry.file));
    const where = folder === path.dirname(entry.file) ? undefined : folder;
    const summary = describeStudyStatus(entry) ?? `invalid: ${entry.problem}`;
    if (entry.problem !== undefined) {
      item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'));
      item.contextValue = runsViewItems.invalidStudy;
    } else {
      item.iconPath = new vscode.ThemeIcon(entry.active ? 'layers-active' : 'layers');
      item.contextValue = runsViewItems.study(entry.active);
    }
    item.description = [where, summary].filter(Boolean).join(' · ');
    item.tooltip = [
      `Study ${studyLabelOf(entry)}: ${entry.file}`,
      ...(entry.studyDir ? [`Study folder: ${entry.studyDir}`] : []),
      ...(entry.study ? [`Executor: ${entry.study.executor.kind}`] : []),
      entry.state
        ? `${entry.state.trials.length} trials: ${describeTrialCounts(entry.state.trials)}`
        : summary,
    ].join('\n');
    item.command = { command: 'vscode.open', title: 'Open Study', arguments: [vscode.Uri.file(entry.file)] };
    return item;
  }

  private conditionItem(
    node: Extract<StudyNode, { kind: 'condition' }>,
    entry: StudyEntry | undefined,
  ): vscode.TreeItem {
    const layout = entry && layoutOf(entry);
    const condition = layout?.conditions.find((candidate) => candidate.id === node.condition);
    const trials = layout?.trials.filter((trial) => trial.condition === node.condition) ?? [];
    const item = new vscode.TreeItem(
      condition?.label ?? node.condition,
      vscode.TreeItemCollapsibleState.Expanded,
    );
    item.id = `condition:${node.file}:${node.condition}`;
    // Sliders: a condition is the experiment with some of its settings moved.
    item.iconPath = new vscode.ThemeIcon(condition?.baseline ? 'star-full' : 'settings');
    item.description = [condition?.baseline ? 'baseline' : undefined, describeTrialProgress(trials)]
      .filter(Boolean)
      .join(' · ');
    item.tooltip = [
      condition?.baseline
        ? `${node.condition}: the baseline every other condition is compared with, seed by seed`
        : `${node.condition}: compared with the baseline, seed by seed`,
      `${trials.length} trials: ${describeTrialCounts(trials)}`,
    ].join('\n');
    item.contextValue = runsViewItems.condition;
    return item;
  }

  private trialItem(
    node: Extract<StudyNode, { kind: 'trial' }>,
    entry: StudyEntry | undefined,
  ): vscode.TreeItem {
    const { trial } = node;
    const hasRun = hasRunFolder(trial);
    const item = new vscode.TreeItem(`seed ${trial.seed}`, vscode.TreeItemCollapsibleState.None);
    item.id = `trial:${node.file}:${trial.id}`;
    item.iconPath = trialIcons[trial.state];
    const progress = trial.epochs === undefined ? undefined : `epoch ${trial.epoch ?? 0}/${trial.epochs}`;
    item.description = [trial.state, progress, describeScheduler(trial.scheduler)]
      .filter(Boolean)
      .join(' · ');
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**${trial.id}** — ${trial.state}\n\n`);
    if (trial.reason) tooltip.appendMarkdown(`${trial.reason}\n\n`);
    if (hasRun) tooltip.appendMarkdown(`- Run folder: \`${trial.dir}\`\n`);
    else tooltip.appendMarkdown(`${describeMissingRunFolder(trial)}.\n\n`);
    if (hasLog(trial)) tooltip.appendMarkdown(`- Log: \`${trial.log}\`\n`);
    const scheduler = describeScheduler(trial.scheduler);
    if (scheduler) tooltip.appendMarkdown(`- Trained by: ${scheduler}\n`);
    // The figures of the metrics the study reports, not every one its runs evaluate.
    for (const metric of entry?.state?.manifest.metrics ?? []) {
      const value = trial.figures?.[metric];
      if (value !== undefined)
        tooltip.appendMarkdown(`- ${studyMetricLabels[metric]}: ${(100 * value).toFixed(2)} %\n`);
    }
    item.tooltip = tooltip;
    item.contextValue = runsViewItems.trial(trial.state, hasRun);
    if (hasRun) {
      item.command = {
        command: commandDefinitions.openDashboard.id,
        title: 'Open Dashboard',
        arguments: [node],
      };
    } else if (trial.state === 'failed') {
      item.command = { command: commandDefinitions.openTrialLog.id, title: 'Open Log', arguments: [node] };
    }
    return item;
  }
}
