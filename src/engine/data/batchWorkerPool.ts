import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  epochOrder,
  type ImageSet,
  inThreadBatchSource,
  prefetchInOrder,
  type TrainBatch,
  type TrainBatchSource,
  type TrainLoaderOptions,
  trainBatchCount,
} from './loader';

/** The training set as the batch workers see it: all pixels in one buffer, image `i` at `i × imageBytes`. */
export interface SharedImageSet {
  pixels: SharedArrayBuffer;
  count: number;
  imageSize: number;
  labels: Int32Array;
  indices: Int32Array;
}

/** Asks for one batch: `positions` are its slice of the epoch's order. */
export interface BatchRequest {
  id: number;
  options: TrainLoaderOptions;
  positions: Int32Array<ArrayBuffer>;
}

export type BatchResult =
  | { kind: 'batch'; id: number; batch: TrainBatch }
  | { kind: 'failed'; id: number; message: string; stack: string | undefined };

/** A worker says `ready` once, when it has loaded, then answers each request with a result. */
export type BatchWorkerReply = { kind: 'ready' } | BatchResult;

export interface WorkerEntry {
  file: string;
  execArgv: string[] | undefined;
}

export interface BatchWorkerPoolOptions {
  workers?: number;
  /** Which script the workers run; tests point it elsewhere to see a pool fail to start. */
  entry?: WorkerEntry;
}

/**
 * One core is left to the trainer, which the wasm backend runs on a single thread, and the others augment.
 * At most four, because each worker keeps a batch in flight and a batch takes memory: 300 MB for 256
 * images at 224 pixels.
 */
function defaultWorkerCount(): number {
  return Math.min(4, Math.max(1, os.availableParallelism() - 1));
}

/**
 * Bundles run `dist/batchWorker.js` beside them. Sources run under tsx (unit tests, benchmarks): a worker
 * thread does not inherit the loader mocha or tsx registered in this thread, so it gets tsx again. Its path
 * is resolved here, since a worker resolves `--require` against the working folder; `createRequire` keeps
 * esbuild from seeing tsx as a dependency of the bundles, which never take this branch.
 */
function batchWorkerEntry(): WorkerEntry {
  if (__filename.endsWith('.ts')) {
    return {
      file: path.join(__dirname, 'batchWorker.ts'),
      execArgv: ['--require', createRequire(__filename).resolve('tsx/cjs')],
    };
  }
  return { file: path.join(__dirname, 'batchWorker.js'), execArgv: undefined };
}

/**
 * Copies the decoded images once into memory that every worker reads without a copy of its own, and points
 * each image at its shared copy: the run then holds its pixels once, not twice (a gigabyte for the bird
 * set at 224 pixels).
 */
function shareImageSet(set: ImageSet): SharedImageSet {
  const imageSize = set.images[0]?.size ?? 0;
  const imageBytes = imageSize * imageSize * 3;
  const pixels = new SharedArrayBuffer(set.images.length * imageBytes);
  const target = new Uint8Array(pixels);
  set.images.forEach((image, i) => {
    if (image.size !== imageSize || image.pixels.length !== imageBytes) {
      throw new RangeError(`image ${i} is ${image.size} pixels wide, the first ${imageSize}`);
    }
    target.set(image.pixels, i * imageBytes);
  });
  set.images.forEach((image, i) => {
    image.pixels = new Uint8Array(pixels, i * imageBytes, imageBytes);
  });
  return {
    pixels,
    count: set.images.length,
    imageSize,
    labels: Int32Array.from(set.labels),
    indices: Int32Array.from(set.indices),
  };
}

interface BatchWorker {
  thread: Worker;
  inFlight: number;
}

interface PendingBatch {
  worker: BatchWorker;
  resolve(batch: TrainBatch): void;
  reject(error: Error): void;
}

/**
 * Worker threads that build training batches ahead of the trainer, so augmentation runs on the cores the
 * trainer leaves idle. Batches come back bit for bit as `buildTrainBatch` builds them on this thread: each
 * view's randomness is addressed by (seed, epoch, dataset index, view), not by which thread draws it.
 */
export class BatchWorkerPool implements TrainBatchSource {
  private readonly pending = new Map<number, PendingBatch>();
  private nextId = 0;
  private live: number;
  private failure: Error | undefined;

