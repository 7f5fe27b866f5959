import { execFile } from 'node:child_process';

/** What Slurm says of one array task: its state (`PENDING`, `RUNNING`, `FAILED`…) and, pending, why. */
export interface SlurmTaskState {
  state: string;
  reason?: string;
  /** sacct's `exit:signal`, for a task that has ended. */
  exitCode?: string;
}

/** Slurm's states for array tasks, keyed `<jobId>_<taskId>`; empty where neither squeue nor sacct answered. */
export type SlurmSnapshot = Map<string, SlurmTaskState>;

/** States in which a task waits or trains; any other is final (or on its way to the queue again). */
export const queuedSlurmStates = new Set([
  'PENDING',
  'CONFIGURING',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESIZING',
  'SUSPENDED',
  'RESV_DEL_HOLD',
  'SPECIAL_EXIT',
]);
export const runningSlurmStates = new Set(['RUNNING', 'COMPLETING', 'STAGE_OUT', 'SIGNALING']);

/** How a Slurm command ended: its exit code, or `missing` when it is not on the PATH (no cluster here). */
export interface SlurmCommandResult {
  code: number | 'missing';
  stdout: string;
  stderr: string;
}

/** Runs one of Slurm's commands (squeue, sacct, sbatch, scancel, scontrol); it never rejects. */
export function runSlurmCommand(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<SlurmCommandResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = (error as NodeJS.ErrnoException | null)?.code;
        resolve({
          code: code === 'ENOENT' ? 'missing' : error ? (typeof code === 'number' ? code : 1) : 0,
          stdout,
          stderr,
        });
      },
    );
  });
}

/** The output of a query that answered, or undefined: a scheduler that cannot be asked tells nothing. */
async function answer(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const result = await runSlurmCommand(command, args, env);
  return result.code === 0 ? result.stdout : undefined;
}

/**
 * The tasks of `jobIds` as squeue lists them (waiting and running ones), over what sacct recorded of every task
 * (ended ones), where the cluster keeps accounting. A scheduler that cannot be asked leaves the run folders
 * alone to tell each trial's state.
 */
export async function querySlurm(
  jobIds: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<SlurmSnapshot> {
  const snapshot: SlurmSnapshot = new Map();
  if (jobIds.length === 0) return snapshot;
  const jobs = jobIds.join(',');
  const [accounted, ...queuedPerJob] = await Promise.all([
    // -X: the allocation, not its steps; -P: '|'-separated, no padding.
    answer('sacct', ['-n', '-P', '-X', '-j', jobs, '-o', 'JobID,State,ExitCode'], env),
    // One job at a time: squeue refuses the whole list once one job of it has left its memory (MinJobAge).
    // -r: one line per array task, pending ones too, instead of `123_[0-3]`; -t all: ended tasks too, for as
    // long as the controller remembers them, which is all a cluster without accounting tells of them.
    ...jobIds.map((jobId) => answer('squeue', ['-h', '-r', '-t', 'all', '-j', jobId, '-o', '%i|%T|%r'], env)),
  ]);
  const queued = queuedPerJob.join('\n');
  for (const line of (accounted ?? '').split('\n')) {
    const [id, state, exitCode] = line.trim().split('|');
    // sacct writes "CANCELLED by 0"; a pending array's line is `123_[0-3]`, which squeue lists task by task.
    if (!id || !state || id.includes('[')) continue;
    snapshot.set(id, { state: state.split(' ')[0]!, ...(exitCode ? { exitCode } : {}) });
  }
  for (const line of (queued ?? '').split('\n')) {
    const [id, state, reason] = line.trim().split('|');
    if (!id || !state) continue;
    snapshot.set(id, { state, ...(reason && reason !== 'None' ? { reason } : {}) });
  }
  return snapshot;
}
