import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type EvalRecord,
  evalRecord,
  type MetricsRecord,
  metricsRecord,
  type RunStatus,
  runStatus,
} from '../protocol/runFiles';
import { validateMessage } from '../protocol/validate';
import { FileWriteError, writeJsonAtomically, writingFile } from './atomicFiles';
import { appendJsonLine, readJsonLines } from './jsonLines';
import { isAlive } from './liveness';

/** Why a run directory cannot be used; the CLI turns it into exit code 2, the extension into a message. */
export class RunDirectoryError extends Error {
  override name = 'RunDirectoryError';
}

export const runFileNames = {
  status: 'run.json',
  /** Held by the one process that trains the run (engine/runFolder/runLock.ts). */
  lock: 'run.lock',
  config: 'config.json',
  metrics: 'metrics.jsonl',
  eval: 'eval.jsonl',
  skipped: 'skipped.json',
  checkpoints: 'checkpoints',
  analysis: 'analysis',
} as const;

/** Inside each step folder of `analysis/`: what the step measured and where its arrays are. */
export const analysisManifestFile = 'analysis.json';

/** Inside `checkpoints/`: the pointer to the newest checkpoint, and in each checkpoint's folder its two files. */
export const checkpointFileNames = {
  latest: 'latest.json',
  best: 'best.json',
  manifest: 'manifest.json',
  weights: 'weights.bin',
} as const;

/**
 * `epoch-0003`: the folder of what was saved after an epoch, a checkpoint or an analysis step; zero-padded so
 * a plain sort is chronological.
 */
