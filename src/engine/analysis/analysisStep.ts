import { type ImportanceVariant, importanceVariants } from '../../shared/config/experiment/choices';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { type NonDiscriminativeMask, nonDiscriminativeMask } from '../../shared/mask';
import { augmentView, centreView } from '../data/augment';
import type { DecodedImage } from '../data/decode';
import { buildTrainBatch, epochOrder, evalBatches, type ImageSet, trainBatchCount } from '../data/loader';
import { chooseProbes } from '../data/probes';
import { RandomStream, StreamPurpose } from '../data/random';
import type { SslMethod } from '../methods/method';
import type { Decoder } from '../models/decoder';
import type { Perturbation } from '../synthesis/pairLoss';
import { type SynthesizedPairs, synthesizePairs } from '../synthesis/pairs';
import { tf } from '../tf';
import { type GradCamAnalysis, gradCamOfMethod } from './gradcam';
import { FeatureVarianceAccumulator } from './variance';

export interface ProbeSet {
  /** Positions in the test split. */
  positions: number[];
  labels: number[];
  /** View 1: the un-augmented centre views, [P, S, S, 3]. */
  centre: Float32Array;
  /** View 2: one augmented view per probe, drawn from the seed alone so every step shows the same one. */
  augmented: Float32Array;
}

export interface AnalysisResult {
  /** Epochs trained when it was taken; 0 is before training. */
  epoch: number;
  step: number;
  /** Per-dimension mean and variance of h over the training set's centre views. */
  mean: Float32Array;
  variance: Float32Array;
  varianceImages: number;
  /** α per variant, averaged over `gradcamImages` training images in both views. */
  importance: Record<ImportanceVariant, Float32Array>;
  gradcamImages: number;
  gradcamLoss: number;
  mask: NonDiscriminativeMask;
  probes: ProbeSet;
  /** Grad-CAM of the probes' SSL loss, view 1 the centre view. */
  probeCam: GradCamAnalysis;
  /** Present on a run with a decoder. */
  pairs?: SynthesizedPairs;
}

/** The key of the probes' augmented views: fixed, so heat maps of different steps compare like with like. */
const probeViewEpoch = 0xffff;

export function probeSet(testSet: ImageSet, config: ResolvedConfig): ProbeSet {
  const positions = chooseProbes(testSet.labels, config.analysis.probes.count);
  const size = config.data.imageSize;
  const viewLength = size * size * 3;
  const centre = new Float32Array(positions.length * viewLength);
  const augmented = new Float32Array(positions.length * viewLength);
  positions.forEach((position, probe) => {
    probeViews(testSet.images[position]!, testSet.indices[position]!, config, {
      centre: centre.subarray(probe * viewLength, (probe + 1) * viewLength),
      augmented: augmented.subarray(probe * viewLength, (probe + 1) * viewLength),
    });
  });
  return { positions, labels: positions.map((position) => testSet.labels[position]!), centre, augmented };
}

/**
 * The two views a probe is analysed in: view 1 the centre view evaluation sees, view 2 an augmented view drawn
 * from the seed and the image's dataset position alone (never from training's streams).
 */
export function probeViews(
  image: DecodedImage,
  datasetIndex: number,
  config: ResolvedConfig,
  out: { centre: Float32Array; augmented: Float32Array },
): void {
  const size = config.data.imageSize;
  centreView(image, size, out.centre);
  const random = new RandomStream(config.seed, StreamPurpose.augment, probeViewEpoch, datasetIndex, 1);
  augmentView(image, config.augment, size, random, out.augmented);
}

/** σ_k, the per-dimension standard deviation the gaussian perturbation scales its noise by. */
export function sigmaOf(variance: Float32Array): Float32Array {
  return Float32Array.from(variance, Math.sqrt);
}

/** The mask and σ an analysis gives the perturbation. */
export function perturbationOf(result: Pick<AnalysisResult, 'variance' | 'mask'>): Perturbation {
  return { mask: result.mask.mask, sigma: sigmaOf(result.variance) };
}

export function maskOf(
  config: ResolvedConfig,
  variance: ArrayLike<number>,
  importance: Record<ImportanceVariant, ArrayLike<number>>,
): NonDiscriminativeMask {
  return nonDiscriminativeMask({
    variance,
    importance: importance[config.analysis.gradcam.variant],
    varianceQuantile: config.analysis.variance.quantile,
    gradcamQuantile: config.analysis.gradcam.quantile,
    combine: config.analysis.combine,
  });
}

