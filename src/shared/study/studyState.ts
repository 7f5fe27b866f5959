import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import type { StudyCheckpoint, StudyMetric } from '../config/study/definitions';
import type { EvalRecord } from '../protocol/runFiles';
import type { StudyManifest, StudySubmission, TrialAttempt, TrialState } from '../protocol/studyFiles';
import { isAlive } from '../runFolder/liveness';
import { type RunSummary, readRunSummary } from '../runFolder/runSummary';
import { queuedSlurmStates, runningSlurmStates, type SlurmSnapshot } from './slurmQueue';
import {
  latestSubmissionOf,
  readLastAttempts,
  readStudyManifest,
  readSubmissions,
  slurmOutputFile,
  trialFolder,
  trialLogFile,
} from './studyFolder';
import { type StudyTable, studyTable, type TrialFigures } from './table';

export interface TrialStatus {
  id: string;
  condition: string;
  seed: number;
  /** Its run folder, which exists once the trial has started. */
  dir: string;
  log: string;
  state: TrialState;
  /** Epochs done and planned, once its run folder exists. */
  epoch?: number;
  epochs?: number;
  /** Why it failed or was cancelled, as the run or the scheduler says. */
  reason?: string;
  /** Who trains it: `local` or the Slurm array task `<jobId>_<task>`. */
  scheduler?: string;
  figures?: TrialFigures;
}

export interface StudyState {
  studyDir: string;
  manifest: StudyManifest;
  submissions: StudySubmission[];
  trials: TrialStatus[];
  table: StudyTable;
}

/** Whether a trial still has work coming from its scheduler: `study run` leaves those alone. */
export function isActive(state: TrialState): boolean {
  return state === 'queued' || state === 'running';
}

/** The figures a study reports of a completed run: its best checkpoint's or its last epoch's. */
export function figuresOfRecord(record: EvalRecord, checkpoint: StudyManifest['checkpoint']): TrialFigures {
  const source = checkpoint === 'best' && record.best ? record.best : record;
  const { knnTop1, linearTop1, rank1, rank5, mAP } = source;
  const figures: Partial<Record<StudyMetric, number | undefined>> = {
    knnTop1,
    linearTop1,
    rank1,
    rank5,
    mAP,
  };
  return Object.fromEntries(
    Object.entries(figures).filter(([, value]) => value !== undefined),
  ) as TrialFigures;
}

/**
 * A study as its folder and its scheduler tell it: each trial's state and, once completed, figures, and the
 * table of those completed so far. Undefined when the folder holds no study yet.
 */
export interface StudyStateOptions {
  /** What squeue and sacct said of the study's arrays; without it a trial on Slurm is judged by its run folder. */
  slurm?: SlurmSnapshot;
  /** The checkpoint whose figures to report, when not the one the study file names. */
  checkpoint?: StudyCheckpoint;
  /**
   * The study file's plan as it reads now, when it parses: trials added since the last `study run` show as
   * pending and new labels show at once. Without it, the plan the last `study run` wrote.
   */
  plan?: Omit<StudyManifest, 'updatedAt'>;
}

export async function readStudyState(
  studyDir: string,
  { slurm = new Map(), checkpoint, plan }: StudyStateOptions = {},
): Promise<StudyState | undefined> {
  const written = await readStudyManifest(studyDir);
  if (!written) return undefined;
  const planned = plan ? { ...plan, updatedAt: written.updatedAt } : written;
  const manifest = { ...planned, checkpoint: checkpoint ?? planned.checkpoint };
  const [submissions, attempts] = await Promise.all([readSubmissions(studyDir), readLastAttempts(studyDir)]);
  const latest = latestSubmissionOf(submissions);
  const trials = await Promise.all(
    manifest.trials.map(async (trial): Promise<TrialStatus> => {
      const dir = trialFolder(studyDir, trial.id);
      const run = await readRunSummary(dir).catch(() => undefined);
      const status: TrialStatus = {
        id: trial.id,
        condition: trial.condition,
        seed: trial.seed,
        dir,
        log: logOf(studyDir, trial.id, latest.get(trial.id)),
        ...stateOf(run, latest.get(trial.id), attempts.get(trial.id), trial.id, slurm),
        ...(run
          ? { epoch: run.status.epoch, ...(run.epochs === undefined ? {} : { epochs: run.epochs }) }
          : {}),
      };
      if (status.state === 'completed' && run?.lastEval)
        status.figures = figuresOfRecord(run.lastEval, manifest.checkpoint);
      if (status.state === 'failed' && !status.reason) status.reason = await lastLines(status.log, 1);
      return status;
    }),
  );
  const figures = new Map(
    trials.flatMap((trial) => (trial.figures ? [[trial.id, trial.figures] as const] : [])),
  );
  return { studyDir, manifest, submissions, trials, table: studyTable(manifest, figures) };
}

