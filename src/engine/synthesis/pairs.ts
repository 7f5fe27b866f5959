import { readAndDispose, tf } from '../tf';
import { differenceImage, type RgbImage, tileGridPng } from './grid';
import type { Perturbation } from './pairLoss';
import { type PerturbOptions, perturbFeatures } from './perturb';

/** Reconstructions and perturbed reconstructions of a set of images, as the pair grids show them. */
export interface SynthesizedPairs {
  /** d(h), [P, S, S, 3] in [0, 1]. */
  reconstructions: Float32Array;
  /** d(h′), [copies · P, S, S, 3], copy-major as {@link perturbFeatures} lays out h′. */
  perturbed: Float32Array;
  images: number;
  samples: number;
  imageSize: number;
}

/** A decoder in evaluation mode: h [N, C] → images [N, S, S, 3] in [0, 1]. */
export type Decode = (features: tf.Tensor2D) => tf.Tensor4D;

/** Pixels a caller already has for these features, so they are not decoded again. */
export interface KnownPixels {
  /** d(h), [P, S, S, 3]: it does not depend on the perturbation. */
  reconstructions: Float32Array;
  /**
   * d(h′) of copies decoded before from the same h, mask, σ and options (samples apart): copy index →
   * [P, S, S, 3]. Copy c depends on (seed, step, c) alone, so these stand in for decoding it again.
   */
  copies: ReadonlyMap<number, Float32Array>;
}

/**
 * d(h) and d(h′) in evaluation mode, so an image's reconstruction depends on its own features only and the
 * same request gives the same pixels. The draws are addressed by `options.seed` and `options.step`: a grid
 * redrawn after a config edit moves only where the edit moves it.
 *
 * @param features h of the images, [P, C]
 * @param known what the caller already has: then only the copies it lacks are decoded, each in a pass of its
 *   own of P rows as d(h) was, so a copy's pixels never depend on which copies were decoded with it
 */
export async function synthesizePairs(
  decode: Decode,
  features: tf.Tensor2D,
  perturbation: Perturbation,
  options: PerturbOptions,
  known?: KnownPixels,
): Promise<SynthesizedPairs> {
  if (known) return decodeMissingCopies(decode, features, perturbation, options, known);
  const [images] = features.shape;
  const decoded = tf.tidy(() => {
    const variants = perturbFeatures(features, perturbation.mask, perturbation.sigma, options);
    // One decoder pass; in evaluation mode rows do not interact, so this equals decoding them apart.
    return decode(tf.concat([features, variants], 0));
  });
  const [rows, imageSize] = decoded.shape;
  const pixels = await readAndDispose(decoded);
  const tile = pixels.length / rows;
  return {
    reconstructions: pixels.slice(0, images * tile),
    perturbed: pixels.slice(images * tile),
    images,
    samples: options.samples,
    imageSize: imageSize!,
  };
}

async function decodeMissingCopies(
  decode: Decode,
  features: tf.Tensor2D,
  perturbation: Perturbation,
  options: PerturbOptions,
  known: KnownPixels,
): Promise<SynthesizedPairs> {
  const [images] = features.shape;
  const copyLength = known.reconstructions.length;
  const perturbed = new Float32Array(options.samples * copyLength);
  const missing: number[] = [];
  for (let copy = 0; copy < options.samples; copy++) {
    const pixels = known.copies.get(copy);
    if (pixels) perturbed.set(pixels, copy * copyLength);
    else missing.push(copy);
  }
  if (missing.length > 0) {
    const variants = perturbFeatures(features, perturbation.mask, perturbation.sigma, options);
    try {
      for (const copy of missing) {
        const decoded = tf.tidy(() => decode(tf.slice(variants, [copy * images, 0], [images, -1])));
        perturbed.set(await readAndDispose(decoded), copy * copyLength);
      }
    } finally {
      variants.dispose();
    }
  }
  return {
    reconstructions: known.reconstructions,
    perturbed,
    images,
    samples: options.samples,
    imageSize: Math.sqrt(copyLength / images / 3),
  };
}

/** Gain of the difference column: perturbed reconstructions differ from d(h) by a few per cent. */
const differenceGain = 4;

/**
 * The pair grid a person opens: one row per image — the image, d(h), each d(h′), and |d(h) − d(h′₁)|
 * amplified ×4.
 *
 * @param originals the images, [P, S, S, 3]
 */
export function pairGridRows(originals: Float32Array, pairs: SynthesizedPairs): RgbImage[][] {
  const tile = pairs.imageSize * pairs.imageSize * 3;
  const at = (array: Float32Array, index: number) => array.subarray(index * tile, (index + 1) * tile);
  return Array.from({ length: pairs.images }, (_, image) => {
    const reconstruction = at(pairs.reconstructions, image);
    const copies = Array.from({ length: pairs.samples }, (_, copy) =>
      at(pairs.perturbed, copy * pairs.images + image),
    );
    return [
      at(originals, image),
      reconstruction,
      ...copies,
      differenceImage(reconstruction, copies[0]!, differenceGain),
    ];
  });
}

export function pairGridPng(originals: Float32Array, pairs: SynthesizedPairs): Promise<Buffer> {
  return tileGridPng(pairGridRows(originals, pairs), pairs.imageSize);
}
