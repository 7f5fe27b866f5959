import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutorKind, StudyCheckpoint } from '../../shared/config/study/definitions';
import type { StudySubmission } from '../../shared/protocol/studyFiles';
import { isAlive } from '../../shared/runFolder/liveness';
import { querySlurm } from '../../shared/study/slurmQueue';
import {
  readStudyManifest,
  readSubmissions,
  slurmJobIdsOf,
  studyPath,
  trialFolder,
  writeStudyManifest,
} from '../../shared/study/studyFolder';
import {
  isActive,
  lastLines,
  readStudyState,
  type StudyState,
  type TrialStatus,
} from '../../shared/study/studyState';
import { tableCsv, tableMarkdown } from '../../shared/study/table';
import { describeTrialCounts } from '../../shared/study/trialCounts';
import { UsageError } from '../runCommand';
import { type LoadedStudy, loadStudy } from './loadStudy';
import { runLocally } from './localExecutor';
import { cancelSlurmJobs, submitToSlurm } from './slurmExecutor';

export interface StudyCommandContext {
  /** This Node and this CLI's script: what a local trial process runs, and Slurm's default command. */
  node: string;
  cliScript: string;
  /** `--backend` for every trial, when given. */
  backend?: string;
  /** The environment Slurm's commands see (SLURM_CONF in tests). */
  env?: NodeJS.ProcessEnv;
}

const say = (line: string) => process.stderr.write(`${line}\n`);

export async function studyStateOf(
  loaded: LoadedStudy,
  env?: NodeJS.ProcessEnv,
  checkpoint?: StudyCheckpoint,
): Promise<StudyState> {
  // Slurm is asked first, of the arrays the folder records, so that the trials are read once, with its answer.
  const slurm = await querySlurm(slurmJobIdsOf(await readSubmissions(loaded.studyDir)), env);
  const state = await readStudyState(loaded.studyDir, {
    slurm,
    ...(checkpoint ? { checkpoint } : {}),
    plan: loaded.plan,
  });
  if (!state) {
    throw new UsageError(
      `${loaded.file}: has not run yet (no ${path.join(loaded.studyDir, 'study.json')}); start it with synthpair study run`,
    );
  }
  return state;
}

/**
 * Trials whose run folders hold another experiment than the study now plans: training them again would
 * splice two experiments into one row, so the user decides.
 */
async function changedTrials(loaded: LoadedStudy): Promise<string[]> {
  const previous = await readStudyManifest(loaded.studyDir);
  if (!previous) return [];
  const before = new Map(previous.trials.map((trial) => [trial.id, trial.overrides.join('\n')]));
  return loaded.plan.trials
    .filter((trial) => before.has(trial.id) && before.get(trial.id) !== trial.overrides.join('\n'))
    .filter((trial) => existsSync(trialFolder(loaded.studyDir, trial.id)))
    .map((trial) => trial.id);
}

export interface StudyRunOptions {
  executor?: ExecutorKind;
  concurrency?: number;
  wait?: boolean;
}

/**
 * `synthpair study run`: trains every trial not yet completed. Completed trials are reused, stopped ones
 * resume from their checkpoints, failed ones are retried, and ones already queued or training are left to
 * their scheduler. Locally it trains them and prints the table; on Slurm it submits one job array and
 * returns (or, with --wait, follows the array to its end).
 */