/**
 * One analysis step (the paper's criteria, and what people look at): the variance of h over the training set,
 * the Grad-CAM importances from the SSL loss on training batches, the mask, and the probes' heat maps and
 * pairs. It only observes: batch-norm statistics and queues are restored and nothing random is consumed that
 * training draws from, so a run with analysis trains exactly as one without.
 */
export async function analyse(
  method: SslMethod,
  decoder: Decoder | undefined,
  config: ResolvedConfig,
  sets: { train: ImageSet; test: ImageSet; probes: ProbeSet },
  position: { epoch: number; step: number },
): Promise<AnalysisResult> {
  const size = config.data.imageSize;
  const { batchSize } = config.train;

  const accumulator = new FeatureVarianceAccumulator(method.encoder.featureDim);
  for (const batch of evalBatches(sets.train, batchSize, size)) {
    const features = tf.tidy(() => {
      const images = tf.tensor4d(batch.images, [batch.labels.length, size, size, 3]);
      return method.encoder.apply(images, 'eval').features;
    });
    try {
      await accumulator.add(features);
    } finally {
      features.dispose();
    }
  }
  // Kept as float32, the precision they are saved in, so a resumed run derives the same mask and σ.
  const measured = accumulator.result();
  const mean = Float32Array.from(measured.mean);
  const variance = Float32Array.from(measured.variance);
  const varianceImages = measured.count;

  // Whole batches of the next epoch's training views: the importance of a dimension to the loss training
  // is about to minimise, with the batch composition that loss has.
  const batches = Math.min(
    trainBatchCount(sets.train, batchSize),
    Math.ceil(config.analysis.gradcam.images / batchSize),
  );
  const order = epochOrder(sets.train.images.length, config.seed, position.epoch);
  const loaderOptions = {
    batchSize,
    imageSize: size,
    seed: config.seed,
    epoch: position.epoch,
    augment: config.augment,
  };
  const importanceSums = Object.fromEntries(
    importanceVariants.map((variant) => [variant, new Float64Array(method.encoder.featureDim)]),
  ) as Record<ImportanceVariant, Float64Array>;
  let lossSum = 0;
  for (let index = 0; index < batches; index++) {
    const batch = buildTrainBatch(sets.train, loaderOptions, order, index);
    const views = batch.views.map((view) => tf.tensor4d(view, [batchSize, size, size, 3])) as [
      tf.Tensor4D,
      tf.Tensor4D,
    ];
    try {
      const cam = await gradCamOfMethod(method, views, 'train');
      lossSum += cam.loss;
      for (const variant of importanceVariants) {
        const sum = importanceSums[variant];
        cam.importance[variant].forEach((value, dimension) => {
          sum[dimension] = sum[dimension]! + value;
        });
      }
    } finally {
      tf.dispose(views);
    }
  }
  const importance = Object.fromEntries(
    importanceVariants.map((variant) => [
      variant,
      Float32Array.from(importanceSums[variant], (sum) => sum / batches),
    ]),
  ) as Record<ImportanceVariant, Float32Array>;
  const mask = maskOf(config, variance, importance);

  const probeCount = sets.probes.positions.length;
  const probeViews = [sets.probes.centre, sets.probes.augmented].map((pixels) =>
    tf.tensor4d(pixels, [probeCount, size, size, 3]),
  ) as [tf.Tensor4D, tf.Tensor4D];
  try {
    // Evaluation mode: a probe's map depends on the others only through the loss's negatives, not batch norm.
    const probeCam = await gradCamOfMethod(method, probeViews, 'eval');
    const probeFeatures = decoder
      ? tf.tidy(() => method.encoder.apply(probeViews[0], 'eval').features)
      : undefined;
    const result: AnalysisResult = {
      ...position,
      mean,
      variance,
      varianceImages,
      importance,
      gradcamImages: batches * batchSize,
      gradcamLoss: lossSum / batches,
      mask,
      probes: sets.probes,
      probeCam,
    };
    if (decoder && probeFeatures) {
      try {
        result.pairs = await synthesizePairs(
          (h) => decoder.apply(h, 'eval'),
          probeFeatures,
          perturbationOf(result),
          {
            ...config.perturb,
            samples: config.analysis.probes.samples,
            seed: config.seed,
          },
        );
      } finally {
        probeFeatures.dispose();
      }
    }
    return result;
  } finally {
    tf.dispose(probeViews);
  }
}
