import '@vscode-elements/elements/dist/vscode-button/index.js';
import { html, nothing, svg, type TemplateResult } from 'lit';
import type { TrialState } from '../../src/shared/protocol/studyFiles';
import type { StudyPanelToHost, StudyTrialView } from '../../src/shared/protocol/studyPanel';
import { missing } from '../../src/shared/study/figures';

/**
 * A glyph per state, drawn in the state's colour (`currentColor`): the webview loads no icon font, and a
 * shape tells the states apart where colour alone would not (high contrast, colour blindness).
 */
const stateGlyphs: Record<TrialState, ReturnType<typeof svg>> = {
  pending: svg`<circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="1.5"></circle>`,
  queued: svg`<circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="1.5"></circle>
    <path d="M8 4.8V8l2.2 1.6" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round"></path>`,
  running: svg`<path d="M5 3.2v9.6L12.6 8z" fill="currentColor"></path>`,
  completed: svg`<path d="M3 8.4l3.2 3.1L13 4.6" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"></path>`,
  stopped: svg`<rect x="4" y="3.5" width="2.6" height="9" fill="currentColor"></rect><rect x="9.4" y="3.5" width="2.6" height="9" fill="currentColor"></rect>`,
  failed: svg`<circle cx="8" cy="8" r="6" fill="currentColor"></circle>
    <path class="glyph-cut" d="M5.6 5.6l4.8 4.8M10.4 5.6l-4.8 4.8" stroke-width="1.6" stroke-linecap="round"></path>`,
  cancelled: svg`<circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="1.5"></circle>
    <path d="M4.2 11.8l7.6-7.6" stroke="currentColor" stroke-width="1.5"></path>`,
};

export function stateIcon(state: TrialState): TemplateResult {
  return html`<svg class="state-icon" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">
    ${stateGlyphs[state]}
  </svg>`;
}

/**
 * A trial's run folder exists once it has started, and only then has it a run summary, which is where the
 * epoch comes from: a trial that failed or was cancelled before SynthPair started has none.
 */
function hasRunFolder(trial: StudyTrialView): boolean {
  return trial.epoch !== undefined;
}

/** Its scheduler's log exists once the trial was handed to a scheduler that began it. */
function hasLog(trial: StudyTrialView): boolean {
  return hasRunFolder(trial) || (trial.state !== 'pending' && trial.state !== 'queued');
}

/** Why the Open button of a trial without a run folder is disabled. */
function missingRunFolder(trial: StudyTrialView): string {
  switch (trial.state) {
    case 'failed':
      return 'No run folder: the trial failed before it started; its log says why';
    case 'cancelled':
      return 'No run folder: the trial was cancelled before it started';
    default:
      return 'No run folder yet: the trial’s training has not begun';
  }
}

const progressWidth = 64;

/**
 * `synthpair.seed-3`, free to break after its dots only: a narrow editor group puts the seed under the
 * condition rather than the trial's buttons out of sight.
 */
function trialId(id: string): TemplateResult {
  const [first, ...rest] = id.split(/(?<=\.)/);
  return html`<code class="trial-id"
    ><span>${first}</span>${rest.map((part) => html`<wbr /><span>${part}</span>`)}</code
  >`;
}

function progress(trial: StudyTrialView): TemplateResult {
  if (trial.epoch === undefined) return html`<span class="muted">${missing}</span>`;
  if (trial.epochs === undefined) return html`<span>epoch ${trial.epoch}</span>`;
  const done = trial.epochs > 0 ? Math.min(1, trial.epoch / trial.epochs) : 0;
  return html`<span class="progress">
    <svg
      class="progress-bar"
      width=${progressWidth}
      height="6"
      viewBox="0 0 ${progressWidth} 6"
      role="img"
      aria-label=${`${Math.round(done * 100)} % of the epochs done`}
    >
      ${svg`<rect class="progress-track" width=${progressWidth} height="6" rx="3"></rect>
        <rect class="progress-done" width=${done * progressWidth} height="6" rx="3"></rect>`}
    </svg>
    <span class="epochs">${trial.epoch}/${trial.epochs}</span>
  </span>`;
}

/**
 * Every trial, under its condition: its state, how far it trained, who trains it, why it failed; and its run
 * folder and log. A trial's id names its condition and seed, so neither needs a column.
 */
export function trialsTable(
  trials: readonly StudyTrialView[],
  conditionLabels: ReadonlyMap<string, string>,
  post: (message: StudyPanelToHost) => void,
): TemplateResult {
  const byCondition = new Map<string, StudyTrialView[]>();
  for (const trial of trials)
    byCondition.set(trial.condition, [...(byCondition.get(trial.condition) ?? []), trial]);
  return html`<div class="table-scroll">
    <table id="trials" class="trials">
      <caption class="visually-hidden">The study’s trials, a run of a condition with one seed each</caption>
      <thead>
        <tr>
          <th scope="col">Trial</th>
          <th scope="col">State</th>
          <th scope="col">Epochs</th>
          <th scope="col">Scheduler</th>
          <th scope="col"><span class="visually-hidden">Actions</span></th>
        </tr>
      </thead>
      ${[...byCondition].map(
        ([condition, ofCondition]) =>
          html`<tbody data-condition=${condition}>
            <tr class="condition-row">
              <th scope="rowgroup" colspan="5">${conditionLabels.get(condition) ?? condition}</th>
            </tr>
            ${ofCondition.map((trial) => trialRows(trial, post))}
          </tbody>`,
      )}
    </table>
  </div>`;
}

function trialRows(trial: StudyTrialView, post: (message: StudyPanelToHost) => void): TemplateResult {
  return html`<tr class="trial" data-trial=${trial.id} data-state=${trial.state}>
      <th scope="row">${trialId(trial.id)}</th>
      <td><span class="state" data-state=${trial.state}>${stateIcon(trial.state)}${trial.state}</span></td>
      <td>${progress(trial)}</td>
      <td><code class="scheduler">${trial.scheduler ?? missing}</code></td>
      <td>
        <div class="trial-actions">
          <vscode-button
            class="open-trial"
            secondary
            ?disabled=${!hasRunFolder(trial)}
            aria-label=${`Open the run of ${trial.id}`}
            title=${hasRunFolder(trial) ? `Open ${trial.dir} in the dashboard` : missingRunFolder(trial)}
            @click=${() => post({ type: 'openTrial', trial: trial.id })}
            >Open</vscode-button
          >
          <vscode-button
            class="open-log"
            secondary
            ?disabled=${!hasLog(trial)}
            aria-label=${`Open the log of ${trial.id}`}
            title=${hasLog(trial) ? trial.log : 'The trial has not started: no log yet'}
            @click=${() => post({ type: 'openLog', trial: trial.id })}
            >Log</vscode-button
          >
        </div>
      </td>
    </tr>
    ${
      trial.reason
        ? html`<tr class="reason-row" data-trial=${trial.id} data-state=${trial.state}>
            <td colspan="5"><span class="reason">${trial.reason}</span></td>
          </tr>`
        : nothing
    }`;
}
