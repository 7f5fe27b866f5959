import {
  type ImportanceVariant,
  importanceVariants,
  type MaskCombine,
  maskCombines,
} from '../../../../src/shared/config/experiment/choices';
import { experimentDefinition } from '../../../../src/shared/config/experiment/definitions';
import type { AnalysisManifest } from '../../../../src/shared/protocol/runFiles';
import type { ConfigScalar } from '../../../../src/shared/protocol/webview';

/**
 * The pure arithmetic of the feature-dimension view: histograms, the quantile a dragged threshold stands for,
 * and the mask settings the config asks for. The mask itself is the one the engine cuts (src/shared/mask.ts),
 * so what the view shows is what a run would cut.
 */

export type QuantileKey = 'analysis.variance.quantile' | 'analysis.gradcam.quantile';

const analysisKeys = experimentDefinition.keys.analysis.keys;
/** The range the experiment file accepts for each quantile, so a drag never writes a value it would refuse. */
export const quantileRanges: Record<QuantileKey, { min: number; max: number }> = {
  'analysis.variance.quantile': {
    min: analysisKeys.variance.keys.quantile.min,
    max: analysisKeys.variance.keys.quantile.max,
  },
  'analysis.gradcam.quantile': {
    min: analysisKeys.gradcam.keys.quantile.min,
    max: analysisKeys.gradcam.keys.quantile.max,
  },
};

export interface Histogram {
  /** bins + 1 edges, ascending; bin i holds the values in [edges[i], edges[i + 1]) and the last one its maximum. */
  edges: number[];
  counts: number[];
  /** The bin of each value, by dimension. */
  binOf: Uint16Array;
}

/** About two bins per √C: 16 for 64 dimensions, never fewer than 8 nor more than 48. */
export function defaultBinCount(values: number): number {
  return Math.min(48, Math.max(8, Math.round(2 * Math.sqrt(values))));
}

/**
 * The linear threshold of an arcsinh axis (uPlot's `distr: 4`): the power of ten at or below the smallest
 * non-zero magnitude, so every value but zero lies on the logarithmic part of the axis while zeros (dead units)
 * and negative importances still have a place. Null when every value is zero.
 */
export function asinhLinearThreshold(values: ArrayLike<number>): number | null {
  let smallest = Number.POSITIVE_INFINITY;
  for (let index = 0; index < values.length; index++) {
    const magnitude = Math.abs(values[index]!);
    if (magnitude > 0 && magnitude < smallest) smallest = magnitude;
  }
  return Number.isFinite(smallest) ? 10 ** Math.floor(Math.log10(smallest)) : null;
}

/**
 * Equal-width bins over the values' range, equal in arcsinh(v / linearThreshold) when a threshold is given so
 * that the bins look equal on a logarithmic axis. A range of one value gets a bin around it.
 */
export function histogram(
  values: ArrayLike<number>,
  bins: number,
  linearThreshold: number | null,
): Histogram {
  const axis = axisTransform(linearThreshold);
  const [low, high] = transformedExtent(values, axis.forward);
  const width = (high - low) / bins;
  const counts = new Array<number>(bins).fill(0);
  const binOf = new Uint16Array(values.length);
  for (let index = 0; index < values.length; index++) {
    const bin = Math.min(bins - 1, Math.floor((axis.forward(values[index]!) - low) / width));
    binOf[index] = bin;
    counts[bin]! += 1;
  }
  const edges = Array.from({ length: bins + 1 }, (_, edge) => axis.backward(low + edge * width));
  return { edges, counts, binOf };
}

/** How many of the selected dimensions each bin holds: the part of the histogram a threshold cuts off. */
export function selectedPerBin(bins: Histogram, selected: Uint8Array): number[] {
  const counts = new Array<number>(bins.counts.length).fill(0);
  bins.binOf.forEach((bin, dimension) => {
    if (selected[dimension]) counts[bin]! += 1;
  });
  return counts;
}

/** The bin a value of the axis falls in, or null outside the histogram. */
export function binAt(bins: Histogram, value: number): number | null {
  const { edges } = bins;
  if (!(value >= edges[0]! && value <= edges.at(-1)!)) return null;
  let bin = 0;
  while (bin < edges.length - 2 && value >= edges[bin + 1]!) bin++;
  return bin;
}

/**
 * Ticks of an arcsinh axis over [min, max]: zero where the range holds it, then ±m·10^e from the linear threshold
 * up, with the mantissas m the densest of {1}, {1, 2, 5}, 1…9 and finer steps that keeps to `maxTicks` (uPlot's own
 * logarithmic ticks label only the decades, which leaves a range within one decade unlabelled).
 */
const fineMantissas = [1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9];

