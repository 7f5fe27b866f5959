import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isResumable } from '../../engine/training/experiment';
import type { StudyManifest, TrialPlan } from '../../shared/protocol/studyFiles';
import { readRunSummary } from '../../shared/runFolder/runSummary';
import { runSlurmCommand } from '../../shared/study/slurmQueue';
import { appendTrialAttempt, readStudyManifest, trialFolder } from '../../shared/study/studyFolder';
import { type RunCommandOptions, runCommand, UsageError } from '../runCommand';

/** Exit code of a trial that stopped on a signal, to be resumed: as `synthpair run`'s. */
const stoppedExitCode = 130;

/**
 * `synthpair study trial`: trains one trial of a study, the unit a local queue or a Slurm array task runs. A
 * completed trial is left as it is; one stopped, killed or failed after a checkpoint resumes from it (the
 * same numbers as if it had never stopped); one with nothing to resume from starts again. On Slurm, the
 * warning before the time limit (SIGUSR1, `--signal=B:USR1@N`) stops the trial after its current step and
 * puts the task back in the queue, where it resumes; SIGTERM (scancel, preemption) only stops it.
 */
export async function trialCommand(
  studyDir: string,
  trialId: string,
  options: Pick<RunCommandOptions, 'backend' | 'wasmDir' | 'version'>,
): Promise<number> {
  const manifest = await readStudyManifest(studyDir);
  const trial = manifest?.trials.find((candidate) => candidate.id === trialId);
  if (!manifest || !trial) {
    throw new UsageError(
      `${studyDir}: no trial ${trialId} in this study (${manifest ? 'not planned' : 'no study.json'})`,
    );
  }
  const dir = trialFolder(studyDir, trial.id);
  const slurmTask = process.env.SLURM_ARRAY_JOB_ID
    ? `${process.env.SLURM_ARRAY_JOB_ID}_${process.env.SLURM_ARRAY_TASK_ID}`
    : undefined;
  process.stdout.write(
    `== ${trial.id} on ${os.hostname()}${slurmTask ? ` (Slurm task ${slurmTask}, restart ${process.env.SLURM_RESTART_COUNT ?? 0})` : ''} at ${new Date().toISOString()}\n`,
  );
  const startedAt = new Date().toISOString();
  const recordAttempt = (exitCode: number, error?: string) =>
    appendTrialAttempt(studyDir, {
      trial: trial.id,
      host: os.hostname(),
      ...(slurmTask ? { slurmTask } : {}),
      startedAt,
      endedAt: new Date().toISOString(),
      exitCode,
      ...(error ? { error } : {}),
    });
  let requeue = false;
  const onTimeLimitWarning = () => {
    requeue = true;
    // runCommand's own handler turns this into "stop after this step".
    process.kill(process.pid, 'SIGTERM');
  };
  process.on('SIGUSR1', onTimeLimitWarning);
  try {
    const code = await trainTrial(dir, manifest, trial, options);
    await recordAttempt(code);
    if (code === stoppedExitCode && requeue && slurmTask) {
      // Everything is written: Slurm's SIGTERM that follows the requeue ends this process, as it should.
      await requeueTask(slurmTask);
      process.stdout.write(`${trial.id}: checkpointed before the time limit; task ${slurmTask} requeued\n`);
    }
    return code;
  } catch (error) {
    // A config error's reasons were printed by file and line; the attempt keeps them, not the summary.
    const reason =
      error instanceof UsageError && error.details.length > 0
        ? error.details.join('; ')
        : error instanceof Error
          ? error.message
          : String(error);
    await recordAttempt(error instanceof UsageError ? 2 : 1, reason);
    throw error;
  } finally {
    process.off('SIGUSR1', onTimeLimitWarning);
  }
}

/** Resumes the trial's run where it can, else trains it from the start; returns `synthpair run`'s exit code. */
async function trainTrial(
  dir: string,
  manifest: StudyManifest,
  trial: TrialPlan,
  options: Pick<RunCommandOptions, 'backend' | 'wasmDir' | 'version'>,
): Promise<number> {
  const run = await readRunSummary(dir).catch(() => undefined);
  if (run?.state === 'completed') {
    process.stdout.write(`${trial.id}: completed earlier; nothing to do\n`);
    return 0;
  }
  const resumable = run !== undefined && (await isResumable(dir));
  if (run && !resumable) {
    // A run that ended before its first checkpoint holds nothing worth keeping; the trial's log says why it ended.
    process.stdout.write(`${trial.id}: no checkpoint to resume from; starting again\n`);
    await rm(dir, { recursive: true, force: true });
  }
  return resumable
    ? runCommand(undefined, { ...options, set: [], resume: dir })
    : runCommand(manifest.experimentFile, {
        ...options,
        set: trial.overrides,
        out: dir,
        overridesBase: path.dirname(manifest.studyFile),
      });
}

async function requeueTask(task: string): Promise<void> {
  const result = await runSlurmCommand('scontrol', ['requeue', task]);
  if (result.code !== 0) {
    throw new Error(`scontrol requeue ${task}: ${result.stderr.trim() || `exit ${result.code}`}`);
  }
}
