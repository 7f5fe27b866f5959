import path from 'node:path';
import * as vscode from 'vscode';
import { describeDuration, describeEvaluation, describeLosses } from '../../shared/runFolder/describe';
import type { RunSummary } from '../../shared/runFolder/runSummary';
import { commandDefinitions } from '../manifest/commandIds';
import { runsViewItems } from '../manifest/contributions';
import type { StudyCatalog } from '../studies/studyCatalog';
import { type StudyNode, StudyTreeItems } from '../studies/studyTree';
import type { RunCatalog } from './runCatalog';
import type { ActiveRun, RunController, RunRequest } from './runController';
import { onRunsChanged } from './runsChanged';

export type RunsNode =
  | { kind: 'config'; file: string }
  | { kind: 'other' }
  | { kind: 'queue' }
  | { kind: 'queued'; request: RunRequest }
  | { kind: 'starting'; run: ActiveRun }
  | { kind: 'run'; summary: RunSummary }
  | StudyNode;

const stateIcons: Record<RunSummary['state'], vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue')),
  completed: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  stopped: new vscode.ThemeIcon('debug-pause', new vscode.ThemeColor('charts.yellow')),
};

/**
 * The Runs view: each experiment file with its runs, newest first, then each study with its conditions and
 * their trials, runs whose experiment file is not in the workspace apart, and the queue on top. Runs this
 * window trains show their live progress; the others what their folder says, updated as it changes.
 */
