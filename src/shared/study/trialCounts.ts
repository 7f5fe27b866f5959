import { type TrialState, trialStates } from '../protocol/studyFiles';

/** How many trials are in each state, in the one order every view lists states in; states without one are left out. */
export function countTrialStates(trials: readonly { state: TrialState }[]): [TrialState, number][] {
  return trialStates
    .map((state): [TrialState, number] => [state, trials.filter((trial) => trial.state === state).length])
    .filter(([, count]) => count > 0);
}

/** `4 completed, 1 running, 2 queued, 2 failed`: for the CLI's lines, tooltips and messages. */
export function describeTrialCounts(trials: readonly { state: TrialState }[]): string {
  return countTrialStates(trials)
    .map(([state, count]) => `${count} ${state}`)
    .join(', ');
}
