import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-radio/index.js';
import '@vscode-elements/elements/dist/vscode-radio-group/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import './heatmapEditor.css';
import { css, html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { colormapTable } from '../../src/shared/colormaps';
import {
  type HeatmapEditorState,
  type HeatmapEditorToHost,
  type HeatmapRun,
  type HostToHeatmapEditor,
  heatmapEditorState,
  hostToHeatmapEditor,
} from '../../src/shared/protocol/heatmapEditor';
import type { ImageHeatmapResultMessage } from '../../src/shared/protocol/worker';
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
import { connectToHost } from '../shared/vscodeApi';

type Settings = Omit<HeatmapEditorState, 'configFile'>;
type Variant = Settings['variant'];
type HeatmapMessage = Extract<HostToHeatmapEditor, { type: 'heatmap' }>;

const defaultSettings: Settings = { variant: 'gradCam', colormap: 'inferno', opacity: 0.5 };

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
        ${message.type === 'noExperiment' ? nothing : this.renderSource(message)}
      </header>
      ${this.renderBody(message)}
    `;
  }

  private renderSource(message: Exclude<HostToHeatmapEditor, { type: 'noExperiment' }>): TemplateResult {
    const run = 'run' in message ? message.run : null;
    return html`<div class="source">
      <span class="source-item">
        <span class="muted">Experiment</span>
        ${
          message.experiments.length > 1
            ? html`<vscode-single-select
                id="experiment"
                aria-label="Experiment whose latest run draws the map"
                @change=${(event: Event) =>
                  this.onPost({ type: 'selectExperiment', configFile: selectValue(event) })}
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
            this.onPost({ type: 'openExperiment', configFile: message.experiment.configFile });
          }}
          >${message.experiments.length > 1 ? 'open' : message.experiment.label}</a
        >
      </span>
      ${run ? this.renderRun(run, message.type === 'heatmap' ? message.heatmap : undefined) : nothing}
    </div>`;
  }

  private renderRun(run: HeatmapRun, heatmap: ImageHeatmapResultMessage | undefined): TemplateResult {
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

  private renderBody(message: HostToHeatmapEditor): TemplateResult {
    switch (message.type) {
      case 'noExperiment':
        return html`<div class="notice" id="no-experiment" role="status">
          <p>This image is not in the dataset of any <code>*.synthpair.json</code> experiment in the workspace.</p>
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
                          @click=${() => this.onPost({ type: 'runExperiment', configFile: message.experiment.configFile })}
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
          <vscode-button id="retry" secondary @click=${() => this.onPost({ type: 'retry' })}>Try again</vscode-button>
        </div>`;
      case 'computing':
        if (!this.shown) {
          return html`<div class="notice" id="computing" role="status" aria-busy="true">
            <p class="with-ring">
              <vscode-progress-ring class="ring"></vscode-progress-ring>
              <span>Computing the Grad-CAM of this image with ${message.run.label}…</span>
            </p>
          </div>`;
        }
        return this.renderHeatmap(true);
      case 'heatmap':
        return this.renderHeatmap(false);
    }
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

  static override styles = [
    heatmapControlStyles,
    css`
    :host {
      display: block;
      color: var(--vscode-foreground);
      font-family: var(--vscode-font-family);
      font-size: var(--vscode-font-size);
    }

    header {
      display: flex;
      flex-direction: column;
      gap: 6px;
      padding-bottom: 8px;
      border-bottom: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, transparent));
    }

    h1 {
      margin: 0;
      font-size: 1.3em;
      font-weight: 600;
      overflow: hidden;
      text-overflow: ellipsis;
      white-space: nowrap;
    }

    .source {
      display: flex;
      flex-wrap: wrap;
      align-items: center;
      gap: 4px 18px;
    }

    .source-item {
      display: inline-flex;
      flex-wrap: wrap;
      align-items: center;
      gap: 6px;
      min-width: 0;
    }

    .source vscode-single-select {
      width: auto;
      min-width: 12em;
      max-width: 100%;
    }

    a {
      color: var(--vscode-textLink-foreground);
    }

    a:hover {
      color: var(--vscode-textLink-activeForeground, var(--vscode-textLink-foreground));
    }

    a:focus-visible {
      outline: 1px solid var(--vscode-focusBorder);
      outline-offset: 1px;
    }

    .muted,
    dt {
      color: var(--vscode-descriptionForeground);
    }

    .badge {
      padding: 0 6px;
      border-radius: 8px;
      background: var(--vscode-badge-background);
      color: var(--vscode-badge-foreground);
      font-size: 0.9em;
    }

    code {
      font-family: var(--vscode-editor-font-family, monospace);
    }

    .notice,
    .error {
      margin: 16px 0;
      max-width: 640px;
    }

    .notice p,
    .error p {
      margin: 0 0 10px;
    }

    .error {
      padding: 8px 12px;
      border: 1px solid var(--vscode-inputValidation-errorBorder, var(--vscode-errorForeground));
      background: var(--vscode-inputValidation-errorBackground, transparent);
      border-radius: 4px;
    }

    .message {
      white-space: pre-wrap;
      word-break: break-word;
    }

    .with-ring {
      display: flex;
      align-items: center;
      gap: 10px;
    }

    .ring {
      flex: none;
      width: 20px;
      height: 20px;
    }

    .waiting {
      display: flex;
      justify-content: center;
      padding: 32px;
    }

    .controls {
      margin: 12px 0;
    }

    .control vscode-single-select {
      min-width: 8em;
    }

    .stage {
      display: flex;
      flex-wrap: wrap;
      align-items: flex-start;
      gap: 12px 20px;
    }

    .frame {
      position: relative;
      flex: 0 1 auto;
      width: min(100%, 512px, 70vh);
    }

    .image {
      display: block;
      width: 100%;
      aspect-ratio: 1;
      /* Each canvas pixel is a pixel the encoder saw: enlarged, not smoothed. */
      image-rendering: pixelated;
      cursor: crosshair;
      background: var(--vscode-sideBar-background, var(--vscode-editor-background));
      outline: 1px solid var(--vscode-widget-border, var(--vscode-contrastBorder, transparent));
      outline-offset: -1px;
    }

    .image:focus-visible {
      outline: 1px solid var(--vscode-focusBorder);
    }

    .frame[aria-busy='true'] .image {
      opacity: 0.6;
    }

    .refreshing {
      position: absolute;
      top: 8px;
      right: 8px;
    }

    .details {
      flex: 1 1 220px;
      min-width: 0;
    }

    .readout {
      display: flex;
      flex-wrap: wrap;
      gap: 4px 16px;
      min-height: 1.5em;
      margin: 0 0 8px;
      font-variant-numeric: tabular-nums;
    }

    dl {
      display: grid;
      grid-template-columns: max-content 1fr;
      gap: 4px 12px;
      margin: 0;
    }

    dd {
      margin: 0;
      min-width: 0;
    }
  `,
  ];
}

customElements.define('sp-heatmap-editor', HeatmapEditorView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-heatmap-editor': HeatmapEditorView;
  }
}

const connection = connectToHost<HostToHeatmapEditor, HeatmapEditorToHost, HeatmapEditorState>({
  incoming: hostToHeatmapEditor,
  state: heatmapEditorState,
});
const restored = connection.restoreState();
let chosenExperiment: string | null = restored?.configFile ?? null;

const view = document.createElement('sp-heatmap-editor');
if (restored) {
  const { configFile: _, ...settings } = restored;
  view.settings = settings;
}
const save = () => connection.saveState({ ...view.settings, configFile: chosenExperiment });
view.onSettings = save;
view.onPost = (message) => {
  if (message.type === 'selectExperiment') {
    chosenExperiment = message.configFile;
    save();
  }
  connection.post(message);
};
connection.onMessage((message) => {
  view.receive(message);
  document.getElementById('app')?.setAttribute('aria-busy', String(message.type === 'computing'));
});
const app = document.getElementById('app')!;
app.replaceChildren(view);
connection.post({ type: 'ready', configFile: chosenExperiment });
