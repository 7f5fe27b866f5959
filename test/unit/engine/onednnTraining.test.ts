import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { selectBackend } from '../../../src/engine/backends/selectBackend';
import { loadLatestCheckpoint } from '../../../src/engine/checkpoint';
import { createMethodFor } from '../../../src/engine/methods/registry';
import { tf } from '../../../src/engine/tf';
import { train } from '../../../src/engine/training/trainer';
import { writeExampleDataset } from '../../../src/host/newExperiment/exampleDataset';
import type { ResolvedConfig } from '../../../src/shared/config/experiment/definitions';
import type { EvalRecord } from '../../../src/shared/protocol/runFiles';
import type { TrainingProgressMessage } from '../../../src/shared/protocol/worker';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { makeTempDir } from '../../fixtures/makeImages';
import { type Config, mergeConfig, resolvedConfig } from '../../support/config';
import { NativeCallCounter, selectOneDnnOrSkip } from '../../support/onednn';

/** The generated insects, 8 fine-grained classes: 96 training and 32 test images. */
const dataset = { trainPerClass: 12, testPerClass: 4 };

/**
 * How far apart the two backends may end, from runs of this config with seeds 1–8 on both. The backends
 * differ only in the order of float32 sums, which chaotic training amplifies step by step: the first
 * losses differed by at most 3.6e-7 (relative), later steps by 6.1e-4, epoch means by 1.8e-4, and
 * the final kNN and linear accuracies by at most one test image. A different seed moves the epoch-mean
 * loss by about 2 % and the final accuracies by 0.06 (kNN) and 0.09 (linear probe), one standard deviation
 * each, so the loss and accuracy bounds sit about ten times above the backends' difference and well inside
 * the seed-to-seed noise.
 */
const agreement = {
  firstLoss: 1e-5,
  stepLoss: 5e-3,
  epochLoss: 2e-3,
  /** Two of the 32 test images. */
  accuracy: 2 / 32,
  /**
   * ‖θ_onednn − θ_wasm‖ / ‖θ_wasm − θ₀‖ per model tensor. 18 Adam steps hardly show a wrong gradient in
   * the loss (a flipped batch-norm offset gradient stayed inside the loss bounds), but the weights it moves
   * do: that flip makes this ratio 2, while the backends' honest difference peaked at 0.056 over the 8 seeds.
   */
  weightUpdate: 0.25,
};

/**
 * Memory is measured from the end of this epoch, when every shape (training, evaluation, analysis,
 * checkpoint) has been seen and oneDNN has cached its primitives, to the end of the last. In eleven runs of
 * 8 to 24 epochs, resident memory on onednn climbed 20–30 MB during the first epochs of a fresh process and
 * grew at most 14 MB from epoch 4 on; wasm's stayed within 4 MB and the JS heap within 1 MB. The resident
 * bound still catches a native leak of 450 KB per step over the 72 steps measured, less than the outputs of
 * one step's convolutions (the first stage's alone is 256 KB).
 */
const memoryBaselineEpoch = 4;
const memoryGrowthBound = { rss: 32 * 2 ** 20, heap: 4 * 2 ** 20 };

/**
 * A full garbage collection, so resident memory counts what is live rather than when V8 last collected
 * the buffers of disposed tensors: uncollected, it drifted up 16 MB over 14 epochs without a leak. Mocha
 * runs without --expose-gc; this is how Jest's leak detection reaches the same function.
 */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

