import type uPlot from 'uplot';
import type { NonDiscriminativeMask } from '../../../../src/shared/mask';
import { chartBase, dimensionAxis, dimensionScale, type Palette } from './chartOptions';
import { formatValue } from './math';

export interface ScatterChartOptions {
  palette: () => Palette;
  /** The arcsinh axes' linear thresholds, variance then importance; null for a linear axis. */
  thresholds: [number | null, number | null];
  /** The axes' ranges, asked for whenever uPlot rescales. */
  varianceRange: () => [number, number];
  importanceRange: () => [number, number];
  onCursor: (plot: uPlot) => void;
  onDraw: (plot: uPlot) => void;
}

export function scatterHeight(width: number): number {
  return Math.round(Math.min(360, Math.max(220, width * 0.5)));
}

/** Variance against importance, one point per dimension, the masked ones marked apart from the kept ones. */
export function scatterOptions(width: number, options: ScatterChartOptions): Omit<uPlot.Options, 'legend'> {
  const { palette } = options;
  const [varianceThreshold, importanceThreshold] = options.thresholds;
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
  return {
    ...chartBase,
    width,
    height: scatterHeight(width),
    scales: {
      x: dimensionScale(varianceThreshold, options.varianceRange),
      y: dimensionScale(importanceThreshold, options.importanceRange),
    },
    axes: [
      dimensionAxis(palette, 'variance', 36, 'x', varianceThreshold !== null),
      dimensionAxis(palette, 'importance α', 64, 'y', importanceThreshold !== null),
    ],
    series: [{}, pointSeries('kept', false), pointSeries('masked', true)],
    hooks: { setCursor: [options.onCursor], draw: [options.onDraw] },
  };
}

/** uPlot's aligned data wants ascending x: the dimensions by variance, split into a kept and a masked series. */
export function scatterData(
  variance: Float32Array,
  importance: Float32Array,
  mask: Uint8Array,
): uPlot.AlignedData {
  const order = Array.from(variance.keys()).sort((a, b) => variance[a]! - variance[b]! || a - b);
  const xs = order.map((dimension) => variance[dimension]!);
  const kept = order.map((dimension) => (mask[dimension] ? null : importance[dimension]!));
  const masked = order.map((dimension) => (mask[dimension] ? importance[dimension]! : null));
  return [xs, kept, masked];
}

/** The dimension whose point is nearest the pointer, within 12 pixels. */
export function dimensionUnderCursor(
  plot: uPlot,
  variance: Float32Array,
  importance: Float32Array,
): number | null {
  const { left, top } = plot.cursor;
  if (left === undefined || top === undefined || left < 0 || top < 0) return null;
  let nearest: number | null = null;
  let best = 12 * 12;
  for (let dimension = 0; dimension < variance.length; dimension++) {
    const dx = plot.valToPos(variance[dimension]!, 'x') - left;
    const dy = plot.valToPos(importance[dimension]!, 'y') - top;
    const distance = dx * dx + dy * dy;
    if (distance < best) {
      best = distance;
      nearest = dimension;
    }
  }
  return nearest;
}

/** A ring around the point at (variance, importance), drawn over the plot's canvas. */
export function drawHoverRing(plot: uPlot, variance: number, importance: number, colour: string): void {
  const x = plot.valToPos(variance, 'x', true);
  const y = plot.valToPos(importance, 'y', true);
  const { ctx } = plot;
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2 * devicePixelRatio;
  ctx.beginPath();
  ctx.arc(x, y, 7 * devicePixelRatio, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.restore();
}

/** What became of one dimension, and why, for the read-out under the scatter. */
export function pointReadout(
  dimension: number,
  variance: Float32Array,
  importance: Float32Array,
  mask: NonDiscriminativeMask,
): string {
  const reasons = [
    mask.variance.candidates[dimension] ? 'low variance' : '',
    mask.gradcam.candidates[dimension] ? 'low importance' : '',
  ].filter(Boolean);
  const verdict = mask.mask[dimension]
    ? `masked (${reasons.join(', ')})`
    : reasons.length > 0
      ? `kept (only ${reasons.join(', ')})`
      : 'kept';
  return `Dimension ${dimension}: variance ${formatValue(variance[dimension]!)}, α ${formatValue(importance[dimension]!)}, ${verdict}`;
}
