import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import 'uplot/dist/uPlot.min.css';
import './view.css';
import { color } from 'd3-color';
import { html, LitElement, nothing, type TemplateResult } from 'lit';
import uPlot from 'uplot';
import { type CurveRun, type CurveSettings, emit, toBase64 } from '../../model';
import {
  buildCharts,
  type ChartColour,
  type ChartId,
  type ChartModel,
  chartSignature,
  curvesCsv,
  formatValue,
  hasAnyMetrics,
  orderRuns,
  type SeriesModel,
} from './data';

/** Colours the curves are drawn with, read from the theme's CSS variables. */
interface ChartTheme {
  text: string;
  grid: string;
  background: string;
  font: string;
  colours: Record<ChartColour, string>;
}

const chartColours: readonly ChartColour[] = ['blue', 'red', 'green', 'orange', 'purple', 'yellow'];

/**
 * VS Code's own defaults for `--vscode-charts-*`, for a webview host or theme that leaves one unset: the
 * variables are always set inside VS Code, but a partial theme must still get readable, distinct lines.
 */
const defaultChartColours: Record<'dark' | 'light' | 'highContrast', Record<ChartColour, string>> = {
  dark: {
    blue: '#3794ff',
    red: '#f14c4c',
    green: '#89d185',
    orange: '#d18616',
    purple: '#b180d7',
    yellow: '#cca700',
  },
  light: {
    blue: '#1a85ff',
    red: '#e51400',
    green: '#388a34',
    orange: '#d18616',
    purple: '#652d90',
    yellow: '#bf8803',
  },
  highContrast: {
    blue: '#3794ff',
    red: '#f48771',
    green: '#89d185',
    orange: '#d18616',
    purple: '#b180d7',
    yellow: '#ffd700',
  },
};

function themeKind(body: HTMLElement): keyof typeof defaultChartColours {
  if (body.classList.contains('vscode-light') || body.classList.contains('vscode-high-contrast-light')) {
    return 'light';
  }
  return body.classList.contains('vscode-high-contrast') ? 'highContrast' : 'dark';
}

function withOpacity(css: string, opacity: number): string {
  const parsed = color(css);
  return parsed ? parsed.copy({ opacity: parsed.opacity * opacity }).formatRgb() : css;
}

function readTheme(element: Element): ChartTheme {
  const style = getComputedStyle(element);
  const variable = (name: string) => style.getPropertyValue(name).trim();
  const kind = themeKind(document.body);
  const text = variable('--vscode-charts-foreground') || variable('--vscode-foreground') || style.color;
  const lines = variable('--vscode-charts-lines') || text;
  const fontSize = Number.parseFloat(variable('--vscode-font-size')) || 13;
  const family = variable('--vscode-font-family') || style.fontFamily;
  const colours = Object.fromEntries(
    chartColours.map((name) => [
      name,
      variable(`--vscode-charts-${name}`) || defaultChartColours[kind][name],
    ]),
  ) as Record<ChartColour, string>;
  return {
    text,
    // High contrast themes draw every border at full strength; elsewhere a grid stays in the background.
    grid: withOpacity(lines, kind === 'highContrast' ? 0.45 : 0.18),
    background:
      variable('--vscode-editor-background') ||
      getComputedStyle(document.body).backgroundColor ||
      'transparent',
    font: `${Math.max(10, fontSize - 2)}px ${family}`,
    colours,
  };
}

/** Overlaid runs are told apart by their dash; the selected run (index 0) is solid. */
const runDashes: ReadonlyArray<number[] | undefined> = [undefined, [6, 4], [2, 3], [10, 3, 2, 3]];
function dashFor(runIndex: number): number[] | undefined {
  return runIndex === 0 ? undefined : runDashes[1 + ((runIndex - 1) % (runDashes.length - 1))];
}
const overlayAlpha = 0.65;

