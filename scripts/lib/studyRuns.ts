// What the study scripts share: running the built CLI into run folders that an interrupted study reuses,
// reading a completed run's figures, and summarising figures over seeds.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { type EvalRecord, evalRecord, runStatus } from '../../src/shared/protocol/runFiles';

export const repoRoot = path.resolve(__dirname, '..', '..');

/**
 * The built CLI a study runs (a copy of dist/ keeps a long study on one build while the working tree is
 * rebuilt) and the bird data set it reads: `--data`, else $SYNTHPAIR_BIRDS_DATA, else the shared datasets
 * folder beside the repository.
 */
export function studyInputs(flags: { cli?: string; data?: string }): { cli: string; birds: string } {
  return {
    cli: path.resolve(flags.cli ?? path.join(repoRoot, 'dist', 'cli.js')),
    birds: path.resolve(
      flags.data ??
        process.env.SYNTHPAIR_BIRDS_DATA ??
        path.join(repoRoot, '..', 'shared', 'datasets', 'cub200-subset100-96'),
    ),
  };
}

export const reportedMetrics = ['knnTop1', 'linearTop1', 'rank1', 'mAP'] as const;
export type ReportedMetric = (typeof reportedMetrics)[number];
export const metricLabels: Record<ReportedMetric, string> = {
  knnTop1: 'kNN top-1',
  linearTop1: 'linear top-1',
  rank1: 'rank-1',
  mAP: 'mAP',
};
export type Figures = Record<ReportedMetric, number>;

export interface CompletedRun {
  runDir: string;
  wallSeconds: number;
  backend: string | undefined;
  /** The last eval.jsonl record: the last epoch's figures, and the best checkpoint's when the run chose one. */
  last: EvalRecord;
}

/** A run folder whose run completed, or undefined: a missing, stopped or failed one is run (again). */
export function readCompleted(runDir: string): CompletedRun | undefined {
  const statusFile = path.join(runDir, 'run.json');
  if (!existsSync(statusFile)) return undefined;
  const status = runStatus.parse(JSON.parse(readFileSync(statusFile, 'utf8')));
  if (status.state !== 'completed') return undefined;
  const lines = readFileSync(path.join(runDir, 'eval.jsonl'), 'utf8').trim().split('\n');
  return {
    runDir,
    wallSeconds: (Date.parse(status.endedAt!) - Date.parse(status.startedAt)) / 1000,
    backend: status.backend,
    last: evalRecord.parse(JSON.parse(lines.at(-1)!)),
  };
}

/** The reported figures of an eval.jsonl record (or its best checkpoint's), NaN for one not measured. */
export function figuresOf(record: Partial<Record<ReportedMetric, number>>): Figures {
  return Object.fromEntries(
    reportedMetrics.map((metric) => [metric, record[metric] ?? Number.NaN]),
  ) as Figures;
}

/** Runs `node <cli> ...args` and resolves with its stdout; rejects with the output's tail when it fails. */
export function runCli(cli: string, args: readonly string[], label: string): Promise<string> {
  console.log(`starting ${label}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('exit', (code) => {
      if (code === 0) {
        console.log(`finished ${label}`);
        resolve(stdout);
      } else {
        reject(new Error(`${label} exited with ${code}:\n${tail}`));
      }
    });
  });
}

/**
 * Trains `runDir` from `configFile` with `overrides`, or resumes it from its last checkpoint when an earlier
 * invocation left it stopped, killed or failed; a completed one is reused as it is.
 */
export async function runOrResume(
  cli: string,
  run: { configFile: string; runDir: string; overrides: readonly string[] },
  label: string,
): Promise<void> {
  if (readCompleted(run.runDir)) {
    console.log(`reusing ${path.relative(process.cwd(), run.runDir)}`);
    return;
  }
  const args = existsSync(path.join(run.runDir, 'run.json'))
    ? ['run', '--resume', run.runDir]
    : ['run', run.configFile, '--out', run.runDir, '--set', ...run.overrides];
  await runCli(cli, args, label);
}

/** Works through `tasks` with `jobs` of them at a time. */
export async function runQueue(tasks: readonly (() => Promise<unknown>)[], jobs: number): Promise<void> {
  const queue = [...tasks];
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await next();
    }),
  );
}

export function meanAndStd(values: readonly number[]): { mean: number; std: number } {
  const mean = values.reduce((total, value) => total + value, 0) / values.length;
  const variance =
    values.length > 1
      ? values.reduce((total, value) => total + (value - mean) ** 2, 0) / (values.length - 1)
      : 0;
  return { mean, std: Math.sqrt(variance) };
}

/**
 * The mean of paired differences and its two-sided 95 % interval by Student's t with n − 1 degrees of freedom
 * (the seeds pair the conditions: the same seed gives the same initial heads, data order and augmentations).
 */
export function pairedDifference(
  values: readonly number[],
  baseline: readonly number[],
): { mean: number; low: number; high: number } {
  const differences = values.map((value, index) => value - baseline[index]!);
  const { mean, std } = meanAndStd(differences);
  const half =
    differences.length > 1
      ? tQuantile(0.975, differences.length - 1) * (std / Math.sqrt(differences.length))
      : Number.NaN;
  return { mean, low: mean - half, high: mean + half };
}

/** Prints a study's table and writes it as `results.md`, with every run's figures as `results.json`, under `outRoot`. */
export function writeResults(outRoot: string, markdown: string, details: Record<string, unknown>): void {
  console.log(`\n${markdown}`);
  writeFileSync(path.join(outRoot, 'results.md'), markdown);
  writeFileSync(path.join(outRoot, 'results.json'), `${JSON.stringify(details, null, 2)}\n`);
}

/** Runs a study script's `main`, ending the process with the error's message and exit code 1 when it fails. */
export function runStudy(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