  private constructor(
    private readonly set: ImageSet,
    private readonly workers: BatchWorker[],
  ) {
    this.live = workers.length;
    for (const worker of workers) {
      worker.thread.on('message', (result: BatchResult) => this.settle(worker, result));
      worker.thread.on('error', (error) => this.fail(error));
      worker.thread.on('exit', (code) => {
        this.live--;
        this.fail(new Error(`a batch worker stopped with exit code ${code}`));
      });
      // An idle pool must not keep the process alive; `request` holds it while a batch is being built.
      worker.thread.unref();
    }
  }

  /** Resolves once every worker has loaded; rejects, with no worker left running, if one cannot. */
  static async start(set: ImageSet, options: BatchWorkerPoolOptions = {}): Promise<BatchWorkerPool> {
    const shared = shareImageSet(set);
    const entry = options.entry ?? batchWorkerEntry();
    const threads: Worker[] = [];
    try {
      for (let i = 0; i < (options.workers ?? defaultWorkerCount()); i++) {
        threads.push(new Worker(entry.file, { workerData: shared, execArgv: entry.execArgv }));
      }
      await Promise.all(threads.map(untilReady));
    } catch (error) {
      await Promise.all(threads.map((thread) => thread.terminate()));
      throw error;
    }
    return new BatchWorkerPool(
      set,
      threads.map((thread) => ({ thread, inFlight: 0 })),
    );
  }

  get liveWorkers(): number {
    return this.live;
  }

  /** One epoch's batches from `firstBatch` on; each worker builds one while another waits ready for the trainer. */
  epoch(options: TrainLoaderOptions, firstBatch = 0): AsyncGenerator<TrainBatch> {
    const order = epochOrder(this.set.images.length, options.seed, options.epoch);
    const { batchSize } = options;
    const batches = { from: firstBatch, to: trainBatchCount(this.set, batchSize) };
    return prefetchInOrder(batches, this.workers.length + 1, (batchIndex) =>
      this.request(options, order.slice(batchIndex * batchSize, (batchIndex + 1) * batchSize)),
    );
  }

  async dispose(): Promise<void> {
    this.fail(new Error('the batch worker pool was disposed'));
    await Promise.all(this.workers.map((worker) => worker.thread.terminate()));
  }

  private request(options: TrainLoaderOptions, positions: Int32Array<ArrayBuffer>): Promise<TrainBatch> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const worker = this.workers[id % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { worker, resolve, reject });
      if (worker.inFlight++ === 0) worker.thread.ref();
      const request: BatchRequest = { id, options, positions };
      worker.thread.postMessage(request, [positions.buffer]);
    });
  }

  private settle(worker: BatchWorker, result: BatchResult): void {
    const pending = this.pending.get(result.id);
    // Gone when the pool failed or was disposed while the worker built it.
    if (!pending) return;
    this.pending.delete(result.id);
    if (--worker.inFlight === 0) worker.thread.unref();
    if (result.kind === 'batch') {
      pending.resolve(result.batch);
      return;
    }
    const error = new Error(result.message);
    // The worker's stack points at the augmentation code that threw, this thread's only at the pool.
    if (result.stack) error.stack = result.stack;
    pending.reject(error);
  }

  /** A worker that died takes its queue with it, so the pool fails every batch from then on. */
  private fail(error: Error): void {
    this.failure ??= error;
    for (const pending of this.pending.values()) {
      pending.reject(this.failure);
      if (--pending.worker.inFlight === 0) pending.worker.thread.unref();
    }
    this.pending.clear();
  }
}

/** A worker's first message says it has loaded; before that an error or exit means it cannot run. */
function untilReady(thread: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number) =>
      reject(new Error(`a batch worker exited with code ${code} while starting`));
    thread.once('message', () => {
      thread.off('error', reject);
      thread.off('exit', onExit);
      resolve();
    });
    thread.once('error', reject);
    thread.once('exit', onExit);
  });
}

/**
 * Batches from worker threads, or from this thread when workers cannot start (a missing bundle, a host
 * without worker threads): training then only runs slower, and `log` says why once.
 */
export async function openTrainBatchSource(
  set: ImageSet,
  log: (message: string) => void,
  options: BatchWorkerPoolOptions = {},
): Promise<TrainBatchSource> {
  try {
    return await BatchWorkerPool.start(set, options);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`batch workers did not start (${reason}); building training batches on the training thread`);
    return inThreadBatchSource(set);
  }
}
