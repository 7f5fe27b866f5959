import type { AugmentOptions } from './augment';
import { augmentView, centreView } from './augment';
import type { DecodedImage } from './decode';
import { RandomStream, StreamPurpose } from './random';

/** Decoded images with their labels and dataset positions (the key of each image's random streams). */
export interface ImageSet {
  images: readonly DecodedImage[];
  labels: ArrayLike<number>;
  indices: ArrayLike<number>;
}

export interface TrainBatch {
  /** Two augmented views of the same images, each `[batch, size, size, 3]` floats in [0, 1]. */
  views: [Float32Array, Float32Array];
  labels: Int32Array;
  /** Dataset positions of the batch's images. */
  indices: Int32Array;
}

export interface EvalBatch {
  images: Float32Array;
  labels: Int32Array;
  indices: Int32Array;
}

export interface TrainLoaderOptions {
  batchSize: number;
  imageSize: number;
  seed: number;
  epoch: number;
  augment: AugmentOptions;
}

/** Full batches only: a short last batch would change the contrastive loss's number of negatives. */
export function trainBatchCount(set: ImageSet, batchSize: number): number {
  return Math.floor(set.images.length / batchSize);
}

/**
 * The epoch's order: a permutation of the set drawn from (seed, epoch) only, so a resumed run sees the
 * same order as an uninterrupted one.
 */
export function epochOrder(count: number, seed: number, epoch: number): Int32Array {
  const order = Array.from({ length: count }, (_, i) => i);
  new RandomStream(seed, StreamPurpose.shuffle, epoch).shuffleInPlace(order);
  return Int32Array.from(order);
}

/** Builds batch `batchIndex` of an epoch; pure in its arguments, so any worker can build any batch. */
export function buildTrainBatch(
  set: ImageSet,
  options: TrainLoaderOptions,
  order: Int32Array,
  batchIndex: number,
): TrainBatch {
  const { batchSize, imageSize, seed, epoch, augment } = options;
  const viewLength = imageSize * imageSize * 3;
  const views: [Float32Array, Float32Array] = [
    new Float32Array(batchSize * viewLength),
    new Float32Array(batchSize * viewLength),
  ];
  const labels = new Int32Array(batchSize);
  const indices = new Int32Array(batchSize);
  for (let b = 0; b < batchSize; b++) {
    const position = order[batchIndex * batchSize + b]!;
    const datasetIndex = set.indices[position]!;
    labels[b] = set.labels[position]!;
    indices[b] = datasetIndex;
    for (let view = 0; view < 2; view++) {
      const random = new RandomStream(seed, StreamPurpose.augment, epoch, datasetIndex, view);
      const out = views[view]!.subarray(b * viewLength, (b + 1) * viewLength);
      augmentView(set.images[position]!, augment, imageSize, random, out);
    }
  }
  return { views, labels, indices };
}

/** One training epoch, one batch prepared ahead while the caller works on the current one. */
export function trainBatches(set: ImageSet, options: TrainLoaderOptions): AsyncGenerator<TrainBatch> {
  const order = epochOrder(set.images.length, options.seed, options.epoch);
  return prefetch(trainBatchCount(set, options.batchSize), (batchIndex) =>
    buildTrainBatch(set, options, order, batchIndex),
  );
}

/** Centre views in dataset order, the last batch possibly short, so every image is evaluated once. */
export function* evalBatches(set: ImageSet, batchSize: number, imageSize: number): Generator<EvalBatch> {
  const viewLength = imageSize * imageSize * 3;
  for (let start = 0; start < set.images.length; start += batchSize) {
    const count = Math.min(batchSize, set.images.length - start);
    const batch: EvalBatch = {
      images: new Float32Array(count * viewLength),
      labels: new Int32Array(count),
      indices: new Int32Array(count),
    };
    for (let b = 0; b < count; b++) {
      centreView(
        set.images[start + b]!,
        imageSize,
        batch.images.subarray(b * viewLength, (b + 1) * viewLength),
      );
      batch.labels[b] = set.labels[start + b]!;
      batch.indices[b] = set.indices[start + b]!;
    }
    yield batch;
  }
}

/**
 * Yields `build(0..count-1)`, starting each build on a later turn of the event loop right after handing
 * out the previous item: it then runs whenever the consumer awaits (a backend's data download, a log
 * write), and at worst costs what building in line would.
 */
async function* prefetch<T>(count: number, build: (index: number) => T): AsyncGenerator<T> {
  let pending = count > 0 ? buildLater(() => build(0)) : undefined;
  try {
    for (let index = 0; index < count; index++) {
      const current = await pending!;
      pending = index + 1 < count ? buildLater(() => build(index + 1)) : undefined;
      yield current;
    }
  } finally {
    // The consumer stopped early: a failure of the unused batch is nobody's to handle.
    pending?.catch(() => undefined);
  }
}

function buildLater<T>(build: () => T): Promise<T> {
  return new Promise((resolve, reject) =>
    setImmediate(() => {
      try {
        resolve(build());
      } catch (error) {
        reject(error);
      }
    }),
  );
}
