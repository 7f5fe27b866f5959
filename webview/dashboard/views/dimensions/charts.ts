import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type uPlot from 'uplot';
import type { NonDiscriminativeMask } from '../../../../src/shared/mask';
import { watchTheme } from '../../../shared/charts/theme';
import { createChart } from '../../../shared/charts/uplot';
import { type Palette, readPalette } from './chartOptions';
import { binUnderCursor, histogramData, histogramHeight, histogramOptions } from './histogram';
import { axisRange, type Histogram, type QuantileKey } from './math';
import { dimensionUnderCursor, drawHoverRing, scatterData, scatterHeight, scatterOptions } from './scatter';
import { ThresholdHandle, type ThresholdOwner } from './thresholdHandle';

export type ChartName = 'variance' | 'importance' | 'scatter';
const chartNames: readonly ChartName[] = ['variance', 'importance', 'scatter'];

/** The bin of a histogram or the dimension of the scatter under the pointer. */
export interface Hovered {
  chart: ChartName;
  index: number;
}

/** Where a threshold line stands (null: at the axis's low end) and what it says it cuts. */
export interface ThresholdLine {
  at: number | null;
  quantile: number;
  count: number;
  threshold: number | null;
}

/** What the charts show, as the view has it now. */
export interface ChartInputs {
  /** The step's values; another object stands for other values. */
  values: { variance: Float32Array; importance: Float32Array };
  mask: NonDiscriminativeMask;
  histograms: Record<'variance' | 'importance', Histogram>;
  /** The linear thresholds of the variance and the importance axes; null where an axis is linear. */
  axisThresholds: [number | null, number | null];
  lines: Record<QuantileKey, ThresholdLine>;
  hovered: Hovered | null;
}

export interface ChartsOwner extends ThresholdOwner {
  /** Null while there is nothing to draw. */
  chartInputs(): ChartInputs | null;
  /** The pointer is over `next` of chart `from`, or over none of it; true when that changed what is hovered. */
  hover(next: Hovered | null, from: ChartName): boolean;
}

interface LiveChart {
  plot: uPlot;
  handles: ThresholdHandle[];
  /** What its data was last set from, so an update that changed nothing it shows leaves it alone. */
  drawnFrom: unknown[];
  resize: ResizeObserver;
  logAxes: string;
}

/**
 * The view's histograms and scatter, brought in line with it after each of its updates: drawn into the
 * containers its template rendered, given new data only when what they show changed, and redrawn in the
 * new colours when the theme changes.
 */
export class DimensionCharts implements ReactiveController {
  private readonly charts = new Map<ChartName, LiveChart>();
  private palette: Palette | null = null;
  private themeObserver: MutationObserver | null = null;

  constructor(
    private readonly host: ReactiveControllerHost & HTMLElement,
    private readonly owner: ChartsOwner,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.themeObserver = watchTheme(() => {
      this.palette = null;
      // Rebuilding the paths too: uPlot's bars keep the fill colour they were built with.
      for (const chart of this.charts.values()) chart.plot.redraw(true);
    });
  }

  hostDisconnected(): void {
    this.themeObserver?.disconnect();
    this.destroyAll();
  }

  hostUpdated(): void {
    const inputs = this.owner.chartInputs();
    if (!inputs) {
      this.destroyAll();
      return;
    }
    for (const name of chartNames) {
      const container = this.host.querySelector<HTMLElement>(`.dims-plot[data-chart="${name}"]`);
      if (!container) continue;
      let chart = this.charts.get(name);
      // A chart's axes cannot switch between linear and logarithmic in place.
      const stale = chart && chart.logAxes !== logAxesOf(name, inputs.axisThresholds);
      if (chart && (chart.plot.root.parentElement !== container || stale)) {
        this.destroy(name);
        chart = undefined;
      }
      chart ??= this.create(name, container, inputs.axisThresholds);
      this.sync(name, chart, inputs);
    }
  }

  private resolvePalette(): Palette {
    this.palette ??= readPalette(this.host);
    return this.palette;
  }

