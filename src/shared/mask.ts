import type { MaskCombine } from './config/experiment/choices';

export interface MaskOptions {
  /** Per-dimension variance of h, [C]. */
  variance: ArrayLike<number>;
  /** Per-dimension Grad-CAM importance α, [C]. */
  importance: ArrayLike<number>;
  /** `analysis.variance.quantile` q_v. */
  varianceQuantile: number;
  /** `analysis.gradcam.quantile` q_g. */
  gradcamQuantile: number;
  combine: MaskCombine;
}

export interface LowestQuantile {
  /** 1 for each of the k = ⌊q·C⌋ lowest dimensions. */
  candidates: Uint8Array;
  count: number;
  /** The largest value among the candidates, where the histogram's threshold is drawn; null when k = 0. */
  threshold: number | null;
}

export interface NonDiscriminativeMask {
  /** m ∈ {0, 1}^C: 1 marks a dimension the perturbation may change. */
  mask: Uint8Array;
  /** How many dimensions are masked. */
  count: number;
  variance: LowestQuantile;
  gradcam: LowestQuantile;
}

/**
 * The k = ⌊q·C⌋ dimensions with the lowest values. Equal values are ranked by dimension index, lowest first,
 * so the choice is deterministic and k is exact even when many dimensions tie (dead units all have variance 0).
 *
 * @param key the config key q came from, named in the error when q lies outside [0, 1]
 */
export function lowestQuantile(values: ArrayLike<number>, quantile: number, key: string): LowestQuantile {
  if (!(quantile >= 0 && quantile <= 1)) {
    throw new RangeError(`${key} must lie in [0, 1], got ${quantile}`);
  }
  const dimensions = values.length;
  for (let dimension = 0; dimension < dimensions; dimension++) {
    if (!Number.isFinite(values[dimension])) {
      throw new RangeError(`${key}: dimension ${dimension} has the non-finite value ${values[dimension]}`);
    }
  }
  const count = Math.floor(quantile * dimensions);
  const ranked = Array.from({ length: dimensions }, (_, dimension) => dimension).sort(
    (a, b) => values[a]! - values[b]! || a - b,
  );
  const candidates = new Uint8Array(dimensions);
  for (const dimension of ranked.slice(0, count)) candidates[dimension] = 1;
  return { candidates, count, threshold: count > 0 ? values[ranked[count - 1]!]! : null };
}

const combiners: Record<MaskCombine, (byVariance: boolean, byGradcam: boolean) => boolean> = {
  union: (byVariance, byGradcam) => byVariance || byGradcam,
  intersection: (byVariance, byGradcam) => byVariance && byGradcam,
  variance: (byVariance) => byVariance,
  gradcam: (_, byGradcam) => byGradcam,
};

/** The paper's mask of non-discriminative dimensions from the variance and Grad-CAM criteria. */
export function nonDiscriminativeMask(options: MaskOptions): NonDiscriminativeMask {
  if (options.variance.length !== options.importance.length) {
    throw new RangeError(
      `variance has ${options.variance.length} dimensions but importance ${options.importance.length}`,
    );
  }
  const variance = lowestQuantile(options.variance, options.varianceQuantile, 'analysis.variance.quantile');
  const gradcam = lowestQuantile(options.importance, options.gradcamQuantile, 'analysis.gradcam.quantile');
  const combine = combiners[options.combine];
  const mask = variance.candidates.map((byVariance, dimension) =>
    combine(byVariance === 1, gradcam.candidates[dimension] === 1) ? 1 : 0,
  );
  return { mask, count: mask.reduce((total, bit) => total + bit, 0), variance, gradcam };
}
