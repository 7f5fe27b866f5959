import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-radio/index.js';
import '@vscode-elements/elements/dist/vscode-radio-group/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { html, type TemplateResult } from 'lit';
import type { AnalysisStepRef, HeatmapSettings } from '../../../../src/shared/protocol/webview';
import { colormapControl, opacityControl, selectValue, variantLabels } from '../../../shared/heatmapControls';

/** What the colour bar's 1 stands for under the chosen normalisation. */
export function colourBarTop(settings: HeatmapSettings): string {
  return settings.normalisation === 'image' ? "1 = the map's maximum" : "1 = the step's maximum";
}

/** The settings of the grid, and a slider over the analysis steps with `index` the one shown. */
export function heatmapControls(
  steps: readonly AnalysisStepRef[],
  index: number,
  settings: HeatmapSettings,
  change: (patch: Partial<HeatmapSettings>) => void,
): TemplateResult {
  const step = steps[index]!;
  const following = settings.epoch === null || index === steps.length - 1;
  return html`
    <div class="controls">
      <label class="control">
        <span>Map</span>
        <vscode-single-select
          id="variant"
          aria-label="Map variant"
          @change=${(event: Event) => change({ variant: selectValue(event) as HeatmapSettings['variant'] })}
        >
          ${Object.entries(variantLabels).map(
            ([value, label]) =>
              html`<vscode-option value=${value} .selected=${settings.variant === value}>${label}</vscode-option>`,
          )}
        </vscode-single-select>
      </label>
      <div class="control">
        <span id="view-label">View</span>
        <vscode-radio-group
          id="view"
          aria-labelledby="view-label"
          @change=${(event: Event) => change({ view: Number(selectValue(event)) === 1 ? 1 : 0 })}
        >
          <vscode-radio name="view" value="0" .checked=${settings.view === 0}>Centre</vscode-radio>
          <vscode-radio name="view" value="1" .checked=${settings.view === 1}>Augmented</vscode-radio>
        </vscode-radio-group>
      </div>
      ${opacityControl(settings.opacity, (opacity) => change({ opacity }))}
      ${colormapControl(settings.colormap, colourBarTop(settings), (colormap) => change({ colormap }))}
      <div class="control">
        <span id="normalisation-label">Scale</span>
        <vscode-radio-group
          id="normalisation"
          aria-labelledby="normalisation-label"
          @change=${(event: Event) =>
            change({ normalisation: selectValue(event) as HeatmapSettings['normalisation'] })}
        >
          <vscode-radio
            name="normalisation"
            value="image"
            title="Each map divided by its own maximum"
            .checked=${settings.normalisation === 'image'}
            >Per image</vscode-radio
          >
          <vscode-radio
            name="normalisation"
            value="global"
            title="Every map divided by the largest value over all probes of this step and view"
            .checked=${settings.normalisation === 'global'}
            >Across probes</vscode-radio
          >
        </vscode-radio-group>
      </div>
    </div>
    <div class="step-row">
      <label for="step" id="step-label">epoch ${step.epoch}</label>
      <input
        id="step"
        type="range"
        min="0"
        max=${steps.length - 1}
        step="1"
        .value=${String(index)}
        ?disabled=${steps.length < 2}
        aria-valuetext=${`epoch ${step.epoch}`}
        @input=${(event: Event) => {
          const chosen = Number((event.target as HTMLInputElement).value);
          // The newest step means "keep following": a live run's next step then shows up on its own.
          change({ epoch: chosen === steps.length - 1 ? null : steps[chosen]!.epoch });
        }}
      />
      <span class="muted">
        ${following ? 'newest, ' : ''}step ${index + 1} of ${steps.length}
      </span>
    </div>
  `;
}
