import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  channelImportance,
  gradCamOfLoss,
  gradCamOfMethod,
  upsampleAndNormalise,
} from '../../../src/engine/analysis/gradcam';
import { FeatureVarianceAccumulator } from '../../../src/engine/analysis/variance';
import { ntXentLoss } from '../../../src/engine/losses/ntXent';
import type { SslMethod } from '../../../src/engine/methods/method';
import { createMethod } from '../../../src/engine/methods/registry';
import { tf } from '../../../src/engine/tf';
import {
  type ImportanceVariant,
  importanceVariants,
  type MaskCombine,
} from '../../../src/shared/config/experiment/choices';
import { type MethodName, methodNames } from '../../../src/shared/config/methods/registry';
import { lowestQuantile, nonDiscriminativeMask } from '../../../src/shared/mask';
import { tinyMethodOptions, tinyNetwork } from '../../support/methodOptions';
import { repoRoot } from '../../support/paths';

interface CamReference {
  raw: number[];
  normalised: number[];
  normalisedAlignCorners: number[];
}
interface GradCamReference {
  shape: [number, number, number, number];
  imageSize: [number, number];
  temperature: number;
  inputs: { featureMaps: [number[], number[]]; weight: number[][]; bias: number[] };
  loss: number;
  gradients: [number[], number[]];
  importance: Record<ImportanceVariant, number[]>;
  views: [Record<string, CamReference>, Record<string, CamReference>];
}

// Produced by test/reference/gradcam.py with PyTorch autograd, independently of the TypeScript code.
const reference = JSON.parse(
  readFileSync(path.join(repoRoot, 'test', 'fixtures', 'reference', 'gradcam.json'), 'utf8'),
) as GradCamReference;

function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  what: string,
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(...Array.from(expected, Math.abs));
  for (let index = 0; index < expected.length; index++) {
    const error = Math.abs(actual[index]! - expected[index]!);
    assert.ok(
      error <= tolerance * scale,
      `${what}[${index}]: ${actual[index]} vs reference ${expected[index]} (scale ${scale})`,
    );
  }
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let largest = 0;
  for (let index = 0; index < a.length; index++) largest = Math.max(largest, Math.abs(a[index]! - b[index]!));
  return largest;
}