export function logTicks(min: number, max: number, linearThreshold: number, maxTicks: number): number[] {
  const largest = Math.max(Math.abs(min), Math.abs(max));
  const first = Math.round(Math.log10(linearThreshold));
  const last = Math.ceil(Math.log10(largest));
  const inRange = (value: number) => value >= min && value <= max;
  const ticksWith = (mantissas: readonly number[]): number[] => {
    const ticks = inRange(0) ? [0] : [];
    for (let exponent = first; exponent <= last; exponent++) {
      for (const mantissa of mantissas) {
        // Through a string, so 3·10^-4 is the double nearest 0.0003 and prints as such.
        const value = Number(`${mantissa}e${exponent}`);
        if (inRange(value)) ticks.push(value);
        if (inRange(-value)) ticks.push(-value);
      }
    }
    return ticks.sort((a, b) => a - b);
  };
  const choices = [fineMantissas, [1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 5], [1]].map(ticksWith);
  return choices.find((ticks) => ticks.length <= maxTicks) ?? choices.at(-1)!;
}

/**
 * Which ticks of a logarithmic axis get a label, `minGap` pixels apart at least: zero and the decades first,
 * then the fives, the twos and the rest, where they fit between those already labelled.
 */
export function spacedLabels(
  ticks: readonly number[],
  positions: readonly number[],
  minGap: number,
): boolean[] {
  const priority = (value: number): number => {
    if (value === 0) return 0;
    const mantissa = Number(
      (Math.abs(value) / 10 ** Math.floor(Math.log10(Math.abs(value)) + 1e-9)).toPrecision(6),
    );
    return mantissa === 1 ? 0 : mantissa === 5 ? 1 : mantissa === 2 ? 2 : Number.isInteger(mantissa) ? 3 : 4;
  };
  const order = ticks
    .map((_, index) => index)
    .sort((a, b) => priority(ticks[a]!) - priority(ticks[b]!) || a - b);
  const labelled: number[] = [];
  const shown = ticks.map(() => false);
  for (const index of order) {
    if (labelled.every((other) => Math.abs(positions[other]! - positions[index]!) >= minGap)) {
      labelled.push(index);
      shown[index] = true;
    }
  }
  return shown;
}

/** The values' extent with 5 % to spare on either side, in the axis's own (linear or arcsinh) measure. */
export function axisRange(values: ArrayLike<number>, linearThreshold: number | null): [number, number] {
  const axis = axisTransform(linearThreshold);
  const [low, high] = transformedExtent(values, axis.forward);
  const pad = (high - low) * 0.05;
  return [axis.backward(low - pad), axis.backward(high + pad)];
}

function axisTransform(linearThreshold: number | null): {
  forward: (value: number) => number;
  backward: (transformed: number) => number;
} {
  return linearThreshold === null
    ? { forward: (value) => value, backward: (transformed) => transformed }
    : {
        forward: (value) => Math.asinh(value / linearThreshold),
        backward: (transformed) => Math.sinh(transformed) * linearThreshold,
      };
}

/** The transformed values' extent; a single value gets some room around it, and no values the unit interval. */
function transformedExtent(values: ArrayLike<number>, forward: (value: number) => number): [number, number] {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (let index = 0; index < values.length; index++) {
    const transformed = forward(values[index]!);
    low = Math.min(low, transformed);
    high = Math.max(high, transformed);
  }
  if (low > high) return [0, 1];
  if (low === high) {
    const pad = Math.abs(low) * 0.05 || 0.5;
    return [low - pad, high + pad];
  }
  return [low, high];
}

/** How many values are at or below x: the dimensions a threshold dropped at x selects. */
export function countAtOrBelow(values: ArrayLike<number>, x: number): number {
  let count = 0;
  for (let index = 0; index < values.length; index++) {
    if (values[index]! <= x) count++;
  }
  return count;
}

/**
 * The quantile q with ⌊q·C⌋ = count, in as few decimals as that allows (0.25 rather than 0.2578 for 16 of 64),
 * within the key's allowed range. The check runs in the engine's own floating point arithmetic, since a
 * decimal like 0.29 times 100 floors to 28.
 */
export function quantileForCount(count: number, dimensions: number, key: QuantileKey): number {
  const { min, max } = quantileRanges[key];
  if (!(Number.isInteger(count) && count >= 0 && count <= dimensions && dimensions > 0)) {
    throw new RangeError(`no quantile selects ${count} of ${dimensions} dimensions`);
  }
  for (let decimals = 2; decimals <= 12; decimals++) {
    const scale = 10 ** decimals;
    const first = Math.floor((count / dimensions) * scale);
    const last = Math.ceil(((count + 1) / dimensions) * scale);
    for (let step = first; step <= last; step++) {
      const quantile = step / scale;
      if (quantile >= min && quantile <= max && Math.floor(quantile * dimensions) === count) {
        return quantile;
      }
    }
  }
  // Only a range narrower than 1/C can exclude every such decimal: the nearest allowed quantile is what remains.
  return Math.min(max, Math.max(min, count / dimensions));
}

