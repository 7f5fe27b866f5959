import type uPlot from 'uplot';
import type { ChartTheme } from '../../../shared/charts/theme';
import { createChart, themedAxis, tickLabels } from '../../../shared/charts/uplot';
import { type ChartModel, formatValue, type SeriesModel } from './data';

/** A chart on screen: its uPlot, the element it lives in, and the model it last drew. */
export interface LiveChart {
  plot: uPlot;
  host: HTMLElement;
  signature: string;
  model: ChartModel;
}

export interface CurveChartOptions {
  /** Read at every redraw, so a new theme needs only a redraw. */
  theme: () => ChartTheme;
  /** Metric ids whose series start hidden. */
  hidden: ReadonlySet<string>;
  logScale: boolean;
  /** The step-based charts sharing this key move their cursors and zoom together. */
  syncKey: string;
  seriesLabel: (series: SeriesModel) => string;
  onCursor: (plot: uPlot) => void;
}

/** Overlaid runs are told apart by their dash; the selected run (index 0) is solid. */
const runDashes: ReadonlyArray<number[] | undefined> = [undefined, [6, 4], [2, 3], [10, 3, 2, 3]];
export function dashFor(runIndex: number): number[] | undefined {
  return runIndex === 0 ? undefined : runDashes[1 + ((runIndex - 1) % (runDashes.length - 1))];
}
export const overlayAlpha = 0.65;

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

/**
 * One chart of the curves: every series of the model against its x axis, the selected run solid and the
 * overlaid ones dashed and fainter, with drag-to-zoom along x.
 */
export function createCurveChart(model: ChartModel, host: HTMLElement, options: CurveChartOptions): uPlot {
  const { theme } = options;
  const width = host.clientWidth || 400;
  const stepBased = model.id !== 'eval';
  const logAxis = model.id === 'losses' && options.logScale;
  const axisStyle = themedAxis(theme, theme().font);
  return createChart(
    {
      width,
      height: plotHeight(width),
      cursor: {
        drag: { x: true, y: false },
        // Only the step-based charts share an x axis; the evaluation chart counts epochs.
        ...(stepBased ? { sync: { key: options.syncKey, scales: ['x', null] } } : {}),
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
          values: tickLabels(formatValue),
          // A log axis splits every decade nine times: grid lines at the decades alone keep the plot legible.
          ...(logAxis ? { grid: { ...axisStyle.grid, filter: decadesOnly } } : {}),
        },
      ],
      series: [{ label: model.xLabel }, ...model.series.map((series) => seriesOptions(series, options))],
      hooks: { setCursor: [options.onCursor] },
    },
    alignedData(model),
    host,
  );
}

function seriesOptions(series: SeriesModel, options: CurveChartOptions): uPlot.Series {
  const stroke = () => options.theme().colours[series.metric.colour];
  const background = () => options.theme().background;
  const overlaid = series.runIndex > 0;
  const common: uPlot.Series = {
    label: options.seriesLabel(series),
    show: !options.hidden.has(series.metric.id),
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
        fill: overlaid ? background : stroke,
      },
    };
  }
  return {
    ...common,
    width: overlaid ? 1.5 : 2,
    dash: dashFor(series.runIndex),
    // uPlot fills the points of sparse lines white; hollow in the editor's background, they read on any theme.
    points: { fill: background },
  };
}

export function metricLabel(series: SeriesModel): string {
  return series.style === 'markers' ? `${series.metric.label} (epoch mean)` : series.metric.label;
}

export function plotHeight(width: number): number {
  return width < 420 ? 190 : 230;
}

export function alignedData(model: ChartModel): uPlot.AlignedData {
  return [model.x, ...model.series.map((series) => series.values)];
}

/** The x range the user zoomed to, or undefined when the chart shows all of its data. */
export function zoomedRange(plot: uPlot): { min: number; max: number } | undefined {
  const xs = plot.data[0];
  const { min, max } = plot.scales['x']!;
  if (xs.length < 2 || min == null || max == null) {
    return undefined;
  }
  return min > xs[0]! || max < xs[xs.length - 1]! ? { min, max } : undefined;
}

/** New data without losing the user's zoom; an unzoomed chart follows the data as it grows. */
export function setDataKeepingZoom(plot: uPlot, data: uPlot.AlignedData): void {
  const zoom = zoomedRange(plot);
  if (zoom) {
    plot.setData(data, false);
    plot.setScale('x', zoom);
  } else {
    plot.setData(data);
  }
}
