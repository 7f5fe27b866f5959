import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { latestAnalysis, readAnalysisArray } from '../../../src/engine/analysis/artefacts';
import { initWasmBackend } from '../../../src/engine/backends/wasm/loadWasm';
import { loadLatestCheckpoint } from '../../../src/engine/checkpoint';
import { tf } from '../../../src/engine/tf';
import { type TrainerHooks, train } from '../../../src/engine/training/trainer';
import { listAnalysisSteps, readAnalysisStep } from '../../../src/shared/runFolder/analysisSteps';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { makeImageFolder, makeTempDir } from '../../fixtures/makeImages';
import { type Config, mergeConfig, resolvedConfig } from '../../support/config';

const identity = {
  name: 'method',
  pid: process.pid,
  seed: 3,
  startedAt: new Date().toISOString(),
  versions: { synthpair: 'test', tfjs: tf.version_core, node: process.versions.node },
};

function methodConfig(root: string, patch: Config) {
  const base = {
    name: 'method',
    seed: 3,
    data: { root, imageSize: 32 },
    model: { arch: 'smallcnn', width: 0.25, projector: { hiddenDim: 32, outDim: 16 } },
    augment: { colorJitter: { enabled: false }, grayscale: { enabled: false }, blur: { enabled: false } },
    ssl: { method: 'mocov2', mocov2: { queueSize: 32, momentum: 0.9 } },
    train: { epochs: 3, batchSize: 8 },
    optim: { name: 'adam', lr: 0.1, warmupEpochs: 0 },
    eval: { everyEpochs: 0, knn: { k: 5 }, linear: { epochs: 10, lr: 0.05 } },
    analysis: { probes: { count: 6, samples: 2 }, gradcam: { images: 16 } },
    decoder: { width: 0.25 },
    synthesis: { startEpoch: 1 },
    checkpoint: { everyEpochs: 1, keep: 0 },
  };
  return resolvedConfig(mergeConfig(base, patch));
}

