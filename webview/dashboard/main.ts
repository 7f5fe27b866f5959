import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-table/index.js';
import '@vscode-elements/elements/dist/vscode-table-body/index.js';
import '@vscode-elements/elements/dist/vscode-table-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-header/index.js';
import '@vscode-elements/elements/dist/vscode-table-header-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-row/index.js';
import { html, nothing, render, type TemplateResult } from 'lit';
import type { BackendAttempt, BackendReport } from '../../src/protocol/backend';
import {
  type DashboardState,
  type DashboardToHost,
  dashboardState,
  type HostToDashboard,
  hostToDashboard,
  type WorkerState,
} from '../../src/protocol/webview';
import type { WireError } from '../../src/protocol/worker';
import { connectToHost } from '../shared/vscodeApi';

const host = connectToHost<HostToDashboard, DashboardToHost, DashboardState>({
  incoming: hostToDashboard,
  state: dashboardState,
});

interface View {
  report?: BackendReport;
  error?: WireError;
  worker: WorkerState;
  workerDetail?: string;
  refreshing: boolean;
}

const view: View = { worker: 'stopped', refreshing: true, report: host.restoreState()?.report };
const app = document.getElementById('app')!;

host.onMessage((message) => {
  switch (message.type) {
    case 'backendReport':
      view.report = message.report;
      view.error = undefined;
      view.refreshing = false;
      host.saveState({ report: message.report });
      break;
    case 'backendError':
      view.error = message.error;
      view.refreshing = false;
      break;
    case 'workerState':
      view.worker = message.state;
      view.workerDetail = message.detail;
      break;
  }
  draw();
});

function refresh(): void {
  view.refreshing = true;
  draw();
  host.post({ type: 'refreshBackend' });
}

function draw(): void {
  app.setAttribute('aria-busy', String(view.refreshing));
  render(
    html`
      <header class="title-row">
        <h1>SynthPair</h1>
        <span class="worker-state" data-state=${view.worker} title=${view.workerDetail ?? ''}>
          <span class="dot"></span>worker ${view.worker}${view.workerDetail ? html`: ${view.workerDetail}` : nothing}
        </span>
      </header>
      <section class="actions">
        <vscode-button id="refresh" @click=${refresh} ?disabled=${view.refreshing}>Detect backend again</vscode-button>
        <vscode-button id="show-output" secondary @click=${() => host.post({ type: 'showOutput' })}>Show Output</vscode-button>
        ${view.refreshing ? html`<vscode-progress-ring class="busy" aria-label="Selecting a backend"></vscode-progress-ring>` : nothing}
      </section>
      ${view.error ? errorBlock(view.error) : nothing}
      ${view.report ? reportBlock(view.report) : view.error ? nothing : html`<p class="placeholder">Starting the engine worker…</p>`}
    `,
    app,
  );
}

function errorBlock(error: WireError): TemplateResult {
  return html`<div class="error" role="alert">
    <strong>No backend could be started.</strong> ${error.message}
    ${error.causes?.length ? html`<div class="causes">Cause: ${error.causes.join(' ← ')}</div>` : nothing}
  </div>`;
}

function reportBlock(report: BackendReport): TemplateResult {
  return html`
    <section class="summary" aria-label="Selected backend">
      <div class="selected">
        <span class="label">Backend</span>
        <vscode-badge id="selected-backend" variant="counter">${report.selected}</vscode-badge>
        <span class="muted">TF.js '${report.tfjsBackend}', preference '${report.preference}', ready in ${report.startupMillis} ms</span>
      </div>
      ${
        report.wasm
          ? html`<div class="features">
            <span class="feature" data-on=${report.wasm.simd}>SIMD ${report.wasm.simd ? 'on' : 'off'}</span>
            <span class="feature" data-on=${report.wasm.threads}>
              ${report.wasm.threads ? `${report.wasm.threadCount} threads` : 'single thread'}
            </span>
            <span class="feature" data-on="true">training kernels: ${report.wasm.trainingKernels.join(', ')}</span>
          </div>`
          : nothing
      }
    </section>
    <h2>Backends, fastest first</h2>
    <vscode-table id="attempts" zebra bordered-rows resizable columns='["18%", "16%", "56%", "10%"]'>
      <vscode-table-header slot="header">
        <vscode-table-header-cell>Backend</vscode-table-header-cell>
        <vscode-table-header-cell>Outcome</vscode-table-header-cell>
        <vscode-table-header-cell>Why</vscode-table-header-cell>
        <vscode-table-header-cell>Time</vscode-table-header-cell>
      </vscode-table-header>
      <vscode-table-body slot="body">${report.attempts.map(attemptRow)}</vscode-table-body>
    </vscode-table>
    <vscode-collapsible title="Environment" class="environment">
      <dl>
        <dt>TF.js</dt><dd>${report.versions.tfjs}</dd>
        <dt>Node</dt><dd>${report.versions.node}</dd>
        <dt>SynthPair</dt><dd>${report.versions.synthpair}</dd>
        <dt>Platform</dt><dd>${report.platform.os} ${report.platform.arch}</dd>
        <dt>CPU</dt><dd>${report.platform.cpus} × ${report.platform.cpuModel}</dd>
      </dl>
    </vscode-collapsible>
  `;
}

function attemptRow(attempt: BackendAttempt): TemplateResult {
  return html`<vscode-table-row data-backend=${attempt.name} data-outcome=${attempt.outcome}>
    <vscode-table-cell>${attempt.name}</vscode-table-cell>
    <vscode-table-cell><span class="outcome" data-outcome=${attempt.outcome}>${attempt.outcome}</span></vscode-table-cell>
    <vscode-table-cell class="reason">${attempt.reason}</vscode-table-cell>
    <vscode-table-cell>${attempt.millis === undefined ? '' : `${attempt.millis} ms`}</vscode-table-cell>
  </vscode-table-row>`;
}

draw();
host.post({ type: 'ready' });
