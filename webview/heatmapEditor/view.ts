import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-radio/index.js';
import '@vscode-elements/elements/dist/vscode-radio-group/index.js';
import { html, LitElement, nothing, type PropertyValues, type TemplateResult, unsafeCSS } from 'lit';
import { colormapTable } from '../../src/shared/colormaps';
import type {
  HeatmapEditorState,
  HeatmapEditorToHost,
  HostToHeatmapEditor,
} from '../../src/shared/protocol/heatmapEditor';
import { defaultHeatmapSettings } from '../../src/shared/protocol/webview';
import {
  colormapControl,
  heatmapControlStyles,
  opacityControl,
  type Pixel,
  paintColourBars,
  pixelAfterArrowKey,
  pixelUnderPointer,
  placeMarker,
  selectValue,
  variantLabels,
} from '../shared/heatmapControls';
import { compositeOverlay } from '../shared/heatmapPixels';
import { statusNotice } from './notices';
import { heatmapSource } from './source';
import styles from './view.css' with { type: 'text' };

type Settings = Omit<HeatmapEditorState, 'configFile'>;
type Variant = Settings['variant'];
type HeatmapMessage = Extract<HostToHeatmapEditor, { type: 'heatmap' }>;

// The dashboard's heat-map defaults, so an image opens as its probes look there.
const defaultSettings: Settings = {
  variant: defaultHeatmapSettings.variant,
  colormap: defaultHeatmapSettings.colormap,
  opacity: defaultHeatmapSettings.opacity,
};

/** A heat map as the canvas draws it: the worker's base64 decoded once. */
interface Shown {
  message: HeatmapMessage;
  size: number;
  pixels: Uint8Array;
  /** One colormap level (value × 255) per pixel. */
  levels: Record<Variant, Uint8Array>;
}