export function epochFolderName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, '0')}`;
}

/** A stable fingerprint of a resolved config: key order does not matter, values do. */
export function hashConfig(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `name-YYYYMMDD-HHMMSS` in UTC, so runs sort by start time. */
export function runFolderName(name: string, startedAt: Date): string {
  const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const safeName = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'run';
  return `${safeName}-${stamp}`;
}

/**
 * One run's folder: the contract between engine, CLI and extension (docs/run-directory.md). Replaced files
 * are written atomically; the JSON Lines logs are only appended to.
 */
export class RunDirectory {
  private constructor(
    readonly dir: string,
    private status: RunStatus,
  ) {}

  /**
   * Makes a new run folder, whole or not at all: its files are written into a hidden sibling that is renamed
   * to `dir` once complete, so a process killed (or a disk filled) midway leaves no half-made run under
   * `dir`. `beforeAppearing` runs on the hidden folder first, so a lock it takes gives the run its one
   * writer from the moment it exists under its name. An existing `dir` is used only when it is empty: a folder
   * holding another run, of this config or any other, is never written into (resume it instead), and neither
   * is any folder inside a run.
   */
  static async create(
    dir: string,
    config: unknown,
    status: Omit<RunStatus, 'format' | 'configHash' | 'updatedAt' | 'epoch' | 'state'>,
    options: { beforeAppearing?: (folder: string) => Promise<void> } = {},
  ): Promise<RunDirectory> {
    await refuseInsideRun(dir);
    await refuseOccupied(dir, config);
    const parent = path.dirname(path.resolve(dir));
    await mkdir(parent, { recursive: true });
    await removeAbandonedCreations(parent);
    const staging = path.join(parent, `.${path.basename(dir)}${creatingMarker}${process.pid}`);
    await rm(staging, { recursive: true, force: true });
    await mkdir(path.join(staging, runFileNames.checkpoints), { recursive: true });
    try {
      await options.beforeAppearing?.(staging);
      const run = new RunDirectory(staging, {
        ...status,
        format: 1,
        state: 'running',
        configHash: hashConfig(config),
        updatedAt: new Date().toISOString(),
        epoch: 0,
      });
      await writeJsonAtomically(run.file('config'), config);
      await run.writeStatus();
      await rename(staging, dir).catch(async (error: NodeJS.ErrnoException) => {
        // Another process made a run of the same name between the check above and now.
        if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST') await refuseOccupied(dir, config);
        throw error;
      });
      return new RunDirectory(dir, run.status);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }

  /** Opens an existing run, e.g. to resume or evaluate it. */
  static async open(dir: string): Promise<RunDirectory> {
    return new RunDirectory(dir, await readStatus(dir));
  }

  get current(): Readonly<RunStatus> {
    return this.status;
  }

  /** The process still training this run, if any: a run it may still write to is only ever read. */
  get livePid(): number | undefined {
    return this.status.state === 'running' && isAlive(this.status.pid) ? this.status.pid : undefined;
  }

  file(kind: keyof typeof runFileNames): string {
    return path.join(this.dir, runFileNames[kind]);
  }

  async readConfig(): Promise<unknown> {
    const file = this.file('config');
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new RunDirectoryError(
        error.code === 'ENOENT'
          ? `${file} is missing`
          : `${file} cannot be read (${error.code ?? error.message})`,
      );
    });
    let config: unknown;
    try {
      config = JSON.parse(text);
    } catch (error) {
      throw new RunDirectoryError(`${file} is not JSON (${(error as Error).message})`);
    }
    return withEarlierDefaults(config);
  }

  async update(patch: Partial<Omit<RunStatus, 'format' | 'configHash' | 'updatedAt'>>): Promise<void> {
    this.status = { ...this.status, ...patch, updatedAt: new Date().toISOString() };
    await this.writeStatus();
  }

  async appendMetrics(record: MetricsRecord): Promise<void> {
    await appendJsonLine(this.file('metrics'), record);
  }

  async appendEval(record: EvalRecord): Promise<void> {
    await appendJsonLine(this.file('eval'), record);
  }

  readMetrics() {
    return readJsonLines(this.file('metrics'), metricsRecord);
  }

  readEvals() {
    return readJsonLines(this.file('eval'), evalRecord);
  }

  /**
   * Deletes what a process killed while writing leaves behind: write-file-atomic's `<file>.<number>`
   * temporaries beside the replaced files, and checkpoint and analysis folders still being assembled. Only safe once no
   * process writes the run; returns the paths removed.
   */
  async removeAbandonedWrites(): Promise<string[]> {
    const abandoned = async (folder: string, pattern: RegExp) =>
      (await readdir(folder).catch(() => [] as string[]))
        .filter((name) => pattern.test(name))
        .map((name) => path.join(folder, name));
    const paths = [
      ...(await abandoned(this.dir, /^((run|config|skipped)\.json|(metrics|eval)\.jsonl)\.\d+$/)),
      ...(await abandoned(this.file('checkpoints'), /^((latest|best)\.json\.\d+|\.staging-.+)$/)),
      ...(await abandoned(this.file('analysis'), /^\.staging-.+$/)),
    ];
    await Promise.all(paths.map((entry) => rm(entry, { recursive: true, force: true })));
    return paths;
  }

  private async writeStatus(): Promise<void> {
    const file = this.file('status');
    try {
      await writeJsonAtomically(file, this.status);
    } catch (error) {
      if (!(error instanceof FileWriteError && error.outOfSpace)) throw error;
      // No room for a second copy. Rewriting in place truncates the old one first, which frees the space the
      // new one needs, so a full disk still ends with run.json saying why the run failed.
      await writingFile(file, () => writeFile(file, `${JSON.stringify(this.status, null, 2)}\n`));
    }
  }
}

/** Between the hidden name of a run being made and the pid of the process making it. */
const creatingMarker = '.creating-';

async function refuseInsideRun(dir: string): Promise<void> {
  for (let folder = path.dirname(path.resolve(dir)); ; folder = path.dirname(folder)) {
    if (await stat(path.join(folder, runFileNames.status)).catch(() => undefined)) {
      throw new RunDirectoryError(
        `${dir}: inside the run folder ${folder}; a new run is never written into another run, choose a folder outside it`,
      );
    }
    if (path.dirname(folder) === folder) return;
  }
}

async function refuseOccupied(dir: string, config: unknown): Promise<void> {
  const existing = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    if (error.code === 'ENOTDIR')
      throw new RunDirectoryError(`${dir}: is a file, not a folder; choose another --out`);
    throw error;
  });
  if (existing.length === 0) return;
  const other = await readStatus(dir).catch(() => undefined);
  if (!other) {
    throw new RunDirectoryError(`${dir}: not empty and holds no SynthPair run; choose another --out`);
  }
  const sameConfig = other.configHash === hashConfig(config);
  const advice =
    sameConfig && other.state !== 'completed'
      ? `resume it with --resume ${dir} or choose another --out`
      : 'choose another --out';
  throw new RunDirectoryError(
    `${dir}: already holds the run "${other.name}" (${other.state}, ${sameConfig ? 'same' : 'another'} config); ${advice}`,
  );
}

/** Hidden run folders whose maker died before renaming them into place. */
async function removeAbandonedCreations(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  await Promise.all(
    names
      .map((name) => ({ name, pid: Number(name.split(creatingMarker)[1]) }))
      .filter(({ name, pid }) => name.startsWith('.') && Number.isInteger(pid) && pid > 0 && !isAlive(pid))
      .map(({ name }) => rm(path.join(parent, name), { recursive: true, force: true })),
  );
}

async function readStatus(dir: string): Promise<RunStatus> {
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) {
    throw new RunDirectoryError(`${dir}: no such folder`);
  }
  let text: string;
  try {
    text = await readFile(path.join(dir, runFileNames.status), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RunDirectoryError(`${dir} is not a SynthPair run: it has no ${runFileNames.status}`);
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RunDirectoryError(`${path.join(dir, runFileNames.status)} is not JSON`);
  }
  const status = validateMessage(runStatus, parsed);
  if (!status.ok) {
    throw new RunDirectoryError(
      `${path.join(dir, runFileNames.status)} is not a SynthPair run status: ${status.reason}`,
    );
  }
  return status.value;
}

/**
 * A saved config as its run computed: a key added since, whose default differs from what the run did before it
 * existed, is filled in with that earlier behaviour. A saved config holds every key, so a missing one means the
 * run is older than the key.
 */
function withEarlierDefaults(config: unknown): unknown {
  if (typeof config !== 'object' || config === null) return config;
  let earlier = config as Record<string, unknown>;
  const { model, data } = earlier;
  if (isObject(model) && !('padding' in model)) {
    // Before model.padding, every ResNet padded as TF's 'same'.
    earlier = { ...earlier, model: { ...model, padding: 'same' } };
  }
  if (isObject(data) && !('validation' in data)) {
    // Before data.validation, a run trained on the whole training split.
    earlier = { ...earlier, data: { ...data, validation: { fraction: 0, seed: 0 } } };
  }
  return earlier;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
