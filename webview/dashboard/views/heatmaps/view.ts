import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-radio/index.js';
import '@vscode-elements/elements/dist/vscode-radio-group/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { css, html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { colormapTable } from '../../../../src/shared/colormaps';
import {
  type AnalysisStepRef,
  defaultHeatmapSettings,
  type HeatmapSettings,
} from '../../../../src/shared/protocol/webview';
import {
  colormapControl,
  colourBar,
  heatmapControlStyles,
  opacityControl,
  type Pixel,
  paintColourBars,
  pixelAfterArrowKey,
  pixelUnderPointer,
  placeMarker,
  selectValue,
  variantLabels,
} from '../../../shared/heatmapControls';
import { compositeOverlay } from '../../../shared/heatmapPixels';
import { emit } from '../../model';
import { type PreparedMaps, prepareMaps } from './data';
import { normalisedValue } from './math';

const viewLabels = ['centre view', 'augmented view'] as const;

/** Detail of `sp-heatmaps-rendered`: which grid is now on screen and how long it took since it was asked for. */
export interface HeatmapsRendered {
  epoch: number;
  /** The same text as the element's `data-rendered` attribute. */
  rendered: string;
  /** From the property change that asked for these pixels to the last tile drawn. */
  renderMs: number;
}

interface Shown {
  maps: PreparedMaps;
  settings: HeatmapSettings;
}

/**
 * The Grad-CAM heat maps of a run's probes: one tile per probe with its map laid over it, controls for the
 * map variant, view, opacity, colormap and normalisation, and a slider over the analysis steps. Maps arrive
 * unnormalised at feature-map resolution and are upsampled here, so they can be normalised per image or
 * across the step. Tiles keep their pixels until the next ones are ready, so changes never flash blank.
 *
 * When a grid is on screen the element sets `data-rendered-epoch` and `data-rendered`
 * (`epoch|variant|view|normalisation|colormap|opacity`) and dispatches `sp-heatmaps-rendered`.
 */
export class HeatmapsView extends LitElement {
  static override properties = {
    steps: { attribute: false },
    settings: { attribute: false },
    shown: { state: true },
    loadError: { state: true },
    openProbe: { state: true },
    pointer: { state: true },
  };

  /** Every analysis step of the selected run, oldest first. */
  declare steps: AnalysisStepRef[];
  declare settings: HeatmapSettings;
  declare private shown: Shown | undefined;
  declare private loadError: string | undefined;
  declare private openProbe: number | null;
  declare private pointer: Pixel | null;

  /** Bumped by every paint, so a slow load never draws over the pixels of a newer request. */
  private paintToken = 0;
  private requested = '';
  private tileImages: ImageData[] = [];
  private openedFrom: HTMLElement | null = null;

  constructor() {
    super();
    this.steps = [];
    this.settings = defaultHeatmapSettings;
    this.shown = undefined;
    this.loadError = undefined;
    this.openProbe = null;
    this.pointer = null;
  }

  private get current(): HeatmapSettings {
    return this.settings ?? defaultHeatmapSettings;
  }

  /** The step the settings ask for; the newest when they follow it or name an epoch the run no longer has. */
  private selectedIndex(): number {
    const { epoch } = this.current;
    const index = epoch === null ? -1 : this.steps.findIndex((step) => step.epoch === epoch);
    return index >= 0 ? index : this.steps.length - 1;
  }

