import * as assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's main entry registers no gradients; tf.grads needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { conv2DBackpropFilterConfig } from '../../../src/engine/backends/wasm/conv2dBackpropFilter';
import { conv2DBackpropInputConfig } from '../../../src/engine/backends/wasm/conv2dBackpropInput';
import { initWasmBackend, type WasmBackendInfo } from '../../../src/engine/backends/wasm/loadWasm';
import { registerWasmTrainingKernels } from '../../../src/engine/backends/wasm/registerTrainingKernels';

type Shape4D = [number, number, number, number];
type Padding =
  | 'same'
  | 'valid'
  | number
  | [[number, number], [number, number], [number, number], [number, number]];

interface ConvCase {
  name: string;
  xShape: Shape4D;
  filterShape: Shape4D;
  strides: number | [number, number];
  pad: Padding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const cases: ConvCase[] = [
  {
    name: '3x3 s1 same, odd 7x7, batch 1',
    xShape: [1, 7, 7, 3],
    filterShape: [3, 3, 3, 4],
    strides: 1,
    pad: 'same',
  },
  { name: '3x3 s1 valid, 9x9', xShape: [2, 9, 9, 4], filterShape: [3, 3, 4, 5], strides: 1, pad: 'valid' },
  { name: '3x3 s2 same, 9x9', xShape: [2, 9, 9, 4], filterShape: [3, 3, 4, 5], strides: 2, pad: 'same' },
  { name: '3x3 s2 same, even 8x8', xShape: [3, 8, 8, 6], filterShape: [3, 3, 6, 8], strides: 2, pad: 'same' },
  {
    name: '3x3 s2 valid, 13x13',
    xShape: [2, 13, 13, 3],
    filterShape: [3, 3, 3, 4],
    strides: 2,
    pad: 'valid',
  },
  { name: '4x4 s2 same, 13x13', xShape: [3, 13, 13, 2], filterShape: [4, 4, 2, 3], strides: 2, pad: 'same' },
  { name: '4x4 s2 valid, 8x8', xShape: [2, 8, 8, 3], filterShape: [4, 4, 3, 2], strides: 2, pad: 'valid' },
  {
    name: '4x4 s1 same (uneven padding)',
    xShape: [2, 7, 9, 2],
    filterShape: [4, 4, 2, 3],
    strides: 1,
    pad: 'same',
  },
  {
    name: '7x7 s2 same stem, 13x13',
    xShape: [2, 13, 13, 3],
    filterShape: [7, 7, 3, 8],
    strides: 2,
    pad: 'same',
  },
  {
    name: '7x7 s2 same stem, 16x16',
    xShape: [1, 16, 16, 3],
    filterShape: [7, 7, 3, 4],
    strides: 2,
    pad: 'same',
  },
  { name: '1x1 s2 shortcut, 8x8', xShape: [2, 8, 8, 6], filterShape: [1, 1, 6, 4], strides: 2, pad: 'valid' },
  {
    name: '1x1 s2 shortcut, odd 9x9',
    xShape: [2, 9, 9, 4],
    filterShape: [1, 1, 4, 8],
    strides: 2,
    pad: 'same',
  },
  {
    name: '1x1 s2 with explicit padding (samples the zero border)',
    xShape: [2, 7, 8, 5],
    filterShape: [1, 1, 5, 3],
    strides: 2,
    pad: [
      [0, 0],
      [1, 0],
      [0, 2],
      [0, 0],
    ],
  },
  {
    name: '1x1 s1, single channels',
    xShape: [3, 7, 7, 1],
    filterShape: [1, 1, 1, 1],
    strides: 1,
    pad: 'valid',
  },
  {
    name: '3x3 s1, one output channel',
    xShape: [2, 9, 9, 5],
    filterShape: [3, 3, 5, 1],
    strides: 1,
    pad: 'same',
  },
  {
    name: 'strides [2,1], rectangular',
    xShape: [2, 9, 7, 3],
    filterShape: [3, 3, 3, 4],
    strides: [2, 1],
    pad: 'same',
  },
  {
    name: 'explicit padding, s2',
    xShape: [2, 10, 9, 3],
    filterShape: [3, 3, 3, 4],
    strides: 2,
    pad: [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
  },
  {
    name: 'explicit padding wider than the filter (crops dy)',
    xShape: [1, 5, 6, 2],
    filterShape: [3, 3, 2, 3],
    strides: 1,
    pad: [
      [0, 0],
      [4, 3],
      [0, 5],
      [0, 0],
    ],
  },
  { name: 'numeric pad 1, s2', xShape: [2, 11, 11, 3], filterShape: [3, 3, 3, 4], strides: 2, pad: 1 },
  {
    name: 'ceil rounding reads past the input',
    xShape: [2, 10, 10, 2],
    filterShape: [3, 3, 2, 3],
    strides: 2,
    pad: 0,
    dimRoundingMode: 'ceil',
  },
  {
    name: 'round rounding',
    xShape: [1, 9, 8, 2],
    filterShape: [4, 4, 2, 2],
    strides: 2,
    pad: 1,
    dimRoundingMode: 'round',
  },
  { name: 'one-row input, s2', xShape: [2, 1, 7, 3], filterShape: [3, 3, 3, 2], strides: 2, pad: 'same' },
  {
    name: 'filter larger than input',
    xShape: [1, 3, 3, 2],
    filterShape: [4, 4, 2, 2],
    strides: 2,
    pad: 'same',
  },
  {
    name: '2x2 s3 valid (phases without taps)',
    xShape: [2, 10, 10, 2],
    filterShape: [2, 2, 2, 3],
    strides: 3,
    pad: 'valid',
  },
];

/** Deterministic values so a failure reproduces; mulberry32. */
function seededValues(size: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const values = new Float32Array(size);
  for (let index = 0; index < size; index++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    values[index] = ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296 - 0.5;
  }
  return values;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

/** Runs `compute` on one backend and copies its outputs out, so both backends see identical inputs. */
async function runOn(backendName: 'wasm' | 'cpu', compute: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backendName);
  const outputs = tf.tidy(compute);
  const values = outputs.map((output) => Float32Array.from(output.dataSync()));
  tf.dispose(outputs);
  return values;
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: element count`);
  let scale = 1;
  let worst = 0;
  let worstIndex = -1;
  for (let index = 0; index < expected.length; index++) {
    scale = Math.max(scale, Math.abs(expected[index]));
    const difference = Math.abs(actual[index] - expected[index]);
    if (!(difference <= worst)) {
      worst = difference;
      worstIndex = index;
    }
  }
  assert.ok(
    worst <= 1e-4 * scale,
    `${what}: max |wasm − cpu| = ${worst} at ${worstIndex} (wasm ${actual[worstIndex]}, cpu ${expected[worstIndex]})`,
  );
}

function outputShapeOf(testCase: ConvCase): Shape4D {
  const info = tf.backend_util.computeConv2DInfo(
    testCase.xShape,
    testCase.filterShape,
    testCase.strides,
    1,
    testCase.pad,
    testCase.dimRoundingMode,
  );
  return info.outShape as Shape4D;
}

function backpropKernels(testCase: ConvCase, x: Float32Array, filter: Float32Array, dy: Float32Array) {
  return () => {
    const attrs = {
      strides: testCase.strides,
      pad: testCase.pad,
      dataFormat: 'NHWC',
      ...(testCase.dimRoundingMode ? { dimRoundingMode: testCase.dimRoundingMode } : {}),
    };
    const dyTensor = tf.tensor4d(dy, outputShapeOf(testCase));
    const dw = tf
      .engine()
      .runKernel(
        'Conv2DBackpropFilter',
        { x: tf.tensor4d(x, testCase.xShape), dy: dyTensor },
        { ...attrs, filterShape: testCase.filterShape },
      ) as tf.Tensor;
    const dx = tf
      .engine()
      .runKernel(
        'Conv2DBackpropInput',
        { dy: dyTensor, filter: tf.tensor4d(filter, testCase.filterShape) },
        { ...attrs, inputShape: testCase.xShape },
      ) as tf.Tensor;
    return [dw, dx];
  };
}

describe('wasm training kernels', () => {
  let wasmInfo: WasmBackendInfo;
  let previousBackend: string | undefined;

  before(async () => {
    previousBackend = tf.getBackend();
    wasmInfo = await initWasmBackend(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')));
  });

  after(async () => {
    if (previousBackend) {
      await tf.setBackend(previousBackend);
    }
  });

  it('initialises the wasm backend with the training kernels in place of the stock ones', () => {
    assert.equal(tf.getBackend(), 'wasm');
    assert.deepEqual(wasmInfo.trainingKernels, ['Conv2DBackpropFilter', 'Conv2DBackpropInput']);
    assert.ok(wasmInfo.threadCount >= 1);
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), conv2DBackpropFilterConfig);
    assert.equal(tf.getKernel('Conv2DBackpropInput', 'wasm'), conv2DBackpropInputConfig);
  });

  it('registers idempotently', () => {
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), conv2DBackpropFilterConfig);
    assert.equal(tf.getKernel('Conv2DBackpropInput', 'wasm'), conv2DBackpropInputConfig);
  });

  describe('match the cpu backend', () => {
    cases.forEach((testCase, caseIndex) => {
      it(`${testCase.name}: x ${testCase.xShape}, filter ${testCase.filterShape}`, async () => {
        const x = seededValues(sizeOf(testCase.xShape), 3 * caseIndex + 1);
        const filter = seededValues(sizeOf(testCase.filterShape), 3 * caseIndex + 2);
        const dy = seededValues(sizeOf(outputShapeOf(testCase)), 3 * caseIndex + 3);
        const [wasmDw, wasmDx] = await runOn('wasm', backpropKernels(testCase, x, filter, dy));
        const [cpuDw, cpuDx] = await runOn('cpu', backpropKernels(testCase, x, filter, dy));
        assertClose(wasmDw, cpuDw, 'Conv2DBackpropFilter');
        assertClose(wasmDx, cpuDx, 'Conv2DBackpropInput');
      });
    });
  });

  it('differentiates tf.conv2dTranspose (4x4, stride 2, same) like the cpu backend', async () => {
    const xShape: Shape4D = [2, 5, 5, 6];
    const filterShape: Shape4D = [4, 4, 3, 6];
    const outputShape: Shape4D = [2, 10, 10, 3];
    const x = seededValues(sizeOf(xShape), 101);
    const filter = seededValues(sizeOf(filterShape), 102);
    const weights = seededValues(sizeOf(outputShape), 103);
    const compute = () => {
      const upsample = (input: tf.Tensor, kernel: tf.Tensor) =>
        tf.conv2dTranspose(input as tf.Tensor4D, kernel as tf.Tensor4D, outputShape, 2, 'same');
      const loss = (input: tf.Tensor, kernel: tf.Tensor) =>
        tf.sum(tf.mul(upsample(input, kernel), tf.tensor4d(weights, outputShape)));
      const xTensor = tf.tensor4d(x, xShape);
      const filterTensor = tf.tensor4d(filter, filterShape);
      return [upsample(xTensor, filterTensor), ...tf.grads(loss)([xTensor, filterTensor])];
    };
    const wasm = await runOn('wasm', compute);
    const cpu = await runOn('cpu', compute);
    ['output', 'dLoss/dx', 'dLoss/dfilter'].forEach((what, index) => {
      assertClose(wasm[index], cpu[index], `conv2dTranspose ${what}`);
    });
  });

  it('differentiates a conv2d → relu → conv2d stack like the cpu backend', async () => {
    const xShape: Shape4D = [3, 11, 11, 4];
    const firstShape: Shape4D = [3, 3, 4, 8];
    const secondShape: Shape4D = [3, 3, 8, 5];
    const x = seededValues(sizeOf(xShape), 201);
    const first = seededValues(sizeOf(firstShape), 202);
    const second = seededValues(sizeOf(secondShape), 203);
    const compute = () => {
      const loss = (input: tf.Tensor, firstKernel: tf.Tensor, secondKernel: tf.Tensor) => {
        const hidden = tf.relu(tf.conv2d(input as tf.Tensor4D, firstKernel as tf.Tensor4D, 2, 'same'));
        const output = tf.conv2d(hidden, secondKernel as tf.Tensor4D, 1, 'valid');
        return tf.sum(tf.square(output));
      };
      return tf.grads(loss)([
        tf.tensor4d(x, xShape),
        tf.tensor4d(first, firstShape),
        tf.tensor4d(second, secondShape),
      ]);
    };
    const wasm = await runOn('wasm', compute);
    const cpu = await runOn('cpu', compute);
    ['dLoss/dx', 'dLoss/dfirst', 'dLoss/dsecond'].forEach((what, index) => {
      assertClose(wasm[index], cpu[index], `conv2d ${what}`);
    });
  });

  it('leaks neither engine tensors nor wasm heap buffers over many calls', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const run = () =>
      tf.tidy(() => {
        const x = tf.randomNormal([2, 9, 9, 4]) as tf.Tensor4D;
        const stride1 = tf.variableGrads(() => tf.sum(tf.conv2d(x, filter3x3, 1, 'same')), [filter3x3]);
        const stride2 = (kernelSize: number) =>
          tf.grads((input: tf.Tensor, kernel: tf.Tensor) =>
            tf.sum(tf.conv2d(input as tf.Tensor4D, kernel as tf.Tensor4D, 2, 'same')),
          )([x, tf.randomNormal([kernelSize, kernelSize, 4, 3])]);
        return [stride1.value, ...stride2(4), ...stride2(1)];
      });
    const filter3x3 = tf.variable(tf.randomNormal([3, 3, 4, 6]) as tf.Tensor4D);
    tf.dispose(run());
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = backend.numDataIds();
    for (let step = 0; step < 50; step++) {
      tf.dispose(run());
    }
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(backend.numDataIds(), buffersBefore);
    filter3x3.dispose();
  });

  it('rejects NCHW with a clear error', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 2, 5, 5]);
    const dy = tf.zeros([1, 2, 5, 5]);
    const filter = tf.zeros([3, 3, 2, 2]);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NCHW' };
    assert.throws(
      () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [3, 3, 2, 2] }),
      /supports only dataFormat 'NHWC'/,
    );
    assert.throws(
      () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: [1, 2, 5, 5] }),
      /supports only dataFormat 'NHWC'/,
    );
    tf.dispose([x, dy, filter]);
  });
});
