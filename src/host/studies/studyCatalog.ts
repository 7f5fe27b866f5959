import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import {
  isStudyFileName,
  type StudyFile,
  studyFileGlob,
  studyFileSuffix,
} from '../../shared/config/study/definitions';
import { parseStudyFile } from '../../shared/config/study/parse';
import type { StudyManifest } from '../../shared/protocol/studyFiles';
import { planStudy, studyFolderOf } from '../../shared/study/plan';
import { querySlurm, type SlurmSnapshot } from '../../shared/study/slurmQueue';
import { readSubmissions, slurmJobIdsOf, studyPath } from '../../shared/study/studyFolder';
import { isActive, readStudyState, type StudyState } from '../../shared/study/studyState';

/** A study file of the workspace, as its file and its study folder tell it. */
export interface StudyEntry {
  /** The study file, absolute. */
  file: string;
  /** The study the file holds on disk; undefined when it is not a valid study. */
  study: StudyFile | undefined;
  /** Why the file is not a valid study: its first error. */
  problem: string | undefined;
  /** Where its trials train, once the file is valid. */
  studyDir: string | undefined;
  /** What the file asks for as it reads now, once it is valid: its conditions and trials. */
  plan: Omit<StudyManifest, 'updatedAt'> | undefined;
  /**
   * Each trial's state and the table, of the trials and labels the file holds now (a trial added since the
   * last `study run` is pending); undefined until a `study run` has written the study folder.
   */
  state: StudyState | undefined;
  /** Why the study folder could not be read. */
  folderProblem: string | undefined;
  /** A trial is queued or training, or this window is starting the study. */
  active: boolean;
}

export interface StudyCatalogOptions {
  /** Asks Slurm about job arrays; squeue and sacct unless a test answers instead. */
  querySlurm?: (jobIds: readonly string[]) => Promise<SlurmSnapshot>;
  /** How long after a file event to read: a step or a submission writes several files, read together. */
  settleMs?: number;
  /**
   * How often studies are read again without a file event: a local queue can end without writing (a killed
   * `study run` leaves its waiting trials pending), Slurm trials change state on another machine, and an
   * idle study's folder is only checked for a new `study run` (a watcher can miss a folder made after it
   * began), by three `stat`s.
   */
  pollMs?: { local: number; slurm: number; idle: number };
}

interface Tracked {
  entry: StudyEntry;
  /** What Slurm last said of the study's arrays: tasks in a final state keep it for later reads. */
  slurm: SlurmSnapshot;
  /** The arrays Slurm was asked about, and when last. */
  askedJobs: ReadonlySet<string>;
  askedAt: number;
  /** The modification times of the study file, its manifest and its submissions at the last read. */
  stamp: string;
  watcher: { dir: string; disposable: vscode.Disposable } | undefined;
}

const excludedFolders = '**/{node_modules,.synthpair}/**';

/**
 * The workspace's study files (`*.study.json`) and what their study folders say, whoever trains them: a
 * `study run` of this window, one in a terminal, or a Slurm array. A study is read again when its file or its
 * folder changes, often while it works, and hardly at all while it is idle.
 */
