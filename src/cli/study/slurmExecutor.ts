import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SlurmSettings } from '../../shared/config/study/definitions';
import type { StudySubmission } from '../../shared/protocol/studyFiles';
import { runSlurmCommand } from '../../shared/study/slurmQueue';
import { appendSubmission, studyFileNames, studyPath } from '../../shared/study/studyFolder';
import { UsageError } from '../runCommand';

/** Single-quoted for a POSIX shell, so paths with spaces or quotes reach the node intact. */
export function shellQuoted(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface SlurmSubmission {
  studyName: string;
  studyDir: string;
  trials: readonly string[];
  settings: SlurmSettings;
  /** The shell words that run the CLI on a node, when the study file gives none: this Node and this CLI. */
  defaultCommand: readonly string[];
  /** Arguments each task passes on to `study trial`, e.g. `--backend onednn`. */
  trialArgs: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * The batch script of one submission: a job array with a task per trial. The task `exec`s the CLI, so
 * Slurm's signals reach it and not a shell in between: USR1 some time before the limit (the trial checkpoints
 * and requeues itself) and TERM on scancel or preemption (it checkpoints and stops; `--requeue` lets
 * preemption put it back).
 */
export function batchScript(submission: SlurmSubmission): string {
  const { settings, studyDir, trials } = submission;
  const options = [
    `--job-name=synthpair-${submission.studyName}`,
    `--array=0-${trials.length - 1}${settings.maxParallel ? `%${settings.maxParallel}` : ''}`,
    `--output=${path.join(studyDir, studyFileNames.slurm, 'slurm-%A_%a.out')}`,
    '--open-mode=append',
    '--requeue',
    `--signal=B:USR1@${settings.signalSeconds}`,
    `--time=${settings.time}`,
    `--cpus-per-task=${settings.cpusPerTask}`,
    `--mem=${settings.mem}`,
    ...(settings.partition ? [`--partition=${settings.partition}`] : []),
    ...(settings.gres ? [`--gres=${settings.gres}`] : []),
    ...settings.sbatch,
  ];
  const command = settings.command ?? submission.defaultCommand.map(shellQuoted).join(' ');
  return [
    '#!/bin/bash',
    ...options.map((option) => `#SBATCH ${option}`),
    '',
    '# Written by `synthpair study run`: one array task per trial; the trial log holds what each attempt printed.',
    'set -e',
    ...settings.setup,
    `trials=(${trials.map(shellQuoted).join(' ')})`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's array indexing, written for the node's shell
    'trial=${trials[$SLURM_ARRAY_TASK_ID]}',
    `log=${shellQuoted(path.join(studyDir, studyFileNames.logs))}/"$trial.log"`,
    // OpenMP and oneDNN size their pools from the cores they see: the task's (--cpus-per-task), not the node's.
    'export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK',
    `exec ${command} study trial ${shellQuoted(studyDir)} "$trial"${submission.trialArgs.map((arg) => ` ${shellQuoted(arg)}`).join('')} >>"$log" 2>&1`,
    '',
  ].join('\n');
}

/** Submits the trials as one job array and records it in the study folder; returns the submission. */
export async function submitToSlurm(
  submission: SlurmSubmission,
): Promise<Extract<StudySubmission, { kind: 'slurm' }>> {
  const env = submission.env ?? process.env;
  await checkPartition(submission.settings.partition, env);
  await mkdir(studyPath(submission.studyDir, 'slurm'), { recursive: true });
  await mkdir(studyPath(submission.studyDir, 'logs'), { recursive: true });
  const scriptName = `submit-${new Date().toISOString().replace(/[:.]/g, '-')}.sh`;
  const script = path.join(studyPath(submission.studyDir, 'slurm'), scriptName);
  await writeFile(script, batchScript(submission), { mode: 0o755 });
  const result = await runSlurmCommand('sbatch', ['--parsable', script], env);
  if (result.code === 'missing') throw missingSlurm('sbatch');
  if (result.code !== 0) {
    throw new UsageError(
      `sbatch refused the study's job array: ${result.stderr.trim() || `exit ${result.code}`} (script: ${script})`,
    );
  }
  // --parsable prints `jobid` or `jobid;cluster`.
  const [jobId, cluster] = result.stdout.trim().split(';');
  if (!jobId || !/^\d+$/.test(jobId)) throw new Error(`sbatch printed no job id: ${result.stdout.trim()}`);
  const record: Extract<StudySubmission, { kind: 'slurm' }> = {
    kind: 'slurm',
    jobId,
    ...(cluster ? { cluster } : {}),
    submittedAt: new Date().toISOString(),
    trials: [...submission.trials],
    script: path.relative(submission.studyDir, script),
  };
  await appendSubmission(submission.studyDir, record);
  return record;
}

/** Cancels job arrays; the tasks training stop after their current step, as on any SIGTERM. */
export async function cancelSlurmJobs(
  jobIds: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (jobIds.length === 0) return;
  const result = await runSlurmCommand('scancel', jobIds, env);
  if (result.code === 'missing') throw missingSlurm('scancel');
  if (result.code !== 0)
    throw new Error(`scancel ${jobIds.join(' ')}: ${result.stderr.trim() || `exit ${result.code}`}`);
}

function missingSlurm(command: string): UsageError {
  return new UsageError(
    `${command}: not found on PATH, so this machine cannot reach a Slurm cluster. Run the study from a login node of the cluster (in VS Code: Remote-SSH to it), or on this machine with --executor local`,
  );
}

/** A partition that does not exist is named with the ones that do, before anything is written. */
async function checkPartition(partition: string | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  const result = await runSlurmCommand('sinfo', ['-h', '-o', '%P'], env);
  if (result.code === 'missing') throw missingSlurm('sinfo');
  if (result.code !== 0) {
    throw new UsageError(
      `sinfo: cannot reach the Slurm controller: ${result.stderr.trim() || `exit ${result.code}`}`,
    );
  }
  if (partition === undefined) return;
  // The default partition is listed with a `*`.
  const partitions = [
    ...new Set(
      result.stdout
        .split('\n')
        .map((line) => line.trim().replace(/\*$/, ''))
        .filter(Boolean),
    ),
  ];
  if (!partitions.includes(partition)) {
    throw new UsageError(
      `executor.slurm.partition: no partition ${partition} on this cluster; it has ${partitions.join(', ') || 'none'}`,
    );
  }
}
