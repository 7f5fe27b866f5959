import assert from 'node:assert/strict';
import path from 'node:path';
import { initWasmBackend } from '../../../src/engine/backends/wasm/loadWasm';
import { mocoV2AugPlus } from '../../../src/engine/data/augment';
import type { DecodedImage } from '../../../src/engine/data/decode';
import {
  buildTrainBatch,
  epochOrder,
  evalBatches,
  type ImageSet,
  trainBatchCount,
} from '../../../src/engine/data/loader';
import { featureMatrix } from '../../../src/engine/eval/featureMatrix';
import { knnTop1 } from '../../../src/engine/eval/knn';
import type { SslMethod } from '../../../src/engine/methods/method';
import { createMethod } from '../../../src/engine/methods/registry';
import { tf } from '../../../src/engine/tf';
import { methodNames } from '../../../src/shared/config/methods/registry';
import { tinyMethodOptions, tinyNetwork } from '../../support/methodOptions';

const imageSize = 16;
const classes = 4;

/**
 * Four classes that differ in colour and stripe orientation, with per-image jitter, so that features
 * learned without labels can separate them: enough structure for a few steps to move the metrics.
 */
function syntheticImage(label: number, variant: number): DecodedImage {
  const size = 20;
  const pixels = new Uint8Array(size * size * 3);
  const palette = [
    [220, 60, 40],
    [40, 180, 70],
    [50, 80, 220],
    [230, 200, 40],
  ][label]!;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const stripe = (label % 2 === 0 ? x : y) % 6 < 3 ? 1 : 0.45;
      const noise = ((x * 31 + y * 17 + variant * 13) % 23) / 23;
      for (let channel = 0; channel < 3; channel++) {
        pixels[(y * size + x) * 3 + channel] = Math.min(255, palette[channel]! * stripe + noise * 40);
      }
    }
  }
  return { size, pixels };
}

function syntheticSet(perClass: number, offset: number): ImageSet {
  const images: DecodedImage[] = [];
  const labels: number[] = [];
  for (let index = 0; index < perClass * classes; index++) {
    images.push(syntheticImage(index % classes, index + offset));
    labels.push(index % classes);
  }
  return { images, labels, indices: labels.map((_, index) => index) };
}

function features(method: SslMethod, set: ImageSet) {
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  for (const batch of evalBatches(set, 16, imageSize)) {
    const values = tf.tidy(() => {
      const images = tf.tensor4d(batch.images, [batch.labels.length, imageSize, imageSize, 3]);
      return method.encoder.apply(images, 'eval').features.dataSync() as Float32Array;
    });
    rows.push(values);
    labels.push(...batch.labels);
  }
  const values = new Float32Array(rows.reduce((total, row) => total + row.length, 0));
  let offset = 0;
  for (const row of rows) {
    values.set(row, offset);
    offset += row.length;
  }
  return { matrix: featureMatrix(values, labels.length, method.encoder.featureDim), labels };
}

describe('SSL methods train a tiny encoder', function () {
  this.timeout(300_000);
  const train = syntheticSet(12, 0);
  const test = syntheticSet(6, 1000);
  const augment = { ...mocoV2AugPlus(), blur: { ...mocoV2AugPlus().blur, enabled: false } };

  // The default backend, with SynthPair's own training kernels: this is the path real runs take.
  before(async () => {
    await initWasmBackend(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')));
  });

  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const name of methodNames) {
    it(`${name}: the loss falls, kNN beats chance, and no tensor leaks`, async () => {
      const method = createMethod(name, tinyNetwork(3), tinyMethodOptions[name]);
      const optimizer = tf.train.adam(3e-3);
      try {
        const batchSize = 16;
        const losses: number[] = [];
        const before = await knnTop1(
          features(method, train).matrix,
          features(method, train).labels,
          features(method, test).matrix,
          features(method, test).labels,
          { k: 5, temperature: 0.1 },
        );
        let tensorsAfterFirstStep = 0;
        const epochs = 12;
        const steps = epochs * trainBatchCount(train, batchSize);
        let step = 0;
        for (let epoch = 0; epoch < epochs; epoch++) {
          const order = epochOrder(train.images.length, 3, epoch);
          for (let index = 0; index < trainBatchCount(train, batchSize); index++) {
            const batch = buildTrainBatch(
              train,
              { batchSize, imageSize, seed: 3, epoch, augment },
              order,
              index,
            );
            const loss = tf.tidy(() => {
              const [view1, view2] = batch.views.map((view) =>
                tf.tensor4d(view, [batchSize, imageSize, imageSize, 3]),
              );
              const value = optimizer.minimize(
                () => method.loss(view1!, view2!).total,
                true,
                method.trainableVariables(),
              );
              return value!.dataSync()[0]!;
            });
            await method.afterStep({ step: ++step, totalSteps: steps });
            losses.push(loss);
            if (step === 1) {
              tensorsAfterFirstStep = tf.memory().numTensors;
            }
          }
        }
        assert.equal(tf.memory().numTensors, tensorsAfterFirstStep, 'tensors leaked across steps');
        const mean = (values: number[]) => values.reduce((total, value) => total + value, 0) / values.length;
        const first = mean(losses.slice(0, 6));
        const last = mean(losses.slice(-6));
        assert.ok(last < first, `${name} loss did not fall: ${first.toFixed(4)} → ${last.toFixed(4)}`);
        const trained = features(method, train);
        const probe = features(method, test);
        const accuracy = await knnTop1(trained.matrix, trained.labels, probe.matrix, probe.labels, {
          k: 5,
          temperature: 0.1,
        });
        assert.ok(accuracy > 1 / classes + 0.25, `${name} kNN top-1 ${accuracy} (before training ${before})`);
      } finally {
        optimizer.dispose();
        method.dispose();
      }
    });
  }
});

describe('SSL methods are a function of their seed', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  // TF.js's random ops treat seed 0 as "no seed"; 0 is the config's default, so it is the case to check.
  for (const seed of [0, 5]) {
    it(`builds identical weights and MoCo queues for seed ${seed}, and others for another seed`, () => {
      // TF.js names variables globally, so one method lives at a time.
      const snapshot = (value: number) => {
        const method = createMethod('mocov2', tinyNetwork(value), tinyMethodOptions.mocov2);
        try {
          return new Map(method.state().map(([name, variable]) => [name, Array.from(variable.dataSync())]));
        } finally {
          method.dispose();
        }
      };
      const first = snapshot(seed);
      assert.deepEqual(snapshot(seed), first);
      assert.notDeepEqual(snapshot(seed + 1).get('moco.queue'), first.get('moco.queue'));
    });
  }
});
