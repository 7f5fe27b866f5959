import '@vscode-elements/elements/dist/vscode-button/index.js';
import { html, LitElement, nothing, type TemplateResult } from 'lit';
import type uPlot from 'uplot';
import { type ChartTheme, chartColourNames, readChartTheme, watchTheme } from '../../../shared/charts/theme';
import { adoptIntoPage } from '../../../shared/styles';
import { type CurveRun, type CurveSettings, emit, toBase64 } from '../../model';
import { curveCard } from './card';
import {
  alignedData,
  createCurveChart,
  dashFor,
  type LiveChart,
  metricLabel,
  plotHeight,
  setDataKeepingZoom,
  zoomedRange,
} from './chart';
import {
  buildCharts,
  type ChartId,
  type ChartModel,
  chartSignature,
  curvesCsv,
  formatValue,
  hasAnyMetrics,
  orderRuns,
  type SeriesModel,
} from './data';
import { composeExport } from './exportPng';
import styles from './view.css' with { type: 'text' };

adoptIntoPage(styles);

const chartFileNames: Record<ChartId, string> = {
  losses: 'losses',
  lr: 'learning-rate',
  throughput: 'images-per-second',
  eval: 'evaluation',
};

let instances = 0;

/**
 * Training curves of the selected run with the overlaid runs on the same axes: losses, learning rate and
 * throughput over optimiser steps (zoom and cursor synced between them), evaluation metrics over epochs.
 * New records replace the charts' data in place, keeping the user's zoom; a chart is only rebuilt when its
 * set of series changes. Rendered into light DOM so uPlot's stylesheet, adopted by the page, applies.
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
    this.themeObserver = watchTheme(() => this.applyTheme());
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
      <div class="curves-grid">${this.models.map((model) =>
        curveCard(model, this.settings, {
          toggleSeries: (id) => this.toggleSeries(id),
          setLogScale: (logScale) => this.setLogScale(logScale),
          exportPng: (id) => this.exportPng(id),
        }),
      )}</div>
    `;
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
    const plot = createCurveChart(model, host, {
      theme: () => this.theme!,
      hidden: new Set(this.settings.hidden),
      logScale: this.settings.logScale,
      syncKey: this.syncKey,
      seriesLabel: (series) => this.seriesLabel(series),
      onCursor: (plot) => this.showReadout(model.id, plot),
    });
    const live: LiveChart = { plot, host, signature, model };
    this.live.set(model.id, live);
    this.resizeObserver?.observe(host);
    return live;
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
    this.theme = readChartTheme(this);
    // The legend's swatches take the canvas colours through properties set from script: lit's styleMap would
    // write a style attribute on first render, which the webview's CSP refuses.
    for (const name of chartColourNames) {
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

customElements.define('sp-curves', CurvesView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-curves': CurvesView;
  }
}
