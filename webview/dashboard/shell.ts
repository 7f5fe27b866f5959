import { html, nothing, type TemplateResult } from 'lit';
import { experimentFileSuffix } from '../../src/shared/config/experiment/choices';
import type { DashboardToHost, HostToDashboard } from '../../src/shared/protocol/webview';

type Binding = Extract<HostToDashboard, { type: 'binding' }>;
type WorkerStateMessage = Extract<HostToDashboard, { type: 'workerState' }>;
type SkippedFilesMessage = Extract<HostToDashboard, { type: 'skippedFiles' }>;

/** The bound experiment with its lock, the run shown, and the worker's state. */
export function dashboardHeader(
  binding: Binding | undefined,
  worker: WorkerStateMessage,
  post: (message: DashboardToHost) => void,
): TemplateResult {
  const selected = binding?.runs.find((run) => run.runDir === binding.selectedRun);
  return html`<header class="title-row dashboard-header">
    <div class="binding">
      <h1 id="config-label" title=${binding?.configFile ?? ''}>
        ${binding?.configLabel ?? 'SynthPair'}
      </h1>
      ${
        binding?.configFile
          ? html`<vscode-button
              id="lock"
              secondary
              icon=${binding.locked ? 'lock' : 'unlock'}
              aria-pressed=${String(binding.locked)}
              title=${binding.locked ? 'Locked to this experiment: click to follow the active editor' : 'Following the active experiment editor: click to lock to this one'}
              @click=${() => post({ type: 'setLocked', locked: !binding.locked })}
              >${binding.locked ? 'Locked' : 'Following editor'}</vscode-button
            >`
          : nothing
      }
    </div>
    <div class="run-picker">
      ${
        binding && binding.runs.length > 0
          ? html`<label for="run-select">Run</label>
              <vscode-single-select
                id="run-select"
                aria-label="Run shown"
                .value=${binding.selectedRun ?? ''}
                @change=${(event: Event) => {
                  const runDir = (event.target as HTMLSelectElement).value;
                  if (runDir && runDir !== binding.selectedRun) post({ type: 'selectRun', runDir });
                }}
              >
                ${binding.runs.map(
                  (run) =>
                    html`<vscode-option value=${run.runDir} description=${`${run.state}, epoch ${run.epoch}${run.epochs === undefined ? '' : ` of ${run.epochs}`}`}>${run.label}</vscode-option>`,
                )}
              </vscode-single-select>
              ${selected ? html`<span class="run-state" data-state=${selected.state}>${selected.state} · epoch ${selected.epoch}${selected.epochs === undefined ? '' : `/${selected.epochs}`}</span>` : nothing}`
          : nothing
      }
      <span class="worker-state" data-state=${worker.state} title=${worker.detail ?? ''}>
        <span class="dot"></span>worker ${worker.state}
      </span>
    </div>
  </header>`;
}

/**
 * Says that the run shown trained without some files of its data set, and where they are named: the log
 * names only a few, the run folder's skipped.json every one.
 */
export function skippedFilesNotice(
  binding: Binding,
  skipped: SkippedFilesMessage | undefined,
  post: (message: DashboardToHost) => void,
): TemplateResult | typeof nothing {
  if (!skipped || skipped.runDir !== binding.selectedRun || skipped.count === 0) return nothing;
  const one = skipped.count === 1;
  return html`<div class="skipped-files" id="skipped-files" role="status">
    <span
      >${skipped.count} ${one ? 'file' : 'files'} of the data set ${one ? 'was' : 'were'} left out of this run:
      <code>${skipped.listFile}</code> names ${one ? 'it' : 'each'} with the reason.</span
    >
    <vscode-button id="open-skipped-files" secondary @click=${() => post({ type: 'openSkippedList' })}
      >Open the list</vscode-button
    >
  </div>`;
}

/** The other runs of the experiment, to draw on the same axes as the curves of the one shown. */
export function overlayPicker(
  binding: Binding,
  post: (message: DashboardToHost) => void,
): TemplateResult | typeof nothing {
  const others = binding.runs.filter((run) => run.runDir !== binding.selectedRun);
  if (others.length === 0) return nothing;
  return html`<div class="overlay-picker">
    <label for="overlay-select">Overlay runs</label>
    <vscode-multi-select
      id="overlay-select"
      aria-label="Runs overlaid on the curves"
      .value=${binding.overlaidRuns}
      @change=${(event: Event) => {
        const runDirs = [...((event.target as unknown as { value: string[] }).value ?? [])];
        post({ type: 'overlayRuns', runDirs });
      }}
    >
      ${others.map((run) => html`<vscode-option value=${run.runDir}>${run.label}</vscode-option>`)}
    </vscode-multi-select>
  </div>`;
}

/** What a panel says when there is nothing to show yet, and what to do about it. */
export function emptyState(
  binding: Binding | undefined,
  post: (message: DashboardToHost) => void,
): TemplateResult | undefined {
  if (!binding?.configFile) {
    return html`<div class="empty-state" id="empty-state">
      <p>Open a <code>*${experimentFileSuffix}</code> experiment file: this dashboard follows the experiment in the active editor.</p>
      <p>No experiment yet? Run <strong>SynthPair: New Experiment…</strong> from the Command Palette.</p>
    </div>`;
  }
  if (binding.runs.length === 0) {
    return html`<div class="empty-state" id="empty-state">
      <p>This experiment has no run yet. Its curves, heat maps, feature dimensions and pairs appear here as it trains.</p>
      ${
        binding.canRun
          ? html`<vscode-button id="run-experiment" @click=${() => post({ type: 'runExperiment' })}>Run Experiment</vscode-button>`
          : html`<p>Runs cannot start in Restricted Mode: trust this workspace to run it.</p>`
      }
    </div>`;
  }
  return undefined;
}
