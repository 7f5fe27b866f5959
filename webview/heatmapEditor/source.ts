import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { html, nothing, type TemplateResult } from 'lit';
import type {
  HeatmapEditorToHost,
  HeatmapRun,
  HostToHeatmapEditor,
} from '../../src/shared/protocol/heatmapEditor';
import type { ImageHeatmapResultMessage } from '../../src/shared/protocol/worker';
import { selectValue } from '../shared/heatmapControls';

/** Which experiment's latest run draws the map (a picker when several hold the image), and that run's checkpoint. */
export function heatmapSource(
  message: Exclude<HostToHeatmapEditor, { type: 'noExperiment' }>,
  post: (message: HeatmapEditorToHost) => void,
): TemplateResult {
  const run = 'run' in message ? message.run : null;
  return html`<div class="source">
    <span class="source-item">
      <span class="muted">Experiment</span>
      ${
        message.experiments.length > 1
          ? html`<vscode-single-select
              id="experiment"
              aria-label="Experiment whose latest run draws the map"
              @change=${(event: Event) => post({ type: 'selectExperiment', configFile: selectValue(event) })}
            >
              ${message.experiments.map(
                (experiment) =>
                  html`<vscode-option
                    value=${experiment.configFile}
                    .selected=${experiment.configFile === message.experiment.configFile}
                    >${experiment.label}</vscode-option
                  >`,
              )}
            </vscode-single-select>`
          : nothing
      }
      <a
        href="#"
        id="open-experiment"
        title="Open the experiment file"
        @click=${(event: Event) => {
          event.preventDefault();
          post({ type: 'openExperiment', configFile: message.experiment.configFile });
        }}
        >${message.experiments.length > 1 ? 'open' : message.experiment.label}</a
      >
    </span>
    ${run ? runSource(run, message.type === 'heatmap' ? message.heatmap : undefined) : nothing}
  </div>`;
}

function runSource(run: HeatmapRun, heatmap: ImageHeatmapResultMessage | undefined): TemplateResult {
  return html`<span class="source-item" id="run" title=${run.runDir}>
      <span class="muted">Run</span> ${run.label}${run.live ? html` <span class="badge">training</span>` : nothing}
    </span>
    ${
      heatmap
        ? html`<span class="source-item" id="checkpoint">
            <span class="muted">Checkpoint</span> epoch ${heatmap.epoch}
          </span>`
        : nothing
    }`;
}
