import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-table/index.js';
import '@vscode-elements/elements/dist/vscode-table-body/index.js';
import '@vscode-elements/elements/dist/vscode-table-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-header/index.js';
import '@vscode-elements/elements/dist/vscode-table-header-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-row/index.js';
import { html, nothing, type TemplateResult } from 'lit';
import type { BackendAttempt, BackendReport } from '../../../../src/shared/protocol/backend';
import type { WireError } from '../../../../src/shared/protocol/worker';
import { adoptIntoPage } from '../../../shared/styles';
import styles from './view.css' with { type: 'text' };

adoptIntoPage(styles);

/** The Engine tab: which TF.js backend the worker selected, why the faster ones were not, and where it runs. */
export function errorBlock(error: WireError): TemplateResult {
  return html`<div class="error" role="alert">
    <strong>No backend could be started.</strong> ${error.message}
    ${error.causes?.length ? html`<div class="causes">Cause: ${error.causes.join(' ← ')}</div>` : nothing}
  </div>`;
}

export function reportBlock(report: BackendReport): TemplateResult {
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
      ${
        report.onednn
          ? html`<div class="features">
            <span class="feature" data-on="true">oneDNN ${report.onednn.library}</span>
            <span class="feature" data-on="true">${report.onednn.threads} threads</span>
            <span class="feature" data-on="true">native kernels: ${report.onednn.nativeKernels.join(', ')}</span>
          </div>`
          : nothing
      }
      ${
        report.webgpu
          ? html`<div class="features">
            <span class="feature" data-on=${!report.webgpu.software}>
              WebGPU adapter: ${report.webgpu.adapter}${report.webgpu.software ? ' (software)' : ''}
            </span>
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
