import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** The mean and the sample standard deviation (n − 1); 0 for one value. */
export function meanAndStd(values: readonly number[]): { mean: number; std: number } {
  const mean = values.reduce((total, value) => total + value, 0) / values.length;
  const variance =
    values.length > 1
      ? values.reduce((total, value) => total + (value - mean) ** 2, 0) / (values.length - 1)
      : 0;
  return { mean, std: Math.sqrt(variance) };
}

export interface PairedDifference {
  /** Pairs measured: seeds where both conditions completed. */
  n: number;
  mean: number;
  /** The two-sided 95 % interval of the mean difference; NaN with fewer than two pairs. */
  low: number;
  high: number;
  /** Two-sided p-value of the paired t test of mean difference 0; NaN with fewer than two pairs. */
  p: number;
}

/**
 * The mean of paired differences with its 95 % interval and p-value by Student's t with n − 1 degrees of
 * freedom. The seed pairs the conditions (the same initial heads, data order and augmentations), so the
 * seed-to-seed spread that both share cancels out of the differences.
 */
export function pairedDifference(values: readonly number[], baseline: readonly number[]): PairedDifference {
  const differences = values.map((value, index) => value - baseline[index]!);
  const n = differences.length;
  const { mean, std } = meanAndStd(differences);
  if (n < 2) return { n, mean, low: Number.NaN, high: Number.NaN, p: Number.NaN };
  const standardError = std / Math.sqrt(n);
  const half = tQuantile(0.975, n - 1) * standardError;
  // Identical differences on every seed: no spread to test against, and a difference either is or is not there.
  const p =
    standardError === 0 ? (mean === 0 ? 1 : 0) : 2 * (1 - tCdf(Math.abs(mean) / standardError, n - 1));
  return { n, mean, low: mean - half, high: mean + half, p };
}

/**
 * Holm's step-down adjustment of p-values for testing several conditions against one baseline: it holds the
 * chance of any false "significant" at 5 % without assuming the tests independent. NaN (untestable) stays NaN
 * and does not count as a test.
 */
export function holmAdjusted(pValues: readonly number[]): number[] {
  const tested = pValues
    .map((p, index) => ({ p, index }))
    .filter(({ p }) => !Number.isNaN(p))
    .sort((a, b) => a.p - b.p);
  const adjusted = pValues.map(() => Number.NaN);
  let running = 0;
  tested.forEach(({ p, index }, rank) => {
    running = Math.max(running, Math.min(1, (tested.length - rank) * p));
    adjusted[index] = running;
  });
  return adjusted;
}