/**
 * The next selection a keyboard step reaches: one more distinct value up or one fewer down, so each press
 * moves the threshold line (a step into a group of tied values would select part of it by dimension index
 * and leave the line where it was).
 */
export function steppedCount(values: ArrayLike<number>, count: number, direction: 1 | -1): number {
  const sorted = Float64Array.from(values).sort();
  if (direction > 0) {
    return count >= sorted.length ? sorted.length : countAtOrBelow(sorted, sorted[count]!);
  }
  if (count <= 0) return 0;
  const lastSelected = sorted[count - 1]!;
  return sorted.filter((value) => value < lastSelected).length;
}

/** Three significant digits, exponent notation where a decimal would be long (importances reach 1e-11). */
export function formatValue(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-3 && magnitude < 1e5) return String(Number(value.toPrecision(3)));
  return value.toExponential(2).replace(/\.?0+e/, 'e');
}

/** A quantile as the config would hold it, without float noise (0.3 rather than 0.30000000000000004). */
export function formatQuantile(quantile: number): string {
  return String(Number(quantile.toPrecision(12)));
}

/** "q = 0.25 → 16 dims ≤ 0.0296": what a threshold line stands for. */
export function thresholdLabel(quantile: number, count: number, threshold: number | null): string {
  const selected =
    threshold === null ? 'no dims' : `${count} ${count === 1 ? 'dim' : 'dims'} ≤ ${formatValue(threshold)}`;
  return `q = ${formatQuantile(quantile)} → ${selected}`;
}

/** The settings a mask is cut with: the config's four analysis keys. */
export interface MaskSettings {
  varianceQuantile: number;
  gradcamQuantile: number;
  variant: ImportanceVariant;
  combine: MaskCombine;
}

/** The settings a step was cut with, from its manifest. */
export function manifestSettings(manifest: AnalysisManifest): MaskSettings {
  return {
    varianceQuantile: manifest.variance.quantile,
    gradcamQuantile: manifest.gradcam.quantile,
    variant: manifest.gradcam.variant,
    combine: manifest.combine,
  };
}

/**
 * The settings the config asks for. A key that is absent or holds a value the experiment file would refuse
 * (mid-edit text) keeps the step's own setting, so the charts stay meaningful while someone types.
 */
export function configSettings(
  config: Readonly<Record<string, ConfigScalar>>,
  fallback: MaskSettings,
): MaskSettings {
  const quantile = (key: QuantileKey, otherwise: number): number => {
    const value = config[key];
    const { min, max } = quantileRanges[key];
    return typeof value === 'number' && value >= min && value <= max ? value : otherwise;
  };
  const oneOf = <Value extends string>(key: string, values: readonly Value[], otherwise: Value): Value => {
    const value = config[key];
    return values.find((candidate) => candidate === value) ?? otherwise;
  };
  return {
    varianceQuantile: quantile('analysis.variance.quantile', fallback.varianceQuantile),
    gradcamQuantile: quantile('analysis.gradcam.quantile', fallback.gradcamQuantile),
    variant: oneOf('analysis.gradcam.variant', importanceVariants, fallback.variant),
    combine: oneOf('analysis.combine', maskCombines, fallback.combine),
  };
}

export function sameSettings(a: MaskSettings, b: MaskSettings): boolean {
  return settingsChanges(a, b).length === 0;
}

/** Where the config differs from what the step was cut with, e.g. "q_v 0.25 → 0.4", in a fixed order. */
export function settingsChanges(saved: MaskSettings, current: MaskSettings): string[] {
  const changes: string[] = [];
  if (saved.varianceQuantile !== current.varianceQuantile) {
    changes.push(
      `variance q ${formatQuantile(saved.varianceQuantile)} → ${formatQuantile(current.varianceQuantile)}`,
    );
  }
  if (saved.gradcamQuantile !== current.gradcamQuantile) {
    changes.push(
      `Grad-CAM q ${formatQuantile(saved.gradcamQuantile)} → ${formatQuantile(current.gradcamQuantile)}`,
    );
  }
  if (saved.variant !== current.variant) changes.push(`importance ${saved.variant} → ${current.variant}`);
  if (saved.combine !== current.combine) changes.push(`combine ${saved.combine} → ${current.combine}`);
  return changes;
}
