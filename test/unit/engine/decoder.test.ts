import assert from 'node:assert/strict';
import path from 'node:path';
import type { Sharp } from 'sharp';
import { initWasmBackend } from '../../../src/engine/backends/wasm/loadWasm';
import { centreView } from '../../../src/engine/data/augment';
import { cacheSizeFor, decodeImage } from '../../../src/engine/data/decode';
import { reconstructionLoss } from '../../../src/engine/losses/reconstruction';
import {
  Decoder,
  type DecoderOptions,
  type DecoderUpsample,
  decoderLayout,
  nearestConvAsTransposed,
  upsampleNearest2x,
} from '../../../src/engine/models/decoder';
import { ParameterStore, SeedSequence } from '../../../src/engine/models/parameters';
import { buildEncoder } from '../../../src/engine/models/registry';
import { tf } from '../../../src/engine/tf';
import { gradientImage, type Rgb, solidImage, splitImage } from '../../fixtures/makeImages';

const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
const upsampleModes: DecoderUpsample[] = ['resize', 'transposed'];

function buildDecoder(options: DecoderOptions, seed: number, name = 'decoder') {
  const parameters = ParameterStore.root(name);
  return { decoder: new Decoder(parameters, new SeedSequence(seed), options), parameters };
}

function features(rows: number, featureDim: number, seed: number): tf.Tensor2D {
  return tf.randomNormal([rows, featureDim], 0, 1, 'float32', seed) as tf.Tensor2D;
}

/**
 * Sixteen images with edges, ramps and flat colour in different places and orientations, so that the mean
 * image is a poor reconstruction of each and the decoder has to use h to do better.
 */
function fixtureImages(): Sharp[] {
  const colours: [Rgb, Rgb][] = [
    [
      [200, 40, 30],
      [20, 60, 180],
    ],
    [
      [240, 220, 60],
      [30, 120, 40],
    ],
    [
      [10, 10, 10],
      [250, 250, 250],
    ],
    [
      [120, 60, 160],
      [220, 140, 90],
    ],
  ];
  return [
    ...[0, 90, 180, 270].flatMap((angle) => [
      gradientImage(40, 40).rotate(angle),
      gradientImage(40, 40).rotate(angle).flop(),
    ]),
    ...colours.map(([left, right], index) => splitImage(40, 40, left, right).rotate(90 * index)),
    ...colours.map(([colour]) => solidImage(40, 40, colour)),
  ];
}

/** The centre views the trainer would feed: PNG → the project's decoder at cache size → centre crop. */
async function centreViews(imageSize: number): Promise<tf.Tensor4D> {
  const sources = fixtureImages();
  const viewLength = imageSize * imageSize * 3;
  const pixels = new Float32Array(sources.length * viewLength);
  for (const [index, source] of sources.entries()) {
    const decoded = await decodeImage(await source.png().toBuffer(), cacheSizeFor(imageSize));
    centreView(decoded, imageSize, pixels.subarray(index * viewLength, (index + 1) * viewLength));
  }
  return tf.tensor4d(pixels, [sources.length, imageSize, imageSize, 3]);
}