/** Whole numbers only on step and epoch axes: a step 10.5 does not exist. */
const wholeIncrements = [1, 2, 5].flatMap((base) =>
  [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7].map((p) => base * p),
);
wholeIncrements.sort((a, b) => a - b);

/** Fits the y axis to its longest tick label, so small learning rates are not clipped. */
function axisWidth(plot: uPlot, values: string[] | null, axisIndex: number, cycle: number): number {
  const axis = plot.axes[axisIndex] as uPlot.Axis & { _size?: number; font: [string, number] | string };
  if (cycle > 1 && axis._size !== undefined) {
    return axis._size;
  }
  // The ticks, their gap and a margin that keeps the values clear of the rotated axis label.
  let size = (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 6;
  const longest = (values ?? []).reduce((a, b) => (b.length > a.length ? b : a), '');
  if (longest !== '') {
    plot.ctx.font = Array.isArray(axis.font) ? axis.font[0] : axis.font;
    size += plot.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size);
}

function decadesOnly(_plot: uPlot, splits: number[]): (number | null)[] {
  return splits.map((split) => (Number.isInteger(Math.round(Math.log10(split) * 1e6) / 1e6) ? split : null));
}

const chartFileNames: Record<ChartId, string> = {
  losses: 'losses',
  lr: 'learning-rate',
  throughput: 'images-per-second',
  eval: 'evaluation',
};

/** A chart on screen: its uPlot, the element it lives in, and the model it last drew. */
interface LiveChart {
  plot: uPlot;
  host: HTMLElement;
  signature: string;
  model: ChartModel;
}

let instances = 0;

/**
 * Training curves of the selected run with the overlaid runs on the same axes: losses, learning rate and
 * throughput over optimiser steps (zoom and cursor synced between them), evaluation metrics over epochs.
 * New records replace the charts' data in place, keeping the user's zoom; a chart is only rebuilt when its
 * set of series changes. Rendered into light DOM so uPlot's stylesheet, loaded with the page, applies.
 */
export class CurvesView extends LitElement {
  static override properties = {
    runs: { attribute: false },
    settings: { attribute: false },
  };

  declare runs: CurveRun[];
  declare settings: CurveSettings;

  private models: ChartModel[] = [];
  private modelsFor: { runs: CurveRun[]; logScale: boolean } | undefined;
  private readonly live = new Map<ChartId, LiveChart>();
  private theme: ChartTheme | undefined;
  private readonly syncKey = `sp-curves-${++instances}`;
  private resizeObserver: ResizeObserver | undefined;
  private themeObserver: MutationObserver | undefined;

  constructor() {
    super();
    this.runs = [];
    this.settings = { hidden: [], logScale: false };
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.resizeObserver = new ResizeObserver((entries) => {
      for (const entry of entries) {
        this.fitToHost(entry.target as HTMLElement, entry.contentRect.width);
      }
    });
    this.themeObserver = new MutationObserver(() => this.applyTheme());
    this.themeObserver.observe(document.body, { attributes: true, attributeFilter: ['class'] });
    // VS Code sets the theme's variables on <html>; a switch between two dark themes changes only those.
    this.themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });
    for (const chart of this.live.values()) {
      this.resizeObserver.observe(chart.host);
    }
    // Charts freed by an earlier removal are drawn again by the next update.
    this.requestUpdate();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resizeObserver?.disconnect();
    this.themeObserver?.disconnect();
    // Moving the element in the DOM disconnects and reconnects it at once; only a removal frees the charts.
    queueMicrotask(() => {
      if (!this.isConnected) {
        for (const id of [...this.live.keys()]) {
          this.destroyChart(id);
        }
      }
    });
  }

  protected override willUpdate(): void {
    // Hiding a series changes the settings but not the data: the models are only rebuilt for new records.
    const { logScale } = this.settings;
    if (this.modelsFor?.runs !== this.runs || this.modelsFor.logScale !== logScale) {
      this.models = buildCharts(this.runs, { logScale });
      this.modelsFor = { runs: this.runs, logScale };
    }
    if (!this.theme) {
      this.applyTheme();
    }
  }

  protected override render(): TemplateResult {
    if (!hasAnyMetrics(this.runs)) {
      return html`<p class="curves-empty placeholder">No metrics yet: the curves appear after the first logged step</p>`;
    }
    const runs = orderRuns(this.runs);
    return html`
      <div class="curves-toolbar">
        <ul class="curves-runs" aria-label="Runs">
          ${runs.map(
            (run, index) => html`<li class="curves-run">
              <svg class="curves-run-line" width="28" height="10" aria-hidden="true">
                <line x1="1" y1="5" x2="27" y2="5" stroke-dasharray=${dashFor(index)?.join(' ') ?? nothing}></line>
              </svg>
              <span>${run.label}</span> ${run.selected ? html`<span class="muted">(selected)</span>` : nothing}
            </li>`,
          )}
        </ul>
        <vscode-button id="curves-export-csv" secondary @click=${() => this.exportCsv()}>Export CSV</vscode-button>
      </div>
      <div class="curves-grid">${this.models.map((model) => this.card(model))}</div>
    `;
  }

  private card(model: ChartModel): TemplateResult {
    const hidden = new Set(this.settings.hidden);
    const hasData = model.series.length > 0;
    return html`<section class="curve-card" data-chart=${model.id} aria-labelledby="curve-title-${model.id}">
      <header class="curve-header">
        <h3 id="curve-title-${model.id}">${model.title}</h3>
        ${
          model.id === 'losses'
            ? html`<vscode-checkbox
              id="curves-log-scale"
              .checked=${this.settings.logScale}
              @change=${(event: Event) => this.setLogScale((event.target as HTMLInputElement).checked)}
              >Log scale</vscode-checkbox
            >`
            : nothing
        }
        <vscode-button
          class="curve-export-png"
          secondary
          ?disabled=${!hasData}
          aria-label="Export the ${model.title.toLowerCase()} chart as PNG"
          @click=${() => this.exportPng(model.id)}
          >Export PNG</vscode-button
        >
      </header>
      <div class="curve-legend" role="group" aria-label="Series of the ${model.title.toLowerCase()} chart">
        ${model.metrics.map(
          (metric) => html`<button
            type="button"
            class="series-toggle"
            data-series=${metric.id}
            aria-pressed=${hidden.has(metric.id) ? 'false' : 'true'}
            title=${hidden.has(metric.id) ? `Show ${metric.label}` : `Hide ${metric.label}`}
            @click=${() => this.toggleSeries(metric.id)}
          >
            <span class="series-swatch" data-colour=${metric.colour}></span>${metric.label}
          </button>`,
        )}
      </div>
      <div class="curve-plot" ?hidden=${!hasData}></div>
      ${hasData ? nothing : html`<p class="placeholder">${emptyChartText[model.id]}</p>`}
      <div class="curve-readout"></div>
    </section>`;
  }

  protected override updated(): void {
    this.style.setProperty('--sp-curves-run-count', String(Math.max(1, this.runs.length)));
    const { logScale } = this.settings;
    for (const model of this.models) {
      const host = this.querySelector<HTMLElement>(`.curve-card[data-chart="${model.id}"] .curve-plot`);
      const live = this.live.get(model.id);
      if (!host || model.series.length === 0) {
        this.destroyChart(model.id);
        continue;
      }
      const signature = chartSignature(model, { logScale });
      if (live && live.signature === signature && live.host === host) {
        if (live.model !== model) {
          live.model = model;
          setDataKeepingZoom(live.plot, alignedData(model));
        }
        this.applyVisibility(live);
      } else {
        const zoom = live && zoomedRange(live.plot);
        this.destroyChart(model.id);
        const created = this.createChart(model, host, signature);
        if (zoom) {
          created.plot.setScale('x', zoom);
        }
      }
      host.dataset['series'] = String(model.series.length);
      host.dataset['points'] = String(model.x.length);
    }
  }

  private createChart(model: ChartModel, host: HTMLElement, signature: string): LiveChart {
    const theme = () => this.theme!;
    const hidden = new Set(this.settings.hidden);
    const width = host.clientWidth || 400;
    const stepBased = model.id !== 'eval';
    const logAxis = model.id === 'losses' && this.settings.logScale;
    const axisStyle = {
      stroke: () => theme().text,
      font: theme().font,
      labelFont: theme().font,
      grid: { stroke: () => theme().grid, width: 1 },
      ticks: { stroke: () => theme().grid, width: 1 },
    };
    const options: uPlot.Options = {
      width,
      height: plotHeight(width),
      legend: { show: false },
      cursor: {
        drag: { x: true, y: false },
        // Only the step-based charts share an x axis; the evaluation chart counts epochs.
        ...(stepBased ? { sync: { key: this.syncKey, scales: ['x', null] } } : {}),
      },
      scales: {
        x: { time: false },
        y: logAxis ? { distr: 3 } : {},
      },
      axes: [
        // uPlot's default x axis leaves room for two-line time labels; steps and epochs need one line.
        { ...axisStyle, label: model.xLabel, incrs: wholeIncrements, size: 30, labelSize: 18 },
        {
          ...axisStyle,
          label: model.yLabel,
          size: axisWidth,
          values: (_plot, splits) => splits.map((split) => (split == null ? '' : formatValue(split))),
          // A log axis splits every decade nine times: grid lines at the decades alone keep the plot legible.
          ...(logAxis ? { grid: { ...axisStyle.grid, filter: decadesOnly } } : {}),
        },
      ],
      series: [{ label: model.xLabel }, ...model.series.map((series) => this.seriesOptions(series, hidden))],
      hooks: { setCursor: [(plot) => this.showReadout(model.id, plot)] },
    };
    const plot = new uPlot(options, alignedData(model), host);
    const live: LiveChart = { plot, host, signature, model };
    this.live.set(model.id, live);
    this.resizeObserver?.observe(host);
    return live;
  }

  private seriesOptions(series: SeriesModel, hidden: ReadonlySet<string>): uPlot.Series {
    const stroke = () => this.theme!.colours[series.metric.colour];
    const overlaid = series.runIndex > 0;
    const common: uPlot.Series = {
      label: this.seriesLabel(series),
      show: !hidden.has(series.metric.id),
      stroke,
      alpha: overlaid ? overlayAlpha : 1,
      spanGaps: true,
    };
    if (series.style === 'markers') {
      return {
        ...common,
        width: 1,
        paths: () => null,
        points: {
          show: true,
          size: 7,
          width: 1.5,
          stroke,
          fill: overlaid ? () => this.theme!.background : stroke,
        },
      };
    }
    return {
      ...common,
      width: overlaid ? 1.5 : 2,
      dash: dashFor(series.runIndex),
      // uPlot fills the points of sparse lines white; hollow in the editor's background, they read on any theme.
      points: { fill: () => this.theme!.background },
    };
  }

  private seriesLabel(series: SeriesModel): string {
    return this.runs.length > 1 ? `${metricLabel(series)}, ${series.run.label}` : metricLabel(series);
  }

  private destroyChart(id: ChartId): void {
    const live = this.live.get(id);
    if (live) {
      this.resizeObserver?.unobserve(live.host);
      live.plot.destroy();
      this.live.delete(id);
    }
  }

  private fitToHost(host: HTMLElement, width: number): void {
    // A hidden tab lays its panel out at width 0; keep the last size until it is shown again.
    if (width < 1) {
      return;
    }
    for (const live of this.live.values()) {
      if (live.host === host && Math.floor(width) !== live.plot.width) {
        live.plot.setSize({ width: Math.floor(width), height: plotHeight(width) });
      }
    }
  }

  private applyVisibility(live: LiveChart): void {
    const hidden = new Set(this.settings.hidden);
    live.plot.batch(() => {
      live.model.series.forEach((series, index) => {
        const show = !hidden.has(series.metric.id);
        if (live.plot.series[index + 1]!.show !== show) {
          live.plot.setSeries(index + 1, { show });
        }
      });
    });
  }

  private applyTheme(): void {
    this.theme = readTheme(this);
    // The legend's swatches take the canvas colours through properties set from script: lit's styleMap would
    // write a style attribute on first render, which the webview's CSP refuses.
    for (const name of chartColours) {
      this.style.setProperty(`--sp-curves-${name}`, this.theme.colours[name]);
    }
    for (const live of this.live.values()) {
      live.plot.redraw(false);
    }
  }

  /**
   * The values under the cursor, one line per run. Each line is kept to one row and the read-out reserves a
   * row per run (--sp-curves-run-count), so moving the cursor never shifts the layout.
   */
  private showReadout(id: ChartId, plot: uPlot): void {
    const live = this.live.get(id);
    const readout = live?.host.parentElement?.querySelector('.curve-readout');
    if (!live || !readout) {
      return;
    }
    const index = plot.cursor.idx;
    if (index == null) {
      readout.replaceChildren();
      return;
    }
    const { model } = live;
    const unit = id === 'eval' ? '%' : '';
    const at = `${model.xLabel} ${model.x[index]}`;
    const lines = orderRuns(this.runs).flatMap((run) => {
      const values = model.series.flatMap((series, seriesIndex) => {
        const value = series.values[index];
        return series.run.runDir !== run.runDir || value == null || !plot.series[seriesIndex + 1]!.show
          ? []
          : [`${metricLabel(series)} ${formatValue(value)}${unit}`];
      });
      if (values.length === 0) {
        return [];
      }
      const line = document.createElement('div');
      line.textContent = `${this.runs.length > 1 ? `${at} · ${run.label}` : at}: ${values.join(' · ')}`;
      line.title = line.textContent;
      return [line];
    });
    readout.replaceChildren(...lines);
  }

  private toggleSeries(id: string): void {
    const hidden = new Set(this.settings.hidden);
    if (!hidden.delete(id)) {
      hidden.add(id);
    }
    this.changeSettings({ ...this.settings, hidden: [...hidden] });
  }

  private setLogScale(logScale: boolean): void {
    if (logScale !== this.settings.logScale) {
      this.changeSettings({ ...this.settings, logScale });
    }
  }

  private changeSettings(settings: CurveSettings): void {
    this.settings = settings;
    emit(this, 'sp-settings', { curves: settings });
  }

  private selectedLabel(): string {
    return orderRuns(this.runs)[0]?.label ?? 'curves';
  }

  private exportCsv(): void {
    const bytes = new TextEncoder().encode(curvesCsv(this.runs));
    emit(this, 'sp-export', {
      format: 'csv',
      base64: toBase64(bytes),
      suggestedName: `${this.selectedLabel()}-curves.csv`,
    });
  }

  /** The chart as it is on screen (zoom and hidden series included) with its title and legend, as a PNG. */
  private async exportPng(id: ChartId): Promise<void> {
    const live = this.live.get(id);
    if (!live) {
      return;
    }
    const canvas = composeExport(live, this.theme!, (series) => this.seriesLabel(series));
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (!blob) {
      return;
    }
    emit(this, 'sp-export', {
      format: 'png',
      base64: toBase64(new Uint8Array(await blob.arrayBuffer())),
      suggestedName: `${this.selectedLabel()}-${chartFileNames[id]}.png`,
    });
  }
}

