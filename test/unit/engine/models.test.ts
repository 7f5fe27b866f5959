import assert from 'node:assert/strict';
import path from 'node:path';
import { initWasmBackend } from '../../../src/engine/backends/wasm/loadWasm';
import { MlpHead } from '../../../src/engine/models/mlp';
import { ParameterStore, SeedSequence } from '../../../src/engine/models/parameters';
import { buildEncoder, type EncoderSpec } from '../../../src/engine/models/registry';
import { tf } from '../../../src/engine/tf';

const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));

function images(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  return tf.randomUniform(shape, 0, 1, 'float32', seed) as tf.Tensor4D;
}

describe('encoders', function () {
  this.timeout(120_000);

  before(async () => {
    await tf.setBackend('cpu');
  });

  for (const [spec, size, mapSize, channels] of [
    [{ arch: 'resnet18', width: 0.125, stem: 'cifar' }, 32, 4, 64],
    [{ arch: 'resnet18', width: 0.5, stem: 'imagenet' }, 64, 2, 256],
    [{ arch: 'resnet50', width: 0.125, stem: 'imagenet' }, 64, 2, 256],
    [{ arch: 'smallcnn', width: 0.25, stem: 'cifar' }, 32, 4, 64],
  ] as [EncoderSpec, number, number, number][]) {
    it(`${spec.arch} ×${spec.width} (${spec.stem} stem) at ${size}px exposes A [N,${mapSize},${mapSize},${channels}] and h = mean of A`, () => {
      const { encoder, parameters } = buildEncoder(spec, 1);
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const { featureMap, features } = encoder.apply(images([2, size, size, 3], 3), 'eval');
        assert.deepEqual(featureMap.shape, [2, mapSize, mapSize, channels]);
        assert.deepEqual(features.shape, [2, channels]);
        assert.equal(encoder.featureDim, channels);
        const pooled = tf.mean(featureMap, [1, 2]);
        assert.ok(tf.max(tf.abs(tf.sub(pooled, features))).dataSync()[0]! < 1e-6);
      });
      assert.equal(tf.memory().numTensors, before);
      parameters.dispose();
    });
  }

  it('has the parameter count of a ResNet-18 at full width', () => {
    const { parameters } = buildEncoder({ arch: 'resnet18', width: 1, stem: 'imagenet' }, 0);
    const count = parameters.trainable().reduce((total, variable) => total + variable.size, 0);
    // torchvision's resnet18 without its 1000-way classifier: 11,689,512 − 513,000.
    assert.equal(count, 11_176_512);
    parameters.dispose();
  });

  it('initialises from the seed alone, with stable names', () => {
    const spec: EncoderSpec = { arch: 'resnet18', width: 0.125, stem: 'cifar' };
    const first = buildEncoder(spec, 7, 'a');
    const second = buildEncoder(spec, 7, 'b');
    const other = buildEncoder(spec, 8, 'c');
    const names = (store: ParameterStore) => store.all().map(([name]) => name.slice(name.indexOf('.')));
    assert.deepEqual(names(first.parameters), names(second.parameters));
    assert.ok(names(first.parameters).includes('.layer2.0.shortcut.conv.weight'));
    const weights = (store: ParameterStore) =>
      store.all().map(([, variable]) => Array.from(variable.dataSync()));
    assert.deepEqual(weights(first.parameters), weights(second.parameters));
    assert.notDeepEqual(weights(first.parameters), weights(other.parameters));
    for (const built of [first, second, other]) {
      built.parameters.dispose();
    }
  });

  it('moves batch-norm running statistics in training mode only', () => {
    const store = ParameterStore.root('head');
    const head = new MlpHead(store, new SeedSequence(1), { in: 8, hidden: 16, out: 4 });
    const runningMean = store.all().find(([name]) => name === 'head.bn1.runningMean')![1];
    const x = tf.randomNormal([32, 8], 3, 1, 'float32', 5) as tf.Tensor2D;
    tf.tidy(() => head.apply(x, 'eval'));
    assert.equal(tf.sum(tf.abs(runningMean)).dataSync()[0], 0);
    tf.tidy(() => head.apply(x, 'train'));
    assert.ok(tf.sum(tf.abs(runningMean)).dataSync()[0]! > 0);
    x.dispose();
    store.dispose();
  });

  it('with model.batchNorm frozen, trains through the running statistics and keeps them, its scales still learning', () => {
    const spec: EncoderSpec = { arch: 'resnet18', width: 0.125, stem: 'cifar' };
    const runningOf = (store: ParameterStore) =>
      store
        .all()
        .filter(([name]) => /running(Mean|Variance)$/.test(name))
        .map(([, variable]) => Array.from(variable.dataSync()));
    const x = images([4, 32, 32, 3], 9);
    for (const batchNorm of ['batch', 'frozen'] as const) {
      const { encoder, parameters } = buildEncoder({ ...spec, batchNorm }, 3);
      const before = runningOf(parameters);
      const scale = parameters.all().find(([name]) => name === 'encoder.stem.bn.weight')![1];
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(encoder.apply(x, 'train').features)) as tf.Scalar,
        [scale],
      );
      value.dispose();
      const gradient = grads[scale.name];
      const moved = runningOf(parameters).some((values, index) =>
        values.some((value, at) => value !== before[index]![at]),
      );
      assert.equal(moved, batchNorm === 'batch', `${batchNorm}: running statistics moved`);
      assert.ok(
        tf.sum(tf.abs(gradient!)).dataSync()[0]! > 0,
        `${batchNorm}: the batch norm's scale has a gradient`,
      );
      tf.dispose(gradient);
      const frozenEval = tf.tidy(() => encoder.apply(x, 'eval').features.dataSync());
      if (batchNorm === 'frozen') {
        const train = tf.tidy(() => encoder.apply(x, 'train').features.dataSync());
        assert.deepEqual(train, frozenEval, 'frozen: training computes what evaluation computes');
      }
      parameters.dispose();
    }
    x.dispose();
  });

  it('trains on wasm with the same gradients as on cpu (tiny ResNet-18, whole model)', async () => {
    const gradientsOn = async (backend: 'cpu' | 'wasm') => {
      if (backend === 'wasm') {
        await initWasmBackend(wasmDir);
      } else {
        await tf.setBackend('cpu');
      }
      const { encoder, parameters } = buildEncoder({ arch: 'resnet18', width: 0.125, stem: 'imagenet' }, 11);
      const x = images([4, 32, 32, 3], 12);
      const { grads } = tf.variableGrads(() => {
        const { features } = encoder.apply(x, 'train');
        return tf.mean(tf.square(tf.sub(features, 0.5))) as tf.Scalar;
      }, parameters.trainable());
      const values = Object.fromEntries(
        Object.entries(grads).map(([name, gradient]) => [
          name.slice(name.indexOf('.')),
          Array.from(gradient.dataSync()),
        ]),
      );
      tf.dispose([x, ...Object.values(grads)]);
      parameters.dispose();
      return values;
    };
    const onCpu = await gradientsOn('cpu');
    const onWasm = await gradientsOn('wasm');
    await tf.setBackend('cpu');
    assert.deepEqual(Object.keys(onWasm).sort(), Object.keys(onCpu).sort());
    for (const [name, expected] of Object.entries(onCpu)) {
      const actual = onWasm[name]!;
      const scale = Math.max(1e-6, ...expected.map(Math.abs));
      const worst = Math.max(...actual.map((value, index) => Math.abs(value - expected[index]!)));
      assert.ok(worst <= 2e-3 * scale, `${name}: max |wasm − cpu| = ${worst}, scale ${scale}`);
    }
  });

  it('keeps the tensor count flat over repeated training steps', () => {
    const { encoder, parameters } = buildEncoder({ arch: 'smallcnn', width: 0.25, stem: 'cifar' }, 2);
    const optimizer = tf.train.sgd(0.01);
    const x = images([4, 16, 16, 3], 9);
    const step = () =>
      tf.tidy(() => {
        optimizer.minimize(
          () => tf.mean(tf.square(encoder.apply(x, 'train').features)) as tf.Scalar,
          false,
          parameters.trainable(),
        );
      });
    step();
    const before = tf.memory().numTensors;
    for (let index = 0; index < 5; index++) {
      step();
    }
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    optimizer.dispose();
    parameters.dispose();
  });
});