describe('Grad-CAM against the PyTorch reference', () => {
  const [images, height, width, channels] = reference.shape;
  let featureMaps: [tf.Tensor4D, tf.Tensor4D];
  let weight: tf.Tensor2D;
  let bias: tf.Tensor1D;
  const referenceHead = ([map1, map2]: [tf.Tensor4D, tf.Tensor4D]) =>
    ntXentLoss(
      tf.add(tf.matMul(tf.mean(map1, [1, 2]) as tf.Tensor2D, weight), bias),
      tf.add(tf.matMul(tf.mean(map2, [1, 2]) as tf.Tensor2D, weight), bias),
      reference.temperature,
    );

  before(async () => {
    await tf.setBackend('cpu');
    featureMaps = reference.inputs.featureMaps.map((values) =>
      tf.tensor4d(values, [images, height, width, channels]),
    ) as [tf.Tensor4D, tf.Tensor4D];
    weight = tf.tensor2d(reference.inputs.weight);
    bias = tf.tensor1d(reference.inputs.bias);
  });

  after(() => tf.dispose([...featureMaps, weight, bias]));

  it('the TF.js head has the reference loss and gradients w.r.t. the feature maps', () => {
    const gradients = tf.tidy(() =>
      tf
        .grads((...maps: tf.Tensor[]) => referenceHead(maps as [tf.Tensor4D, tf.Tensor4D]))(featureMaps)
        .map((gradient) => gradient.dataSync()),
    );
    gradients.forEach((gradient, view) => {
      assertAllClose(gradient, reference.gradients[view]!, 1e-5, `G of view ${view + 1}`);
    });
  });

  it('gives the reference loss, importances of every variant, raw and upsampled maps, without leaks', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const analysis = await gradCamOfLoss(referenceHead, featureMaps, reference.imageSize);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked');
    assert.ok(Math.abs(analysis.loss - reference.loss) < 1e-5, `loss ${analysis.loss} vs ${reference.loss}`);
    assert.deepEqual(analysis.featureMapSize, [height, width]);
    assert.deepEqual(analysis.imageSize, reference.imageSize);
    assert.equal(analysis.images, images);
    for (const variant of importanceVariants) {
      assertAllClose(analysis.importance[variant], reference.importance[variant], 1e-5, `α ${variant}`);
    }
    analysis.views.forEach((view, index) => {
      for (const [name, maps] of Object.entries(view)) {
        const expected = reference.views[index]![name]!;
        assertAllClose(maps.raw, expected.raw, 1e-5, `view ${index + 1} ${name} raw`);
        assertAllClose(maps.normalised, expected.normalised, 1e-5, `view ${index + 1} ${name} upsampled`);
      }
    });
  });

  it('uses half-pixel centres: the reference image size tells them from aligned corners', async () => {
    const analysis = await gradCamOfLoss(referenceHead, featureMaps, reference.imageSize);
    const ours = analysis.views[0].gradCam.normalised;
    const aligned = reference.views[0].gradCam!.normalisedAlignCorners;
    assert.ok(maxDifference(ours, aligned) > 0.01, 'the fixture cannot tell the two alignments apart');
    assert.ok(maxDifference(ours, reference.views[0].gradCam!.normalised) < 1e-5);
  });

  it('averages each image’s weight after taking its sign, absolute value or positive part', () => {
    // Channel 0: spatial means +1 and −1 in the two images; channel 1: +3 and +1.
    const gradients = tf.tensor4d([1, 3, 1, 1, -1, 1, -1, 1], [2, 1, 2, 2]);
    const expected: Record<ImportanceVariant, number[]> = {
      signed: [0, 1.5],
      absolute: [1, 1.5],
      positive: [0.5, 1.5],
    };
    for (const variant of importanceVariants) {
      const importance = channelImportance(gradients, variant);
      assert.deepEqual(Array.from(importance.dataSync()), expected[variant], variant);
      importance.dispose();
    }
    gradients.dispose();
  });

  it('scales each map to a maximum of 1 and keeps a map without evidence at 0', () => {
    const maps = tf.tensor3d([0, 0, 0, 0, 0, 2, 4, 1], [2, 2, 2]);
    const normalised = upsampleAndNormalise(maps, [5, 3]);
    const values = normalised.dataSync();
    assert.ok(values.slice(0, 15).every((value) => value === 0));
    assert.equal(Math.max(...values.slice(15)), 1);
    assert.ok(values.slice(15).every((value) => value >= 0 && value <= 1));
    tf.dispose([maps, normalised]);
  });
});

describe('feature variance', () => {
  it('is the population variance, whatever the batching', () => {
    const accumulator = new FeatureVarianceAccumulator(2);
    accumulator.addRows([1, 2], 1);
    accumulator.addRows([3, 4, 5, 9], 2);
    const { count, mean, variance } = accumulator.result();
    assert.equal(count, 3);
    assert.deepEqual(Array.from(mean), [3, 5]);
    assert.ok(Math.abs(variance[0]! - 8 / 3) < 1e-12 && Math.abs(variance[1]! - 26 / 3) < 1e-12);
  });

  it('keeps precision on features far from 0 across many uneven batches of float32 tensors', async () => {
    const values = Array.from({ length: 97 }, (_, row) => [1e4 + ((row * 37) % 11) / 8, -(row % 5) / 4]);
    const accumulator = new FeatureVarianceAccumulator(2);
    for (let start = 0; start < values.length; start += 1 + (start % 7)) {
      const batch = tf.tensor2d(values.slice(start, start + 1 + (start % 7)));
      await accumulator.add(batch);
      batch.dispose();
    }
    const { variance } = accumulator.result();
    for (const dimension of [0, 1]) {
      const column = values.map((row) => Math.fround(row[dimension]!));
      const mean = column.reduce((total, value) => total + value, 0) / column.length;
      const expected = column.reduce((total, value) => total + (value - mean) ** 2, 0) / column.length;
      assert.ok(Math.abs(variance[dimension]! - expected) < 1e-9, `${variance[dimension]} vs ${expected}`);
    }
  });

  it('refuses a mismatched width and an empty set', () => {
    const accumulator = new FeatureVarianceAccumulator(3);
    assert.throws(() => accumulator.addRows([1, 2], 1), RangeError);
    assert.throws(() => accumulator.result(), /at least one feature vector/);
  });
});

