import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CliResult, cliPath, writeTinyExperiment } from './cli';
import type { Config } from './config';

/** Writes the tiny experiment and a study of it, `tiny.study.json`, into `folder`; returns the study file. */
export async function writeTinyStudy(
  folder: string,
  study: Record<string, unknown>,
  experiment: Config = {},
): Promise<string> {
  // No validation split: the tiny set's 18 training images all train, and `best` falls back to the last epoch.
  await writeTinyExperiment(folder, { data: { validation: { fraction: 0 } }, ...experiment });
  const file = path.join(folder, 'tiny.study.json');
  await writeFile(
    file,
    JSON.stringify({ name: 'tiny', experiment: 'tiny.synthpair.json', ...study }, null, 2),
  );
  return file;
}

export interface TrialStatusJson {
  id: string;
  state: string;
  epoch?: number;
  reason?: string;
  scheduler?: string;
  logTail?: string;
}

/** `synthpair study status --json`, parsed. */
export async function studyStatus(
  folder: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{
  studyDir: string;
  trials: TrialStatusJson[];
  table: { conditions: { id: string; completed: number }[] };
}> {
  const result = await cli(folder, ['study', 'status', 'tiny.study.json', '--json'], env);
  if (result.code !== 0) throw new Error(`study status exited with ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** Runs the CLI to its end without blocking the event loop, so a test can act while it runs. */
export function cli(
  folder: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: folder, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls `condition` until it holds; a limit for a hung study, not a measure of the machine's speed. */
export async function waitFor<T>(
  what: string,
  condition: () => Promise<T | undefined>,
  limitMs = 600_000,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await condition().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

/** The records of a trial's eval.jsonl without wall-clock times: what must repeat exactly. */
export async function evalNumbers(runDir: string): Promise<unknown[]> {
  const text = await readFile(path.join(runDir, 'eval.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const { time: _time, ...rest } = JSON.parse(line) as Record<string, unknown>;
      return rest;
    });
}
