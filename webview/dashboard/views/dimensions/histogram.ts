import uPlot from 'uplot';
import { chartBase, dimensionAxis, dimensionScale, type Palette } from './chartOptions';
import { binAt, formatValue, type Histogram, selectedPerBin } from './math';

export const histogramHeight = 190;

export interface HistogramChartOptions {
  palette: () => Palette;
  /** The arcsinh axis's linear threshold; null for a linear axis. */
  threshold: number | null;
  /** The bins drawn, asked for whenever uPlot rescales. */
  bins: () => Histogram;
  onCursor: (plot: uPlot) => void;
  onDraw: () => void;
}

/** One histogram of the view: how many dimensions fall in each bin, those at or below the threshold apart. */
export function histogramOptions(
  name: 'variance' | 'importance',
  width: number,
  options: HistogramChartOptions,
): Omit<uPlot.Options, 'legend'> {
  const { palette, threshold } = options;
  const barSeries = (label: string, selected: boolean): uPlot.Series => ({
    label,
    stroke: () => (selected ? palette().barSelected : palette().bar),
    fill: () => (selected ? palette().barSelected : palette().bar),
    width: 0,
    paths: uPlot.paths.bars!({ align: 1, size: [1, Number.POSITIVE_INFINITY], gap: 1 }),
    points: { show: false },
  });
  return {
    ...chartBase,
    width,
    height: histogramHeight,
    scales: {
      x: dimensionScale(threshold, () => {
        const edges = options.bins().edges;
        return [edges[0]!, edges.at(-1)!];
      }),
      y: { range: (_plot, _min, max) => [0, Math.max(1, max) * 1.1] },
    },
    axes: [
      dimensionAxis(palette, name === 'variance' ? 'variance' : 'importance α', 36, 'x', threshold !== null),
      // Whole dimensions only.
      {
        ...dimensionAxis(palette, 'dimensions', 44, 'y', false),
        incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      },
    ],
    series: [{}, barSeries('all', false), barSeries('at or below the threshold', true)],
    hooks: { setCursor: [options.onCursor], draw: [options.onDraw] },
  };
}

/** The bins' lower edges, their counts, and how many of each are `selected`. */
export function histogramData(bins: Histogram, selected: Uint8Array): uPlot.AlignedData {
  return [bins.edges.slice(0, -1), bins.counts, selectedPerBin(bins, selected)];
}

/** The bin under the pointer, if it is over the plot. */
export function binUnderCursor(plot: uPlot, bins: Histogram | undefined): number | null {
  const { left } = plot.cursor;
  return bins && left !== undefined && left >= 0 ? binAt(bins, plot.posToVal(left, 'x')) : null;
}

/** What a bin holds, for the read-out under its histogram. */
export function binReadout(bins: Histogram, index: number): string {
  const low = bins.edges[index]!;
  const high = bins.edges[index + 1]!;
  const count = bins.counts[index]!;
  return `${formatValue(low)} – ${formatValue(high)}: ${count} ${count === 1 ? 'dimension' : 'dimensions'}`;
}
