import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { type FeatureMatrix, featureMatrix } from '../../../src/engine/eval/featureMatrix';
import { knnTop1 } from '../../../src/engine/eval/knn';
import { linearProbe } from '../../../src/engine/eval/linearProbe';
import { retrievalMetrics } from '../../../src/engine/eval/retrieval';
import { repoRoot } from '../../support/paths';

interface LabelledFeatures {
  features: number[][];
  labels: number[];
}
interface Reference {
  knn: {
    train: LabelledFeatures;
    test: LabelledFeatures;
    cases: { k: number; temperature: number; top1: number }[];
  };
  retrieval: { rank1: number; rank5: number; mAP: number; evaluatedQueries: number; excludedQueries: number };
  linearProbe: {
    train: LabelledFeatures;
    test: LabelledFeatures;
    weightDecay: number;
    predictions: number[];
    top1: number;
  };
}

// Produced by test/reference/losses_metrics.py with PyTorch and numpy, independently of the TypeScript code.
const reference = JSON.parse(
  readFileSync(path.join(repoRoot, 'test', 'fixtures', 'reference', 'losses_metrics.json'), 'utf8'),
) as Reference;

function matrix(rows: number[][]): FeatureMatrix {
  return featureMatrix(Float32Array.from(rows.flat()), rows.length, rows[0].length);
}

function atAngles(degrees: number[]): FeatureMatrix {
  return matrix(degrees.map((d) => [Math.cos((d * Math.PI) / 180), Math.sin((d * Math.PI) / 180)]));
}

