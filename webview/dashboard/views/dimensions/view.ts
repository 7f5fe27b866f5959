import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import { html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import type { ImportanceVariant } from '../../../../src/shared/config/experiment/choices';
import {
  type LowestQuantile,
  type NonDiscriminativeMask,
  nonDiscriminativeMask,
} from '../../../../src/shared/mask';
import type { AnalysisStepRef, ConfigScalar } from '../../../../src/shared/protocol/webview';
import { adoptIntoPage } from '../../../shared/styles';
import { emit } from '../../model';
import {
  type ChartInputs,
  type ChartName,
  type ChartsOwner,
  DimensionCharts,
  type Hovered,
  type ThresholdLine,
} from './charts';
import { binReadout } from './histogram';
import {
  asinhLinearThreshold,
  configSettings,
  countAtOrBelow,
  defaultBinCount,
  type Histogram,
  histogram,
  type MaskSettings,
  manifestSettings,
  type QuantileKey,
  quantileForCount,
} from './math';
import { pointReadout } from './scatter';
import { type LoadedStep, loadStep } from './step';
import { maskedIndices, maskSummary, stepPicker } from './summary';
import { countAfterKey } from './thresholdHandle';
import styles from './view.css' with { type: 'text' };

adoptIntoPage(styles);

/** A threshold being dragged or stepped with the keyboard, before it is written into the config. */
interface Preview {
  key: QuantileKey;
  count: number;
  /** Where the line is drawn while the pointer holds it; null draws it at the threshold `count` makes. */
  at: number | null;
}

const criterionOf: Record<QuantileKey, 'variance' | 'gradcam'> = {
  'analysis.variance.quantile': 'variance',
  'analysis.gradcam.quantile': 'gradcam',
};

/**
 * `<sp-dimensions>`: which feature dimensions an analysis step's variance and Grad-CAM importance make
 * non-discriminative under the config as it stands, with thresholds to drag into the config.
 */
export class DimensionsView extends LitElement implements ChartsOwner {
  static override properties = {
    steps: { attribute: false },
    epoch: { attribute: false },
    config: { attribute: false },
    loaded: { state: true },
    loadError: { state: true },
    logScale: { state: true },
    preview: { state: true },
    hovered: { state: true },
  };

  declare steps: AnalysisStepRef[];
  declare epoch: number | null;
  declare config: Record<string, ConfigScalar>;
  declare private loaded: LoadedStep | null;
  declare private loadError: string | null;
  declare private logScale: boolean;
  declare private preview: Preview | null;
  /**
   * Quantiles this view wrote, shown until the host sends the config again (with the edit, or without it when
   * the edit was refused), so a released line does not jump back to the old value in between.
   */
  private pending: Partial<Record<QuantileKey, number>> = {};
  declare private hovered: Hovered | null;

  private loading: string | null = null;
  /** The mask of the current settings, recomputed in willUpdate. */
  private mask: NonDiscriminativeMask | null = null;
  private histograms: { variance: Histogram; importance: Histogram } | null = null;

  constructor() {
    super();
    this.steps = [];
    this.epoch = null;
    this.config = {};
    this.loaded = null;
    this.loadError = null;
    this.logScale = false;
    this.preview = null;
    this.hovered = null;
    // The controller registers itself with the element, which then has it draw the charts after each update.
    new DimensionCharts(this, this);
  }

  /** Light DOM, so the page's uPlot and theme CSS reach the charts. */
  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  private get shownStep(): AnalysisStepRef | undefined {
    return this.steps.find((step) => step.epoch === this.epoch) ?? this.steps.at(-1);
  }

  /**
   * The settings the config asks for, with this view's unconfirmed edit and the live drag on top; the variant is
   * the one whose importance is loaded, which lags the config while another variant's array is read.
   */
  private currentSettings(loaded: LoadedStep): MaskSettings {
    const saved = manifestSettings(loaded.step.manifest);
    const settings = configSettings(this.config, saved);
    const quantileOf = (key: QuantileKey, fromConfig: number): number => {
      if (this.preview?.key === key) return quantileForCount(this.preview.count, loaded.variance.length, key);
      return this.pending[key] ?? fromConfig;
    };
    return {
      ...settings,
      variant: loaded.variant,
      varianceQuantile: quantileOf('analysis.variance.quantile', settings.varianceQuantile),
      gradcamQuantile: quantileOf('analysis.gradcam.quantile', settings.gradcamQuantile),
    };
  }

  protected override willUpdate(changed: PropertyValues): void {
    const step = this.shownStep;
    if (!step) {
      this.loaded = null;
      this.mask = null;
      return;
    }
    const variant = configSettings(this.config, manifestSettings(step.manifest)).variant;
    const wanted = `${step.folderUri}#${variant}`;
    const held = this.loaded && `${this.loaded.step.folderUri}#${this.loaded.variant}`;
    if (wanted !== held && wanted !== this.loading) {
      void this.load(step, variant, wanted);
    }
    if (changed.has('config')) this.pending = {};
    const loaded = this.loaded;
    if (!loaded) {
      this.mask = null;
      return;
    }
    const settings = this.currentSettings(loaded);
    this.mask = nonDiscriminativeMask({
      variance: loaded.variance,
      importance: loaded.importance,
      varianceQuantile: settings.varianceQuantile,
      gradcamQuantile: settings.gradcamQuantile,
      combine: settings.combine,
    });
    if (changed.has('loaded') || changed.has('logScale') || !this.histograms) {
      const bins = defaultBinCount(loaded.variance.length);
      this.histograms = {
        variance: histogram(loaded.variance, bins, this.linearThreshold(loaded.variance)),
        importance: histogram(loaded.importance, bins, this.linearThreshold(loaded.importance)),
      };
    }
  }

  private async load(step: AnalysisStepRef, variant: ImportanceVariant, wanted: string): Promise<void> {
    this.loading = wanted;
    try {
      const loaded = await loadStep(step, variant);
      if (this.loading !== wanted) return;
      this.loaded = loaded;
      this.loadError = null;
    } catch (error) {
      if (this.loading === wanted) this.loadError = error instanceof Error ? error.message : String(error);
    } finally {
      if (this.loading === wanted) this.loading = null;
    }
  }

  private linearThreshold(values: Float32Array): number | null {
    return this.logScale ? asinhLinearThreshold(values) : null;
  }

  // —— Threshold editing, called by the handles ——

  dragTo(key: QuantileKey, value: number): void {
    const loaded = this.loaded;
    if (!loaded) return;
    const values = key === 'analysis.variance.quantile' ? loaded.variance : loaded.importance;
    this.preview = { key, count: countAtOrBelow(values, value), at: value };
  }

  /** Moves a threshold by one keyboard step; false for a key that does not step. */
  step(key: QuantileKey, pressed: string): boolean {
    const loaded = this.loaded;
    const mask = this.mask;
    if (!loaded || !mask) return false;
    const values = key === 'analysis.variance.quantile' ? loaded.variance : loaded.importance;
    const count = this.preview?.key === key ? this.preview.count : mask[criterionOf[key]].count;
    const next = countAfterKey(values, count, pressed);
    if (next === null) return false;
    this.preview = { key, count: next, at: null };
    return true;
  }

  /** Writes the previewed threshold into the config: one edit per drag or key press, none when nothing changed. */
  commit(key: QuantileKey): void {
    const preview = this.preview;
    const loaded = this.loaded;
    if (!preview || preview.key !== key || !loaded) return;
    this.preview = null;
    const dimensions = loaded.variance.length;
    const before = this.currentSettings(loaded);
    const was = key === 'analysis.variance.quantile' ? before.varianceQuantile : before.gradcamQuantile;
    if (Math.floor(was * dimensions) === preview.count) return;
    const quantile = quantileForCount(preview.count, dimensions, key);
    this.pending = { ...this.pending, [key]: quantile };
    emit(this, 'sp-config-edit', { key, value: quantile });
  }

  // —— Rendering ——

  protected override render(): TemplateResult {
    const step = this.shownStep;
    if (!step) {
      return html`<div class="dims-empty" id="dims-empty">
        <p>No analysis step yet. The feature dimensions appear once the run has analysed its features (every
        <code>analysis.everyEpochs</code> epochs and after the last one).</p>
      </div>`;
    }
    const loaded = this.loaded;
    const mask = this.mask;
    return html`
      <div class="dims-toolbar">
        ${stepPicker(this.steps, this.epoch, step, (epoch) => this.pickStep(epoch))}
        <vscode-checkbox
          id="dims-log"
          ?checked=${this.logScale}
          @change=${(event: Event) => {
            this.logScale = (event.target as HTMLInputElement).checked;
          }}
          >Logarithmic axes</vscode-checkbox
        >
      </div>
      ${this.loadError ? html`<div class="error" role="alert">Could not read the analysis step: ${this.loadError}</div>` : nothing}
      ${
        loaded && mask
          ? maskSummary(loaded.step, loaded.savedMask, this.currentSettings(loaded), mask)
          : html`<p class="placeholder">Reading epoch ${step.epoch}…</p>`
      }
      ${
        loaded && mask
          ? html`<div class="dims-grid">
              <section class="dims-card" aria-labelledby="dims-variance-title">
                <h3 id="dims-variance-title">Variance of h per dimension</h3>
                <div class="dims-plot" data-chart="variance"></div>
                <p class="dims-readout" aria-hidden="true">${this.binReadout('variance')}</p>
              </section>
              <section class="dims-card" aria-labelledby="dims-importance-title">
                <h3 id="dims-importance-title">Grad-CAM importance α (${loaded.variant})</h3>
                <div class="dims-plot" data-chart="importance"></div>
                <p class="dims-readout" aria-hidden="true">${this.binReadout('importance')}</p>
              </section>
              <section class="dims-card dims-scatter" aria-labelledby="dims-scatter-title">
                <h3 id="dims-scatter-title">Variance × importance, one point per dimension</h3>
                <div class="dims-plot" data-chart="scatter"></div>
                <p class="dims-readout" id="dims-readout">${this.pointReadout(loaded, mask)}</p>
              </section>
            </div>
            <details class="dims-list">
              <summary>Masked dimensions (${mask.count})</summary>
              <p id="dims-masked-list">${maskedIndices(mask.mask).join(', ') || 'none'}</p>
            </details>`
          : nothing
      }
    `;
  }

  private pickStep(epoch: number | null): void {
    if (epoch === this.epoch) return;
    this.epoch = epoch;
    emit(this, 'sp-settings', { dimensionsEpoch: epoch });
  }

  private binReadout(chart: 'variance' | 'importance'): string {
    const bins = this.histograms?.[chart];
    return this.hovered?.chart === chart && bins ? binReadout(bins, this.hovered.index) : '';
  }

  private pointReadout(loaded: LoadedStep, mask: NonDiscriminativeMask): string {
    const hovered = this.hovered;
    if (hovered?.chart !== 'scatter') return 'Point at a dimension to read it.';
    return pointReadout(hovered.index, loaded.variance, loaded.importance, mask);
  }

  // —— What the charts ask of the view ——

  chartInputs(): ChartInputs | null {
    const { loaded, mask, histograms } = this;
    if (!loaded || !mask || !histograms) return null;
    const settings = this.currentSettings(loaded);
    const preview = this.preview;
    const line = (key: QuantileKey, quantile: number): ThresholdLine => {
      const criterion: LowestQuantile = mask[criterionOf[key]];
      const at = preview?.key === key && preview.at !== null ? preview.at : criterion.threshold;
      return { at, quantile, count: criterion.count, threshold: criterion.threshold };
    };
    return {
      values: loaded,
      mask,
      histograms,
      axisThresholds: [this.linearThreshold(loaded.variance), this.linearThreshold(loaded.importance)],
      lines: {
        'analysis.variance.quantile': line('analysis.variance.quantile', settings.varianceQuantile),
        'analysis.gradcam.quantile': line('analysis.gradcam.quantile', settings.gradcamQuantile),
      },
      hovered: this.hovered,
    };
  }

  hover(next: Hovered | null, from: ChartName): boolean {
    const current = this.hovered;
    if (next === null && current?.chart !== from) return false;
    if (next && current && next.chart === current.chart && next.index === current.index) return false;
    this.hovered = next;
    return true;
  }
}

customElements.define('sp-dimensions', DimensionsView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-dimensions': DimensionsView;
  }
}
