import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { perturbModes } from '../../../../src/shared/config/experiment/choices';
import type { ConfigScalar, PanelConfigKey } from '../../../../src/shared/protocol/webview';
import type { SynthesisResultMessage } from '../../../../src/shared/protocol/worker';
import { adoptIntoPage } from '../../../shared/styles';
import { emit } from '../../model';
import styles from './view.css' with { type: 'text' };

adoptIntoPage(styles);

/**
 * The pair grid's source, as the shell tracks it. A pending redraw keeps the last grid on screen (dimmed),
 * so editing a value never blanks the panel.
 */
export type PairsSynthesis =
  | { status: 'idle' }
  | { status: 'ready'; requestId: number; result: SynthesisResultMessage; receivedAt: number }
  | {
      status: 'pending';
      pendingId: number;
      requestId?: number;
      result?: SynthesisResultMessage;
      receivedAt?: number;
    }
  | {
      status: 'failed' | 'unavailable';
      message: string;
      /** The grid shown before, kept on screen under the message. */
      requestId?: number;
      result?: SynthesisResultMessage;
      receivedAt?: number;
    };

interface ShownGrid {
  requestId: number;
  result: SynthesisResultMessage;
  receivedAt: number;
}

/** Columns of a probe's row: the image, d(h), each d(h′), and |d(h) − d(h′₁)| amplified. */
const differenceGain = 4;
const gap = 2;
/**
 * How long a redraw runs before the grid dims and a progress ring spins. Most redraws end sooner: showing
 * them busy would flash, and each frame of the fade and the ring would delay the new grid's own frame.
 */
const busyDelayMs = 150;

interface Slider {
  key: PanelConfigKey;
  label: string;
  min: number;
  max: number;
  step: number;
  fallback: number;
  describe: (value: number) => string;
}

const sliders: readonly Slider[] = [
  {
    key: 'perturb.strength',
    label: 'Strength s',
    min: 0,
    max: 10,
    step: 0.1,
    fallback: 1,
    describe: (value) => `${value}`,
  },
  {
    key: 'perturb.fraction',
    label: 'Fraction of masked dims',
    min: 0.05,
    max: 1,
    step: 0.05,
    fallback: 1,
    describe: (value) => `${Math.round(value * 100)} %`,
  },
  {
    key: 'analysis.probes.samples',
    label: 'Copies d(h′)',
    min: 1,
    max: 8,
    step: 1,
    fallback: 4,
    describe: (value) => `${value}`,
  },
];

/**
 * `<sp-pairs>`: each probe's image, its reconstruction d(h), the perturbed reconstructions d(h′) and the
 * amplified difference, redrawn by the worker whenever a perturb.* or analysis.* key of the experiment
 * changes. Its controls write those keys into the experiment file, so the file stays the one source.
 */
export class PairsView extends LitElement {
  static override properties = {
    synthesis: { attribute: false },
    config: { attribute: false },
    classNames: { attribute: false },
    problem: { attribute: false },
    slow: { state: true },
  };

  declare synthesis: PairsSynthesis;
  declare config: Record<string, ConfigScalar>;
  declare classNames: readonly string[];
  declare problem: string | undefined;

  /** The pending redraw has run longer than {@link busyDelayMs}. */
  declare private slow: boolean;
  private slowTimer?: ReturnType<typeof setTimeout>;
  private canvas?: HTMLCanvasElement;
  private paintedRequest?: number;
  private readonly resizeObserver = new ResizeObserver(() => this.paint(true));

  constructor() {
    super();
    this.synthesis = { status: 'idle' };
    this.config = {};
    this.classNames = [];
    this.slow = false;
  }