const emptyChartText: Record<ChartId, string> = {
  losses: 'No losses logged yet.',
  lr: 'No learning rate logged yet.',
  throughput: 'No throughput yet: it is measured on logged steps.',
  eval: 'No evaluation yet: runs evaluate every eval.everyEpochs epochs and after the last one.',
};

function metricLabel(series: SeriesModel): string {
  return series.style === 'markers' ? `${series.metric.label} (epoch mean)` : series.metric.label;
}

function plotHeight(width: number): number {
  return width < 420 ? 190 : 230;
}

function alignedData(model: ChartModel): uPlot.AlignedData {
  return [model.x, ...model.series.map((series) => series.values)];
}

/** The x range the user zoomed to, or undefined when the chart shows all of its data. */
function zoomedRange(plot: uPlot): { min: number; max: number } | undefined {
  const xs = plot.data[0];
  const { min, max } = plot.scales['x']!;
  if (xs.length < 2 || min == null || max == null) {
    return undefined;
  }
  return min > xs[0]! || max < xs[xs.length - 1]! ? { min, max } : undefined;
}

/** New data without losing the user's zoom; an unzoomed chart follows the data as it grows. */
function setDataKeepingZoom(plot: uPlot, data: uPlot.AlignedData): void {
  const zoom = zoomedRange(plot);
  if (zoom) {
    plot.setData(data, false);
    plot.setScale('x', zoom);
  } else {
    plot.setData(data);
  }
}