export class StudyCatalog implements vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changeEmitter.event;
  private readonly tracked = new Map<string, Tracked>();
  /** Study files this window is starting, with how many `study run`s of each are still alive. */
  private readonly launches = new Map<string, number>();
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly pendingFiles = new Set<string>();
  private pendingRescan = false;
  private settleTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private fingerprint = '';
  private disposed = false;
  private readonly settleMs: number;
  private readonly pollMs: { local: number; slurm: number; idle: number };
  private readonly askSlurm: (jobIds: readonly string[]) => Promise<SlurmSnapshot>;

  constructor(options: StudyCatalogOptions = {}) {
    this.settleMs = options.settleMs ?? 300;
    this.pollMs = options.pollMs ?? { local: 3000, slurm: 10_000, idle: 15_000 };
    this.askSlurm = options.querySlurm ?? ((jobIds) => querySlurm(jobIds));
    const watcher = vscode.workspace.createFileSystemWatcher(studyFileGlob);
    this.subscriptions.push(
      watcher,
      watcher.onDidCreate(() => this.schedule()),
      watcher.onDidDelete(() => this.schedule()),
      watcher.onDidChange((uri) => this.schedule(uri.fsPath)),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.schedule()),
    );
    void this.refresh();
  }

  /** Every study file of the workspace, sorted by path. */
  get studies(): readonly StudyEntry[] {
    return [...this.tracked.values()].map(({ entry }) => entry);
  }

  get(file: string): StudyEntry | undefined {
    return this.tracked.get(file)?.entry;
  }

  /** Absolute paths of the studies that are working, for the editor's Run and Cancel buttons. */
  activeFiles(): string[] {
    return this.studies.filter((entry) => entry.active).map((entry) => entry.file);
  }

  /** The folders of the studies whose files are valid: their trials are runs the Runs view and the dashboard show. */
  studyFolders(): string[] {
    return [...new Set(this.studies.flatMap((entry) => (entry.studyDir ? [entry.studyDir] : [])))];
  }

  /**
   * Reads the given study files again, or every study file of the workspace (found anew) when none is given;
   * resolves when the catalog holds the result.
   */
  refresh(files?: readonly string[]): Promise<void> {
    this.reading = this.reading
      .catch(() => undefined)
      .then(() => (files ? this.readFiles(files) : this.rescan()))
      .then(() => this.publish());
    return this.reading;
  }

  /**
   * The study counts as working until `exited` settles, whatever its folder says: a `study run` writes the
   * folder only once it has checked the study and every condition, and on Slurm it submits and returns.
   */
  trackLaunch(file: string, exited: Promise<unknown>): void {
    this.launches.set(file, (this.launches.get(file) ?? 0) + 1);
    void this.refresh([file]);
    void exited.finally(() => {
      const left = (this.launches.get(file) ?? 1) - 1;
      if (left > 0) this.launches.set(file, left);
      else this.launches.delete(file);
      if (!this.disposed) void this.refresh([file]);
    });
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.settleTimer);
    clearTimeout(this.pollTimer);
    for (const { watcher } of this.tracked.values()) watcher?.disposable.dispose();
    for (const disposable of [...this.subscriptions, this.changeEmitter]) disposable.dispose();
  }

  private schedule(file?: string): void {
    if (file === undefined) this.pendingRescan = true;
    else this.pendingFiles.add(file);
    // Counted from the first event, not the last: trials that start and end back to back write more often
    // than `settleMs`, and a timer each event restarted would wait for the study to fall quiet.
    if (this.settleTimer) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      const files = [...this.pendingFiles];
      const rescan = this.pendingRescan;
      this.pendingFiles.clear();
      this.pendingRescan = false;
      void this.refresh(rescan ? undefined : files);
    }, this.settleMs);
  }

  private async rescan(): Promise<void> {
    const uris = await vscode.workspace.findFiles(studyFileGlob, excludedFolders);
    const files = new Set(uris.map((uri) => uri.fsPath).filter((file) => isStudyFileName(file)));
    for (const file of this.tracked.keys()) {
      // A study this window is starting stays, even from outside the workspace.
      if (!files.has(file) && !this.launches.has(file)) this.forget(file);
    }
    await this.readFiles([...files]);
  }

  private async readFiles(files: readonly string[]): Promise<void> {
    await Promise.all(files.map((file) => this.read(file)));
    // Sorted, so the views list studies in a stable order whatever order the reads finished in.
    const sorted = [...this.tracked.entries()].sort(([a], [b]) => a.localeCompare(b));
    this.tracked.clear();
    for (const [file, tracked] of sorted) this.tracked.set(file, tracked);
  }

  private forget(file: string): void {
    this.tracked.get(file)?.watcher?.disposable.dispose();
    this.tracked.delete(file);
  }

  private async read(file: string): Promise<void> {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) {
      this.forget(file);
      return;
    }
    const tracked = this.tracked.get(file) ?? {
      entry: emptyEntry(file),
      slurm: new Map(),
      askedJobs: new Set<string>(),
      askedAt: 0,
      stamp: '',
      watcher: undefined,
    };
    this.tracked.set(file, tracked);
    const { study, diagnostics } = parseStudyFile(text);
    const studyDir = study ? studyFolderOf(study, file) : undefined;
    this.watchFolder(file, tracked, studyDir);
    tracked.stamp = await stampOf(file, studyDir);
    const entry: StudyEntry = {
      ...emptyEntry(file),
      study,
      problem: study
        ? undefined
        : (diagnostics.find((diagnostic) => diagnostic.severity === 'error')?.message ?? 'not a study'),
      studyDir,
      plan: study ? planStudy(study, file) : undefined,
    };
    if (studyDir && entry.plan) {
      try {
        entry.state = await this.readState(studyDir, entry.plan, tracked);
      } catch (error) {
        entry.folderProblem = error instanceof Error ? error.message : String(error);
      }
    }
    // Complete before it is stored: a view that asks while other study files are still being read gets the
    // entry whole, never one that says an active study is idle.
    entry.active =
      this.launches.has(file) || (entry.state?.trials.some((trial) => isActive(trial.state)) ?? false);
    tracked.entry = entry;
  }

  /**
   * The study folder's state, read once, with Slurm asked first where its answer may have changed: about an
   * array not asked of yet, or, once its interval has passed, while the last read saw a trial on it working.
   */
  private async readState(
    studyDir: string,
    plan: Omit<StudyManifest, 'updatedAt'>,
    tracked: Tracked,
  ): Promise<StudyState | undefined> {
    const jobIds = slurmJobIdsOf(await readSubmissions(studyDir));
    const newArray = jobIds.some((jobId) => !tracked.askedJobs.has(jobId));
    const due = Date.now() - tracked.askedAt >= this.pollMs.slurm;
    const working = tracked.entry.state !== undefined && hasActiveSlurmTrial(tracked.entry.state);
    if (jobIds.length > 0 && (newArray || (due && working))) {
      tracked.slurm = await this.askSlurm(jobIds);
      tracked.askedJobs = new Set(jobIds);
      tracked.askedAt = Date.now();
    }
    return readStudyState(studyDir, { slurm: tracked.slurm, plan });
  }

  /** A watcher per study folder: the trials' run files, the manifest and the submissions. */
  private watchFolder(file: string, tracked: Tracked, studyDir: string | undefined): void {
    if (tracked.watcher?.dir === studyDir) return;
    tracked.watcher?.disposable.dispose();
    tracked.watcher = undefined;
    if (!studyDir) return;
    const watcher = vscode.workspace.createFileSystemWatcher(
      new vscode.RelativePattern(
        vscode.Uri.file(studyDir),
        '{study.json,submissions.jsonl,*/run.json,*/eval.jsonl}',
      ),
    );
    const changed = () => this.schedule(file);
    tracked.watcher = {
      dir: studyDir,
      disposable: vscode.Disposable.from(
        watcher,
        watcher.onDidCreate(changed),
        watcher.onDidChange(changed),
        watcher.onDidDelete(changed),
      ),
    };
  }

  private publish(): void {
    // Timed reads mostly find nothing new; the views redraw only when something changed.
    const fingerprint = JSON.stringify(this.studies);
    if (fingerprint !== this.fingerprint) {
      this.fingerprint = fingerprint;
      this.changeEmitter.fire();
    }
    this.planPoll();
  }

  private planPoll(): void {
    clearTimeout(this.pollTimer);
    if (this.disposed) return;
    const studies = [...this.tracked.values()];
    const delay = studies.some(({ entry }) => entry.active && !isOnSlurmOnly(entry))
      ? this.pollMs.local
      : studies.some(({ entry }) => entry.active)
        ? this.pollMs.slurm
        : this.pollMs.idle;
    this.pollTimer = setTimeout(() => void this.poll(), delay);
  }

  private async poll(): Promise<void> {
    const due: string[] = [];
    for (const [file, tracked] of this.tracked) {
      if (tracked.entry.active || (await stampOf(file, tracked.entry.studyDir)) !== tracked.stamp)
        due.push(file);
    }
    if (this.disposed) return;
    if (due.length > 0) await this.refresh(due);
    else this.planPoll();
  }
}