// Seeded Gaussian samples, so the synthetic probe data is the same on every run.
function gaussianSource(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

function syntheticSet(
  count: number,
  dimensions: number,
  classCount: number,
  centres: number[][] | undefined,
  next: () => number,
): { features: FeatureMatrix; labels: number[] } {
  const labels = Array.from({ length: count }, (_, i) => i % classCount);
  const rows = labels.map((label) =>
    Array.from({ length: dimensions }, (_, d) => (centres ? centres[label][d] : 0) + next()),
  );
  return { features: matrix(rows), labels };
}

const probeOptions = { epochs: 300, batchSize: 1024, learningRate: 0.05, weightDecay: 1e-2, seed: 7 };

describe('evaluation metrics', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describe('kNN top-1', () => {
    const { train, test, cases } = reference.knn;
    for (const { k, temperature, top1 } of cases) {
      it(`matches the PyTorch weighted kNN (k=${k}, T=${temperature})`, async () => {
        const accuracy = await knnTop1(
          matrix(train.features),
          train.labels,
          matrix(test.features),
          test.labels,
          {
            k,
            temperature,
          },
        );
        assert.equal(accuracy, top1);
      });
    }

    it('with k=1 predicts the class of the most cosine-similar train image, whatever its length', async () => {
      const train = matrix([
        [10, 0],
        [0, 0.1],
        [-3, -3],
      ]);
      const test = matrix([
        [1, 0.2], // nearest by angle: train 0 (class 0)
        [0.3, 1], // train 1 (class 1)
        [-1, -0.5], // train 2 (class 2)
        [0, -1], // 90° from train 0, 180° from train 1, 45° from train 2 → class 2, labelled 0: a miss
      ]);
      assert.equal(await knnTop1(train, [0, 1, 2], test, [0, 1, 2, 0], { k: 1, temperature: 0.07 }), 3 / 4);
    });

    it('lets closer neighbours outvote a majority when the temperature is low', async () => {
      // Test point at 0°: one class-0 neighbour at 5°, two class-1 neighbours at 60° and 70°.
      const train = atAngles([5, 60, 70]);
      const test = atAngles([0]);
      assert.equal(await knnTop1(train, [0, 1, 1], test, [0], { k: 3, temperature: 0.05 }), 1);
      // With a very high temperature every vote weighs about 1, so the majority wins.
      assert.equal(await knnTop1(train, [0, 1, 1], test, [0], { k: 3, temperature: 1e4 }), 0);
    });
  });

  describe('retrieval', () => {
    it('matches the numpy reference, excluding the query whose class has a single test image', async () => {
      const { test } = reference.knn;
      const metrics = await retrievalMetrics(matrix(test.features), test.labels);
      assert.equal(metrics.rank1, reference.retrieval.rank1);
      assert.equal(metrics.rank5, reference.retrieval.rank5);
      assert.ok(Math.abs(metrics.mAP - reference.retrieval.mAP) < 1e-6, `mAP ${metrics.mAP}`);
      assert.equal(metrics.evaluatedQueries, reference.retrieval.evaluatedQueries);
      assert.equal(metrics.excludedQueries, reference.retrieval.excludedQueries);
    });

    it('gives the hand-computed values on four points in two classes plus a singleton', async () => {
      // Angles 0°, 10°, 30°, 90° with classes 0, 1, 0, 1, and a lone class-2 point at 200° that ranks last for
      // every query. Rankings of the others, nearest first (✓ = same class):
      //   0°: 10° ✗, 30° ✓, 90° ✗  → first hit at 2, AP = 1/2
      //  10°: 0° ✗, 30° ✗, 90° ✓   → first hit at 3, AP = 1/3
      //  30°: 10° ✗, 0° ✓, 90° ✗   → first hit at 2, AP = 1/2
      //  90°: 30° ✗, 10° ✓, 0° ✗   → first hit at 2, AP = 1/2
      const metrics = await retrievalMetrics(atAngles([0, 10, 30, 90, 200]), [0, 1, 0, 1, 2]);
      assert.equal(metrics.rank1, 0);
      assert.equal(metrics.rank5, 1);
      assert.ok(Math.abs(metrics.mAP - (1 / 2 + 1 / 3 + 1 / 2 + 1 / 2) / 4) < 1e-12);
      assert.equal(metrics.evaluatedQueries, 4);
      assert.equal(metrics.excludedQueries, 1);
    });

    it('averages precision over every relevant item, not only the first', async () => {
      // Rankings of the others, nearest first (22° is alone in class 1, so its query is excluded):
      //   0°: 10° ✓, 22° ✗, 30° ✓ → (1/1 + 2/3) / 2
      //  10°: 0° ✓, 22° ✗, 30° ✓  → (1/1 + 2/3) / 2
      //  30°: 22° ✗, 10° ✓, 0° ✓  → (1/2 + 2/3) / 2
      const metrics = await retrievalMetrics(atAngles([0, 10, 22, 30]), [0, 0, 1, 0]);
      const expected = ((1 + 2 / 3) / 2 + (1 + 2 / 3) / 2 + (1 / 2 + 2 / 3) / 2) / 3;
      assert.ok(Math.abs(metrics.mAP - expected) < 1e-12, `mAP ${metrics.mAP} vs ${expected}`);
      assert.equal(metrics.excludedQueries, 1);
    });
  });

  describe('linear probe', () => {
    it('predicts the classes of the PyTorch reference optimum of the same objective', async () => {
      const { train, test, weightDecay, predictions, top1 } = reference.linearProbe;
      const result = await linearProbe(
        matrix(train.features),
        train.labels,
        matrix(test.features),
        test.labels,
        {
          ...probeOptions,
          weightDecay,
        },
      );
      assert.deepEqual(Array.from(result.predictions), predictions);
      assert.equal(result.top1, top1);
    });

    it('separates linearly separable classes and is deterministic for a seed', async () => {
      const next = gaussianSource(1);
      const centres = Array.from({ length: 4 }, () => Array.from({ length: 10 }, () => 4 * next()));
      const train = syntheticSet(200, 10, 4, centres, next);
      const test = syntheticSet(100, 10, 4, centres, next);
      const options = { ...probeOptions, epochs: 20, batchSize: 32 };
      const first = await linearProbe(train.features, train.labels, test.features, test.labels, options);
      const second = await linearProbe(train.features, train.labels, test.features, test.labels, options);
      assert.ok(first.top1 > 0.9, `top-1 ${first.top1}`);
      assert.deepEqual(second.predictions, first.predictions);
    });

    it('repeats exactly for seed 0, which TF.js alone would draw from Math.random', async () => {
      const next = gaussianSource(3);
      // Random labels: the prediction of nearly every test image depends on the initial weights.
      const train = syntheticSet(200, 16, 4, undefined, next);
      const test = syntheticSet(200, 16, 4, undefined, next);
      const options = { ...probeOptions, epochs: 2, seed: 0 };
      const first = await linearProbe(train.features, train.labels, test.features, test.labels, options);
      const second = await linearProbe(train.features, train.labels, test.features, test.labels, options);
      assert.deepEqual(second.predictions, first.predictions);
    });

    it('stays near chance on random labels', async () => {
      const next = gaussianSource(2);
      const train = syntheticSet(400, 16, 4, undefined, next);
      const test = syntheticSet(400, 16, 4, undefined, next);
      const result = await linearProbe(
        train.features,
        train.labels,
        test.features,
        test.labels,
        probeOptions,
      );
      // Chance is 1/4; with 400 test images two standard deviations are about ±0.045.
      assert.ok(Math.abs(result.top1 - 0.25) < 0.08, `top-1 ${result.top1}`);
    });
  });

  it('leaves no tensors behind', async () => {
    const { train, test } = reference.knn;
    const before = tf.memory().numTensors;
    await knnTop1(matrix(train.features), train.labels, matrix(test.features), test.labels, {
      k: 5,
      temperature: 0.1,
    });
    await retrievalMetrics(matrix(test.features), test.labels);
    await linearProbe(matrix(train.features), train.labels, matrix(test.features), test.labels, {
      ...probeOptions,
      epochs: 2,
      batchSize: 16,
    });
    assert.equal(tf.memory().numTensors, before);
  });
});
