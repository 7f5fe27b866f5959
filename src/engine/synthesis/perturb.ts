import { type PerturbMode, perturbModes } from '../../shared/config/experiment/choices';
import { RandomStream, StreamPurpose } from '../data/random';
import { tf, tfSeed } from '../tf';

export interface PerturbOptions {
  readonly mode: PerturbMode;
  /** s ≥ 0: the noise scale in units of σ_k (gaussian) or the step towards the partner (interpolate). */
  readonly strength: number;
  /** f ∈ (0, 1]: the share of the masked dimensions perturbed in each copy, see {@link perturbedDimCount}. */
  readonly fraction: number;
  /** S ≥ 1: perturbed copies of each image. */
  readonly samples: number;
  readonly seed: number;
  /**
   * The training step. With `seed` it addresses every draw, so each step perturbs afresh while a resumed run
   * repeats the uninterrupted one's perturbations exactly. Defaults to 0.
   */
  readonly step?: number;
}

/**
 * Which entries of h' are perturbed, and with which partner: everything random except the Gaussian noise,
 * drawn from (seed, step) before any tensor work. Rows follow the layout of {@link perturbFeatures}.
 */
export interface PerturbationPlan {
  /** [S·N·C], row-major: 1 where that copy's dimension is perturbed, which is only ever a masked dimension. */
  readonly selected: Uint8Array;
  /**
   * [S·N]: the batch image (0..N−1) whose features row r borrows. Within each copy the partners are a
   * derangement of the batch, so no image is its own partner and every image lends to exactly one other.
   * Absent in gaussian mode, which needs no partner and so also works on a batch of one.
   */
  readonly partners?: Int32Array;
}

// Separate streams per kind of draw: the dims chosen for a (seed, step) stay the same whichever mode is
// selected, so switching `perturb.mode` in the editor changes how the same dims move, not which ones.
const Draw = { subset: 0, partner: 1, noise: 2 } as const;

/**
 * Number of masked dimensions perturbed per copy: round(f·M) with halves rounded up, but at least 1 when the
 * mask is non-empty — f > 0 asks for some perturbation, and a small f on a small mask would otherwise round
 * to none. An empty mask perturbs nothing.
 */
export function perturbedDimCount(maskedCount: number, fraction: number): number {
  return maskedCount === 0 ? 0 : Math.max(1, Math.round(fraction * maskedCount));
}

/**
 * Draws the plan of {@link perturbFeatures}: for each of the S·N rows, a uniform subset of
 * {@link perturbedDimCount} masked dimensions, chosen independently per row; and, except in gaussian mode,
 * one uniformly drawn derangement of the batch per copy as the rows' partners.
 */
export function drawPerturbationPlan(
  batchSize: number,
  mask: ArrayLike<number>,
  options: PerturbOptions,
): PerturbationPlan {
  checkOptions(options, batchSize);
  const channels = mask.length;
  const pool: number[] = [];
  for (let k = 0; k < channels; k++) {
    if (mask[k] !== 0 && mask[k] !== 1) {
      throw new RangeError(`perturbation mask entries must be 0 or 1, got ${mask[k]} at dimension ${k}`);
    }
    if (mask[k] === 1) pool.push(k);
  }
  const { samples, seed } = options;
  const step = options.step ?? 0;
  const count = perturbedDimCount(pool.length, options.fraction);
  const selected = new Uint8Array(samples * batchSize * channels);
  for (let copy = 0; copy < samples; copy++) {
    const random = new RandomStream(seed, StreamPurpose.perturb, step, Draw.subset, copy);
    for (let image = 0; image < batchSize; image++) {
      // A partial Fisher–Yates pass leaves a uniform `count`-subset at the front whatever order earlier rows
      // left the pool in; with the whole mask selected there is nothing to draw.
      if (count < pool.length) {
        for (let t = 0; t < count; t++) {
          const j = random.integer(t, pool.length - 1);
          const swap = pool[t]!;
          pool[t] = pool[j]!;
          pool[j] = swap;
        }
      }
      const rowStart = (copy * batchSize + image) * channels;
      for (let t = 0; t < count; t++) selected[rowStart + pool[t]!] = 1;
    }
  }
  if (options.mode === 'gaussian') return { selected };
  const partners = new Int32Array(samples * batchSize);
  for (let copy = 0; copy < samples; copy++) {
    const random = new RandomStream(seed, StreamPurpose.perturb, step, Draw.partner, copy);
    partners.set(drawDerangement(batchSize, random), copy * batchSize);
  }
  return { selected, partners };
}

/**
 * Perturbs the non-discriminative dimensions of pooled features (DESIGN §1 item 3): h' = h + m ⊙ ε, where only
 * a `fraction` of the masked dimensions, drawn per row, move (see {@link drawPerturbationPlan}):
 *
 * - `gaussian`: h'_k = h_k + ε_k with ε_k ~ N(0, (s·σ_k)²);
 * - `shuffle`: h'_k = h_jk, the value of the row's partner image j ≠ i; `strength` plays no part, the amount
 *   of change is set by `fraction` alone;
 * - `interpolate`: h'_k = (1 − s)·h_k + s·h_jk, towards the partner j ≠ i. s is not clamped: s > 1
 *   extrapolates past the partner along the same direction. This form rather than h + s·(h_j − h) makes both
 *   ends exact in floating point: s = 0 returns h_k and s = 1 returns h_jk bit for bit.
 *
 * Output layout is copy-major: row r = c·N + i is copy c of image i, so image = r mod N and copy = ⌊r / N⌋, and
 * `tf.tile(x, [S, 1])` of any per-image tensor lines up with h' row for row (pairing d(h) with d(h')). Copy c
 * depends only on (seed, step, c), so raising `perturb.samples` keeps the earlier copies unchanged.
 *
 * Unperturbed entries, the unmasked dimensions above all, are copied bit for bit. All modes are differentiable
 * in h: gaussian passes the gradient straight through, shuffle routes each perturbed entry's gradient to the
 * partner's dimension, interpolate splits it as (1 − s, s); mask, σ and the noise are constants.
 *
 * @param h pooled features, [N, C]
 * @param mask m ∈ {0, 1}^C, 1 on the non-discriminative dimensions
 * @param sigma σ_k ≥ 0, the per-dimension std of h over the training set (used by gaussian mode)
 * @returns h', [S·N, C]
 */
