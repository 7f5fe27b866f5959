import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { initWasmBackend } from '../../../src/engine/backends/wasm/loadWasm';
import { tf } from '../../../src/engine/tf';
import { type TrainerHooks, train } from '../../../src/engine/training/trainer';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { makeImageFolder, makeTempDir } from '../../fixtures/makeImages';
import { resolvedConfig } from '../../support/config';

const identity = {
  name: 'tiny',
  pid: process.pid,
  seed: 5,
  startedAt: new Date().toISOString(),
  versions: { synthpair: 'test', tfjs: tf.version_core, node: process.versions.node },
};

function tinyConfig(root: string, epochs: number) {
  return resolvedConfig({
    name: 'tiny',
    seed: 5,
    data: { root, imageSize: 32 },
    model: { arch: 'smallcnn', width: 0.25, projector: { hiddenDim: 32, outDim: 16 } },
    augment: { colorJitter: { enabled: false }, grayscale: { enabled: false }, blur: { enabled: false } },
    ssl: { method: 'simclr' },
    train: { epochs, batchSize: 8 },
    optim: { name: 'adam', lr: 0.1, warmupEpochs: 0 },
    eval: { everyEpochs: 1, knn: { k: 5 }, linear: { epochs: 30, lr: 0.05 } },
    checkpoint: { everyEpochs: 1, keep: 0 },
  });
}

describe('trainer', function () {
  this.timeout(300_000);
  let folder: string;
  const quiet: TrainerHooks = { log: () => undefined, progress: () => undefined, shouldStop: () => false };

  before(async () => {
    folder = await makeTempDir('trainer');
    const classes = Object.fromEntries(['a', 'b', 'c', 'd'].map((name) => [name, { train: 8, test: 4 }]));
    await makeImageFolder(path.join(folder, 'data'), classes, 40);
    await initWasmBackend(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')));
  });

  after(async () => {
    await tf.setBackend('cpu');
    await rm(folder, { recursive: true, force: true });
  });

  async function newRun(name: string, epochs: number) {
    const config = tinyConfig(path.join(folder, 'data'), epochs);
    const run = await RunDirectory.create(path.join(folder, name), config, identity);
    return { config, run };
  }

  it('trains, logs every loss term, evaluates and checkpoints each epoch, without leaking tensors', async () => {
    const { config, run } = await newRun('plain', 4);
    const tensorsBefore = tf.memory().numTensors;
    const outcome = await train(
      config,
      { run, cacheFolder: path.join(folder, 'cache'), resume: false },
      quiet,
    );
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(outcome.state, 'completed');
    const metrics = (await run.readMetrics()).records;
    const epochs = metrics.filter((record) => record.kind === 'epoch');
    assert.deepEqual(
      epochs.map((record) => record.epoch),
      [1, 2, 3, 4],
    );
    assert.ok(epochs.every((record) => Number.isFinite(record.losses.contrastive)));
    assert.ok(epochs.at(-1)!.losses.contrastive! < epochs[0]!.losses.contrastive!, 'the loss did not fall');
    const evals = (await run.readEvals()).records;
    assert.equal(evals.length, 4);
    const last = evals.at(-1)!;
    assert.ok(last.knnTop1! > 0.5, `kNN top-1 ${last.knnTop1} is near chance (0.25)`);
    for (const key of ['linearTop1', 'rank1', 'rank5', 'mAP'] as const) {
      assert.ok(last[key]! >= 0 && last[key]! <= 1, `${key} = ${last[key]}`);
    }
  });

  it('logs a step record every 10 steps and at the last step of every epoch, however short', async () => {
    const { config, run } = await newRun('short-epochs', 3);
    await train(config, { run, cacheFolder: path.join(folder, 'cache'), resume: false }, quiet);
    const steps = (await run.readMetrics()).records.filter((record) => record.kind === 'step');
    // Four steps per epoch: each epoch's last step, and step 10 in the third.
    assert.deepEqual(
      steps.map(({ epoch, step }) => [epoch, step]),
      [
        [1, 4],
        [2, 8],
        [3, 10],
        [3, 12],
      ],
    );
    assert.ok(steps.every((record) => record.imagesPerSecond! > 0));
  });

  it('resumes a stopped run to the same metrics as an uninterrupted one', async () => {
    const uninterrupted = await newRun('uninterrupted', 3);
    await train(
      uninterrupted.config,
      { run: uninterrupted.run, cacheFolder: path.join(folder, 'cache'), resume: false },
      quiet,
    );

    const interrupted = await newRun('interrupted', 3);
    let steps = 0;
    // Stop in the middle of the second epoch (4 steps per epoch): its partial log must not survive the resume.
    const stopping = { ...quiet, shouldStop: () => ++steps === 6 };
    const first = await train(
      interrupted.config,
      { run: interrupted.run, cacheFolder: path.join(folder, 'cache'), resume: false },
      stopping,
    );
    assert.equal(first.state, 'stopped');
    const reopened = await RunDirectory.open(interrupted.run.dir);
    const second = await train(
      interrupted.config,
      { run: reopened, cacheFolder: path.join(folder, 'cache'), resume: true },
      quiet,
    );
    assert.equal(second.state, 'completed');

    const summary = async (run: RunDirectory) => ({
      metrics: (await run.readMetrics()).records.map(({ kind, epoch, step, losses, lr }) => ({
        kind,
        epoch,
        step,
        losses,
        lr,
      })),
      evals: (await run.readEvals()).records.map(({ time: _time, ...values }) => values),
    });
    const expected = await summary(uninterrupted.run);
    const actual = await summary(reopened);
    assert.deepEqual(actual.evals, expected.evals);
    assert.deepEqual(actual.metrics, expected.metrics);
  });
});
