import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import { html, type TemplateResult } from 'lit';
import { experimentFileSuffix } from '../../src/shared/config/experiment/choices';
import type { HeatmapEditorToHost, HostToHeatmapEditor } from '../../src/shared/protocol/heatmapEditor';

/**
 * What stands in the way of a heat map, and what to do about it: no experiment holds the image, the
 * experiment has no trained run, the worker failed, or it is computing the first map.
 */
export function statusNotice(
  message: Exclude<HostToHeatmapEditor, { type: 'heatmap' }>,
  post: (message: HeatmapEditorToHost) => void,
): TemplateResult {
  switch (message.type) {
    case 'noExperiment':
      return html`<div class="notice" id="no-experiment" role="status">
        <p>This image is not in the dataset of any <code>*${experimentFileSuffix}</code> experiment in the workspace.</p>
        <p class="muted">
          An experiment's <code>data.root</code> names the folder of its images, relative to the experiment file;
          the heat map is drawn by that experiment's latest trained run.
        </p>
      </div>`;
    case 'noRun':
      return html`<div class="notice" id="no-run" role="status">
        ${
          message.training
            ? html`<p class="with-ring">
                <vscode-progress-ring class="ring"></vscode-progress-ring>
                <span>
                  ${message.experiment.label} is being trained. The heat map appears once the run has saved its
                  first checkpoint.
                </span>
              </p>`
            : html`<p><strong>Run the experiment first.</strong></p>
                <p class="muted">
                  The heat map is computed by the latest checkpoint of a run of ${message.experiment.label}, and it
                  has none yet.
                </p>
                ${
                  message.canRun
                    ? html`<vscode-button
                        id="run-experiment"
                        @click=${() => post({ type: 'runExperiment', configFile: message.experiment.configFile })}
                        >Run ${message.experiment.label}</vscode-button
                      >`
                    : html`<p class="muted">Runs need a trusted workspace: this window is in Restricted Mode.</p>`
                }`
        }
      </div>`;
    case 'error':
      return html`<div class="error" id="error" role="alert">
        <p><strong>The heat map could not be drawn.</strong></p>
        <p class="message">${message.message}</p>
        <vscode-button id="retry" secondary @click=${() => post({ type: 'retry' })}>Try again</vscode-button>
      </div>`;
    case 'computing':
      return html`<div class="notice" id="computing" role="status" aria-busy="true">
        <p class="with-ring">
          <vscode-progress-ring class="ring"></vscode-progress-ring>
          <span>Computing the Grad-CAM of this image with ${message.run.label}…</span>
        </p>
      </div>`;
  }
}
