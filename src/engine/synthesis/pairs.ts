import type { Decoder } from '../models/decoder';
import { tf } from '../tf';
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

/**
 * d(h) and d(h′) in evaluation mode, so an image's reconstruction depends on its own features only and the
 * same request gives the same pixels. The draws are addressed by `options.seed` and `options.step`: a grid
 * redrawn after a config edit moves only where the edit moves it.
 *
 * @param features h of the images, [P, C]
 */
export function synthesizePairs(
  decoder: Decoder,
  features: tf.Tensor2D,
  perturbation: Perturbation,
  options: PerturbOptions,
): SynthesizedPairs {
  const [images] = features.shape;
  const [reconstructions, perturbed] = tf.tidy(() => {
    const variants = perturbFeatures(features, perturbation.mask, perturbation.sigma, options);
    // One decoder pass; in evaluation mode rows do not interact, so this equals decoding them apart.
    const decoded = decoder.apply(tf.concat([features, variants], 0), 'eval');
    return [
      tf.slice(decoded, [0, 0, 0, 0], [images, -1, -1, -1]),
      tf.slice(decoded, [images, 0, 0, 0], [-1, -1, -1, -1]),
    ];
  });
  try {
    return {
      reconstructions: reconstructions.dataSync() as Float32Array,
      perturbed: perturbed.dataSync() as Float32Array,
      images,
      samples: options.samples,
      imageSize: reconstructions.shape[1]!,
    };
  } finally {
    tf.dispose([reconstructions, perturbed]);
  }
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