function relativeDifference(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

function epochMeans(losses: readonly number[], stepsPerEpoch: number): number[] {
  const means: number[] = [];
  for (let start = 0; start < losses.length; start += stepsPerEpoch) {
    const epoch = losses.slice(start, start + stepsPerEpoch);
    means.push(epoch.reduce((total, loss) => total + loss, 0) / epoch.length);
  }
  return means;
}

function experiment(root: string, backend: 'onednn' | 'wasm', patch: Config): ResolvedConfig {
  return resolvedConfig(
    mergeConfig(
      {
        name: `onednn-${backend}`,
        seed: 1,
        backend,
        // The whole training split, as when the agreement bounds above were measured.
        data: { root, imageSize: 32, validation: { fraction: 0 } },
        model: { arch: 'smallcnn', width: 0.25, projector: { hiddenDim: 32, outDim: 16 } },
        ssl: { method: 'simclr' },
        // Without the decoder: its upsampling is differentiated through Concat, whose SplitV gradient runs
        // in the cpu backend's JavaScript on onednn and would take most of the time this test may use.
        loss: { alpha: 0, nu: 0 },
        train: { epochs: 3, batchSize: 16 },
        optim: { name: 'adam', lr: 0.008, warmupEpochs: 0 },
        eval: { everyEpochs: 1, knn: { k: 5 }, linear: { epochs: 20 } },
        checkpoint: { everyEpochs: 1, keep: 1 },
      },
      patch,
    ),
  );
}

describe('training on the onednn backend', function () {
  this.timeout(300_000);
  let folder: string;
  let trainImages: number;
  let counter: NativeCallCounter;

  before(async function () {
    counter = new NativeCallCounter(await selectOneDnnOrSkip(this));
    folder = await makeTempDir('onednn-training');
    ({ trainImages } = await writeExampleDataset(path.join(folder, 'data'), dataset));
  });

  after(async () => {
    counter?.restore();
    await tf.setBackend('cpu');
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  /** Trains a run as the CLI does: the config's `backend` picks the backend, then the trainer runs. */
  async function trainRun(
    backend: 'onednn' | 'wasm',
    name: string,
    patch: Config = {},
    onProgress: (progress: TrainingProgressMessage) => void = () => undefined,
  ) {
    const config = experiment(path.join(folder, 'data'), backend, patch);
    const { report } = await selectBackend({
      preference: config.backend,
      wasmDir: path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')),
      nativeModulePaths: [],
      synthpairVersion: 'test',
    });
    assert.equal(report.selected, backend);
    assert.equal(tf.getBackend(), backend);
    const run = await RunDirectory.create(path.join(folder, name), config, {
      name,
      pid: process.pid,
      seed: config.seed,
      startedAt: new Date().toISOString(),
      backend,
      versions: { synthpair: 'test', tfjs: tf.version_core, node: process.versions.node },
    });
    const losses: number[] = [];
    const { result: outcome, calls } = await counter.duringAsync(() =>
      train(
        config,
        { run, cacheFolder: path.join(folder, 'cache'), resume: false },
        {
          log: () => undefined,
          progress: (progress) => {
            losses.push(progress.losses.contrastive!);
            onProgress(progress);
          },
          shouldStop: () => false,
        },
      ),
    );
    assert.equal(outcome.state, 'completed');
    if (backend === 'onednn') {
      // Comparing against wasm proves nothing unless the native kernels did the work.
      for (const name of [
        'conv2d',
        'conv2dBackpropInput',
        'conv2dBackpropFilter',
        'batchNormTrain',
        'batchNormTrainGrad',
        'matmul',
      ]) {
        assert.ok((calls.get(name) ?? 0) > 0, `the native ${name} did not run`);
      }
    } else {
      assert.equal(calls.size, 0, 'the wasm run called the onednn addon');
    }
    return { config, run, losses, evaluation: outcome.evaluation as EvalRecord };
  }

  /** The tensors of a run's last checkpoint by name. */
  async function finalWeights(run: RunDirectory): Promise<Map<string, Float32Array>> {
    const checkpoint = await loadLatestCheckpoint(run.file('checkpoints'));
    assert.ok(checkpoint, `${run.dir} has no checkpoint`);
    const weights = new Map(
      [...checkpoint.tensors].map(([name, tensor]) => [name, tensor.dataSync() as Float32Array]),
    );
    tf.dispose([...checkpoint.tensors.values()]);
    return weights;
  }

  /** The model's tensors before the first step: the method built from the config's seed, as train() does. */
  async function initialWeights(config: ResolvedConfig): Promise<Map<string, Float32Array>> {
    await tf.setBackend('cpu');
    const method = createMethodFor(config);
    const weights = new Map(
      method.state().map(([name, variable]) => [name, variable.dataSync().slice() as Float32Array]),
    );
    method.dispose();
    return weights;
  }

  it('trains like wasm: the same first loss, the same loss curve and the same accuracy', async () => {
    const onednn = await trainRun('onednn', 'onednn');
    const wasm = await trainRun('wasm', 'wasm');
    const stepsPerEpoch = trainImages / onednn.config.train.batchSize;
    assert.equal(onednn.losses.length, 3 * stepsPerEpoch);
    assert.equal(wasm.losses.length, onednn.losses.length);

    const first = relativeDifference(onednn.losses[0]!, wasm.losses[0]!);
    assert.ok(first <= agreement.firstLoss, `step 1: onednn ${onednn.losses[0]}, wasm ${wasm.losses[0]}`);
    onednn.losses.forEach((loss, index) => {
      assert.ok(
        relativeDifference(loss, wasm.losses[index]!) <= agreement.stepLoss,
        `step ${index + 1}: onednn ${loss}, wasm ${wasm.losses[index]}`,
      );
    });
    const onednnEpochs = epochMeans(onednn.losses, stepsPerEpoch);
    const wasmEpochs = epochMeans(wasm.losses, stepsPerEpoch);
    onednnEpochs.forEach((loss, index) => {
      assert.ok(
        relativeDifference(loss, wasmEpochs[index]!) <= agreement.epochLoss,
        `epoch ${index + 1} mean loss: onednn ${loss}, wasm ${wasmEpochs[index]}`,
      );
    });
    assert.ok(onednnEpochs.at(-1)! < onednnEpochs[0]!, `the loss did not fall: ${onednnEpochs.join(' → ')}`);

    const initial = await initialWeights(onednn.config);
    const onednnWeights = await finalWeights(onednn.run);
    const wasmWeights = await finalWeights(wasm.run);
    for (const [name, start] of initial) {
      const [mine, reference] = [onednnWeights.get(name)!, wasmWeights.get(name)!];
      let apart = 0;
      let moved = 0;
      start.forEach((value, index) => {
        apart += (mine[index]! - reference[index]!) ** 2;
        moved += (reference[index]! - value) ** 2;
      });
      const ratio = apart === 0 ? 0 : Math.sqrt(apart / moved);
      assert.ok(
        ratio <= agreement.weightUpdate,
        `${name}: the backends' updates differ by ${ratio} of wasm's`,
      );
    }

    for (const metric of ['knnTop1', 'linearTop1'] as const) {
      const [ours, theirs] = [onednn.evaluation[metric]!, wasm.evaluation[metric]!];
      assert.ok(Math.abs(ours - theirs) <= agreement.accuracy, `${metric}: onednn ${ours}, wasm ${theirs}`);
    }
    // Eight classes: chance is 0.125, and a broken backend that still trains would sit near it.
    assert.ok(onednn.evaluation.knnTop1! > 0.2, `kNN top-1 ${onednn.evaluation.knnTop1}`);
  });

  it('keeps tensors, backend buffers and memory flat from epoch to epoch', async () => {
    const epochs = memoryBaselineEpoch + 6;
    const atEpochEnd: { tensors: number; buffers: number; rss: number; heap: number }[] = [];
    await trainRun(
      'onednn',
      'memory',
      { train: { epochs, batchSize: 8 }, eval: { linear: { epochs: 5 } } },
      (progress) => {
        if (progress.step % (progress.totalSteps / progress.epochs) !== 0) return;
        collectGarbage();
        const { rss, heapUsed } = process.memoryUsage();
        atEpochEnd.push({
          tensors: tf.memory().numTensors,
          buffers: tf.backend().numDataIds(),
          rss,
          heap: heapUsed,
        });
      },
    );
    assert.equal(atEpochEnd.length, epochs);
    const [first] = atEpochEnd as [(typeof atEpochEnd)[number]];
    assert.deepEqual(
      atEpochEnd.map((end) => end.tensors),
      atEpochEnd.map(() => first.tensors),
      'tensors at each epoch end',
    );
    assert.deepEqual(
      atEpochEnd.map((end) => end.buffers),
      atEpochEnd.map(() => first.buffers),
      'backend buffers at each epoch end',
    );
    const baseline = atEpochEnd[memoryBaselineEpoch - 1]!;
    const last = atEpochEnd.at(-1)!;
    const megabytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
    for (const kind of ['rss', 'heap'] as const) {
      assert.ok(
        last[kind] - baseline[kind] < memoryGrowthBound[kind],
        `${kind} grew ${megabytes(last[kind] - baseline[kind])} from epoch ${memoryBaselineEpoch} to ${epochs}: ${atEpochEnd.map((end) => megabytes(end[kind])).join(', ')}`,
      );
    }
  });
});
