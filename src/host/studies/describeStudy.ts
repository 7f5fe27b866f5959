import type { TrialState } from '../../shared/protocol/studyFiles';
import type { TrialStatus } from '../../shared/study/studyState';
import { countTrialStates } from '../../shared/study/trialCounts';
import type { StudyEntry } from './studyCatalog';

/** Completed trials are the fraction's numerator; queued and pending ones, waiting to begin, its rest. */
const countedInFraction: readonly TrialState[] = ['completed', 'queued', 'pending'];

/** `4/9 done · 1 running · 2 failed`: short enough for a sidebar or a split editor's CodeLens. */
export function describeTrialProgress(trials: readonly { state: TrialState }[]): string {
  const counts = countTrialStates(trials);
  const completed = counts.find(([state]) => state === 'completed')?.[1] ?? 0;
  return [
    `${completed}/${trials.length} done`,
    ...counts
      .filter(([state]) => !countedInFraction.includes(state))
      .map(([state, count]) => `${count} ${state}`),
  ].join(' · ');
}

/** How far a valid study has got, as the Runs view and the CodeLens word it; undefined for an invalid one. */
export function describeStudyStatus(entry: StudyEntry): string | undefined {
  const { plan } = entry;
  if (!plan) return undefined;
  if (entry.folderProblem !== undefined) return `unreadable: ${entry.folderProblem}`;
  if (entry.state) return describeTrialProgress(entry.state.trials);
  return `${entry.active ? 'starting' : 'not run'} · ${plan.conditions.length} conditions × ${plan.seeds.length} seeds`;
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

/** A trial's scheduler writes its log once it begins the trial, which pending and queued ones await. */
export function hasLog(trial: Pick<TrialStatus, 'epoch' | 'state'>): boolean {
  return hasRunFolder(trial) || (trial.state !== 'pending' && trial.state !== 'queued');
}

/** Why a trial has no run folder to show: it has not started, or it ended before its training began. */
export function describeMissingRunFolder(trial: Pick<TrialStatus, 'id' | 'state'>): string {
  switch (trial.state) {
    case 'failed':
      return `${trial.id} has no run folder: it failed before it started; its log says why`;
    case 'cancelled':
      return `${trial.id} has no run folder: it was cancelled before it started`;
    default:
      return `${trial.id} has no run folder yet: its training has not begun`;
  }
}
