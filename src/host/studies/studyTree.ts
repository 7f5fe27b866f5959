import path from 'node:path';
import * as vscode from 'vscode';
import { studyMetricLabels } from '../../shared/config/study/definitions';
import type { TrialState } from '../../shared/protocol/studyFiles';
import { planStudy } from '../../shared/study/plan';
import { trialFolder, trialLogFile } from '../../shared/study/studyFolder';
import type { TrialStatus } from '../../shared/study/studyState';
import { commandDefinitions } from '../manifest/commandIds';
import { runsViewItems } from '../manifest/contributions';
import { describeScheduler, describeStudyProgress, describeTrialCounts, hasRunFolder } from './describeStudy';
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
  conditions: { id: string; label: string; baseline: boolean }[];
  trials: TrialStatus[];
}

/**
 * What the study folder says, or, for a study that has not run, what it plans: every trial pending. So the
 * view shows a study's conditions and seeds as soon as its file is valid.
 */
function layoutOf(entry: StudyEntry): StudyLayout | undefined {
  if (entry.state) {
    const { manifest, trials } = entry.state;
    return { experimentFile: manifest.experimentFile, conditions: manifest.conditions, trials };
  }
  if (!entry.study || !entry.studyDir) return undefined;
  const plan = planStudy(entry.study, entry.file);
  const studyDir = entry.studyDir;
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
        return this.trialItem(node);
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
    let summary: string;
    if (entry.problem !== undefined) {
      summary = `invalid: ${entry.problem}`;
      item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'));
      item.contextValue = runsViewItems.invalidStudy;
    } else {
      const trials = layout?.trials ?? [];
      summary = entry.folderProblem
        ? `unreadable: ${entry.folderProblem}`
        : !entry.state
          ? `${entry.active ? 'starting' : 'not run'} · ${layout?.conditions.length ?? 0} conditions × ${entry.study?.seeds.length ?? 0} seeds`
          : entry.active
            ? describeStudyProgress(trials)
            : describeTrialCounts(trials);
      item.iconPath = new vscode.ThemeIcon(entry.active ? 'layers-active' : 'layers');
      item.contextValue = runsViewItems.study(entry.active);
    }
    item.description = [where, summary].filter(Boolean).join(' · ');
    item.tooltip = [
      `Study ${studyLabelOf(entry)}: ${entry.file}`,
      ...(entry.studyDir ? [`Study folder: ${entry.studyDir}`] : []),
      ...(entry.study ? [`Executor: ${entry.study.executor.kind}`] : []),
      summary,
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
    item.iconPath = new vscode.ThemeIcon(condition?.baseline ? 'star-full' : 'git-compare');
    item.description = [condition?.baseline ? 'baseline' : undefined, describeTrialCounts(trials)]
      .filter(Boolean)
      .join(' · ');
    item.tooltip = condition?.baseline
      ? `${node.condition}: the baseline every other condition is compared with, seed by seed`
      : `${node.condition}: compared with the baseline, seed by seed`;
    item.contextValue = runsViewItems.condition;
    return item;
  }

  private trialItem(node: Extract<StudyNode, { kind: 'trial' }>): vscode.TreeItem {
    const { trial } = node;
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
    tooltip.appendMarkdown(`- Run folder: \`${trial.dir}\`\n- Log: \`${trial.log}\`\n`);
    const scheduler = describeScheduler(trial.scheduler);
    if (scheduler) tooltip.appendMarkdown(`- Trained by: ${scheduler}\n`);
    for (const [metric, value] of Object.entries(trial.figures ?? {})) {
      const label = studyMetricLabels[metric as keyof typeof studyMetricLabels] ?? metric;
      tooltip.appendMarkdown(`- ${label}: ${(100 * value).toFixed(2)} %\n`);
    }
    item.tooltip = tooltip;
    const hasRun = hasRunFolder(trial);
    item.contextValue = runsViewItems.trial(trial.state, hasRun);
    if (hasRun) {
      item.command = {
        command: commandDefinitions.openDashboard.id,
        title: 'Open Dashboard',
        arguments: [node],
      };
    } else if (trial.state === 'failed') {
      item.command = { command: 'vscode.open', title: 'Open Log', arguments: [vscode.Uri.file(trial.log)] };
    }
    return item;
  }
}