describe('decoder', function () {
  this.timeout(120_000);

  before(async () => {
    await initWasmBackend(wasmDir);
  });

  after(async () => {
    await tf.setBackend('cpu');
  });

  it('plans 4–8 px start maps, exact for 4–7 × 2^k and cropped by fewer than 2^k pixels otherwise', () => {
    assert.deepEqual(decoderLayout(32), { startSize: 4, stages: 3, decodedSize: 32 });
    assert.deepEqual(decoderLayout(64), { startSize: 4, stages: 4, decodedSize: 64 });
    assert.deepEqual(decoderLayout(96), { startSize: 6, stages: 4, decodedSize: 96 });
    assert.deepEqual(decoderLayout(224), { startSize: 7, stages: 5, decodedSize: 224 });
    assert.deepEqual(decoderLayout(100), { startSize: 7, stages: 4, decodedSize: 112 });
    for (let size = 32; size <= 224; size++) {
      const { startSize, stages, decodedSize } = decoderLayout(size);
      assert.ok(startSize >= 4 && startSize <= 8, `start ${startSize} at ${size}`);
      assert.ok(decodedSize >= size && decodedSize - size < 2 ** stages, `decoded ${decodedSize} at ${size}`);
    }
    assert.throws(() => decoderLayout(3), /at least 4/);
    assert.throws(() => decoderLayout(64.5), /integer/);
  });

  it('upsamples ×2 as nearest-neighbour resizing does, and sends each 2×2 block its summed gradient', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([3, 2, 3, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
      const dy = tf.randomNormal([3, 4, 6, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
      const expected = tf.image.resizeNearestNeighbor(x, [4, 6]);
      assert.deepEqual(upsampleNearest2x(x).dataSync(), expected.dataSync());
      const dx = tf.grad((input) => upsampleNearest2x(input as tf.Tensor4D))(x, dy);
      const blockSums = tf.sum(tf.reshape(dy, [3, 2, 2, 3, 2, 4]), [2, 4]);
      assert.ok(tf.max(tf.abs(tf.sub(dx, blockSums))).dataSync()[0]! < 1e-6);
    });
  });

  for (const upsample of upsampleModes) {
    for (const imageSize of [32, 64, 96, 100]) {
      it(`${upsample}: decodes h to [N, ${imageSize}, ${imageSize}, 3] in [0, 1], in both modes, without leaks`, () => {
        const { decoder, parameters } = buildDecoder({ featureDim: 24, imageSize, width: 0.25, upsample }, 1);
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          const h = features(3, 24, 2);
          for (const mode of ['train', 'eval'] as const) {
            const images = decoder.apply(h, mode);
            assert.deepEqual(images.shape, [3, imageSize, imageSize, 3]);
            const [low, high, spread] = [tf.min(images), tf.max(images), tf.moments(images).variance].map(
              (value) => value.dataSync()[0]!,
            );
            assert.ok(low >= 0 && high <= 1, `${mode}: range [${low}, ${high}]`);
            assert.ok(spread > 0, `${mode}: a constant image`);
          }
        });
        assert.equal(tf.memory().numTensors, before);
        parameters.dispose();
      });
    }
  }

  it('computes nearest ×2 then a 3×3 convolution as one 4×4 stride-2 transposed convolution', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 5, 7, 6], 0, 1, 'float32', 11) as tf.Tensor4D;
      const filter = tf.randomNormal([3, 3, 6, 4], 0, 1, 'float32', 12) as tf.Tensor4D;
      const expected = tf.conv2d(upsampleNearest2x(x), filter, 1, 'same');
      const transposed = tf.conv2dTranspose(x, nearestConvAsTransposed(filter), [2, 10, 14, 4], 2, 'same');
      const error = tf.max(tf.abs(tf.sub(transposed, expected))).dataSync()[0]!;
      assert.ok(error < 1e-4, `largest difference ${error}`);
    });
  });

  for (const upsample of upsampleModes) {
    for (const imageSize of [32, 100]) {
      it(`${upsample}: frozen, decodes as the decoder in evaluation mode at ${imageSize}, and frees its tensors`, () => {
        const { decoder, parameters } = buildDecoder({ featureDim: 24, imageSize, width: 0.25, upsample }, 5);
        // Batch norms far from identity, as after training: random affine weights and moved running statistics.
        for (const [index, [name, variable]] of parameters.all().entries()) {
          if (/bn\.(weight|bias)$/.test(name)) {
            variable.assign(tf.randomUniform(variable.shape, 0.5, 1.5, 'float32', 100 + index));
          }
        }
        tf.tidy(() => {
          for (let step = 0; step < 3; step++) decoder.apply(features(6, 24, 20 + step), 'train');
        });
        const before = tf.memory().numTensors;
        const frozen = decoder.freeze();
        tf.tidy(() => {
          const h = features(4, 24, 9);
          const expected = decoder.apply(h, 'eval');
          const decoded = frozen.decode(h);
          assert.deepEqual(decoded.shape, expected.shape);
          const error = tf.max(tf.abs(tf.sub(decoded, expected))).dataSync()[0]!;
          assert.ok(error < 1e-5, `largest difference ${error}`);
        });
        frozen.dispose();
        assert.equal(tf.memory().numTensors, before);
        parameters.dispose();
      });
    }
  }

  it('names its weights under its store, halving the channels per stage from 256 × width', () => {
    const { parameters } = buildDecoder({ featureDim: 16, imageSize: 32, width: 0.5, upsample: 'resize' }, 1);
    const shapes = Object.fromEntries(parameters.all().map(([name, variable]) => [name, variable.shape]));
    assert.deepEqual(shapes, {
      'decoder.fc.weight': [16, 4 * 4 * 128],
      'decoder.fc.bn.weight': [128],
      'decoder.fc.bn.bias': [128],
      'decoder.fc.bn.runningMean': [128],
      'decoder.fc.bn.runningVariance': [128],
      ...Object.fromEntries(
        [64, 32, 16].flatMap((channels, index) => {
          const previous = 128 / 2 ** index;
          const stage = `decoder.up${index + 1}`;
          return [
            [`${stage}.conv.weight`, [3, 3, previous, channels]],
            [`${stage}.bn.weight`, [channels]],
            [`${stage}.bn.bias`, [channels]],
            [`${stage}.bn.runningMean`, [channels]],
            [`${stage}.bn.runningVariance`, [channels]],
          ];
        }),
      ),
      'decoder.head.weight': [3, 3, 16, 3],
      'decoder.head.bias': [3],
    });
    const transposed = buildDecoder(
      { featureDim: 16, imageSize: 32, width: 0.5, upsample: 'transposed' },
      1,
      't',
    );
    assert.deepEqual(
      transposed.parameters.all().find(([name]) => name === 't.up1.conv.weight')?.[1].shape,
      [4, 4, 64, 128],
    );
    transposed.parameters.dispose();
    parameters.dispose();
  });

  for (const upsample of upsampleModes) {
    it(`${upsample}: initialises from the seed alone`, () => {
      const options: DecoderOptions = { featureDim: 16, imageSize: 32, width: 0.25, upsample };
      const [first, second, other] = [7, 7, 8].map((seed, index) => buildDecoder(options, seed, `d${index}`));
      try {
        const weights = (store: ParameterStore) =>
          store
            .all()
            .map(([name, variable]) => [name.slice(name.indexOf('.')), Array.from(variable.dataSync())]);
        assert.deepEqual(weights(first!.parameters), weights(second!.parameters));
        assert.notDeepEqual(weights(first!.parameters), weights(other!.parameters));
        tf.tidy(() => {
          const h = features(2, 16, 3);
          const [a, b] = [first!, second!].map(({ decoder }) => decoder.apply(h, 'eval').dataSync());
          assert.deepEqual(a, b);
        });
      } finally {
        for (const built of [first!, second!, other!]) built.parameters.dispose();
      }
    });
  }

  for (const upsample of upsampleModes) {
    it(`${upsample}: every trainable weight gets a gradient on wasm, equal to the cpu backend's`, async () => {
      const { decoder, parameters } = buildDecoder(
        { featureDim: 16, imageSize: 32, width: 0.25, upsample },
        5,
      );
      const h = features(4, 16, 6);
      const target = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const gradients = () =>
        tf.tidy(() => {
          const { grads } = tf.variableGrads(
            () => reconstructionLoss(decoder.apply(h, 'train'), target),
            parameters.trainable(),
          );
          return Object.fromEntries(Object.entries(grads).map(([name, grad]) => [name, grad.dataSync()]));
        });
      try {
        const onWasm = gradients();
        await tf.setBackend('cpu');
        const onCpu = gradients();
        const names = parameters.trainable().map((variable) => variable.name);
        assert.deepEqual(Object.keys(onWasm).sort(), [...names].sort());
        for (const name of names) {
          const [wasm, cpu] = [onWasm[name]!, onCpu[name]!];
          const scale = Math.max(...cpu.map(Math.abs));
          assert.ok(scale > 0 && Number.isFinite(scale), `${name}: no gradient on cpu`);
          const error = Math.max(...wasm.map((value, index) => Math.abs(value - cpu[index]!)));
          assert.ok(error <= 1e-3 * scale, `${name}: wasm differs from cpu by ${error} (scale ${scale})`);
        }
      } finally {
        await tf.setBackend('wasm');
        tf.dispose([h, target]);
        parameters.dispose();
      }
    });
  }

  for (const upsample of upsampleModes) {
    it(`${upsample}: Adam on encoder + decoder drives L_R on real images well below the mean image's`, async () => {
      const imageSize = 32;
      const targets = await centreViews(imageSize);
      const { encoder, parameters: encoderParameters } = buildEncoder(
        { arch: 'smallcnn', width: 0.25, stem: 'cifar' },
        11,
      );
      const { decoder, parameters } = buildDecoder(
        { featureDim: encoder.featureDim, imageSize, width: 0.5, upsample },
        12,
      );
      const optimizer = tf.train.adam(3e-3);
      const variables = [...encoderParameters.trainable(), ...parameters.trainable()];
      try {
        const meanImageLoss = tf.tidy(() =>
          reconstructionLoss(
            tf.broadcastTo(tf.mean(targets, 0, true), targets.shape) as tf.Tensor4D,
            targets,
          ),
        );
        const baseline = meanImageLoss.dataSync()[0]!;
        meanImageLoss.dispose();
        const losses: number[] = [];
        let tensorsAfterFirstStep = 0;
        for (let step = 0; step < 40; step++) {
          const loss = optimizer.minimize(
            () =>
              reconstructionLoss(decoder.apply(encoder.apply(targets, 'train').features, 'train'), targets),
            true,
            variables,
          )!;
          losses.push(loss.dataSync()[0]!);
          loss.dispose();
          if (step === 0) tensorsAfterFirstStep = tf.memory().numTensors;
        }
        assert.equal(tf.memory().numTensors, tensorsAfterFirstStep);
        const first = losses[0]!;
        const last = losses[losses.length - 1]!;
        const summary = `L_R ${first.toFixed(4)} → ${last.toFixed(4)}, mean image ${baseline.toFixed(4)}`;
        assert.ok(last < 0.25 * first, summary);
        assert.ok(last < 0.25 * baseline, summary);
      } finally {
        optimizer.dispose();
        targets.dispose();
        parameters.dispose();
        encoderParameters.dispose();
      }
    });
  }
});

describe('reconstruction loss', () => {
  it('is the mean squared error over pixels, channels and images', () => {
    tf.tidy(() => {
      const decoded = tf.tensor4d([0.5, 0.5, 0.5, 0, 1, 0.25], [2, 1, 1, 3]);
      const target = tf.tensor4d([0, 1, 0.5, 0, 0, 1], [2, 1, 1, 3]);
      // (0.25 + 0.25 + 0 + 0 + 1 + 0.5625) / 6
      assert.ok(Math.abs(reconstructionLoss(decoded, target).dataSync()[0]! - 2.0625 / 6) < 1e-7);
      assert.equal(reconstructionLoss(target, target).dataSync()[0], 0);
    });
  });

  it('refuses targets of another shape rather than broadcasting them', () => {
    tf.tidy(() => {
      const decoded = tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;
      assert.throws(
        () => reconstructionLoss(decoded, tf.zeros([1, 4, 4, 3]) as tf.Tensor4D),
        /differ in shape/,
      );
    });
  });
});
