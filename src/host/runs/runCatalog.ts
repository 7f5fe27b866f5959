import path from 'node:path';
import * as vscode from 'vscode';
import { experimentFileGlob } from '../../shared/config/experiment/choices';
import { listRuns, type RunSummary } from '../../shared/runFolder/runSummary';
import { readRunSettings } from '../settings/readSettings';

/** How long the catalog waits after a file change before reading again: a step writes several files. */
const settleMs = 300;
/**
 * File events can be missed (a watcher restarting, a runs folder created after the watch began), so the
 * catalog also reads again on a timer: often while another process trains a run, rarely otherwise.
 */
const pollMs = { whileLive: 2000, idle: 15_000 };

/** The runs folder of a workspace folder, as `synthpair.runsFolder` places it. */
export function runsFolderOf(workspaceFolder: string): string {
  return path.resolve(workspaceFolder, readRunSettings().runsFolder);
}

/**
 * What is on disk: the workspace's experiment files and the runs in each workspace folder's runs folder,
 * whoever trains them. Re-read, debounced, whenever a run file or an experiment file changes, so a run the
 * CLI starts appears and updates on its own.
 */
export class RunCatalog implements vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changeEmitter.event;
  private runsValue: RunSummary[] = [];
  private trialRunsValue: RunSummary[] = [];
  private configsValue: string[] = [];
  private studyFoldersValue: string[] = [];
  private watchers: vscode.Disposable[] = [];
  private readonly subscriptions: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private fingerprint = '';
  private reading: Promise<void> = Promise.resolve();

  constructor() {
    this.subscriptions.push(
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.rewatch()),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('synthpair.runsFolder')) this.rewatch();
      }),
    );
    this.rewatch();
  }

  get runs(): readonly RunSummary[] {
    return this.runsValue;
  }

  /**
   * The runs of the studies' trials, newest first: kept apart from `runs`, since the Runs view lists them
   * under their study and not under the experiment they override.
   */
  get trialRuns(): readonly RunSummary[] {
    return this.trialRunsValue;
  }

  /** A run of a runs folder or of a study folder, by its folder. */
  findRun(dir: string): RunSummary | undefined {
    return (
      this.runsValue.find((run) => run.dir === dir) ?? this.trialRunsValue.find((run) => run.dir === dir)
    );
  }

  /** The study folders whose trials are read too, as the study catalog finds them. */
  setStudyFolders(folders: readonly string[]): void {
    const sorted = [...new Set(folders)].sort();
    if (sorted.join('\n') === this.studyFoldersValue.join('\n')) return;
    this.studyFoldersValue = sorted;
    this.rewatch();
  }

  /** Absolute paths of the workspace's experiment files, sorted. */
  get configs(): readonly string[] {
    return this.configsValue;
  }

  /** Reads everything again now; resolves when the catalog holds the result. */
  refresh(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // A failed read must not stop the later ones: each starts after the previous has settled either way.
    this.reading = this.reading.catch(() => undefined).then(() => this.read());
    return this.reading;
  }

  /** The newest run of an experiment file. */
  latestRunOf(configFile: string): RunSummary | undefined {
    return this.runsValue.find((run) => run.status.configFile === configFile);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    clearTimeout(this.pollTimer);
    for (const disposable of [...this.watchers, ...this.subscriptions, this.changeEmitter]) {
      disposable.dispose();
    }
  }

  private scheduleRead(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), settleMs);
  }

  private rewatch(): void {
    for (const watcher of this.watchers) watcher.dispose();
    this.watchers = [];
    const watch = (pattern: vscode.GlobPattern) => {
      const watcher = vscode.workspace.createFileSystemWatcher(pattern);
      watcher.onDidCreate(() => this.scheduleRead());
      watcher.onDidChange(() => this.scheduleRead());
      watcher.onDidDelete(() => this.scheduleRead());
      this.watchers.push(watcher);
    };
    watch(experimentFileGlob);
    const runsFolders = (vscode.workspace.workspaceFolders ?? []).map((folder) =>
      runsFolderOf(folder.uri.fsPath),
    );
    // A runs folder outside the workspace (an absolute setting) is watched all the same.
    for (const folder of [...runsFolders, ...this.studyFoldersValue]) {
      const uri = vscode.Uri.file(folder);
      watch(new vscode.RelativePattern(uri, '*/{run.json,metrics.jsonl,eval.jsonl}'));
      watch(new vscode.RelativePattern(uri, '*'));
    }
    void this.refresh();
  }

  private async read(): Promise<void> {
    const folders = vscode.workspace.workspaceFolders ?? [];
    const runsFolders = [...new Set(folders.map((folder) => runsFolderOf(folder.uri.fsPath)))];
    const newestFirst = (lists: RunSummary[][]) =>
      lists.flat().sort((a, b) => b.status.startedAt.localeCompare(a.status.startedAt));
    const [runLists, trialRunLists, configUris] = await Promise.all([
      Promise.all(runsFolders.map((folder) => listRuns(folder))),
      Promise.all(this.studyFoldersValue.map((folder) => listRuns(folder))),
      vscode.workspace.findFiles(experimentFileGlob, '**/{node_modules,.synthpair}/**'),
    ]);
    const trialRuns = newestFirst(trialRunLists);
    // A study whose `out` is a runs folder would otherwise list its trials twice: they belong to the study.
    const runs = newestFirst(runLists).filter((run) => !trialRuns.some((trial) => trial.dir === run.dir));
    const configs = configUris.map((uri) => uri.fsPath).sort();
    // Timed reads mostly find nothing new; the view and the CodeLens redraw only when something changed.
    const fingerprint = JSON.stringify([runs, trialRuns, configs]);
    if (fingerprint !== this.fingerprint) {
      this.fingerprint = fingerprint;
      this.runsValue = runs;
      this.trialRunsValue = trialRuns;
      this.configsValue = configs;
      this.changeEmitter.fire();
    }
    clearTimeout(this.pollTimer);
    if (!this.disposed) {
      const live = [...this.runsValue, ...this.trialRunsValue].some((run) => run.livePid !== undefined);
      this.pollTimer = setTimeout(() => void this.refresh(), live ? pollMs.whileLive : pollMs.idle);
    }
  }
}