describe('non-discriminative mask', () => {
  // Variance ranks dims 4, 1, 6, 0 lowest; importance ties dims 2 and 5 at its lowest value, then dim 1.
  const variance = [0.3, 0.1, 0.9, 0.8, 0.05, 0.7, 0.2, 0.6];
  const importance = [0.5, 0.02, 0.01, 0.4, 0.3, 0.01, 0.6, 0.7];
  const masked = (combine: MaskCombine, varianceQuantile = 0.5, gradcamQuantile = 0.375) =>
    nonDiscriminativeMask({ variance, importance, varianceQuantile, gradcamQuantile, combine });
  const dims = (mask: Uint8Array) => Array.from(mask.keys()).filter((dimension) => mask[dimension] === 1);

  it('takes the ⌊q·C⌋ lowest dimensions of each criterion, with their thresholds', () => {
    const { variance: byVariance, gradcam } = masked('union');
    assert.deepEqual(dims(byVariance.candidates), [0, 1, 4, 6]);
    assert.equal(byVariance.count, 4);
    assert.equal(byVariance.threshold, 0.3);
    // ⌊0.375·8⌋ = 3: both tied dims, then dim 1.
    assert.deepEqual(dims(gradcam.candidates), [1, 2, 5]);
    assert.equal(gradcam.threshold, 0.02);
  });

  it('breaks ties by dimension index', () => {
    const lowest = lowestQuantile([0.01, 0.5, 0.01, 0.01], 0.5, 'q');
    assert.deepEqual(dims(lowest.candidates), [0, 2]);
    assert.equal(lowest.threshold, 0.01);
  });

  const expectedByCombine: Record<MaskCombine, number[]> = {
    union: [0, 1, 2, 4, 5, 6],
    intersection: [1],
    variance: [0, 1, 4, 6],
    gradcam: [1, 2, 5],
  };
  for (const [combine, expected] of Object.entries(expectedByCombine) as [MaskCombine, number[]][]) {
    it(`combines by ${combine}`, () => {
      const result = masked(combine);
      assert.deepEqual(dims(result.mask), expected);
      assert.equal(result.count, expected.length);
    });
  }

  it('masks nothing at q = 0 (no threshold) and everything at q = 1', () => {
    const none = masked('union', 0, 0);
    assert.equal(none.count, 0);
    assert.equal(none.variance.threshold, null);
    const all = masked('intersection', 1, 1);
    assert.equal(all.count, 8);
    assert.equal(all.gradcam.threshold, 0.7);
  });

  it('names the key of a quantile outside [0, 1]', () => {
    assert.throws(
      () => masked('union', 1.5),
      (error: Error) => {
        return error instanceof RangeError && error.message.includes('analysis.variance.quantile');
      },
    );
    assert.throws(
      () => masked('variance', 0.5, -0.1),
      (error: Error) => {
        return error instanceof RangeError && error.message.includes('analysis.gradcam.quantile');
      },
    );
    assert.throws(() => masked('union', Number.NaN), RangeError);
  });

  it('refuses non-finite values and criteria of different widths', () => {
    assert.throws(
      () => lowestQuantile([0.1, Number.NaN], 0.5, 'analysis.gradcam.quantile'),
      /dimension 1 has the non-finite value NaN/,
    );
    assert.throws(
      () =>
        nonDiscriminativeMask({
          variance: [1, 2],
          importance: [1],
          varianceQuantile: 0.5,
          gradcamQuantile: 0.5,
          combine: 'union',
        }),
      RangeError,
    );
  });
});

/** A method on heads smaller still, with a MoCo queue of two batches of six. */
function smallMethod(name: MethodName, seed: number) {
  const options = { ...tinyMethodOptions, mocov2: { ...tinyMethodOptions.mocov2, queueSize: 12 } };
  return createMethod(
    name,
    tinyNetwork(seed, { projector: { hiddenDim: 32, outDim: 16 }, predictor: { hiddenDim: 8 } }),
    options[name],
  );
}