export function perturbFeatures(
  h: tf.Tensor2D,
  mask: ArrayLike<number>,
  sigma: ArrayLike<number>,
  options: PerturbOptions,
): tf.Tensor2D {
  const [batchSize, channels] = h.shape;
  if (mask.length !== channels) {
    throw new RangeError(`perturbation mask has ${mask.length} dimensions but the features have ${channels}`);
  }
  if (sigma.length !== channels) {
    throw new RangeError(
      `perturbation sigma has ${sigma.length} dimensions but the features have ${channels}`,
    );
  }
  for (let k = 0; k < channels; k++) {
    if (!(sigma[k]! >= 0) || !Number.isFinite(sigma[k])) {
      throw new RangeError(`perturbation sigma must be finite and ≥ 0, got ${sigma[k]} at dimension ${k}`);
    }
  }
  const plan = drawPerturbationPlan(batchSize, mask, options);
  const { mode, strength, samples, seed } = options;
  const step = options.step ?? 0;
  return tf.tidy(() => {
    const original = samples === 1 ? h : tf.tile(h, [samples, 1]);
    let perturbed: tf.Tensor2D;
    if (mode === 'gaussian') {
      const scale = Float32Array.from(sigma, (sigmaK) => strength * sigmaK);
      const noise = Array.from({ length: samples }, (_, copy) => {
        const noiseSeed = new RandomStream(seed, StreamPurpose.perturb, step, Draw.noise, copy).integer(
          0,
          0xffffffff,
        );
        return tf.randomNormal([batchSize, channels], 0, 1, 'float32', tfSeed(noiseSeed));
      });
      perturbed = tf.add(original, tf.mul(tf.concat(noise, 0), tf.tensor1d(scale)));
    } else {
      const partner = gatherPartners(h, plan.partners!, samples);
      perturbed =
        mode === 'shuffle' ? partner : tf.add(tf.mul(original, 1 - strength), tf.mul(partner, strength));
    }
    // A select rather than h + m ⊙ ε: adding a zero would still turn −0 into +0, and ε times 0 is NaN
    // wherever ε is infinite; the select leaves unperturbed entries exactly as they were.
    const selected = tf.tensor2d(plan.selected, [samples * batchSize, channels], 'bool');
    return tf.where(selected, perturbed, original);
  });
}

function checkOptions(options: PerturbOptions, batchSize: number): void {
  const { mode, strength, fraction, samples, seed, step = 0 } = options;
  if (!perturbModes.includes(mode)) {
    throw new RangeError(`perturb.mode must be one of ${perturbModes.join(', ')}, got ${String(mode)}`);
  }
  if (!(strength >= 0) || !Number.isFinite(strength)) {
    throw new RangeError(`perturb.strength must be a finite number ≥ 0, got ${strength}`);
  }
  if (!(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`perturb.fraction must lie in (0, 1], got ${fraction}`);
  }
  if (!Number.isInteger(samples) || samples < 1) {
    throw new RangeError(`perturb.samples must be an integer ≥ 1, got ${samples}`);
  }
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new RangeError(`perturbation step must be an integer ≥ 0, got ${step}`);
  }
  if (mode !== 'gaussian' && batchSize < 2) {
    throw new RangeError(
      `perturb.mode '${mode}' takes dimensions from another image of the batch, which needs at least 2 images, got ${batchSize}`,
    );
  }
}

/** A uniform random permutation of 0..n−1 without fixed points, by rejection (about e tries on average). */
function drawDerangement(n: number, random: RandomStream): Int32Array {
  const order = Array.from({ length: n }, (_, i) => i);
  do random.shuffleInPlace(order);
  while (order.some((j, i) => j === i));
  return Int32Array.from(order);
}

/**
 * Rows `partners` of h, one copy of the batch after another. Each copy's partners are a permutation, so the
 * gradient is the upstream gradient gathered by the inverse permutations and summed over copies — used
 * instead of gather's own gradient, UnsortedSegmentSum, which the wasm backend lacks.
 */
function gatherPartners(h: tf.Tensor2D, partners: Int32Array, samples: number): tf.Tensor2D {
  const [batchSize, channels] = h.shape;
  const gather = tf.customGrad((input) => {
    const features = input as tf.Tensor2D;
    return {
      value: tf.gather(features, tf.tensor1d(partners, 'int32')),
      gradFunc: (dy) => {
        const lenders = new Int32Array(partners.length);
        for (let row = 0; row < partners.length; row++) {
          const copyStart = row - (row % batchSize);
          lenders[copyStart + partners[row]!] = row;
        }
        const routed = tf.gather(dy as tf.Tensor2D, tf.tensor1d(lenders, 'int32'));
        return tf.sum(tf.reshape(routed, [samples, batchSize, channels]), 0);
      },
    };
  });
  return gather(h) as tf.Tensor2D;
}