describe('the synthesized-pair method in training', function () {
  this.timeout(300_000);
  let folder: string;
  const quiet: TrainerHooks = { log: () => undefined, progress: () => undefined, shouldStop: () => false };

  before(async () => {
    folder = await makeTempDir('method');
    const classes = Object.fromEntries(['a', 'b', 'c', 'd'].map((name) => [name, { train: 8, test: 3 }]));
    await makeImageFolder(path.join(folder, 'data'), classes, 40);
    await initWasmBackend(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')));
  });

  after(async () => {
    await tf.setBackend('cpu');
    await rm(folder, { recursive: true, force: true });
  });

  async function trainRun(name: string, patch: Config) {
    const config = methodConfig(path.join(folder, 'data'), patch);
    const run = await RunDirectory.create(path.join(folder, name), config, identity);
    const outcome = await train(
      config,
      { run, cacheFolder: path.join(folder, 'cache'), resume: false },
      quiet,
    );
    assert.equal(outcome.state, 'completed');
    return { config, run };
  }

  const checkpointTensors = async (run: RunDirectory) => {
    const latest = (await loadLatestCheckpoint(run.file('checkpoints')))!;
    const values = new Map([...latest.tensors].map(([name, tensor]) => [name, [...tensor.dataSync()]]));
    tf.dispose([...latest.tensors.values()]);
    return values;
  };

  it('with α = ν = 0 builds no decoder, and analysing every epoch trains exactly as analysing only at the end', async () => {
    const baseline = { loss: { alpha: 0, nu: 0 } };
    const everyEpoch = await trainRun('observed', {
      ...baseline,
      analysis: { everyEpochs: 1, probes: { count: 6 } },
    });
    const atEnd = await trainRun('plain', {
      ...baseline,
      analysis: { everyEpochs: 0, probes: { count: 6 } },
    });

    const losses = async (run: RunDirectory) =>
      (await run.readMetrics()).records.map(({ kind, epoch, step, losses: terms, lr }) => ({
        kind,
        epoch,
        step,
        terms,
        lr,
      }));
    const observedLosses = await losses(everyEpoch.run);
    assert.deepEqual(observedLosses, await losses(atEnd.run));
    assert.ok(observedLosses.every((record) => Object.keys(record.terms).join() === 'contrastive'));
    const evals = async (run: RunDirectory) =>
      (await run.readEvals()).records.map(({ time: _time, ...figures }) => figures);
    assert.deepEqual(await evals(everyEpoch.run), await evals(atEnd.run));

    const observedWeights = await checkpointTensors(everyEpoch.run);
    assert.deepEqual(observedWeights, await checkpointTensors(atEnd.run));
    assert.ok(![...observedWeights.keys()].some((name) => name.startsWith('decoder.')));

    assert.deepEqual(
      (await listAnalysisSteps(everyEpoch.run.dir)).map((step) => step.epoch),
      [1, 2, 3],
    );
    assert.deepEqual(
      (await listAnalysisSteps(atEnd.run.dir)).map((step) => step.epoch),
      [3],
    );
    const saved = (await latestAnalysis(atEnd.run.dir))!;
    assert.equal(saved.manifest.perturb, undefined, 'a run without a decoder has no pairs');
    assert.deepEqual(Object.keys(saved.manifest.grids), ['heatmaps']);
  });

  it('trains the decoder and the pairs, logs every term, and saves each analysis step', async () => {
    const { config, run } = await trainRun('method', {});
    const records = (await run.readMetrics()).records;
    for (const record of records) {
      assert.deepEqual(Object.keys(record.losses).sort(), [
        'contrastive',
        'pairs',
        'reconstruction',
        'total',
      ]);
      const { contrastive, reconstruction, pairs, total } = record.losses as Record<string, number>;
      if (record.kind === 'step') {
        assert.ok(
          Math.abs(total! - (contrastive! + reconstruction! + pairs!)) < 1e-4,
          JSON.stringify(record),
        );
      }
    }
    const epochs = records.filter((record) => record.kind === 'epoch');
    assert.ok(
      epochs.at(-1)!.losses.reconstruction! < 0.8 * epochs[0]!.losses.reconstruction!,
      `L_R did not fall: ${epochs.map((record) => record.losses.reconstruction).join(' → ')}`,
    );
    assert.ok((await checkpointTensors(run)).has('decoder.head.weight'), 'the checkpoint holds the decoder');

    // startEpoch 1: the mask is computed before training, then after each epoch.
    const steps = await listAnalysisSteps(run.dir);
    assert.deepEqual(
      steps.map((step) => step.epoch),
      [0, 1, 2, 3],
    );
    const saved = await readAnalysisStep(steps.at(-1)!);
    const { manifest } = saved;
    const dimensions = manifest.dimensions;
    const mask = (await readAnalysisArray(saved, 'mask')) as Uint8Array;
    assert.equal(mask.length, dimensions);
    assert.equal(
      mask.reduce((total, bit) => total + bit, 0),
      manifest.masked,
    );
    assert.equal(manifest.variance.count, Math.floor(0.25 * dimensions));
    assert.equal(manifest.gradcam.count, Math.floor(0.25 * dimensions));
    assert.ok(manifest.masked >= manifest.variance.count && manifest.masked <= 2 * manifest.variance.count);
    assert.equal(manifest.variance.images, 24, 'the 32 training images but the 8 held out for validation');
    assert.equal(manifest.gradcam.images, 16);
    assert.equal(manifest.probes.testPositions.length, 6);
    assert.deepEqual(manifest.probes.classNames.slice(0, 4).sort(), ['a', 'b', 'c', 'd']);
    const variance = (await readAnalysisArray(saved, 'variance')) as Float32Array;
    const threshold = manifest.variance.threshold!;
    assert.equal(variance.filter((value) => value <= threshold).length >= manifest.variance.count, true);
    const expectShape = (name: string, shape: number[]) =>
      assert.deepEqual(manifest.arrays[name]?.shape, shape, name);
    expectShape('probes.centre', [6, 32, 32, 3]);
    expectShape('heatmap.gradCam', [2, 6, 32, 32]);
    expectShape('heatmap.gradientTimesActivation', [2, 6, 32, 32]);
    expectShape('cam.gradCam', [2, 6, ...manifest.featureMapSize]);
    expectShape('reconstructions', [6, 32, 32, 3]);
    expectShape('perturbed', [2, 6, 32, 32, 3]);
    for (const name of Object.keys(manifest.arrays)) {
      await readAnalysisArray(saved, name);
    }
    const heatmap = (await readAnalysisArray(saved, 'heatmap.gradCam')) as Uint8Array;
    assert.ok(Math.max(...heatmap) === 255, 'each map is normalised to its maximum');
    const perturbed = (await readAnalysisArray(saved, 'perturbed')) as Uint8Array;
    const reconstructions = (await readAnalysisArray(saved, 'reconstructions')) as Uint8Array;
    assert.ok(
      perturbed.subarray(0, reconstructions.length).some((value, index) => value !== reconstructions[index]),
      'the perturbation changed nothing',
    );

    const heatmapsPng = await sharp(path.join(saved.folder, manifest.grids.heatmaps!)).metadata();
    // Six tiles per probe row (two views, each plain and under both maps) with 2-pixel gaps.
    assert.deepEqual([heatmapsPng.width, heatmapsPng.height], [6 * 32 + 5 * 2, 6 * 32 + 5 * 2]);
    const pairsPng = await sharp(path.join(saved.folder, manifest.grids.pairs!)).metadata();
    // Image, d(h), two d(h′), difference.
    assert.deepEqual([pairsPng.width, pairsPng.height], [5 * 32 + 4 * 2, 6 * 32 + 5 * 2]);
    assert.equal(config.analysis.probes.samples, 2);
    assert.ok(
      (await readFile(path.join(saved.folder, 'analysis.json'), 'utf8')).includes('"combine": "union"'),
    );
  });

  it('resumes the method to the same losses, analyses and weights as an uninterrupted run', async () => {
    const uninterrupted = await trainRun('whole', {});
    const config = methodConfig(path.join(folder, 'data'), {});
    const interrupted = await RunDirectory.create(path.join(folder, 'halves'), config, identity);
    let steps = 0;
    const stopped = await train(
      config,
      { run: interrupted, cacheFolder: path.join(folder, 'cache'), resume: false },
      { ...quiet, shouldStop: () => ++steps === 6 },
    );
    assert.equal(stopped.state, 'stopped');
    const reopened = await RunDirectory.open(interrupted.dir);
    await train(config, { run: reopened, cacheFolder: path.join(folder, 'cache'), resume: true }, quiet);

    const losses = async (run: RunDirectory) =>
      (await run.readMetrics()).records.map(({ epoch, step, losses: terms }) => ({ epoch, step, terms }));
    assert.deepEqual(await losses(reopened), await losses(uninterrupted.run));
    assert.deepEqual(await checkpointTensors(reopened), await checkpointTensors(uninterrupted.run));
    const variances = async (run: RunDirectory) =>
      Promise.all(
        (await listAnalysisSteps(run.dir)).map(async (step) => [
          step.epoch,
          [...(await readAnalysisArray(await readAnalysisStep(step), 'variance'))],
        ]),
      );
    assert.deepEqual(await variances(reopened), await variances(uninterrupted.run));
  });
});