export class RunsTreeProvider implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changeEmitter.event;
  private readonly subscriptions: vscode.Disposable[];
  private readonly studyItems: StudyTreeItems;

  constructor(
    private readonly catalog: RunCatalog,
    private readonly controller: RunController,
    studies: StudyCatalog,
  ) {
    this.studyItems = new StudyTreeItems(studies);
    const changes = onRunsChanged(catalog, controller, () => this.changeEmitter.fire(undefined), 250);
    this.subscriptions = [changes, studies.onDidChange(() => changes.schedule()), this.changeEmitter];
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
  }

  getChildren(node?: RunsNode): RunsNode[] {
    if (!node) {
      const configs = new Set(this.catalog.configs);
      const hasOther = this.catalog.runs.some(
        (run) => run.status.configFile === undefined || !configs.has(run.status.configFile),
      );
      return [
        ...(this.controller.queued.length > 0 ? [{ kind: 'queue' } as const] : []),
        ...this.catalog.configs.map((file): RunsNode => ({ kind: 'config', file })),
        ...this.studyItems.roots(),
        ...(hasOther ? [{ kind: 'other' } as const] : []),
      ];
    }
    switch (node.kind) {
      case 'study':
      case 'condition':
      case 'trial':
        return this.studyItems.children(node);
      case 'queue':
        return this.controller.queued.map((request): RunsNode => ({ kind: 'queued', request }));
      case 'config':
        return [
          ...this.controller.running
            .filter((run) => run.runDir === undefined && run.request.configFile === node.file)
            .map((run): RunsNode => ({ kind: 'starting', run })),
          ...this.catalog.runs
            .filter((summary) => summary.status.configFile === node.file)
            .map((summary): RunsNode => ({ kind: 'run', summary })),
        ];
      case 'other': {
        const configs = new Set(this.catalog.configs);
        return this.catalog.runs
          .filter(
            (summary) => summary.status.configFile === undefined || !configs.has(summary.status.configFile),
          )
          .map((summary): RunsNode => ({ kind: 'run', summary }));
      }
      default:
        return [];
    }
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    switch (node.kind) {
      case 'config':
        return this.configItem(node.file);
      case 'other': {
        const item = new vscode.TreeItem('Other runs', vscode.TreeItemCollapsibleState.Collapsed);
        item.iconPath = new vscode.ThemeIcon('folder-library');
        item.tooltip = 'Runs whose experiment file is not in this workspace';
        return item;
      }
      case 'queue': {
        const item = new vscode.TreeItem('Queue', vscode.TreeItemCollapsibleState.Expanded);
        item.iconPath = new vscode.ThemeIcon('list-ordered');
        item.description = `${this.controller.queued.length} waiting`;
        item.tooltip = 'Runs wait here while synthpair.concurrency runs train';
        return item;
      }
      case 'queued': {
        const item = new vscode.TreeItem(node.request.label, vscode.TreeItemCollapsibleState.None);
        item.id = `queued:${node.request.id}`;
        item.iconPath = new vscode.ThemeIcon('watch');
        item.description = node.request.start.kind === 'resume' ? 'resume, waiting' : 'waiting';
        item.contextValue = runsViewItems.queued;
        return item;
      }
      case 'starting': {
        const item = new vscode.TreeItem(node.run.request.label, vscode.TreeItemCollapsibleState.None);
        item.id = `starting:${node.run.request.id}`;
        item.iconPath = new vscode.ThemeIcon('loading~spin');
        item.description = node.run.stopping ? 'stopping…' : 'starting: checking the config and data…';
        item.contextValue = runsViewItems.run('running', true);
        return item;
      }
      case 'run':
        return this.runItem(node.summary);
      case 'study':
      case 'condition':
      case 'trial':
        return this.studyItems.item(node);
    }
  }

  getParent(node: RunsNode): RunsNode | undefined {
    if (node.kind === 'study' || node.kind === 'condition' || node.kind === 'trial') {
      return this.studyItems.parent(node);
    }
    if (node.kind === 'queued') return { kind: 'queue' };
    if (node.kind === 'starting' && node.run.request.configFile) {
      return { kind: 'config', file: node.run.request.configFile };
    }
    if (node.kind !== 'run') return undefined;
    const file = node.summary.status.configFile;
    return file !== undefined && this.catalog.configs.includes(file)
      ? { kind: 'config', file }
      : { kind: 'other' };
  }

  private configItem(file: string): vscode.TreeItem {
    const runs = this.catalog.runs.filter((run) => run.status.configFile === file);
    // Expanded even without runs: VS Code keeps a node's first collapsible state, and the first run has to show.
    const item = new vscode.TreeItem(
      path.basename(file).replace(/\.synthpair\.json$/, ''),
      vscode.TreeItemCollapsibleState.Expanded,
    );
    item.id = `config:${file}`;
    item.resourceUri = vscode.Uri.file(file);
    item.iconPath = new vscode.ThemeIcon('beaker');
    const busy = this.controller.busyConfigs().includes(file);
    const folder = vscode.workspace.asRelativePath(path.dirname(file));
    item.description = [
      // A file at the top of its workspace folder needs no folder.
      folder === path.dirname(file) ? undefined : folder,
      runs.length === 1 ? '1 run' : `${runs.length} runs`,
      busy ? 'training' : undefined,
    ]
      .filter(Boolean)
      .join(' · ');
    item.tooltip = file;
    item.contextValue = runsViewItems.config;
    item.command = { command: 'vscode.open', title: 'Open Experiment', arguments: [vscode.Uri.file(file)] };
    return item;
  }

  private runItem(summary: RunSummary): vscode.TreeItem {
    const live = this.controller.running.find((run) => run.runDir === summary.dir);
    const state = live ? 'running' : summary.state;
    const item = new vscode.TreeItem(path.basename(summary.dir), vscode.TreeItemCollapsibleState.None);
    item.id = `run:${summary.dir}`;
    item.iconPath = stateIcons[state];
    item.contextValue = runsViewItems.run(state, live !== undefined || summary.livePid !== undefined);
    const epochs = live?.progress?.epochs ?? summary.epochs;
    const epoch = summary.status.epoch;
    const parts: string[] = [];
    if (live?.stopping) {
      parts.push('stopping…');
    } else if (live?.progress) {
      const { progress } = live;
      parts.push(`${Math.round((100 * progress.step) / Math.max(1, progress.totalSteps))}%`);
      parts.push(`epoch ${progress.epoch}/${progress.epochs}`);
      const loss = progress.losses.total ?? Object.values(progress.losses)[0];
      if (loss !== undefined) parts.push(`loss ${loss.toFixed(3)}`);
      if (progress.imagesPerSecond > 0) parts.push(`${progress.imagesPerSecond.toFixed(0)} img/s`);
    } else {
      parts.push(
        state === 'running' && summary.livePid !== undefined ? `running (pid ${summary.livePid})` : state,
      );
      if (epochs !== undefined) parts.push(`epoch ${epoch}/${epochs}`);
      if (summary.lastEval?.knnTop1 !== undefined)
        parts.push(`kNN ${(100 * summary.lastEval.knnTop1).toFixed(1)}%`);
      const best = summary.lastEval?.best;
      if (best?.knnTop1 !== undefined)
        parts.push(`best kNN ${(100 * best.knnTop1).toFixed(1)}% (epoch ${best.epoch})`);
    }
    item.description = parts.join(' · ');
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**${summary.status.name}** — ${state}\n\n`);
    tooltip.appendMarkdown(`- Folder: \`${summary.dir}\`\n`);
    if (summary.status.configFile) tooltip.appendMarkdown(`- Experiment: \`${summary.status.configFile}\`\n`);
    tooltip.appendMarkdown(
      `- Epoch ${epoch}${epochs === undefined ? '' : ` of ${epochs}`}, seed ${summary.status.seed}\n`,
    );
    tooltip.appendMarkdown(`- Started ${new Date(summary.status.startedAt).toLocaleString()}`);
    if (summary.status.endedAt) {
      tooltip.appendMarkdown(
        `, ran ${describeDuration(Date.parse(summary.status.endedAt) - Date.parse(summary.status.startedAt))}`,
      );
    }
    tooltip.appendMarkdown('\n');
    if (summary.status.backend) tooltip.appendMarkdown(`- Backend: ${summary.status.backend}\n`);
    if (summary.lastMetrics)
      tooltip.appendMarkdown(`- Losses: ${describeLosses(summary.lastMetrics.losses)}\n`);
    if (summary.lastEval) tooltip.appendMarkdown(`- Evaluation: ${describeEvaluation(summary.lastEval)}\n`);
    if (summary.status.error) tooltip.appendMarkdown(`\n**Error:** ${summary.status.error}\n`);
    item.tooltip = tooltip;
    item.command = {
      command: commandDefinitions.openDashboard.id,
      title: 'Open Dashboard',
      arguments: [vscode.Uri.file(summary.dir)],
    };
    return item;
  }
}