function decodeBase64(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

function shownFrom(message: HeatmapMessage): Shown {
  const { heatmap } = message;
  return {
    message,
    size: heatmap.imageSize,
    pixels: decodeBase64(heatmap.pixels),
    levels: {
      gradCam: decodeBase64(heatmap.gradCam),
      gradientTimesActivation: decodeBase64(heatmap.gradientTimesActivation),
    },
  };
}

/**
 * The image of a data set with the Grad-CAM of the experiment's latest checkpoint laid over it, or what stands
 * in the way: no experiment holds the image, the experiment has no trained run, the worker is computing, or it
 * failed. The picture stays while a newer one is computed, so a run's next checkpoint never flashes blank.
 *
 * Once a map is on screen the element sets `data-rendered` (`checkpoint|variant|colormap|opacity`).
 */
export class HeatmapEditorView extends LitElement {
  static override properties = {
    message: { state: true },
    shown: { state: true },
    settings: { state: true },
    pointer: { state: true },
  };

  declare message: HostToHeatmapEditor | undefined;
  declare private shown: Shown | undefined;
  declare settings: Settings;
  declare private pointer: Pixel | null;

  /** Called when the settings change, to persist them. */
  onSettings: (settings: Settings) => void = () => undefined;
  onPost: (message: HeatmapEditorToHost) => void = () => undefined;

  private image: ImageData | undefined;

  constructor() {
    super();
    this.message = undefined;
    this.shown = undefined;
    this.settings = defaultSettings;
    this.pointer = null;
  }

  receive(message: HostToHeatmapEditor): void {
    this.message = message;
    if (message.type === 'heatmap') {
      const keepsPointer = this.shown?.size === message.heatmap.imageSize;
      this.shown = shownFrom(message);
      if (!keepsPointer) this.pointer = null;
    } else if (message.type !== 'computing') {
      // Only a newer checkpoint of the same picture may keep the old one on screen meanwhile.
      this.shown = undefined;
      this.pointer = null;
    }
  }

  private change(patch: Partial<Settings>): void {
    this.settings = { ...this.settings, ...patch };
    this.onSettings(this.settings);
  }

  protected override updated(changed: PropertyValues): void {
    if (changed.has('shown') || changed.has('settings')) this.paint();
    paintColourBars(this.renderRoot, this.settings.colormap);
    this.moveMarker();
  }

  private paint(): void {
    const canvas = this.renderRoot.querySelector<HTMLCanvasElement>('canvas.image');
    const shown = this.shown;
    if (!canvas || !shown) {
      this.removeAttribute('data-rendered');
      return;
    }
    const { size } = shown;
    if (!this.image || this.image.width !== size) this.image = new ImageData(size, size);
    const { variant, colormap, opacity } = this.settings;
    compositeOverlay(
      shown.pixels,
      0,
      shown.levels[variant],
      0,
      colormapTable(colormap),
      opacity,
      this.image.data,
    );
    // Resizing a canvas clears it, so only a new image size does.
    if (canvas.width !== size) {
      canvas.width = size;
      canvas.height = size;
    }
    canvas.getContext('2d')!.putImageData(this.image, 0, 0);
    this.setAttribute(
      'data-rendered',
      `${shown.message.heatmap.checkpoint}|${variant}|${colormap}|${opacity}`,
    );
  }

  private moveMarker(): void {
    const marker = this.renderRoot.querySelector<HTMLElement>('.marker');
    const size = this.shown?.size;
    if (marker && this.pointer && size) placeMarker(marker, this.pointer, size);
  }

  private pointAt(event: PointerEvent): void {
    const size = this.shown?.size;
    if (size) this.pointer = pixelUnderPointer(event, size);
  }

  private stepPointer(event: KeyboardEvent): void {
    const size = this.shown?.size;
    const moved = size ? pixelAfterArrowKey(event, this.pointer, size) : undefined;
    if (moved) this.pointer = moved;
  }

  protected override render(): TemplateResult {
    const message = this.message;
    if (!message) {
      return html`<div class="waiting"><vscode-progress-ring class="ring"></vscode-progress-ring></div>`;
    }
    return html`
      <header>
        <h1 title=${message.image}>${message.image}</h1>
        ${message.type === 'noExperiment' ? nothing : heatmapSource(message, this.onPost)}
      </header>
      ${this.renderBody(message)}
    `;
  }

  private renderBody(message: HostToHeatmapEditor): TemplateResult {
    // A newer checkpoint's map is computed under the one on screen, which stays until it is replaced.
    if (message.type === 'heatmap' || (message.type === 'computing' && this.shown)) {
      return this.renderHeatmap(message.type === 'computing');
    }
    return statusNotice(message, this.onPost);
  }

  private renderHeatmap(refreshing: boolean): TemplateResult {
    const shown = this.shown!;
    const { heatmap } = shown.message;
    return html`
      ${this.renderControls()}
      <div class="stage">
        <div class="frame" aria-busy=${String(refreshing)}>
          <canvas
            class="image"
            tabindex="0"
            role="img"
            aria-label=${`${variantLabels[this.settings.variant]} over the image; move the pointer or use the arrow keys to read values`}
            @pointermove=${(event: PointerEvent) => this.pointAt(event)}
            @pointerdown=${(event: PointerEvent) => this.pointAt(event)}
            @keydown=${(event: KeyboardEvent) => this.stepPointer(event)}
          ></canvas>
          ${this.pointer ? html`<div class="marker"></div>` : nothing}
          ${refreshing ? html`<vscode-progress-ring class="ring refreshing" id="refreshing"></vscode-progress-ring>` : nothing}
        </div>
        <div class="details">
          <p class="readout" id="readout" aria-live="polite">${this.readout(shown)}</p>
          <dl>
            <dt>Image</dt>
            <dd id="image-info">
              ${heatmap.split} split, position ${heatmap.position}; the centre ${heatmap.imageSize}×${heatmap.imageSize} crop
              evaluation sees
            </dd>
            <dt>Batch</dt>
            <dd id="probe-info">
              ${
                heatmap.probe === null
                  ? html`with the ${heatmap.batchImages - 1} probes of the analysis after epoch ${heatmap.analysisEpoch}`
                  : html`probe ${heatmap.probe + 1} of the analysis after epoch ${heatmap.analysisEpoch}, with the
                    other ${heatmap.batchImages - 1} probes`
              }
            </dd>
            <dt>Loss</dt>
            <dd>L<sub>C</sub> of that batch ${heatmap.loss.toFixed(4)}</dd>
            <dt>Computed</dt>
            <dd id="elapsed">in ${Math.round(heatmap.elapsedMs)} ms</dd>
          </dl>
        </div>
      </div>
    `;
  }

  private renderControls(): TemplateResult {
    const { settings } = this;
    return html`<div class="controls">
      <div class="control">
        <span id="variant-label">Map</span>
        <vscode-radio-group
          id="variant"
          aria-labelledby="variant-label"
          @change=${(event: Event) => this.change({ variant: selectValue(event) as Variant })}
        >
          ${Object.entries(variantLabels).map(
            ([value, label]) =>
              html`<vscode-radio name="variant" value=${value} .checked=${settings.variant === value}
                >${label}</vscode-radio
              >`,
          )}
        </vscode-radio-group>
      </div>
      ${colormapControl(settings.colormap, "1 = the map's maximum", (colormap) => this.change({ colormap }))}
      ${opacityControl(settings.opacity, (opacity) => this.change({ opacity }))}
    </div>`;
  }

  private readout(shown: Shown): TemplateResult | string {
    if (!this.pointer) return 'Point at the image to read the map’s value.';
    const { x, y } = this.pointer;
    const value = shown.levels[this.settings.variant][y * shown.size + x]! / 255;
    return html`<span class="readout-item">x <b>${x}</b>, y <b>${y}</b></span>
      <span class="readout-item">${variantLabels[this.settings.variant]} <b id="value">${value.toFixed(2)}</b></span>`;
  }

  static override styles = [heatmapControlStyles, unsafeCSS(styles)];
}

customElements.define('sp-heatmap-editor', HeatmapEditorView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-heatmap-editor': HeatmapEditorView;
  }
}
