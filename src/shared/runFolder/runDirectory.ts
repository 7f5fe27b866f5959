import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
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
import { writeJsonAtomically } from './atomicFiles';
import { appendJsonLine, readJsonLines } from './jsonLines';
import { isAlive } from './liveness';

/** Why a run directory cannot be used; the CLI turns it into exit code 2, the extension into a message. */
export class RunDirectoryError extends Error {
  override name = 'RunDirectoryError';
}

export const runFileNames = {
  status: 'run.json',
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
   * Makes a new run folder. An existing folder is used only when it is empty: a folder holding another run,
   * of this config or any other, is never written into (resume it instead).
   */
  static async create(
    dir: string,
    config: unknown,
    status: Omit<RunStatus, 'format' | 'configHash' | 'updatedAt' | 'epoch' | 'state'>,
  ): Promise<RunDirectory> {
    const existing = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        return [];
      }
      throw error;
    });
    if (existing.length > 0) {
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
    await mkdir(path.join(dir, runFileNames.checkpoints), { recursive: true });
    const now = new Date().toISOString();
    const run = new RunDirectory(dir, {
      ...status,
      format: 1,
      state: 'running',
      configHash: hashConfig(config),
      updatedAt: now,
      epoch: 0,
    });
    await writeJsonAtomically(run.file('config'), config);
    await run.writeStatus();
    return run;
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
    return JSON.parse(await readFile(this.file('config'), 'utf8'));
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
      ...(await abandoned(this.file('checkpoints'), /^(latest\.json\.\d+|\.staging-.+)$/)),
      ...(await abandoned(this.file('analysis'), /^\.staging-.+$/)),
    ];
    await Promise.all(paths.map((entry) => rm(entry, { recursive: true, force: true })));
    return paths;
  }

  private async writeStatus(): Promise<void> {
    await writeJsonAtomically(this.file('status'), this.status);
  }
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
