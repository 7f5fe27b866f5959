import '@vscode-elements/elements/dist/vscode-button/index.js';
import { html, nothing, type TemplateResult } from 'lit';
import type { HeatmapSettings } from '../../../../src/shared/protocol/webview';
import { colourBar, type Pixel, variantLabels } from '../../../shared/heatmapControls';
import { colourBarTop } from './controls';
import type { Shown } from './data';
import { normalisedValue } from './math';

export interface LargeViewActions {
  /** The dialog closed, by its button, Escape or a click on the backdrop. */
  closed(): void;
  pointAt(event: PointerEvent): void;
  stepPointer(event: KeyboardEvent): void;
}

const viewLabels = ['centre view', 'augmented view'] as const;

/**
 * One probe enlarged in a modal dialog, with the value of the map under the pointer or under a marker the
 * arrow keys move. The canvas is painted by the view, from the tile's pixels.
 */
export function largeView(
  probe: number | null,
  classNames: readonly string[],
  shown: Shown | undefined,
  pointer: Pixel | null,
  settings: HeatmapSettings,
  actions: LargeViewActions,
): TemplateResult {
  return html`<dialog
    aria-labelledby="large-title"
    @close=${(event: Event) => {
      // The close event is queued: a tile opened again before it is dispatched must stay open.
      if (!(event.currentTarget as HTMLDialogElement).open) actions.closed();
    }}
    @click=${(event: MouseEvent) => {
      // A click on the backdrop is dispatched to the dialog itself, but outside its box.
      const dialog = event.currentTarget as HTMLDialogElement;
      const box = dialog.getBoundingClientRect();
      const outside =
        event.clientX < box.left ||
        event.clientX > box.right ||
        event.clientY < box.top ||
        event.clientY > box.bottom;
      if (event.target === dialog && outside) {
        dialog.close();
      }
    }}
  >
    ${
      probe === null
        ? nothing
        : html`<div class="large">
            <header class="large-header">
              <h2 id="large-title">${classNames[probe] ?? `probe ${probe + 1}`}</h2>
              <vscode-button
                id="close-large"
                secondary
                @click=${(event: Event) => (event.currentTarget as HTMLElement).closest('dialog')?.close()}
                >Close</vscode-button
              >
            </header>
            <p class="muted">
              Probe ${probe + 1}${
                shown
                  ? html`, epoch ${shown.maps.epoch}, ${variantLabels[shown.settings.variant]} of the
                    ${viewLabels[shown.settings.view]}`
                  : nothing
              }
            </p>
            <div class="large-frame">
              <canvas
                class="large-canvas"
                tabindex="0"
                aria-label="Heat map; move the pointer or use the arrow keys to read values"
                @pointermove=${(event: PointerEvent) => actions.pointAt(event)}
                @pointerdown=${(event: PointerEvent) => actions.pointAt(event)}
                @keydown=${(event: KeyboardEvent) => actions.stepPointer(event)}
              ></canvas>
              ${pointer && shown ? html`<div class="marker"></div>` : nothing}
            </div>
            ${colourBar(settings.colormap, colourBarTop(settings))}
            <p class="readout" aria-live="polite">${readout(probe, shown, pointer)}</p>
          </div>`
    }
  </dialog>`;
}

function readout(probe: number, shown: Shown | undefined, pointer: Pixel | null): TemplateResult | string {
  if (!shown || !pointer) {
    return 'Point at the map to read its value.';
  }
  const { maps, settings } = shown;
  const { x, y } = pointer;
  const raw = maps.upsampled[probe * maps.size * maps.size + y * maps.size + x]!;
  const value = normalisedValue(raw, maps.divisors(settings.normalisation)[probe]!);
  return html`<span class="readout-item">x <b>${x}</b>, y <b>${y}</b></span>
    <span class="readout-item">value <b class="readout-value">${value.toFixed(3)}</b></span>
    <span class="readout-item">raw <b class="readout-raw">${formatRaw(raw)}</b></span>`;
}

/** Raw map values span orders of magnitude between runs and variants: three significant digits of any. */
function formatRaw(raw: number): string {
  return raw === 0
    ? '0'
    : Math.abs(raw) >= 0.01 && Math.abs(raw) < 1000
      ? raw.toPrecision(3)
      : raw.toExponential(2);
}