function stateOf(
  run: RunSummary | undefined,
  submission: StudySubmission | undefined,
  attempt: TrialAttempt | undefined,
  trial: string,
  slurm: SlurmSnapshot,
): Pick<TrialStatus, 'state' | 'reason' | 'scheduler'> {
  if (run?.state === 'completed') return { state: 'completed' };
  // An attempt that ended since the trial was last submitted, and did not end it as stopped or completed.
  const failedAttempt =
    attempt &&
    (!submission || attempt.endedAt >= submission.submittedAt) &&
    attempt.exitCode !== 0 &&
    attempt.exitCode !== 130
      ? { state: 'failed' as const, reason: attempt.error ?? `exit ${attempt.exitCode}` }
      : undefined;
  if (submission?.kind === 'slurm') {
    const task = `${submission.jobId}_${submission.trials.indexOf(trial)}`;
    const scheduled = slurm.get(task);
    const scheduler = { scheduler: task };
    if (scheduled && queuedSlurmStates.has(scheduled.state)) {
      return { state: 'queued', ...scheduler, ...(scheduled.reason ? { reason: scheduled.reason } : {}) };
    }
    if (scheduled && runningSlurmStates.has(scheduled.state)) return { state: 'running', ...scheduler };
    if (failedAttempt) return { ...failedAttempt, ...scheduler };
    if (scheduled?.state === 'CANCELLED')
      return { state: 'cancelled', reason: 'cancelled in Slurm', ...scheduler };
    if (run?.state === 'failed') {
      return { state: 'failed', ...(run.status.error ? { reason: run.status.error } : {}), ...scheduler };
    }
    // Stopped on a signal (preempted, or TERM near the limit) with a checkpoint: resumable, whatever Slurm
    // makes of the exit code.
    if (run?.status.state === 'stopped') return { state: 'stopped', ...scheduler };
    if (scheduled && scheduled.state !== 'COMPLETED') {
      const exit = scheduled.exitCode ? ` (exit ${scheduled.exitCode})` : '';
      return { state: 'failed', reason: `Slurm: ${scheduled.state}${exit}`, ...scheduler };
    }
    // The training process runs on another node, so its pid means nothing here. Unless the scheduler was
    // asked, and no longer lists the task, a run that says it trains is taken at its word.
    if (run?.status.state === 'running' && slurm.size === 0) return { state: 'running', ...scheduler };
    if (run) return { state: 'stopped', ...scheduler };
    // Ended without a run folder: the task failed before SynthPair started (its log says why), unless the
    // scheduler simply was not asked.
    return slurm.size > 0 ? { state: 'failed', ...scheduler } : { state: 'pending', ...scheduler };
  }
  if (run?.state === 'running') return { state: 'running', scheduler: 'local' };
  if (failedAttempt) return failedAttempt;
  const queueAlive =
    submission?.kind === 'local' && submission.host === os.hostname() && isAlive(submission.pid);
  if (queueAlive) {
    const endedInThisQueue = attempt !== undefined && attempt.endedAt >= submission.submittedAt;
    return { state: endedInThisQueue ? 'stopped' : 'queued', scheduler: 'local' };
  }
  if (run?.state === 'failed')
    return { state: 'failed', ...(run.status.error ? { reason: run.status.error } : {}) };
  if (run) return { state: 'stopped' };
  return { state: 'pending' };
}

/**
 * Where to read what a trial printed: its own log, or, for a Slurm task that failed before the trial started
 * (a setup line, a node without Node), Slurm's output of the task.
 */
function logOf(studyDir: string, trial: string, submission: StudySubmission | undefined): string {
  const own = trialLogFile(studyDir, trial);
  if (existsSync(own) || submission?.kind !== 'slurm') return own;
  return slurmOutputFile(studyDir, submission.jobId, submission.trials.indexOf(trial));
}

/** The last `count` non-empty lines of a log, from its last 64 KiB; empty when there is none. */
export async function lastLines(file: string, count: number): Promise<string> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return '';
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer
      .toString('utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(-count)
      .join('\n');
  } finally {
    await handle.close();
  }
}