function randomViews(seed: number): [tf.Tensor4D, tf.Tensor4D] {
  return [
    tf.randomUniform([6, 16, 16, 3], 0, 1, 'float32', seed) as tf.Tensor4D,
    tf.randomUniform([6, 16, 16, 3], 0, 1, 'float32', seed + 1) as tf.Tensor4D,
  ];
}

function stateValues(method: SslMethod): Float32Array[] {
  return method.state().map(([, variable]) => variable.dataSync() as Float32Array);
}

describe('SSL losses from feature maps', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  for (const name of methodNames) {
    it(`${name}: equals the training loss bit for bit in train mode`, () => {
      const method = smallMethod(name, 11);
      const views = randomViews(5);
      try {
        const fromViews = tf.tidy(() => method.loss(...views).total.dataSync()[0]!);
        const fromMaps = tf.tidy(() => {
          const maps = views.map((view) => method.encoder.apply(view, 'train').featureMap);
          return method
            .lossFromFeatureMaps(maps as [tf.Tensor4D, tf.Tensor4D], views, 'train')
            .dataSync()[0]!;
        });
        assert.ok(Number.isFinite(fromViews));
        assert.equal(fromMaps, fromViews);
      } finally {
        tf.dispose(views);
        method.dispose();
      }
    });
  }

  it('mocov2: only the training loss queues keys', async () => {
    const method = smallMethod('mocov2', 11);
    const views = randomViews(5);
    const queue = () =>
      method
        .state()
        .find(([name]) => name === 'moco.queue')![1]
        .dataSync();
    try {
      const initial = queue();
      tf.tidy(() => {
        const maps = views.map((view) => method.encoder.apply(view, 'train').featureMap);
        method.lossFromFeatureMaps(maps as [tf.Tensor4D, tf.Tensor4D], views, 'train');
      });
      await method.afterStep({ step: 1, totalSteps: 2 });
      assert.deepEqual(queue(), initial, 'lossFromFeatureMaps queued keys');
      tf.tidy(() => {
        method.loss(...views);
      });
      await method.afterStep({ step: 2, totalSteps: 2 });
      assert.notDeepEqual(queue(), initial, 'the training loss queued nothing');
    } finally {
      tf.dispose(views);
      method.dispose();
    }
  });
});

describe('Grad-CAM of an SSL method', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  for (const name of methodNames) {
    it(`${name}: maps and importances of the training loss, leaving the method's state and memory as they were`, async () => {
      const method = smallMethod(name, 3);
      const views = randomViews(9);
      try {
        const trainingLoss = tf.tidy(() => method.loss(...views).total.dataSync()[0]!);
        const stateBefore = stateValues(method);
        const tensorsBefore = tf.memory().numTensors;
        const analysis = await gradCamOfMethod(method, views);
        const inEval = await gradCamOfMethod(method, views, 'eval');
        assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked');
        assert.deepEqual(stateValues(method), stateBefore, 'the analysis changed the method state');
        assert.equal(analysis.loss, trainingLoss);
        assert.notEqual(inEval.loss, trainingLoss, 'eval mode gave the train-mode loss');
        const [height, width] = analysis.featureMapSize;
        assert.deepEqual(analysis.imageSize, [16, 16]);
        for (const variant of importanceVariants) {
          assert.equal(analysis.importance[variant].length, method.encoder.featureDim);
        }
        assert.ok(analysis.importance.absolute.some((value) => value > 0));
        for (const view of analysis.views) {
          for (const maps of Object.values(view)) {
            assert.equal(maps.raw.length, 6 * height * width);
            assert.equal(maps.normalised.length, 6 * 16 * 16);
            for (let image = 0; image < 6; image++) {
              const own = maps.normalised.subarray(image * 256, (image + 1) * 256);
              const peak = Math.max(...own);
              assert.ok(Math.min(...own) >= 0 && (peak === 0 || Math.abs(peak - 1) < 1e-6));
            }
          }
        }
      } finally {
        tf.dispose(views);
        method.dispose();
      }
    });
  }
});