function emptyEntry(file: string): StudyEntry {
  return {
    file,
    study: undefined,
    problem: undefined,
    studyDir: undefined,
    plan: undefined,
    state: undefined,
    folderProblem: undefined,
    active: false,
  };
}

function hasActiveSlurmTrial(state: StudyState): boolean {
  return state.trials.some(
    (trial) => isActive(trial.state) && trial.scheduler !== undefined && trial.scheduler !== 'local',
  );
}

/** Every working trial of the study is on Slurm, which is asked no more often than its own interval allows. */
function isOnSlurmOnly(entry: StudyEntry): boolean {
  const working = entry.state?.trials.filter((trial) => isActive(trial.state)) ?? [];
  return (
    working.length > 0 &&
    working.every((trial) => trial.scheduler !== undefined && trial.scheduler !== 'local')
  );
}

async function stampOf(file: string, studyDir: string | undefined): Promise<string> {
  const files = [
    file,
    ...(studyDir ? [studyPath(studyDir, 'manifest'), studyPath(studyDir, 'submissions')] : []),
  ];
  const times = await Promise.all(
    files.map((candidate) =>
      stat(candidate).then(
        (stats) => stats.mtimeMs,
        () => 0,
      ),
    ),
  );
  return times.join('|');
}

/** The study file's name without its suffix, for views that have no valid study to take the name from. */
export function studyLabelOf(entry: Pick<StudyEntry, 'file' | 'study'>): string {
  return entry.study?.name ?? path.basename(entry.file, studyFileSuffix);
}