  private create(
    name: ChartName,
    container: HTMLElement,
    thresholds: [number | null, number | null],
  ): LiveChart {
    const palette = () => this.resolvePalette();
    const inputs = () => this.owner.chartInputs()!;
    const width = Math.max(200, container.clientWidth);
    const plot =
      name === 'scatter'
        ? createChart(
            scatterOptions(width, {
              palette,
              thresholds,
              varianceRange: () => axisRange(inputs().values.variance, inputs().axisThresholds[0]),
              importanceRange: () => axisRange(inputs().values.importance, inputs().axisThresholds[1]),
              onCursor: (plot) => this.hoverPoint(plot),
              // uPlot lays out and scales on a microtask after setData: the lines are placed once it has drawn.
              onDraw: (plot) => {
                this.drawHoverRing(plot);
                this.placeHandles(name);
              },
            }),
            [[]],
            container,
          )
        : createChart(
            histogramOptions(name, width, {
              palette,
              threshold: name === 'variance' ? thresholds[0] : thresholds[1],
              bins: () => inputs().histograms[name],
              onCursor: (plot) => this.hoverBin(plot, name),
              onDraw: () => this.placeHandles(name),
            }),
            [[]],
            container,
          );
    const handles =
      name === 'scatter'
        ? [
            new ThresholdHandle(plot, 'analysis.variance.quantile', 'vertical', this.owner),
            new ThresholdHandle(plot, 'analysis.gradcam.quantile', 'horizontal', this.owner),
          ]
        : [
            new ThresholdHandle(
              plot,
              name === 'variance' ? 'analysis.variance.quantile' : 'analysis.gradcam.quantile',
              'vertical',
              this.owner,
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
    const chart: LiveChart = { plot, handles, drawnFrom: [], resize, logAxes: logAxesOf(name, thresholds) };
    this.charts.set(name, chart);
    return chart;
  }

  private sync(name: ChartName, chart: LiveChart, inputs: ChartInputs): void {
    const { plot } = chart;
    const { values, mask } = inputs;
    // A new step may need another linear threshold on the same kind of axis: uPlot reads it when it rescales.
    const [varianceThreshold, importanceThreshold] = inputs.axisThresholds;
    const xThreshold = name === 'importance' ? importanceThreshold : varianceThreshold;
    if (xThreshold !== null) plot.scales['x']!.asinh = xThreshold;
    if (name === 'scatter' && importanceThreshold !== null) plot.scales['y']!.asinh = importanceThreshold;
    if (name === 'scatter') {
      const drawnFrom = [values, mask.mask.join('')];
      if (changedFrom(chart, drawnFrom)) {
        const sameValues = chart.drawnFrom[0] === values;
        chart.drawnFrom = drawnFrom;
        // Only the colouring changes while a threshold moves: keep the scales, so the points stay put.
        setData(plot, scatterData(values.variance, values.importance, mask.mask), !sameValues);
      }
    } else {
      const bins = inputs.histograms[name];
      const candidates = name === 'variance' ? mask.variance.candidates : mask.gradcam.candidates;
      const drawnFrom = [bins, candidates.join('')];
      if (changedFrom(chart, drawnFrom)) {
        const sameBins = chart.drawnFrom[0] === bins;
        chart.drawnFrom = drawnFrom;
        setData(plot, histogramData(bins, candidates), !sameBins);
      }
    }
    this.placeHandles(name);
  }

  private placeHandles(name: ChartName): void {
    const chart = this.charts.get(name);
    const inputs = this.owner.chartInputs();
    if (!chart || !inputs) return;
    for (const handle of chart.handles) {
      const line = inputs.lines[handle.key];
      handle.place(line.at, line.quantile, line.count, line.threshold);
    }
  }

  private hoverBin(plot: uPlot, name: 'variance' | 'importance'): void {
    const index = binUnderCursor(plot, this.owner.chartInputs()?.histograms[name]);
    this.owner.hover(index === null ? null : { chart: name, index }, name);
  }

  private hoverPoint(plot: uPlot): void {
    const values = this.owner.chartInputs()?.values;
    const nearest = values ? dimensionUnderCursor(plot, values.variance, values.importance) : null;
    if (this.owner.hover(nearest === null ? null : { chart: 'scatter', index: nearest }, 'scatter')) {
      plot.redraw(false);
    }
  }

  private drawHoverRing(plot: uPlot): void {
    const inputs = this.owner.chartInputs();
    const hovered = inputs?.hovered;
    if (!inputs || hovered?.chart !== 'scatter') return;
    const { variance, importance } = inputs.values;
    drawHoverRing(plot, variance[hovered.index]!, importance[hovered.index]!, this.resolvePalette().focus);
  }

  private destroy(name: ChartName): void {
    const chart = this.charts.get(name);
    if (!chart) return;
    chart.resize.disconnect();
    chart.plot.destroy();
    this.charts.delete(name);
  }

  private destroyAll(): void {
    for (const name of [...this.charts.keys()]) this.destroy(name);
  }
}

/** Which axes of a chart are logarithmic (arcsinh), e.g. "x" or "xy"; a threshold is null for all-zero values. */
function logAxesOf(name: ChartName, [variance, importance]: [number | null, number | null]): string {
  if (name === 'scatter') return `${variance === null ? '' : 'x'}${importance === null ? '' : 'y'}`;
  return (name === 'variance' ? variance : importance) === null ? '' : 'x';
}

/** uPlot redraws by itself only when it rescales; keeping the scales needs an explicit redraw. */
function setData(plot: uPlot, data: uPlot.AlignedData, rescale: boolean): void {
  plot.setData(data, rescale);
  if (!rescale) plot.redraw(false);
}

function changedFrom(chart: LiveChart, drawnFrom: unknown[]): boolean {
  return (
    drawnFrom.length !== chart.drawnFrom.length ||
    drawnFrom.some((item, index) => item !== chart.drawnFrom[index])
  );
}
