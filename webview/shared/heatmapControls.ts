import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { html, type TemplateResult, unsafeCSS } from 'lit';
import { type ColormapName, colormapNames, colormapTable } from '../../src/shared/colormaps';
import type { HeatmapSettings } from '../../src/shared/protocol/webview';
import styles from './heatmapControls.css' with { type: 'text' };
import { colourBarPixels } from './heatmapPixels';

/** The controls the dashboard's heat-map tab and the heat-map image editor both show, so they look and act alike. */

type Variant = HeatmapSettings['variant'];

export const variantLabels: Record<Variant, string> = {
  gradCam: 'Grad-CAM',
  gradientTimesActivation: 'Gradient × activation',
};

/** The value of the vscode-elements select or radio group that fired `event`. */
export function selectValue(event: Event): string {
  return (event.target as HTMLElement & { value: string }).value;
}

export function opacityControl(opacity: number, onOpacity: (opacity: number) => void): TemplateResult {
  const percent = `${Math.round(opacity * 100)} %`;
  return html`<label class="control">
    <span>Opacity</span>
    <input
      id="opacity"
      type="range"
      min="0"
      max="1"
      step="0.05"
      .value=${String(opacity)}
      aria-valuetext=${percent}
      @input=${(event: Event) => onOpacity(Number((event.target as HTMLInputElement).value))}
    />
    <span class="value">${percent}</span>
  </label>`;
}

/**
 * The colour bar of `colormap`, 0 on the left and 1 on the right; `top` says what 1 stands for. Its canvas is
 * filled by `paintColourBars` once rendered.
 */
export function colourBar(colormap: ColormapName, top: string): TemplateResult {
  return html`<span class="legend" title=${`0 … ${top}`}>
    <span aria-hidden="true">0</span>
    <canvas class="colour-bar" width="256" height="1" role="img" aria-label=${`${colormap}: 0 to ${top}`}></canvas>
    <span aria-hidden="true">1</span>
  </span>`;
}

export function colormapControl(
  colormap: ColormapName,
  top: string,
  onColormap: (colormap: ColormapName) => void,
): TemplateResult {
  return html`<div class="control">
    <span>Colormap</span>
    <vscode-single-select
      id="colormap"
      aria-label="Colormap"
      @change=${(event: Event) => onColormap(selectValue(event) as ColormapName)}
    >
      ${colormapNames.map(
        (name) => html`<vscode-option value=${name} .selected=${colormap === name}>${name}</vscode-option>`,
      )}
    </vscode-single-select>
    ${colourBar(colormap, top)}
  </div>`;
}

/** Repaints only the colour bars whose colormap changed, so a re-render does not redraw them. */
export function paintColourBars(root: ParentNode, colormap: ColormapName): void {
  for (const canvas of root.querySelectorAll<HTMLCanvasElement>('canvas.colour-bar')) {
    if (canvas.dataset.colormap !== colormap) {
      canvas.dataset.colormap = colormap;
      canvas
        .getContext('2d')!
        .putImageData(new ImageData(colourBarPixels(colormapTable(colormap)), 256, 1), 0, 0);
    }
  }
}

/** A pixel of a heat map, in the probe image's own coordinates. */
export interface Pixel {
  x: number;
  y: number;
}

/** The pixel under the pointer on an element showing a `size` × `size` map across its whole box. */
export function pixelUnderPointer(event: PointerEvent, size: number): Pixel {
  const bounds = (event.currentTarget as HTMLElement).getBoundingClientRect();
  const cell = (offset: number, extent: number) =>
    Math.min(size - 1, Math.max(0, Math.floor((offset / extent) * size)));
  return {
    x: cell(event.clientX - bounds.left, bounds.width),
    y: cell(event.clientY - bounds.top, bounds.height),
  };
}

const arrowMoves: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
};

/**
 * Where an arrow key moves the read-out point, for those who do not use a pointer; the first press starts at
 * the centre. Undefined, and the key left to the page, when it is no arrow key.
 */
export function pixelAfterArrowKey(
  event: KeyboardEvent,
  from: Pixel | null,
  size: number,
): Pixel | undefined {
  const move = arrowMoves[event.key];
  if (!move) return undefined;
  event.preventDefault();
  const start = from ?? { x: Math.floor(size / 2) - move[0], y: Math.floor(size / 2) - move[1] };
  const clamp = (value: number) => Math.min(size - 1, Math.max(0, value));
  return { x: clamp(start.x + move[0]), y: clamp(start.y + move[1]) };
}

/**
 * Placed through the CSSOM rather than a style attribute (or lit's styleMap, whose first render writes
 * one), since the webview's CSP refuses inline style attributes.
 */
export function placeMarker(marker: HTMLElement, pointer: Pixel, size: number): void {
  marker.style.left = `${(pointer.x / size) * 100}%`;
  marker.style.top = `${(pointer.y / size) * 100}%`;
  marker.style.width = `${100 / size}%`;
  marker.style.height = `${100 / size}%`;
}

export const heatmapControlStyles = unsafeCSS(styles);
