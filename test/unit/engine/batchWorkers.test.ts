import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { type AugmentOptions, mocoV2AugPlus } from '../../../src/engine/data/augment';
import { BatchWorkerPool, openTrainBatchSource } from '../../../src/engine/data/batchWorkerPool';
import type { DecodedImage } from '../../../src/engine/data/decode';
import {
  buildTrainBatch,
  epochOrder,
  type ImageSet,
  type TrainBatch,
  type TrainBatchSource,
  trainBatchCount,
  trainBatches,
} from '../../../src/engine/data/loader';
import { RandomStream } from '../../../src/engine/data/random';
import { repoRoot } from '../../support/paths';

function randomImageSet(count: number, size: number): ImageSet {
  const random = new RandomStream(99);
  const images: DecodedImage[] = Array.from({ length: count }, () => ({
    size,
    pixels: Uint8Array.from({ length: size * size * 3 }, () => random.integer(0, 255)),
  }));
  return {
    images,
    labels: Int32Array.from({ length: count }, (_, i) => i % 5),
    // Dataset positions with gaps, as when some files fail to decode: the random streams are keyed by them.
    indices: Int32Array.from({ length: count }, (_, i) => 3 * i + 1),
  };
}

async function collect<T>(batches: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const batch of batches) all.push(batch);
  return all;
}

function bytesOf(batch: TrainBatch): Buffer[] {
  return [...batch.views, batch.labels, batch.indices].map((array) =>
    Buffer.from(array.buffer, array.byteOffset, array.byteLength),
  );
}

describe('batch worker pool', () => {
  const set = randomImageSet(40, 20);
  const options = { batchSize: 6, imageSize: 16, seed: 11, epoch: 0, augment: mocoV2AugPlus() };
  let pool: BatchWorkerPool;

  before(async () => {
    pool = await BatchWorkerPool.start(set, { workers: 2 });
  });

  after(async () => {
    await pool.dispose();
  });

  it('builds every epoch bit for bit as the training thread does', async () => {
    // Blur and grayscale on every view, so each augmentation step runs in the workers.
    const augment: AugmentOptions = {
      ...mocoV2AugPlus(),
      blur: { enabled: true, prob: 1, sigma: [0.5, 1.5] },
      grayscale: { enabled: true, prob: 0.5 },
    };
    for (const epoch of [0, 1, 2]) {
      const epochOptions = { ...options, epoch, augment };
      const fromPool = await collect(pool.epoch(epochOptions));
      const order = epochOrder(set.images.length, options.seed, epoch);
      assert.equal(fromPool.length, trainBatchCount(set, options.batchSize));
      fromPool.forEach((batch, batchIndex) => {
        const expected = buildTrainBatch(set, epochOptions, order, batchIndex);
        assert.deepEqual(bytesOf(batch), bytesOf(expected), `epoch ${epoch}, batch ${batchIndex}`);
      });
    }
  });

  it('starts an epoch at a later batch with the batches the whole epoch has there, on workers and in thread', async () => {
    const epochOptions = { ...options, epoch: 2 };
    const whole = (await collect(pool.epoch(epochOptions))).map(bytesOf);
    assert.equal(whole.length, 6);
    assert.deepEqual((await collect(pool.epoch(epochOptions, 4))).map(bytesOf), whole.slice(4));
    assert.deepEqual((await collect(trainBatches(set, epochOptions, 4))).map(bytesOf), whole.slice(4));
    assert.deepEqual(await collect(pool.epoch(epochOptions, 6)), []);
  });

  it("rejects the batch with the worker's error and goes on building later ones", async () => {
    const broken = { ...options, augment: {} as AugmentOptions };
    const order = epochOrder(set.images.length, options.seed, 0);
    const inThread = (() => {
      try {
        buildTrainBatch(set, broken, order, 0);
      } catch (error) {
        return error as Error;
      }
      assert.fail('the broken options should throw');
    })();
    await assert.rejects(collect(pool.epoch(broken)), (error: Error) => {
      assert.equal(error.message, inThread.message);
      return true;
    });
    assert.equal((await collect(pool.epoch(options))).length, trainBatchCount(set, options.batchSize));
  });

  it('lives on when a consumer stops early, and has no worker left once disposed', async () => {
    const ownPool = await BatchWorkerPool.start(set, { workers: 2 });
    for await (const batch of ownPool.epoch(options)) {
      assert.equal(batch.labels.length, options.batchSize);
      break;
    }
    assert.equal(ownPool.liveWorkers, 2);
    const nextEpoch = await collect(ownPool.epoch({ ...options, epoch: 1 }));
    assert.equal(nextEpoch.length, trainBatchCount(set, options.batchSize));
    await ownPool.dispose();
    assert.equal(ownPool.liveWorkers, 0);
    await assert.rejects(collect(ownPool.epoch(options)), /disposed/);
  });

  it('lets the process exit when a consumer stops early without disposing the pool', () => {
    const poolModule = path.join(repoRoot, 'src/engine/data/batchWorkerPool.ts');
    const script = `
      const { BatchWorkerPool } = require(${JSON.stringify(poolModule)});
      const images = Array.from({ length: 40 }, () => ({ size: 20, pixels: new Uint8Array(20 * 20 * 3) }));
      const set = { images, labels: new Int32Array(40), indices: Int32Array.from(images, (_, i) => i) };
      const augment = ${JSON.stringify(mocoV2AugPlus())};
      const options = { batchSize: 4, imageSize: 16, seed: 1, epoch: 0, augment };
      (async () => {
        const pool = await BatchWorkerPool.start(set, { workers: 2 });
        for await (const batch of pool.epoch(options)) break;
        console.log('stopped early');
      })();
    `;
    const child = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.signal, null, 'the process hung and was killed');
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /stopped early/);
  });

  it('falls back to the training thread, saying so once, when workers cannot start', async () => {
    const messages: string[] = [];
    const source: TrainBatchSource = await openTrainBatchSource(set, (message) => messages.push(message), {
      entry: { file: path.join(__dirname, 'no-such-batch-worker.js'), execArgv: undefined },
    });
    assert.ok(!(source instanceof BatchWorkerPool));
    assert.equal(messages.length, 1);
    assert.match(messages[0]!, /batch workers did not start \(.*no-such-batch-worker/);
    const batches = await collect(source.epoch(options));
    assert.deepEqual(batches.map(bytesOf), (await collect(trainBatches(set, options))).map(bytesOf));
    await source.dispose();

    const mixedSizes = {
      ...set,
      images: [...set.images.slice(1), { size: 10, pixels: new Uint8Array(300) }],
    };
    await assert.rejects(BatchWorkerPool.start(mixedSizes), /image 39 is 10 pixels wide, the first 20/);
  });
});