export async function studyRunCommand(
  file: string,
  options: StudyRunOptions,
  context: StudyCommandContext,
): Promise<number> {
  const loaded = await loadStudy(file, say);
  const changed = await changedTrials(loaded);
  if (changed.length > 0) {
    throw new UsageError(
      `${loaded.file}: changed what ${changed.length === 1 ? 'this trial trains' : 'these trials train'} since ${changed.length === 1 ? 'it' : 'they'} ran: ${changed.join(', ')}. Delete ${changed.length === 1 ? 'its run folder' : 'their run folders'} in ${loaded.studyDir} to train ${changed.length === 1 ? 'it' : 'them'} anew, or give the changed condition a new name`,
    );
  }
  await writeStudyManifest(loaded.studyDir, { ...loaded.plan, updatedAt: new Date().toISOString() });
  const state = await studyStateOf(loaded, context.env);
  const byState = (wanted: (trial: TrialStatus) => boolean) => state.trials.filter(wanted);
  const reused = byState((trial) => trial.state === 'completed');
  const busy = byState((trial) => isActive(trial.state));
  const todo = byState((trial) => trial.state !== 'completed' && !isActive(trial.state));
  say(
    `study ${loaded.plan.name}: ${loaded.plan.trials.length} trials in ${loaded.studyDir}; ${reused.length} completed earlier, ${busy.length} queued or training, ${todo.length} to train`,
  );
  for (const trial of busy)
    say(`  ${trial.id}: ${trial.state}${trial.scheduler ? ` (${trial.scheduler})` : ''}, left to it`);
  const executor = options.executor ?? loaded.study.executor.kind;
  const trialArgs = context.backend ? ['--backend', context.backend] : [];
  if (todo.length > 0 && executor === 'slurm') {
    const submission = await submitToSlurm({
      studyName: loaded.plan.name,
      studyDir: loaded.studyDir,
      trials: todo.map((trial) => trial.id),
      settings: loaded.study.executor.slurm,
      defaultCommand: [context.node, context.cliScript],
      trialArgs,
      ...(context.env ? { env: context.env } : {}),
    });
    say(
      `submitted job array ${submission.jobId} (${todo.length} tasks); follow it with: synthpair study status ${file}`,
    );
    if (!options.wait) return 0;
  }
  if (todo.length > 0 && executor === 'local') {
    const outcomes = await runLocally({
      studyDir: loaded.studyDir,
      trials: todo.map((trial) => trial.id),
      concurrency: options.concurrency ?? loaded.study.executor.local.concurrency,
      node: context.node,
      cliScript: context.cliScript,
      trialArgs,
      started: (trial) => say(`▶ ${trial}`),
      // A failure's reason and log are reported with the table, once every trial has ended.
      ended: ({ trial, code }) =>
        say(code === 0 ? `✓ ${trial}` : code === 130 ? `■ ${trial}: stopped` : `✗ ${trial}: exit ${code}`),
    });
    if (outcomes.some(({ code }) => code === 130) || outcomes.length < todo.length) {
      say('study stopped; run it again to go on where it stopped');
      return 130;
    }
  }
  const final = options.wait || executor === 'local' ? await followToEnd(loaded, context.env) : state;
  await writeTables(final);
  process.stdout.write(tableMarkdown(final.table));
  reportFailures(final);
  return final.trials.every((trial) => trial.state === 'completed') ? 0 : 1;
}

/** Polls until no trial is queued or training any more: trials on a cluster end on their own time. */
async function followToEnd(loaded: LoadedStudy, env?: NodeJS.ProcessEnv): Promise<StudyState> {
  let reported = '';
  for (;;) {
    const state = await studyStateOf(loaded, env);
    const counts = describeTrialCounts(state.trials);
    if (counts !== reported) say(`${new Date().toISOString()} ${counts}`);
    reported = counts;
    if (!state.trials.some((trial) => isActive(trial.state))) return state;
    await sleep(5000);
  }
}

function reportFailures(state: StudyState): void {
  for (const trial of state.trials.filter((candidate) => candidate.state === 'failed')) {
    say(`✗ ${trial.id} failed${trial.reason ? `: ${trial.reason}` : ''}; log: ${trial.log}`);
  }
}

/** Writes table.md, table.csv and table.json into the study folder. */
async function writeTables(state: StudyState): Promise<void> {
  await writeFile(studyPath(state.studyDir, 'tableMarkdown'), tableMarkdown(state.table));
  await writeFile(studyPath(state.studyDir, 'tableCsv'), tableCsv(state.table));
  await writeFile(studyPath(state.studyDir, 'tableJson'), `${JSON.stringify(state.table, null, 2)}\n`);
}

