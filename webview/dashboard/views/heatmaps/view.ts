import { html, LitElement, nothing, type PropertyValues, type TemplateResult, unsafeCSS } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { colormapTable } from '../../../../src/shared/colormaps';
import {
  type AnalysisStepRef,
  defaultHeatmapSettings,
  type HeatmapSettings,
} from '../../../../src/shared/protocol/webview';
import {
  heatmapControlStyles,
  type Pixel,
  paintColourBars,
  pixelAfterArrowKey,
  pixelUnderPointer,
  placeMarker,
} from '../../../shared/heatmapControls';
import { compositeOverlay } from '../../../shared/heatmapPixels';
import { emit } from '../../model';
import { heatmapControls } from './controls';
import { type PreparedMaps, prepareMaps, type Shown } from './data';
import { largeView } from './largeView';
import styles from './view.css' with { type: 'text' };

/** Detail of `sp-heatmaps-rendered`: which grid is now on screen and how long it took since it was asked for. */
export interface HeatmapsRendered {
  epoch: number;
  /** The same text as the element's `data-rendered` attribute. */
  rendered: string;
  /** From the property change that asked for these pixels to the last tile drawn. */
  renderMs: number;
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
      ${heatmapControls(this.steps, index, this.current, (patch) => this.change(patch))}
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
      ${largeView(this.openProbe, classNames, this.shown, this.pointer, this.current, {
        closed: () => this.closed(),
        pointAt: (event) => this.pointAt(event),
        stepPointer: (event) => this.stepPointer(event),
      })}
    `;
  }

  private moveMarker(): void {
    const marker = this.renderRoot.querySelector<HTMLElement>('.marker');
    const size = this.shown?.maps.size;
    if (marker && this.pointer && size) placeMarker(marker, this.pointer, size);
  }

  static override styles = [heatmapControlStyles, unsafeCSS(styles)];
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

customElements.define('sp-heatmaps', HeatmapsView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-heatmaps': HeatmapsView;
  }
}