/** One canvas holding the chart's title, its uPlot canvas and a legend of the series drawn. */
function composeExport(
  live: LiveChart,
  theme: ChartTheme,
  label: (series: SeriesModel) => string,
): HTMLCanvasElement {
  const source = live.plot.ctx.canvas;
  const ratio = source.width / live.plot.width;
  const padding = 12 * ratio;
  const lineHeight = 20 * ratio;
  const swatch = 24 * ratio;
  const fontSize = 12 * ratio;
  const family = theme.font.replace(/^\S+\s+/, '');
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d')!;
  ctx.font = `${fontSize}px ${family}`;
  const entries = live.model.series
    .filter((_series, index) => live.plot.series[index + 1]!.show)
    .map((series) => ({ series, text: label(series), width: 0 }));
  for (const entry of entries) {
    entry.width = swatch + 6 * ratio + ctx.measureText(entry.text).width + 16 * ratio;
  }
  const rows: (typeof entries)[] = [];
  for (const entry of entries) {
    const row = rows.at(-1);
    const used = row?.reduce((sum, item) => sum + item.width, 0) ?? Number.POSITIVE_INFINITY;
    if (row && used + entry.width <= source.width) {
      row.push(entry);
    } else {
      rows.push([entry]);
    }
  }
  canvas.width = source.width + 2 * padding;
  canvas.height = padding + lineHeight + source.height + padding / 2 + rows.length * lineHeight + padding;
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.textBaseline = 'middle';
  ctx.fillStyle = theme.text;
  ctx.font = `600 ${fontSize * 1.15}px ${family}`;
  ctx.fillText(live.model.title, padding, padding + lineHeight / 2);
  ctx.drawImage(source, padding, padding + lineHeight);
  ctx.font = `${fontSize}px ${family}`;
  let y = padding + lineHeight + source.height + padding / 2 + lineHeight / 2;
  for (const row of rows) {
    let x = padding;
    for (const { series, text, width } of row) {
      const colour = theme.colours[series.metric.colour];
      ctx.globalAlpha = series.runIndex > 0 ? overlayAlpha : 1;
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      if (series.style === 'markers') {
        ctx.beginPath();
        ctx.arc(x + swatch / 2, y, 3.5 * ratio, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        ctx.lineWidth = 2 * ratio;
        ctx.setLineDash((dashFor(series.runIndex) ?? []).map((length) => length * ratio));
        ctx.beginPath();
        ctx.moveTo(x, y);
        ctx.lineTo(x + swatch, y);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      ctx.globalAlpha = 1;
      ctx.fillStyle = theme.text;
      ctx.fillText(text, x + swatch + 6 * ratio, y);
      x += width;
    }
    y += lineHeight;
  }
  return canvas;
}

customElements.define('sp-curves', CurvesView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-curves': CurvesView;
  }
}
