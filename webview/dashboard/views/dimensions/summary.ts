import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { html, nothing, type TemplateResult } from 'lit';
import type { NonDiscriminativeMask } from '../../../../src/shared/mask';
import type { AnalysisStepRef } from '../../../../src/shared/protocol/webview';
import { formatQuantile, type MaskSettings, manifestSettings, sameSettings, settingsChanges } from './math';

/** The analysis steps to pick from, newest first; `epoch` null follows the newest. */
export function stepPicker(
  steps: readonly AnalysisStepRef[],
  epoch: number | null,
  shown: AnalysisStepRef,
  onPick: (epoch: number | null) => void,
): TemplateResult {
  const newest = steps.at(-1)!;
  const followsNewest = epoch === null || !steps.some((step) => step.epoch === epoch);
  return html`<label for="dims-step">Analysis step</label>
    <vscode-single-select
      id="dims-step"
      aria-label="Analysis step shown"
      .value=${followsNewest ? 'newest' : String(shown.epoch)}
      @change=${(event: Event) => {
        const value = (event.target as HTMLSelectElement).value;
        onPick(value === 'newest' ? null : Number(value));
      }}
    >
      <vscode-option value="newest" ?selected=${followsNewest}>Newest (epoch ${newest.epoch})</vscode-option>
      ${[...steps].reverse().map(
        (step) =>
          html`<vscode-option value=${String(step.epoch)} ?selected=${!followsNewest && step === shown}
            >Epoch ${step.epoch}${step.epoch === 0 ? ' (before training)' : ''}</vscode-option
          >`,
      )}
    </vscode-single-select>`;
}

/**
 * How many dimensions the settings as they stand mask, against what the step was cut with; and a warning when
 * the step's saved mask is not the one its own settings give.
 */
export function maskSummary(
  step: AnalysisStepRef,
  savedMask: Uint8Array,
  current: MaskSettings,
  mask: NonDiscriminativeMask,
): TemplateResult {
  const manifest = step.manifest;
  const saved = manifestSettings(manifest);
  const dimensions = mask.mask.length;
  const changes = settingsChanges(saved, current);
  const savedMaskDiffers =
    sameSettings(saved, current) && savedMask.some((bit, dimension) => bit !== mask.mask[dimension]);
  return html`<div class="dims-summary">
    <p class="dims-legend" id="dims-legend">
      <span class="dims-swatch masked" aria-hidden="true"></span>
      <span id="dims-masked-count" data-masked=${mask.count}><strong>${mask.count}</strong> masked of ${dimensions}</span>
      <span class="dims-swatch kept" aria-hidden="true"></span>
      <span>${dimensions - mask.count} kept</span>
      <span class="dims-muted">(${current.combine}: ${combineText(current.combine)})</span>
    </p>
    <p class="dims-saved" id="dims-saved">
      Epoch ${manifest.epoch} was cut with variance q = ${formatQuantile(saved.varianceQuantile)}, Grad-CAM q =
      ${formatQuantile(saved.gradcamQuantile)} (${saved.variant}), ${saved.combine}:
      <strong>${manifest.masked}</strong> of ${manifest.dimensions} masked.
    </p>
    ${
      changes.length > 0
        ? html`<p class="dims-differs" id="dims-differs">
            The config now says ${changes.join(', ')}: ${mask.count} masked.
          </p>`
        : nothing
    }
    ${
      savedMaskDiffers
        ? html`<p class="error" role="alert">The step's saved mask differs from the one its own settings give.</p>`
        : nothing
    }
  </div>`;
}

export function maskedIndices(mask: Uint8Array): number[] {
  const indices: number[] = [];
  mask.forEach((bit, dimension) => {
    if (bit) indices.push(dimension);
  });
  return indices;
}

function combineText(combine: MaskSettings['combine']): string {
  switch (combine) {
    case 'union':
      return 'low variance or low importance';
    case 'intersection':
      return 'low variance and low importance';
    case 'variance':
      return 'low variance alone';
    case 'gradcam':
      return 'low importance alone';
  }
}
