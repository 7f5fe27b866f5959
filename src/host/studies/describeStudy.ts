import { type TrialState, trialStates } from '../../shared/protocol/studyFiles';
import type { TrialStatus } from '../../shared/study/studyState';
import type { StudyEntry } from './studyCatalog';

function count(trials: readonly { state: TrialState }[], state: TrialState): number {
  return trials.filter((trial) => trial.state === state).length;
}

/** `4 completed, 1 running, 2 queued, 2 failed`: every state that has a trial, for tooltips and messages. */
export function describeTrialCounts(trials: readonly { state: TrialState }[]): string {
  return trialStates
    .filter((state) => count(trials, state) > 0)
    .map((state) => `${count(trials, state)} ${state}`)
    .join(', ');
}

/** Completed trials are the fraction's numerator; queued and pending ones, waiting to begin, its rest. */
const countedInFraction: readonly TrialState[] = ['completed', 'queued', 'pending'];

/** `4/9 done · 1 running · 2 failed`: short enough for a sidebar or a split editor's CodeLens. */
export function describeTrialProgress(trials: readonly { state: TrialState }[]): string {
  return [
    `${count(trials, 'completed')}/${trials.length} done`,
    ...trialStates
      .filter((state) => !countedInFraction.includes(state) && count(trials, state) > 0)
      .map((state) => `${count(trials, state)} ${state}`),
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
