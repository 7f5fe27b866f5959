import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import 'uplot/dist/uPlot.min.css';
import { html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import uPlot from 'uplot';
import {
  type LowestQuantile,
  type NonDiscriminativeMask,
  nonDiscriminativeMask,
} from '../../../../src/shared/mask';
import type { AnalysisStepRef, ConfigScalar } from '../../../../src/shared/protocol/webview';
import { loadAnalysisArray } from '../../arrays';
import { emit } from '../../model';
import {
  asinhLinearThreshold,
  axisRange,
  binAt,
  configSettings,
  countAtOrBelow,
  defaultBinCount,
  formatQuantile,
  formatValue,
  type Histogram,
  histogram,
  type ImportanceVariant,
  logTicks,
  type MaskSettings,
  manifestSettings,
  type QuantileKey,
  quantileForCount,
  quantileRanges,
  sameSettings,
  selectedPerBin,
  settingsChanges,
  spacedLabels,
  steppedCount,
  thresholdLabel,
} from './math';

/** The arrays of the step shown, with the importance of the variant the config asks for. */
interface LoadedStep {
  step: AnalysisStepRef;
  variance: Float32Array;
  importance: Float32Array;
  variant: ImportanceVariant;
  savedMask: Uint8Array;
}

/** A threshold being dragged or stepped with the keyboard, before it is written into the config. */
interface Preview {
  key: QuantileKey;
  count: number;
  /** Where the line is drawn while the pointer holds it; null draws it at the threshold `count` makes. */
  at: number | null;
}

/** Colours of the canvas, resolved from the theme's CSS variables (media/webview.css, sp-dimensions section). */
interface Palette {
  axis: string;
  grid: string;
  bar: string;
  barSelected: string;
  kept: string;
  keptFill: string;
  masked: string;
  maskedFill: string;
  focus: string;
  /** The axes' font: the editor's family, a little smaller than its text. */
  font: string;
}

const paletteVariables: Record<Exclude<keyof Palette, 'font'>, string> = {
  axis: '--sp-dims-axis',
  grid: '--sp-dims-grid',
  bar: '--sp-dims-bar',
  barSelected: '--sp-dims-bar-selected',
  kept: '--sp-dims-kept',
  keptFill: '--sp-dims-kept-fill',
  masked: '--sp-dims-masked',
  maskedFill: '--sp-dims-masked-fill',
  focus: '--sp-dims-focus',
};

type ChartName = 'variance' | 'importance' | 'scatter';
const chartNames: readonly ChartName[] = ['variance', 'importance', 'scatter'];
const criterionOf: Record<QuantileKey, 'variance' | 'gradcam'> = {
  'analysis.variance.quantile': 'variance',
  'analysis.gradcam.quantile': 'gradcam',
};
const histogramHeight = 190;

/**
 * One threshold line over a chart's plot area: a focusable slider that a pointer drags along its axis and the
 * arrow keys step. It lives in uPlot's `over` layer, whose coordinates are the plot's own CSS pixels.
 */
class ThresholdHandle {
  readonly element = document.createElement('div');
  private readonly label = document.createElement('span');
  private dragging = false;

  constructor(
    private readonly chart: uPlot,
    readonly key: QuantileKey,
    private readonly orientation: 'vertical' | 'horizontal',
    private readonly owner: DimensionsView,
  ) {
    const { element, label } = this;
    element.className = `dims-threshold ${orientation}`;
    element.dataset['key'] = key;
    element.tabIndex = 0;
    element.setAttribute('role', 'slider');
    element.setAttribute('aria-orientation', orientation === 'vertical' ? 'horizontal' : 'vertical');
    element.setAttribute(
      'aria-label',
      key === 'analysis.variance.quantile' ? 'Variance quantile q_v' : 'Grad-CAM importance quantile q_g',
    );
    element.setAttribute('aria-valuemin', String(quantileRanges[key].min));
    element.setAttribute('aria-valuemax', String(quantileRanges[key].max));
    label.className = 'dims-threshold-label';
    element.append(label);
    chart.over.append(element);
    element.addEventListener('pointerdown', (event) => this.beginDrag(event));
    element.addEventListener('pointermove', (event) => {
      if (this.dragging) owner.dragTo(key, this.valueAt(event));
    });
    const end = () => {
      if (!this.dragging) return;
      this.dragging = false;
      owner.commit(key);
    };
    element.addEventListener('pointerup', end);
    element.addEventListener('pointercancel', end);
    element.addEventListener('lostpointercapture', end);
    element.addEventListener('keydown', (event) => {
      if (owner.step(key, event.key)) event.preventDefault();
    });
    element.addEventListener('keyup', (event) => {
      if (steppingKeys.has(event.key)) owner.commit(key);
    });
    element.addEventListener('blur', () => owner.commit(key));
  }

  /** Starts a drag from a press on the handle, or anywhere on a histogram, which moves the line there. */
  beginDrag(event: PointerEvent): void {
    if (event.button !== 0) return;
    // The histogram's own listener would start the same drag again.
    event.stopPropagation();
    this.element.setPointerCapture(event.pointerId);
    this.dragging = true;
    // A press on the line focuses it the browser's way (no keyboard focus ring); elsewhere it moves there.
    if (event.target !== this.element && !this.element.contains(event.target as Node)) {
      event.preventDefault();
      this.element.focus({ preventScroll: true });
      this.owner.dragTo(this.key, this.valueAt(event));
    }
  }

  /** Puts the line at a value of its axis (the axis's low end when nothing is selected) and says what it cuts. */
  place(value: number | null, quantile: number, count: number, threshold: number | null): void {
    const vertical = this.orientation === 'vertical';
    const scale = vertical ? 'x' : 'y';
    const extent = vertical ? this.chart.over.clientWidth : this.chart.over.clientHeight;
    const low = vertical ? 0 : extent;
    const position = value === null ? low : Math.min(extent, Math.max(0, this.chart.valToPos(value, scale)));
    const text = thresholdLabel(quantile, count, threshold);
    if (vertical) {
      this.element.style.left = `${position}px`;
      // The label sits right of the line unless that would run off the plot.
      this.element.classList.toggle('flip', position > extent / 2);
    } else {
      this.element.style.top = `${position}px`;
      this.element.classList.toggle('flip', position < 24);
    }
    if (this.label.textContent !== text) this.label.textContent = text;
    this.element.setAttribute('aria-valuenow', formatQuantile(quantile));
    this.element.setAttribute('aria-valuetext', text);
  }

  private valueAt(event: PointerEvent): number {
    const rect = this.chart.over.getBoundingClientRect();
    if (this.orientation === 'vertical') {
      const offset = Math.min(rect.width, Math.max(0, event.clientX - rect.left));
      return this.chart.posToVal(offset, 'x');
    }
    const offset = Math.min(rect.height, Math.max(0, event.clientY - rect.top));
    return this.chart.posToVal(offset, 'y');
  }
}

const steppingKeys = new Set([
  'ArrowLeft',
  'ArrowRight',
  'ArrowUp',
  'ArrowDown',
  'PageUp',
  'PageDown',
  'Home',
  'End',
]);

interface Chart {
  plot: uPlot;
  handles: ThresholdHandle[];
  /** What its data was last set from, so an update that changed nothing it shows leaves it alone. */
  drawnFrom: unknown[];
  resize: ResizeObserver;
  logAxes: string;
}

/**
 * `<sp-dimensions>`: which feature dimensions an analysis step's variance and Grad-CAM importance make
 * non-discriminative under the config as it stands, with thresholds to drag into the config.
 */
export class DimensionsView extends LitElement {
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
  declare private hovered: { chart: ChartName; index: number } | null;

  private charts = new Map<ChartName, Chart>();
  private palette: Palette | null = null;
  private themeObserver: MutationObserver | null = null;
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
  }

  /** Light DOM, so the page's uPlot and theme CSS reach the charts. */
  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // VS Code restyles <html> and the body's class when the colour theme changes: the canvases follow.
    this.themeObserver = new MutationObserver(() => {
      this.palette = null;
      // Rebuilding the paths too: uPlot's bars keep the fill colour they were built with.
      for (const chart of this.charts.values()) chart.plot.redraw(true);
    });
    this.themeObserver.observe(document.documentElement, {
      attributes: true,
      attributeFilter: ['style', 'class'],
    });
    this.themeObserver.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.themeObserver?.disconnect();
    this.destroyCharts();
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
      const [variance, importance, mask] = await Promise.all([
        loadAnalysisArray(step, 'variance'),
        loadAnalysisArray(step, `importance.${variant}`),
        loadAnalysisArray(step, 'mask'),
      ]);
      if (this.loading !== wanted) return;
      if (!(variance.data instanceof Float32Array) || !(importance.data instanceof Float32Array)) {
        throw new Error(`epoch ${step.epoch}: variance and importance must be float32`);
      }
      if (variance.data.length !== importance.data.length || variance.data.length !== mask.data.length) {
        throw new Error(`epoch ${step.epoch}: variance, importance and mask differ in length`);
      }
      this.loaded = {
        step,
        variance: variance.data,
        importance: importance.data,
        variant,
        savedMask: Uint8Array.from(mask.data),
      };
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
    if (!loaded || !mask || !steppingKeys.has(pressed)) return false;
    const values = key === 'analysis.variance.quantile' ? loaded.variance : loaded.importance;
    const dimensions = values.length;
    const count = this.preview?.key === key ? this.preview.count : mask[criterionOf[key]].count;
    const page = Math.max(1, Math.round(dimensions / 10));
    const next =
      pressed === 'ArrowRight' || pressed === 'ArrowUp'
        ? steppedCount(values, count, 1)
        : pressed === 'ArrowLeft' || pressed === 'ArrowDown'
          ? steppedCount(values, count, -1)
          : pressed === 'PageUp'
            ? Math.min(dimensions, count + page)
            : pressed === 'PageDown'
              ? Math.max(0, count - page)
              : pressed === 'Home'
                ? 0
                : dimensions;
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
        ${this.stepPicker(step)}
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
      ${loaded && mask ? this.summary(loaded, mask) : html`<p class="placeholder">Reading epoch ${step.epoch}…</p>`}
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

  private stepPicker(shown: AnalysisStepRef): TemplateResult {
    const newest = this.steps.at(-1)!;
    const followsNewest = this.epoch === null || !this.steps.some((step) => step.epoch === this.epoch);
    return html`<label for="dims-step">Analysis step</label>
      <vscode-single-select
        id="dims-step"
        aria-label="Analysis step shown"
        .value=${followsNewest ? 'newest' : String(shown.epoch)}
        @change=${(event: Event) => {
          const value = (event.target as HTMLSelectElement).value;
          const epoch = value === 'newest' ? null : Number(value);
          if (epoch === this.epoch) return;
          this.epoch = epoch;
          emit(this, 'sp-settings', { dimensionsEpoch: epoch });
        }}
      >
        <vscode-option value="newest" ?selected=${followsNewest}>Newest (epoch ${newest.epoch})</vscode-option>
        ${[...this.steps].reverse().map(
          (step) =>
            html`<vscode-option value=${String(step.epoch)} ?selected=${!followsNewest && step === shown}
              >Epoch ${step.epoch}${step.epoch === 0 ? ' (before training)' : ''}</vscode-option
            >`,
        )}
      </vscode-single-select>`;
  }

  private summary(loaded: LoadedStep, mask: NonDiscriminativeMask): TemplateResult {
    const manifest = loaded.step.manifest;
    const saved = manifestSettings(manifest);
    const current = this.currentSettings(loaded);
    const dimensions = loaded.variance.length;
    const changes = settingsChanges(saved, current);
    const savedMaskDiffers =
      sameSettings(saved, current) && loaded.savedMask.some((bit, dimension) => bit !== mask.mask[dimension]);
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

  private binReadout(chart: 'variance' | 'importance'): string {
    const hovered = this.hovered;
    const bins = this.histograms?.[chart];
    if (!hovered || hovered.chart !== chart || !bins) return '';
    const low = bins.edges[hovered.index]!;
    const high = bins.edges[hovered.index + 1]!;
    const count = bins.counts[hovered.index]!;
    return `${formatValue(low)} – ${formatValue(high)}: ${count} ${count === 1 ? 'dimension' : 'dimensions'}`;
  }

  private pointReadout(loaded: LoadedStep, mask: NonDiscriminativeMask): string {
    const hovered = this.hovered;
    if (hovered?.chart !== 'scatter') return 'Point at a dimension to read it.';
    const dimension = hovered.index;
    const reasons = [
      mask.variance.candidates[dimension] ? 'low variance' : '',
      mask.gradcam.candidates[dimension] ? 'low importance' : '',
    ].filter(Boolean);
    const verdict = mask.mask[dimension]
      ? `masked (${reasons.join(', ')})`
      : reasons.length > 0
        ? `kept (only ${reasons.join(', ')})`
        : 'kept';
    return `Dimension ${dimension}: variance ${formatValue(loaded.variance[dimension]!)}, α ${formatValue(loaded.importance[dimension]!)}, ${verdict}`;
  }

  protected override updated(): void {
    const loaded = this.loaded;
    const mask = this.mask;
    if (!loaded || !mask || !this.histograms) {
      this.destroyCharts();
      return;
    }
    for (const name of chartNames) {
      const container = this.querySelector<HTMLElement>(`.dims-plot[data-chart="${name}"]`);
      if (!container) continue;
      let chart = this.charts.get(name);
      if (chart && (chart.plot.root.parentElement !== container || this.chartIsStale(chart, name))) {
        this.destroyChart(name);
        chart = undefined;
      }
      if (!chart) chart = this.createChart(name, container);
      this.syncChart(name, chart, loaded, mask);
    }
  }

  /** A chart's axes cannot switch between linear and logarithmic in place. */
  private chartIsStale(chart: Chart, name: ChartName): boolean {
    return chart.logAxes !== this.logAxesOf(name);
  }

  /** Which axes of a chart are logarithmic (arcsinh), e.g. "x" or "xy"; a threshold is null for all-zero values. */
  private logAxesOf(name: ChartName): string {
    const [variance, importance] = this.axisThresholds();
    if (name === 'scatter') return `${variance === null ? '' : 'x'}${importance === null ? '' : 'y'}`;
    return (name === 'variance' ? variance : importance) === null ? '' : 'x';
  }

  /** The linear thresholds of the variance and the importance axes; null where an axis is linear. */
  private axisThresholds(): [number | null, number | null] {
    const loaded = this.loaded!;
    return [this.linearThreshold(loaded.variance), this.linearThreshold(loaded.importance)];
  }

  private resolvePalette(): Palette {
    if (this.palette) return this.palette;
    const probe = document.createElement('span');
    probe.hidden = true;
    this.append(probe);
    const resolved = {} as Palette;
    for (const [name, variable] of Object.entries(paletteVariables)) {
      probe.style.color = `var(${variable})`;
      resolved[name as keyof typeof paletteVariables] = getComputedStyle(probe).color;
    }
    const style = getComputedStyle(this);
    resolved.font = `11px ${style.fontFamily}`;
    probe.remove();
    this.palette = resolved;
    return resolved;
  }

  private createChart(name: ChartName, container: HTMLElement): Chart {
    const palette = () => this.resolvePalette();
    const [varianceThreshold, importanceThreshold] = this.axisThresholds();
    const width = Math.max(200, container.clientWidth);
    /** An axis; an arcsinh one gets ticks within each decade too, and labels wherever they fit. */
    const axis = (label: string, size: number, scaleKey: 'x' | 'y', logarithmic: boolean): uPlot.Axis => ({
      label,
      ...(logarithmic && {
        splits: (plot: uPlot, _axis: number, min: number, max: number) => {
          const length = scaleKey === 'x' ? plot.bbox.width : plot.bbox.height;
          const spacing = (scaleKey === 'x' ? 56 : 28) * devicePixelRatio;
          return logTicks(min, max, plot.scales[scaleKey]!.asinh!, Math.max(2, Math.floor(length / spacing)));
        },
        // uPlot labels only the decades of a logarithmic axis; these label whatever fits.
        filter: (plot: uPlot, splits: number[]) => {
          const positions = splits.map((split) => plot.valToPos(split, scaleKey));
          const shown = spacedLabels(splits, positions, scaleKey === 'x' ? 44 : 18);
          return splits.map((split, index) => (shown[index] ? split : null));
        },
      }),
      stroke: () => palette().axis,
      font: palette().font,
      labelFont: palette().font,
      labelSize: 16,
      size,
      gap: 3,
      grid: { stroke: () => palette().grid, width: 1 },
      ticks: { stroke: () => palette().grid, width: 1, size: 4 },
      values: (_plot, splits) => splits.map((split) => (split === null ? '' : formatValue(split))),
    });
    const scale = (threshold: number | null, range: uPlot.Scale.Range): uPlot.Scale =>
      threshold === null ? { time: false, range } : { time: false, distr: 4, asinh: threshold, range };
    const common = {
      legend: { show: false },
      cursor: {
        x: false,
        y: false,
        points: { show: false },
        drag: { x: false, y: false, setScale: false },
      },
      padding: [12, 12, 0, 0] as uPlot.Padding,
    };
    let options: uPlot.Options;
    if (name === 'scatter') {
      const pointSeries = (label: string, masked: boolean): uPlot.Series => ({
        label,
        stroke: () => (masked ? palette().masked : palette().kept),
        fill: () => (masked ? palette().maskedFill : palette().keptFill),
        paths: () => null,
        points: {
          show: true,
          size: masked ? 8 : 7,
          width: masked ? 2 : 1,
          stroke: () => (masked ? palette().masked : palette().kept),
          fill: () => (masked ? palette().maskedFill : palette().keptFill),
        },
      });
      options = {
        ...common,
        width,
        height: scatterHeight(width),
        scales: {
          x: scale(varianceThreshold, () => axisRange(this.loaded!.variance, this.axisThresholds()[0])),
          y: scale(importanceThreshold, () => axisRange(this.loaded!.importance, this.axisThresholds()[1])),
        },
        axes: [
          axis('variance', 36, 'x', varianceThreshold !== null),
          axis('importance α', 64, 'y', importanceThreshold !== null),
        ],
        series: [{}, pointSeries('kept', false), pointSeries('masked', true)],
        // uPlot lays out and scales on a microtask after setData: the lines are placed once it has drawn.
        hooks: {
          setCursor: [(plot) => this.hoverPoint(plot)],
          draw: [(plot) => this.drawHoverRing(plot), () => this.placeHandles(name)],
        },
      };
    } else {
      const threshold = name === 'variance' ? varianceThreshold : importanceThreshold;
      const barSeries = (label: string, selected: boolean): uPlot.Series => ({
        label,
        stroke: () => (selected ? palette().barSelected : palette().bar),
        fill: () => (selected ? palette().barSelected : palette().bar),
        width: 0,
        paths: uPlot.paths.bars!({ align: 1, size: [1, Number.POSITIVE_INFINITY], gap: 1 }),
        points: { show: false },
      });
      options = {
        ...common,
        width,
        height: histogramHeight,
        scales: {
          x: scale(threshold, () => {
            const edges = this.histograms![name].edges;
            return [edges[0]!, edges.at(-1)!];
          }),
          y: { range: (_plot, _min, max) => [0, Math.max(1, max) * 1.1] },
        },
        axes: [
          axis(name === 'variance' ? 'variance' : 'importance α', 36, 'x', threshold !== null),
          // Whole dimensions only.
          { ...axis('dimensions', 44, 'y', false), incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
        ],
        series: [{}, barSeries('all', false), barSeries('at or below the threshold', true)],
        hooks: { setCursor: [(plot) => this.hoverBin(plot, name)], draw: [() => this.placeHandles(name)] },
      };
    }
    const plot = new uPlot(options, [[]], container);
    const handles =
      name === 'scatter'
        ? [
            new ThresholdHandle(plot, 'analysis.variance.quantile', 'vertical', this),
            new ThresholdHandle(plot, 'analysis.gradcam.quantile', 'horizontal', this),
          ]
        : [
            new ThresholdHandle(
              plot,
              name === 'variance' ? 'analysis.variance.quantile' : 'analysis.gradcam.quantile',
              'vertical',
              this,
            ),
          ];
    if (name !== 'scatter') {
      // A press anywhere on a histogram grabs its line there.
      plot.over.addEventListener('pointerdown', (event) => handles[0]!.beginDrag(event));
    }
    const resize = new ResizeObserver(() => {
      const next = Math.max(200, container.clientWidth);
      if (next !== plot.width) {
        plot.setSize({ width: next, height: name === 'scatter' ? scatterHeight(next) : histogramHeight });
      }
    });
    resize.observe(container);
    const chart: Chart = { plot, handles, drawnFrom: [], resize, logAxes: this.logAxesOf(name) };
    this.charts.set(name, chart);
    return chart;
  }

  private syncChart(name: ChartName, chart: Chart, loaded: LoadedStep, mask: NonDiscriminativeMask): void {
    const { plot } = chart;
    // A new step may need another linear threshold on the same kind of axis: uPlot reads it when it rescales.
    const [varianceThreshold, importanceThreshold] = this.axisThresholds();
    const xThreshold = name === 'importance' ? importanceThreshold : varianceThreshold;
    if (xThreshold !== null) plot.scales['x']!.asinh = xThreshold;
    if (name === 'scatter' && importanceThreshold !== null) plot.scales['y']!.asinh = importanceThreshold;
    if (name === 'scatter') {
      const drawnFrom = [loaded, mask.mask.join('')];
      if (changedFrom(chart, drawnFrom)) {
        const sameValues = chart.drawnFrom[0] === loaded;
        chart.drawnFrom = drawnFrom;
        // Only the colouring changes while a threshold moves: keep the scales, so the points stay put.
        this.setData(plot, scatterData(loaded, mask.mask), !sameValues);
      }
    } else {
      const bins = this.histograms![name];
      const candidates = name === 'variance' ? mask.variance.candidates : mask.gradcam.candidates;
      const drawnFrom = [bins, candidates.join('')];
      if (changedFrom(chart, drawnFrom)) {
        const sameBins = chart.drawnFrom[0] === bins;
        chart.drawnFrom = drawnFrom;
        this.setData(
          plot,
          [bins.edges.slice(0, -1), bins.counts, selectedPerBin(bins, candidates)],
          !sameBins,
        );
      }
    }
    this.placeHandles(name);
  }

  /** uPlot redraws by itself only when it rescales; keeping the scales needs an explicit redraw. */
  private setData(plot: uPlot, data: uPlot.AlignedData, rescale: boolean): void {
    plot.setData(data, rescale);
    if (!rescale) plot.redraw(false);
  }

  private placeHandles(name: ChartName): void {
    const chart = this.charts.get(name);
    const loaded = this.loaded;
    const mask = this.mask;
    if (!chart || !loaded || !mask) return;
    const settings = this.currentSettings(loaded);
    for (const handle of chart.handles) {
      const criterion: LowestQuantile = mask[criterionOf[handle.key]];
      const quantile =
        handle.key === 'analysis.variance.quantile' ? settings.varianceQuantile : settings.gradcamQuantile;
      const at =
        this.preview?.key === handle.key && this.preview.at !== null ? this.preview.at : criterion.threshold;
      handle.place(at, quantile, criterion.count, criterion.threshold);
    }
  }

  private hoverBin(plot: uPlot, name: 'variance' | 'importance'): void {
    const { left } = plot.cursor;
    const bins = this.histograms?.[name];
    const index = bins && left !== undefined && left >= 0 ? binAt(bins, plot.posToVal(left, 'x')) : null;
    this.setHovered(index === null ? null : { chart: name, index }, name);
  }

  private hoverPoint(plot: uPlot): void {
    const loaded = this.loaded;
    const { left, top } = plot.cursor;
    let nearest: number | null = null;
    if (loaded && left !== undefined && top !== undefined && left >= 0 && top >= 0) {
      let best = 12 * 12;
      for (let dimension = 0; dimension < loaded.variance.length; dimension++) {
        const dx = plot.valToPos(loaded.variance[dimension]!, 'x') - left;
        const dy = plot.valToPos(loaded.importance[dimension]!, 'y') - top;
        const distance = dx * dx + dy * dy;
        if (distance < best) {
          best = distance;
          nearest = dimension;
        }
      }
    }
    if (this.setHovered(nearest === null ? null : { chart: 'scatter', index: nearest }, 'scatter')) {
      plot.redraw(false);
    }
  }

  /** Updates what the pointer is over; true when that changed. */
  private setHovered(next: { chart: ChartName; index: number } | null, from: ChartName): boolean {
    const current = this.hovered;
    if (next === null && current?.chart !== from) return false;
    if (next && current && next.chart === current.chart && next.index === current.index) return false;
    this.hovered = next;
    return true;
  }

  private drawHoverRing(plot: uPlot): void {
    const hovered = this.hovered;
    const loaded = this.loaded;
    if (hovered?.chart !== 'scatter' || !loaded) return;
    const x = plot.valToPos(loaded.variance[hovered.index]!, 'x', true);
    const y = plot.valToPos(loaded.importance[hovered.index]!, 'y', true);
    const { ctx } = plot;
    ctx.save();
    ctx.strokeStyle = this.resolvePalette().focus;
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.beginPath();
    ctx.arc(x, y, 7 * devicePixelRatio, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.restore();
  }

  private destroyChart(name: ChartName): void {
    const chart = this.charts.get(name);
    if (!chart) return;
    chart.resize.disconnect();
    chart.plot.destroy();
    this.charts.delete(name);
  }

  private destroyCharts(): void {
    for (const name of [...this.charts.keys()]) this.destroyChart(name);
  }
}

function changedFrom(chart: Chart, drawnFrom: unknown[]): boolean {
  return (
    drawnFrom.length !== chart.drawnFrom.length ||
    drawnFrom.some((item, index) => item !== chart.drawnFrom[index])
  );
}

function scatterHeight(width: number): number {
  return Math.round(Math.min(360, Math.max(220, width * 0.5)));
}

/** uPlot's aligned data wants ascending x: the dimensions by variance, split into a kept and a masked series. */
function scatterData(loaded: LoadedStep, mask: Uint8Array): uPlot.AlignedData {
  const order = Array.from(loaded.variance.keys()).sort(
    (a, b) => loaded.variance[a]! - loaded.variance[b]! || a - b,
  );
  const xs = order.map((dimension) => loaded.variance[dimension]!);
  const kept = order.map((dimension) => (mask[dimension] ? null : loaded.importance[dimension]!));
  const masked = order.map((dimension) => (mask[dimension] ? loaded.importance[dimension]! : null));
  return [xs, kept, masked];
}

function maskedIndices(mask: Uint8Array): number[] {
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

customElements.define('sp-dimensions', DimensionsView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-dimensions': DimensionsView;
  }
}