/** `synthpair study status`: every trial's state, and the last lines of each failed one's log. */
export async function studyStatusCommand(
  file: string,
  options: { json?: boolean },
  context: StudyCommandContext,
): Promise<number> {
  const loaded = await loadStudy(file, say);
  const state = await studyStateOf(loaded, context.env);
  const failedLogs = new Map(
    await Promise.all(
      state.trials
        .filter((trial) => trial.state === 'failed')
        .map(async (trial) => [trial.id, await lastLines(trial.log, 10)] as const),
    ),
  );
  if (options.json) {
    const trials = state.trials.map(({ figures: _figures, ...trial }) => ({
      ...trial,
      ...(failedLogs.has(trial.id) ? { logTail: failedLogs.get(trial.id) } : {}),
    }));
    process.stdout.write(
      `${JSON.stringify({ study: state.manifest.name, studyDir: state.studyDir, trials, table: state.table })}\n`,
    );
    return 0;
  }
  const width = Math.max(...state.trials.map((trial) => trial.id.length));
  process.stdout.write(
    `study ${state.manifest.name} (${state.studyDir}): ${describeTrialCounts(state.trials)}\n`,
  );
  for (const trial of state.trials) {
    const progress = trial.epochs === undefined ? '' : ` epoch ${trial.epoch ?? 0}/${trial.epochs}`;
    const where = trial.scheduler ? ` [${trial.scheduler}]` : '';
    const reason = trial.reason ? `: ${trial.reason}` : '';
    process.stdout.write(
      `  ${trial.id.padEnd(width)}  ${trial.state.padEnd(9)}${progress}${where}${reason}\n`,
    );
    const tail = failedLogs.get(trial.id);
    if (tail)
      process.stdout.write(
        `${tail
          .split('\n')
          .map((line) => `      | ${line}`)
          .join('\n')}\n      (${trial.log})\n`,
      );
  }
  return 0;
}

/**
 * `synthpair study cancel`: stops the study's local queue (its trials stop after their current step) and
 * cancels its Slurm arrays; a later `study run` resumes the trials that had started.
 */
export async function studyCancelCommand(file: string, context: StudyCommandContext): Promise<number> {
  const loaded = await loadStudy(file, say);
  const state = await studyStateOf(loaded, context.env);
  const active = state.trials.filter((trial) => isActive(trial.state));
  const jobIds = [
    ...new Set(
      state.submissions.flatMap((submission) =>
        submission.kind === 'slurm' &&
        active.some((trial) => trial.scheduler?.startsWith(`${submission.jobId}_`))
          ? [submission.jobId]
          : [],
      ),
    ),
  ];
  const queues = state.submissions.filter(
    (submission): submission is Extract<StudySubmission, { kind: 'local' }> =>
      submission.kind === 'local' && submission.host === os.hostname() && isAlive(submission.pid),
  );
  if (jobIds.length === 0 && queues.length === 0) {
    say(`study ${state.manifest.name}: nothing queued or training`);
    return 0;
  }
  await cancelSlurmJobs(jobIds, context.env);
  for (const jobId of jobIds) say(`cancelled job array ${jobId}`);
  for (const queue of queues) process.kill(queue.pid, 'SIGTERM');
  // A trial stops after its current step and then writes its checkpoint state; wait for the local queues to end.
  for (const queue of queues) {
    while (isAlive(queue.pid)) await sleep(200);
    say(`stopped the local queue (process ${queue.pid})`);
  }
  return 0;
}

/** `synthpair study table`: the table of the trials completed so far, written beside them and printed. */
export async function studyTableCommand(
  file: string,
  options: { format: 'md' | 'csv' | 'json'; checkpoint?: StudyCheckpoint },
  context: StudyCommandContext,
): Promise<number> {
  const loaded = await loadStudy(file, say);
  const state = await studyStateOf(loaded, context.env, options.checkpoint);
  const text =
    options.format === 'json'
      ? `${JSON.stringify(state.table, null, 2)}\n`
      : options.format === 'csv'
        ? tableCsv(state.table)
        : tableMarkdown(state.table);
  process.stdout.write(text);
  // The files beside the trials are the study's own table, of the checkpoint its file names.
  if (state.table.checkpoint === loaded.study.checkpoint) {
    await writeTables(state);
    say(`written to ${path.join(state.studyDir, 'table.{md,csv,json}')}`);
  }
  return 0;
}