  private change(patch: Partial<HeatmapSettings>): void {
    const next = { ...this.current, ...patch };
    this.settings = next;
    emit(this, 'sp-settings', { heatmaps: next });
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('settings') || changed.has('steps')) {
      this.requestPaint();
    }
    this.paintColourBars();
    this.moveMarker();
  }

  private requestPaint(): void {
    const step = this.steps[this.selectedIndex()];
    if (!step) {
      this.requested = '';
      this.paintToken++;
      return;
    }
    const settings = this.current;
    const wanted = `${step.folderUri}|${renderedKey(step.epoch, settings)}`;
    if (wanted !== this.requested) {
      this.requested = wanted;
      void this.paint(step, settings, performance.now());
    }
  }

  private async paint(step: AnalysisStepRef, settings: HeatmapSettings, requestedAt: number): Promise<void> {
    const token = ++this.paintToken;
    let maps: PreparedMaps;
    try {
      maps = await prepareMaps(step, settings.variant, settings.view);
    } catch (error) {
      if (token === this.paintToken) {
        this.requested = '';
        this.loadError = `The heat maps of epoch ${step.epoch} could not be loaded: ${(error as Error).message}`;
      }
      return;
    }
    if (token !== this.paintToken) {
      return;
    }
    this.loadError = undefined;
    const levels = maps.levels(settings.normalisation);
    const table = colormapTable(settings.colormap);
    const canvases = this.renderRoot.querySelectorAll<HTMLCanvasElement>('canvas.tile-canvas');
    const pixels = maps.size * maps.size;
    for (let probe = 0; probe < Math.min(maps.count, canvases.length); probe++) {
      const image = this.tileImage(probe, maps.size);
      compositeOverlay(
        maps.images,
        probe * pixels * 3,
        levels,
        probe * pixels,
        table,
        settings.opacity,
        image.data,
      );
      drawImage(canvases[probe]!, image);
    }
    this.shown = { maps, settings };
    this.paintLargeView();
    const rendered = renderedKey(maps.epoch, settings);
    this.setAttribute('data-rendered-epoch', String(maps.epoch));
    this.setAttribute('data-rendered', rendered);
    const detail: HeatmapsRendered = {
      epoch: maps.epoch,
      rendered,
      renderMs: performance.now() - requestedAt,
    };
    this.dispatchEvent(new CustomEvent('sp-heatmaps-rendered', { detail, bubbles: true, composed: true }));
  }

  /** Each tile's pixel buffer, reused from paint to paint. */
  private tileImage(probe: number, size: number): ImageData {
    let image = this.tileImages[probe];
    if (!image || image.width !== size) {
      image = new ImageData(size, size);
      this.tileImages[probe] = image;
    }
    return image;
  }

  private paintLargeView(): void {
    const canvas = this.renderRoot.querySelector<HTMLCanvasElement>('canvas.large-canvas');
    const image = this.openProbe === null ? undefined : this.tileImages[this.openProbe];
    if (canvas && image && this.shown) {
      drawImage(canvas, image);
    }
  }

  private paintColourBars(): void {
    paintColourBars(this.renderRoot, this.current.colormap);
  }

  private async openLarge(probe: number, tile: HTMLElement): Promise<void> {
    this.openedFrom = tile;
    this.openProbe = probe;
    this.pointer = null;
    await this.updateComplete;
    const dialog = this.renderRoot.querySelector('dialog')!;
    if (!dialog.open) {
      dialog.showModal();
    }
    this.paintLargeView();
    this.paintColourBars();
    this.renderRoot.querySelector<HTMLCanvasElement>('canvas.large-canvas')?.focus();
  }

  private closed(): void {
    this.openProbe = null;
    this.pointer = null;
    this.openedFrom?.focus();
    this.openedFrom = null;
  }

  private pointAt(event: PointerEvent): void {
    const size = this.shown?.maps.size;
    if (size) this.pointer = pixelUnderPointer(event, size);
  }

  private stepPointer(event: KeyboardEvent): void {
    const size = this.shown?.maps.size;
    const moved = size ? pixelAfterArrowKey(event, this.pointer, size) : undefined;
    if (moved) this.pointer = moved;
  }

  protected override render(): TemplateResult {
    if (this.steps.length === 0) {
      return html`<p class="empty">
        No heat maps yet. They appear after the run's first analysis step (every
        <code>analysis.everyEpochs</code> epochs), so the run must have finished an epoch first.
      </p>`;
    }
    const index = this.selectedIndex();
    const step = this.steps[index]!;
    const { labels, classNames } = step.manifest.probes;
    return html`
      ${this.renderControls(index)}
      ${this.loadError ? html`<p class="error" role="alert">${this.loadError}</p>` : nothing}
      <div class="grid" role="list" aria-label="Probe heat maps" aria-busy=${String(!this.shown)}>
        ${repeat(
          labels,
          (_, probe) => probe,
          (_, probe) => html`<div role="listitem">
            <button
              class="tile"
              data-probe=${probe}
              title=${`${classNames[probe] ?? ''}, probe ${probe + 1}: open a large view`}
              @click=${(event: Event) => this.openLarge(probe, event.currentTarget as HTMLElement)}
            >
              <canvas class="tile-canvas" aria-hidden="true"></canvas>
              <span class="caption">${classNames[probe] ?? `probe ${probe + 1}`}</span>
            </button>
          </div>`,
        )}
      </div>
      ${this.renderLargeView(classNames)}
    `;
  }

  private renderControls(index: number): TemplateResult {
    const settings = this.current;
    const step = this.steps[index]!;
    const following = settings.epoch === null || index === this.steps.length - 1;
    return html`
      <div class="controls">
        <label class="control">
          <span>Map</span>
          <vscode-single-select
            id="variant"
            aria-label="Map variant"
            @change=${(event: Event) =>
              this.change({ variant: selectValue(event) as HeatmapSettings['variant'] })}
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
            @change=${(event: Event) => this.change({ view: Number(selectValue(event)) === 1 ? 1 : 0 })}
          >
            <vscode-radio name="view" value="0" .checked=${settings.view === 0}>Centre</vscode-radio>
            <vscode-radio name="view" value="1" .checked=${settings.view === 1}>Augmented</vscode-radio>
          </vscode-radio-group>
        </div>
        ${opacityControl(settings.opacity, (opacity) => this.change({ opacity }))}
        ${colormapControl(settings.colormap, colourBarTop(settings), (colormap) => this.change({ colormap }))}
        <div class="control">
          <span id="normalisation-label">Scale</span>
          <vscode-radio-group
            id="normalisation"
            aria-labelledby="normalisation-label"
            @change=${(event: Event) =>
              this.change({ normalisation: selectValue(event) as HeatmapSettings['normalisation'] })}
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
          max=${this.steps.length - 1}
          step="1"
          .value=${String(index)}
          ?disabled=${this.steps.length < 2}
          aria-valuetext=${`epoch ${step.epoch}`}
          @input=${(event: Event) => {
            const chosen = Number((event.target as HTMLInputElement).value);
            // The newest step means "keep following": a live run's next step then shows up on its own.
            this.change({ epoch: chosen === this.steps.length - 1 ? null : this.steps[chosen]!.epoch });
          }}
        />
        <span class="muted">
          ${following ? 'newest, ' : ''}step ${index + 1} of ${this.steps.length}
        </span>
      </div>
    `;
  }

  private renderLargeView(classNames: readonly string[]): TemplateResult {
    const probe = this.openProbe;
    const shown = this.shown;
    return html`<dialog
      aria-labelledby="large-title"
      @close=${() => this.closed()}
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
                  @click=${() => this.renderRoot.querySelector('dialog')?.close()}
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
                  @pointermove=${(event: PointerEvent) => this.pointAt(event)}
                  @pointerdown=${(event: PointerEvent) => this.pointAt(event)}
                  @keydown=${(event: KeyboardEvent) => this.stepPointer(event)}
                ></canvas>
                ${this.renderMarker()}
              </div>
              ${colourBar(this.current.colormap, colourBarTop(this.current))}
              <p class="readout" aria-live="polite">${this.readout(probe)}</p>
            </div>`
      }
    </dialog>`;
  }

  private renderMarker(): TemplateResult | typeof nothing {
    return this.pointer && this.shown ? html`<div class="marker"></div>` : nothing;
  }

  private moveMarker(): void {
    const marker = this.renderRoot.querySelector<HTMLElement>('.marker');
    const size = this.shown?.maps.size;
    if (marker && this.pointer && size) placeMarker(marker, this.pointer, size);
  }

  private readout(probe: number): TemplateResult | string {
    const shown = this.shown;
    if (!shown || !this.pointer) {
      return 'Point at the map to read its value.';
    }
    const { maps, settings } = shown;
    const { x, y } = this.pointer;
    const raw = maps.upsampled[probe * maps.size * maps.size + y * maps.size + x]!;
    const value = normalisedValue(raw, maps.divisors(settings.normalisation)[probe]!);
    return html`<span class="readout-item">x <b>${x}</b>, y <b>${y}</b></span>
      <span class="readout-item">value <b class="readout-value">${value.toFixed(3)}</b></span>
      <span class="readout-item">raw <b class="readout-raw">${formatRaw(raw)}</b></span>`;
  }

  static override styles = [
    heatmapControlStyles,
    css`
    :host {
      display: block;
      color: var(--vscode-foreground);
      font-family: var(--vscode-font-family);
      font-size: var(--vscode-font-size);
    }

    .empty,
    .muted {
      color: var(--vscode-descriptionForeground);
    }

    .error {
      color: var(--vscode-errorForeground);
    }

    .step-row {
      display: flex;
      flex-wrap: wrap;
      align-items: center;
      gap: 4px 12px;
      margin: 8px 0 12px;
    }

    #step-label {
      min-width: 5.5em;
      font-weight: 600;
      font-variant-numeric: tabular-nums;
    }

    #step {
      flex: 1 1 160px;
      max-width: 480px;
    }

    .grid {
      display: grid;
      grid-template-columns: repeat(auto-fill, minmax(112px, 1fr));
      gap: 10px;
    }

    .tile {
      display: flex;
      flex-direction: column;
      gap: 4px;
      width: 100%;
      padding: 0;
      border: none;
      background: none;
      color: inherit;
      font: inherit;
      text-align: left;
      cursor: zoom-in;
    }

    .tile:focus-visible {
      outline: 1px solid var(--vscode-focusBorder);
      outline-offset: 2px;
    }

    .tile-canvas,
    .large-canvas {
      display: block;
      width: 100%;
      aspect-ratio: 1;
      image-rendering: pixelated;
      background: var(--vscode-sideBar-background, var(--vscode-editor-background));
      outline: 1px solid var(--vscode-widget-border, var(--vscode-contrastBorder, transparent));
      /* Inside the tile: a grid cell at the panel's edge would clip an outline drawn outside it. */
      outline-offset: -1px;
    }

    .tile:hover .tile-canvas {
      outline-color: var(--vscode-focusBorder);
    }

    .caption {
      overflow: hidden;
      white-space: nowrap;
      text-overflow: ellipsis;
      color: var(--vscode-descriptionForeground);
    }

    dialog {
      max-width: min(92vw, 640px);
      max-height: 92vh;
      padding: 12px 16px;
      color: var(--vscode-foreground);
      background: var(--vscode-editor-background);
      border: 1px solid var(--vscode-widget-border, var(--vscode-contrastBorder, transparent));
    }

    dialog::backdrop {
      background: color-mix(in srgb, var(--vscode-editor-background) 75%, transparent);
    }

    .large {
      display: flex;
      flex-direction: column;
      gap: 8px;
    }

    .large-header {
      display: flex;
      align-items: center;
      justify-content: space-between;
      gap: 12px;
    }

    .large-header h2 {
      margin: 0;
      font-size: 1.1em;
      font-weight: 600;
    }

    .large p {
      margin: 0;
    }

    .large-frame {
      position: relative;
      width: min(80vw, 60vh, 512px);
    }

    .large-canvas {
      cursor: crosshair;
    }

    .large-canvas:focus-visible {
      outline: 1px solid var(--vscode-focusBorder);
    }

    .large .legend {
      width: min(80vw, 60vh, 512px);
    }

    .large .colour-bar {
      flex: 1;
      min-width: 0;
    }

    .readout {
      display: flex;
      flex-wrap: wrap;
      gap: 4px 16px;
      min-height: 1.5em;
      font-variant-numeric: tabular-nums;
    }
  `,
  ];
}

/** What the colour bar's 1 stands for under the chosen normalisation. */
function colourBarTop(settings: HeatmapSettings): string {
  return settings.normalisation === 'image' ? "1 = the map's maximum" : "1 = the step's maximum";
}

function drawImage(canvas: HTMLCanvasElement, image: ImageData): void {
  // Resizing a canvas clears it, so only a new probe size does.
  if (canvas.width !== image.width || canvas.height !== image.height) {
    canvas.width = image.width;
    canvas.height = image.height;
  }
  canvas.getContext('2d')!.putImageData(image, 0, 0);
}

function renderedKey(epoch: number, settings: HeatmapSettings): string {
  const { variant, view, normalisation, colormap, opacity } = settings;
  return `${epoch}|${variant}|${view}|${normalisation}|${colormap}|${opacity}`;
}

/** Raw map values span orders of magnitude between runs and variants: three significant digits of any. */
function formatRaw(raw: number): string {
  return raw === 0
    ? '0'
    : Math.abs(raw) >= 0.01 && Math.abs(raw) < 1000
      ? raw.toPrecision(3)
      : raw.toExponential(2);
}

customElements.define('sp-heatmaps', HeatmapsView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-heatmaps': HeatmapsView;
  }
}
