import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeImageFolder } from '../fixtures/makeImages';
import { type Config, mergeConfig } from './config';

/** The bundled CLI, so the tests exercise what users run rather than the TypeScript sources. */
export const cliPath = path.join(__dirname, '..', '..', 'dist', 'cli.js');

/** Fails a suite up front with the fix, instead of every test failing with a missing module. */
export function assertCliBuilt(): void {
  if (!existsSync(cliPath)) {
    throw new Error('dist/cli.js is missing: run `npm run build` first');
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion; stdout is not a terminal, so it prints JSON lines. */
export function runCli(cwd: string, ...args: string[]): CliResult {
  // spawnSync blocks mocha's own timeout, so this limit is what turns a hung CLI into a failure.
  const result = spawnSync(process.execPath, [cliPath, ...args], { cwd, encoding: 'utf8', timeout: 240_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface CliEvent {
  event: string;
  message?: string;
  [field: string]: unknown;
}

export interface LogEvent extends CliEvent {
  event: 'log';
  level: string;
  message: string;
}

export function jsonEvents(stdout: string): CliEvent[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as CliEvent);
}

/** A `synthpair run` trained the synthesized-pair loss and ended with its final evaluation. */
export function assertTrainedWithPairs(stdout: string): void {
  const events = jsonEvents(stdout);
  assert.ok(
    events.some((event) => typeof (event['losses'] as { pairs?: unknown } | undefined)?.pairs === 'number'),
    'the synthesized-pair loss was trained',
  );
  assert.ok(events.some((event) => /^final: kNN/.test(event.message ?? '')));
}

/** The one `result` event a command prints. */
export function resultEvent(stdout: string): CliEvent {
  const results = jsonEvents(stdout).filter((event) => event.event === 'result');
  assert.equal(results.length, 1, stdout);
  return results[0]!;
}

export function logEvents(stdout: string): LogEvent[] {
  return jsonEvents(stdout).filter((event): event is LogEvent => event.event === 'log');
}

/** Three classes, enough for kNN, retrieval and the linear probe to have something to score. */
export const tinyClasses = { a: { train: 6, test: 3 }, b: { train: 6, test: 3 }, c: { train: 6, test: 3 } };

/** An ImageFolder dataset small enough that a whole run takes seconds. */
export async function writeTinyDataset(root: string, classes = tinyClasses): Promise<void> {
  await makeImageFolder(root, classes, 36);
}

/** A config that trains on the tiny dataset in seconds; `patch` overrides keys at any depth. */
export function tinyConfig(patch: Config = {}): Config {
  return mergeConfig(
    {
      name: 'tiny',
      data: { root: 'data', imageSize: 32 },
      model: { arch: 'smallcnn', width: 0.25, projector: { hiddenDim: 32, outDim: 16 } },
      train: { epochs: 1, batchSize: 6 },
      optim: { name: 'adam', warmupEpochs: 0 },
      eval: { knn: { k: 3 }, linear: { epochs: 5 } },
      // The tiny test split has 9 images; the default 16 probes would not fit.
      analysis: { probes: { count: 4 } },
    },
    patch,
  );
}

/** Writes `data/` and `tiny.synthpair.json` (pointing at it) into `folder`; returns the config written. */
export async function writeTinyExperiment(folder: string, configPatch: Config = {}): Promise<Config> {
  await writeTinyDataset(path.join(folder, 'data'));
  const config = tinyConfig(configPatch);
  await writeFile(path.join(folder, 'tiny.synthpair.json'), JSON.stringify(config, null, 2));
  return config;
}

/** Every file under a folder, by relative path, with its bytes: equal snapshots mean nothing changed. */
export async function snapshotFiles(folder: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(folder, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      files.set(path.relative(folder, file), await readFile(file));
    }
  }
  return files;
}

/**
 * `line:column` as the CLI prints it (1-based) of `within`, a part of `needle`, which occurs once in `text`;
 * counted here, independently of the CLI.
 */
export function placeOf(text: string, needle: string, within = needle): string {
  const at = text.indexOf(needle);
  assert.ok(at >= 0 && text.lastIndexOf(needle) === at, `${needle} must occur once in ${text}`);
  const lines = text.slice(0, at + needle.indexOf(within)).split('\n');
  return `${lines.length}:${lines.at(-1)!.length + 1}`;
}
