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
  /**
   * Two augmented views of the same images, each `[batch, size, size, 3]` floats in [0, 1]. Every array
   * owns a plain buffer of its own, so a worker can transfer them without a copy.
   */
  views: [Float32Array<ArrayBuffer>, Float32Array<ArrayBuffer>];
  /** The un-augmented centre views the decoder reconstructs, when {@link TrainLoaderOptions.centreViews} asks. */
  centre?: Float32Array<ArrayBuffer>;
  labels: Int32Array<ArrayBuffer>;
  /** Dataset positions of the batch's images. */
  indices: Int32Array<ArrayBuffer>;
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
  /** Also build each image's centre view, the reconstruction target of the decoder. */
  centreViews?: boolean;
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
  const views: TrainBatch['views'] = [
    new Float32Array(batchSize * viewLength),
    new Float32Array(batchSize * viewLength),
  ];
  const labels = new Int32Array(batchSize);
  const indices = new Int32Array(batchSize);
  const centre = options.centreViews ? new Float32Array(batchSize * viewLength) : undefined;
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
    if (centre)
      centreView(set.images[position]!, imageSize, centre.subarray(b * viewLength, (b + 1) * viewLength));
  }
  return centre ? { views, centre, labels, indices } : { views, labels, indices };
}

/**
 * Where a training run's batches come from. One source serves every epoch of a run, so whatever it sets
 * up (worker threads, shared pixels) is paid once; `dispose` releases it.
 */
export interface TrainBatchSource {
  /**
   * The epoch's batches from `firstBatch` on, each as the whole epoch would have built it: a run resumed in
   * the middle of an epoch skips the batches it trained without building them.
   */
  epoch(options: TrainLoaderOptions, firstBatch?: number): AsyncGenerator<TrainBatch>;
  dispose(): Promise<void>;
}

/** One training epoch built on this thread, one batch ahead while the caller works on the current one. */
export function trainBatches(
  set: ImageSet,
  options: TrainLoaderOptions,
  firstBatch = 0,
): AsyncGenerator<TrainBatch> {
  const order = epochOrder(set.images.length, options.seed, options.epoch);
  const batches = { from: firstBatch, to: trainBatchCount(set, options.batchSize) };
  return prefetchInOrder(batches, 1, (batchIndex) =>
    buildLater(() => buildTrainBatch(set, options, order, batchIndex)),
  );
}

export function inThreadBatchSource(set: ImageSet): TrainBatchSource {
  return {
    epoch: (options, firstBatch) => trainBatches(set, options, firstBatch),
    dispose: async () => undefined,
  };
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
 * Yields the results of `start(from..to-1)` in order, keeping up to `ahead` of them started beyond the one
 * handed out, so they are built while the consumer works.
 */
export async function* prefetchInOrder<T>(
  indices: { from: number; to: number },
  ahead: number,
  start: (index: number) => Promise<T>,
): AsyncGenerator<T> {
  const started: Promise<T>[] = [];
  let next = indices.from;
  const topUp = () => {
    for (; next < indices.to && started.length < ahead; next++) {
      const result = start(next);
      // A batch may fail before its turn, or after the consumer stopped: it is reported when awaited, if
      // ever, and must not count as an unhandled rejection meanwhile.
      result.catch(() => undefined);
      started.push(result);
    }
  };
  topUp();
  while (started.length > 0) {
    const current = await started.shift()!;
    topUp();
    yield current;
  }
}

/**
 * Starts a build on a later turn of the event loop: it then runs whenever the consumer awaits (a backend's
 * data download, a log write), and at worst costs what building in line would.
 */
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