  // Light DOM: the page's stylesheets style the controls like the rest of the dashboard.
  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.resizeObserver.observe(this);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resizeObserver.disconnect();
    clearTimeout(this.slowTimer);
    this.slowTimer = undefined;
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (!changed.has('synthesis')) return;
    if (this.synthesis.status !== 'pending') {
      clearTimeout(this.slowTimer);
      this.slowTimer = undefined;
      this.slow = false;
    } else if (this.slowTimer === undefined && !this.slow) {
      // One wait for a run of redraws that overtake each other: the user has waited since the first.
      this.slowTimer = setTimeout(() => {
        this.slowTimer = undefined;
        this.slow = true;
      }, busyDelayMs);
    }
  }

  private get shown(): ShownGrid | undefined {
    const synthesis = this.synthesis;
    if (synthesis.status === 'ready') return synthesis;
    if (synthesis.status !== 'idle' && synthesis.result && synthesis.requestId !== undefined) {
      return {
        requestId: synthesis.requestId,
        result: synthesis.result,
        receivedAt: synthesis.receivedAt ?? 0,
      };
    }
    return undefined;
  }

  protected override render(): TemplateResult {
    const shown = this.shown;
    const pending = this.synthesis.status === 'pending' && this.slow;
    return html`
      <section class="pairs-controls" aria-label="Perturbation">
        <label class="control">
          <span>Mode</span>
          <vscode-single-select
            id="perturb-mode"
            aria-label="perturb.mode"
            .value=${String(this.config['perturb.mode'] ?? 'gaussian')}
            @change=${(event: Event) => this.edit('perturb.mode', (event.target as HTMLSelectElement).value)}
          >
            ${perturbModes.map((mode) => html`<vscode-option value=${mode}>${mode}</vscode-option>`)}
          </vscode-single-select>
        </label>
        ${sliders.map((slider) => this.slider(slider))}
        ${pending ? html`<vscode-progress-ring class="busy" aria-label="Redrawing the pairs"></vscode-progress-ring>` : nothing}
      </section>
      ${this.problem ? html`<p class="notice" role="status">The experiment file does not parse (${this.problem}): the grid shows its last valid values.</p>` : nothing}
      ${this.status(shown)}
      <div class="pairs-grid" data-pending=${String(pending)} ?hidden=${!shown}>
        <span></span>
        <div class="pairs-columns" aria-hidden="true">${shown ? this.columnTitles(shown.result) : nothing}</div>
        <div class="pairs-rows">${this.classNames.map((name) => html`<span title=${name}>${name}</span>`)}</div>
        <canvas id="pairs-canvas" role="img" aria-label=${shown ? this.describe(shown.result) : 'No pairs yet'}></canvas>
      </div>
    `;
  }

  private slider(slider: Slider): TemplateResult {
    const configured = this.config[slider.key];
    const value = typeof configured === 'number' ? configured : slider.fallback;
    const id = `slider-${slider.key.replace(/\W/g, '-')}`;
    return html`<label class="control" for=${id}>
      <span>${slider.label} <span class="value">${slider.describe(value)}</span></span>
      <input
        id=${id}
        type="range"
        aria-label=${slider.key}
        min=${slider.min}
        max=${Math.max(slider.max, value)}
        step=${slider.step}
        .value=${String(value)}
        @change=${(event: Event) => this.edit(slider.key, Number((event.target as HTMLInputElement).value))}
      />
    </label>`;
  }

  private status(shown: ShownGrid | undefined): TemplateResult | typeof nothing {
    const synthesis = this.synthesis;
    if (synthesis.status === 'failed' || synthesis.status === 'unavailable') {
      return html`<p class=${synthesis.status === 'failed' ? 'error' : 'notice'} id="pairs-status" role="status">${synthesis.message}</p>`;
    }
    if (!shown) {
      return html`<p class="placeholder" id="pairs-status">${synthesis.status === 'pending' ? 'Redrawing the pairs in the worker…' : 'The pairs appear once the run has a checkpoint and an analysis step.'}</p>`;
    }
    const { result } = shown;
    return html`<p class="muted pairs-summary" id="pairs-status">
      Checkpoint after epoch ${result.epoch}, mask of epoch ${result.analysisEpoch}: ${result.masked} of
      ${result.dimensions} dimensions (${result.combine}; variance q = ${result.variance.quantile}, Grad-CAM
      q = ${result.gradcam.quantile}, ${result.gradcam.variant}) · ${result.perturb.mode}, s = ${result.perturb.strength},
      fraction ${result.perturb.fraction} · ${Math.round(result.elapsedMs)} ms in the worker
    </p>`;
  }

  private columnTitles(result: SynthesisResultMessage): TemplateResult[] {
    const titles = ['image', 'd(h)'];
    for (let sample = 1; sample <= result.samples; sample++)
      titles.push(`d(h′${result.samples > 1 ? subscript(sample) : ''})`);
    titles.push(`|d(h) − d(h′${result.samples > 1 ? subscript(1) : ''})| ×${differenceGain}`);
    return titles.map((title) => html`<span>${title}</span>`);
  }

  private describe(result: SynthesisResultMessage): string {
    return `${result.probes} probes: image, reconstruction, ${result.samples} perturbed reconstructions and their difference`;
  }

  private edit(key: PanelConfigKey, value: ConfigScalar): void {
    if (this.config[key] === value) return;
    emit(this, 'sp-config-edit', { key, value });
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('synthesis')) this.paint(false);
  }

  /** Draws the shown grid; `relayout` redraws the same request at a new width. */
  private paint(relayout: boolean): void {
    const shown = this.shown;
    const canvas = this.querySelector<HTMLCanvasElement>('#pairs-canvas');
    if (!shown || !canvas) return;
    if (!relayout && shown.requestId === this.paintedRequest && canvas === this.canvas) return;
    this.canvas = canvas;
    const { result } = shown;
    const columns = result.samples + 3;
    const size = result.imageSize;
    const width = columns * size + (columns - 1) * gap;
    const height = result.probes * size + (result.probes - 1) * gap;
    const pixels = new ImageData(width, height);
    const { originals, reconstructions, perturbed } = result;
    const tileBytes = size * size * 3;
    for (let probe = 0; probe < result.probes; probe++) {
      const at = probe * tileBytes;
      const y = probe * (size + gap);
      blit(pixels, originals.subarray(at, at + tileBytes), 0, y, size);
      const reconstruction = reconstructions.subarray(at, at + tileBytes);
      blit(pixels, reconstruction, size + gap, y, size);
      for (let sample = 0; sample < result.samples; sample++) {
        const from = (sample * result.probes + probe) * tileBytes;
        blit(pixels, perturbed.subarray(from, from + tileBytes), (2 + sample) * (size + gap), y, size);
      }
      const first = perturbed.subarray(at, at + tileBytes);
      const difference = new Uint8Array(tileBytes);
      for (let index = 0; index < tileBytes; index++) {
        difference[index] = Math.min(255, Math.abs(reconstruction[index]! - first[index]!) * differenceGain);
      }
      blit(pixels, difference, (columns - 1) * (size + gap), y, size);
    }
    canvas.width = width;
    canvas.height = height;
    canvas.getContext('2d')!.putImageData(pixels, 0, 0);
    // Tiles scale up to the panel's width in whole multiples, staying sharp (`image-rendering: pixelated`).
    const labels = this.querySelector<HTMLElement>('.pairs-rows')?.offsetWidth ?? 0;
    const available = Math.max(this.clientWidth - labels - 16, width);
    const scale = Math.max(1, Math.min(4, Math.floor(available / width)));
    canvas.style.width = `${width * scale}px`;
    // Column titles and row labels line up with the scaled tiles.
    const grid = this.querySelector<HTMLElement>('.pairs-grid')!;
    grid.style.setProperty('--tile', `${size * scale}px`);
    grid.style.setProperty('--gap', `${gap * scale}px`);
    if (shown.requestId !== this.paintedRequest) {
      this.paintedRequest = shown.requestId;
      const { requestId, receivedAt } = shown;
      // The pixels are on screen once the frame after this one starts.
      requestAnimationFrame(() =>
        requestAnimationFrame(() =>
          emit(this, 'sp-rendered', { requestId, renderMs: performance.now() - receivedAt }),
        ),
      );
    }
  }
}

function subscript(value: number): string {
  return String(value).replace(/\d/g, (digit) => String.fromCharCode(0x2080 + Number(digit)));
}

/** Copies an RGB tile of `size`² into the RGBA image at (x, y). */
function blit(target: ImageData, rgb: Uint8Array, x: number, y: number, size: number): void {
  const data = target.data;
  for (let row = 0; row < size; row++) {
    let to = ((y + row) * target.width + x) * 4;
    let from = row * size * 3;
    for (let column = 0; column < size; column++, to += 4, from += 3) {
      data[to] = rgb[from]!;
      data[to + 1] = rgb[from + 1]!;
      data[to + 2] = rgb[from + 2]!;
      data[to + 3] = 255;
    }
  }
}

customElements.define('sp-pairs', PairsView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-pairs': PairsView;
  }
}
