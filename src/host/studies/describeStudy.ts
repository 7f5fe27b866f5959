import type { TrialState } from '../../shared/protocol/studyFiles';
import type { TrialStatus } from '../../shared/study/studyState';

/** The outcome first, then what is still moving, then what has not begun: how every summary lists states. */
const summaryOrder: readonly TrialState[] = [
  'completed',
  'running',
  'queued',
  'stopped',
  'failed',
  'cancelled',
  'pending',
];

function count(trials: readonly { state: TrialState }[], state: TrialState): number {
  return trials.filter((trial) => trial.state === state).length;
}

/** `5 completed, 1 failed, 2 pending`: every state that has a trial. */
export function describeTrialCounts(trials: readonly { state: TrialState }[]): string {
  return summaryOrder
    .map((state) => [state, count(trials, state)] as const)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ');
}

/** `3/8 completed, 2 running, 3 queued`: how far a study that is working has got. */
export function describeStudyProgress(trials: readonly { state: TrialState }[]): string {
  const running = count(trials, 'running');
  const queued = count(trials, 'queued');
  return [
    `${count(trials, 'completed')}/${trials.length} completed`,
    ...(running > 0 ? [`${running} running`] : []),
    ...(queued > 0 ? [`${queued} queued`] : []),
  ].join(', ');
}

/** Who trains a trial, as a user reads it: `local`, or the Slurm array task `Slurm 123_4`. */
export function describeScheduler(scheduler: string | undefined): string | undefined {
  if (scheduler === undefined) return undefined;
  return scheduler === 'local' ? 'local' : `Slurm ${scheduler}`;
}

/** readStudyState gives a trial its epoch exactly when its run folder could be read. */
export function hasRunFolder(trial: Pick<TrialStatus, 'epoch'>): boolean {
  return trial.epoch !== undefined;
}
