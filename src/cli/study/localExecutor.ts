import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { appendSubmission, trialLogFile } from '../../shared/study/studyFolder';

export interface LocalTrialOutcome {
  trial: string;
  /** The trial process's exit code: 0 completed, 130 stopped, anything else failed. */
  code: number;
}

export interface LocalExecution {
  studyDir: string;
  trials: readonly string[];
  concurrency: number;
  /** The Node and the CLI a trial process runs: `node dist/cli.js study trial <studyDir> <trial>`. */
  node: string;
  cliScript: string;
  /** Arguments every trial process gets after its own, e.g. `--backend wasm`. */
  trialArgs: readonly string[];
  started(trial: string): void;
  ended(outcome: LocalTrialOutcome): void;
}

/**
 * Trains trials on this machine, `concurrency` at a time, each in a process of its own whose output goes to
 * the trial's log. SIGINT or SIGTERM (Ctrl-C, `study cancel`) is passed to the trials training, which stop
 * after their current step; the ones still waiting are not started. Resolves when every trial has ended.
 */
export async function runLocally(execution: LocalExecution): Promise<LocalTrialOutcome[]> {
  const { studyDir, trials } = execution;
  await mkdir(path.join(studyDir, 'logs'), { recursive: true });
  await appendSubmission(studyDir, {
    kind: 'local',
    pid: process.pid,
    host: os.hostname(),
    submittedAt: new Date().toISOString(),
    trials: [...trials],
  });
  const waiting = [...trials];
  const children = new Set<ReturnType<typeof spawn>>();
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const child of children) child.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const outcomes: LocalTrialOutcome[] = [];
  try {
    await Promise.all(
      Array.from({ length: Math.min(execution.concurrency, trials.length) }, async () => {
        for (let trial = waiting.shift(); trial !== undefined && !stopping; trial = waiting.shift()) {
          const outcome = await runTrial(execution, trial, children);
          outcomes.push(outcome);
          execution.ended(outcome);
        }
      }),
    );
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return outcomes;
}

async function runTrial(
  execution: LocalExecution,
  trial: string,
  children: Set<ReturnType<typeof spawn>>,
): Promise<LocalTrialOutcome> {
  const log = createWriteStream(trialLogFile(execution.studyDir, trial), { flags: 'a' });
  await once(log, 'open');
  // Its own process group: a Ctrl-C on the terminal reaches the study, which tells each trial once.
  const child = spawn(
    execution.node,
    [execution.cliScript, 'study', 'trial', execution.studyDir, trial, ...execution.trialArgs],
    { stdio: ['ignore', log, log], detached: true },
  );
  children.add(child);
  execution.started(trial);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  children.delete(child);
  log.end();
  await once(log, 'close');
  return { trial, code: code ?? (signal === 'SIGTERM' || signal === 'SIGINT' ? 130 : 1) };
}
