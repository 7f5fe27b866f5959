import assert from 'node:assert/strict';
import {
  fusedBatchNormTraining,
  fusedBatchNormTrainingAvailable,
} from '../../../src/engine/backends/onednn/batchNorm';
import { nativeElementThreshold } from '../../../src/engine/backends/onednn/elementwise';
import { fusedOptimizerUpdatesAvailable } from '../../../src/engine/backends/onednn/optimizerUpdates';
import { upsampleNearest2x } from '../../../src/engine/models/decoder';
import { tf } from '../../../src/engine/tf';
import { type OptimizerName, SslOptimizer } from '../../../src/engine/training/optimizer';
import {
  assertClose,
  NativeCallCounter,
  type NativeFunction,
  seededUniform,
  selectOneDnnOrSkip,
  sizeOf,
} from '../../support/onednn';

type Shape4D = [number, number, number, number];
type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];
type Pad = 'same' | 'valid' | number | ExplicitPad;

interface Input {
  shape: number[];
  values: Float32Array | Int32Array;
}

interface Comparison {
  inputs: Input[];
  /** Run on both backends, or on onednn only when `reference` is given. */
  compute: (...inputs: tf.Tensor[]) => tf.Tensor[];
  /** What the cpu backend computes instead, for a kernel only onednn has. */
  reference?: (...inputs: tf.Tensor[]) => tf.Tensor[];
  /** Per output: how many terms each element sums, which sets its tolerance. */
  reductionLengths: number[];
  outputNames: string[];
  /** Addon functions the onednn run must call, proving the native code ran. */
  native?: NativeFunction[];
  /** Addon functions it must not call: cases the kernels hand to the cpu backend's JavaScript. */
  fallback?: NativeFunction[];
}

/** Set from each test's title, so a case draws the same values whether it runs alone or with the rest. */
let seed = 0;

/** FNV-1a: a test title as a 32-bit seed. */
function seedOf(title: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < title.length; index++) {
    hash = Math.imul(hash ^ title.charCodeAt(index), 0x01000193) >>> 0;
  }
  return hash;
}

/** Each input of a case draws from the next seed, so inputs differ from each other yet every run repeats. */
function input(shape: number[], low = -1, high = 1): { shape: number[]; values: Float32Array } {
  return { shape, values: seededUniform(sizeOf(shape), seed++, low, high) };
}

function int32Input(shape: number[]): Input {
  return { shape, values: Int32Array.from(seededUniform(sizeOf(shape), seed++, -50, 50), Math.round) };
}

function convOutputShape(
  xShape: Shape4D,
  filterShape: Shape4D,
  strides: number | [number, number],
  pad: Pad,
) {
  return tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad).outShape;
}

function describePad(pad: Pad): string {
  return Array.isArray(pad) ? `pad ${JSON.stringify(pad.slice(1, 3))}` : `pad ${pad}`;
}

describe('onednn kernels against the cpu backend', function () {
  this.timeout(120_000);
  let counter: NativeCallCounter;
  let previousBackend: string | undefined;

  before(async function () {
    previousBackend = tf.getBackend();
    counter = new NativeCallCounter(await selectOneDnnOrSkip(this));
  });

  after(async () => {
    counter?.restore();
    if (previousBackend) await tf.setBackend(previousBackend);
  });

  beforeEach(function () {
    seed = seedOf(this.currentTest!.fullTitle());
  });

  /**
   * Runs a computation on one backend from the given values and copies its outputs out. Every run, forward
   * and backward, must leave as many tensors and backend buffers as it found.
   */
  async function runOn(backendName: 'onednn' | 'cpu', inputs: Input[], compute: Comparison['compute']) {
    await tf.setBackend(backendName);
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = tf.backend().numDataIds();
    const { result: outputs, calls } = counter.during(() =>
      tf.tidy(() =>
        compute(
          ...inputs.map((entry) =>
            tf.tensor(entry.values, entry.shape, entry.values instanceof Int32Array ? 'int32' : 'float32'),
          ),
        ),
      ),
    );
    const values = outputs.map((output) => output.dataSync().slice());
    tf.dispose(outputs);
    assert.equal(tf.memory().numTensors, tensorsBefore, `${backendName}: tensors leaked`);
    assert.equal(tf.backend().numDataIds(), buffersBefore, `${backendName}: backend buffers leaked`);
    return { values, calls };
  }

  async function compare(comparison: Comparison): Promise<void> {
    const onednn = await runOn('onednn', comparison.inputs, comparison.compute);
    const cpu = await runOn('cpu', comparison.inputs, comparison.reference ?? comparison.compute);
    for (const name of comparison.native ?? []) {
      assert.ok((onednn.calls.get(name) ?? 0) > 0, `the native ${name} did not run`);
    }
    for (const name of comparison.fallback ?? []) {
      assert.equal(onednn.calls.get(name) ?? 0, 0, `${name} ran natively where the cpu kernel was expected`);
    }
    assert.equal(onednn.values.length, comparison.outputNames.length);
    comparison.outputNames.forEach((name, index) => {
      assertClose(onednn.values[index]!, cpu.values[index]!, comparison.reductionLengths[index]!, name);
    });
  }

  /** The forward value and the gradients of `f` with respect to every input, under a random upstream dy. */
  function withGradients(f: (...inputs: tf.Tensor[]) => tf.Tensor) {
    return (...tensors: tf.Tensor[]) => {
      const inputs = tensors.slice(0, -1);
      const dy = tensors.at(-1)!;
      return [f(...inputs), ...tf.grads(f)(inputs, dy)];
    };
  }

  it('selects onednn, whose fused batch norm and optimizer updates the cpu backend lacks', async () => {
    assert.equal(tf.getBackend(), 'onednn');
    assert.ok(fusedBatchNormTrainingAvailable());
    assert.ok(fusedOptimizerUpdatesAvailable());
    await tf.setBackend('cpu');
    assert.ok(!fusedBatchNormTrainingAvailable());
    assert.ok(!fusedOptimizerUpdatesAvailable());
  });

  describe('conv2d, its input and filter gradients', () => {
    interface ConvCase {
      x: Shape4D;
      filter: Shape4D;
      strides: number | [number, number];
      pad: Pad;
    }
    const spatialSizes: [number, number][] = [
      [7, 7],
      [8, 8],
      [9, 7],
      [12, 11],
      [10, 13],
    ];
    const batches = [1, 2, 3];
    const inChannels = [1, 3, 4, 8];
    const outChannels = [2, 5, 8, 1];
    const pads: Pad[] = [
      'same',
      'valid',
      1,
      [
        [0, 0],
        [2, 1],
        [0, 3],
        [0, 0],
      ],
    ];
    // Every kernel size, stride and padding meets every other; sizes and channels rotate through odd, even
    // and single values so the grid stays small enough for the cpu backend.
    const cases: ConvCase[] = [];
    for (const kernel of [1, 3, 5, 7]) {
      for (const stride of [1, 2, 3]) {
        for (const pad of pads) {
          const index = cases.length;
          const [height, width] = spatialSizes[index % spatialSizes.length]!;
          cases.push({
            x: [batches[index % batches.length]!, height, width, inChannels[index % inChannels.length]!],
            filter: [kernel, kernel, inChannels[index % inChannels.length]!, outChannels[(index >> 2) % 4]!],
            strides: stride,
            pad,
          });
        }
      }
    }
    cases.push(
      { x: [2, 9, 8, 3], filter: [1, 3, 3, 4], strides: [2, 1], pad: 'same' },
      { x: [1, 8, 11, 2], filter: [5, 3, 2, 3], strides: [1, 3], pad: 'valid' },
      { x: [2, 6, 6, 16], filter: [3, 3, 16, 16], strides: 1, pad: 'same' },
      // Maps of at most half a window's pixels, which the addon runs as one dense matrix product: a ResNet's
      // last stage at 64 px, single pixels, strides, TF's asymmetric 'same' padding and taps no pixel pair uses.
      { x: [3, 2, 2, 16], filter: [3, 3, 16, 8], strides: 1, pad: 'same' },
      { x: [2, 1, 1, 8], filter: [3, 3, 8, 4], strides: 1, pad: 'same' },
      { x: [2, 2, 3, 5], filter: [3, 3, 5, 6], strides: 2, pad: 'same' },
      { x: [2, 2, 2, 4], filter: [5, 5, 4, 3], strides: 1, pad: 2 },
      { x: [1, 3, 3, 2], filter: [5, 5, 2, 7], strides: 2, pad: 'same' },
      {
        x: [2, 1, 4, 3],
        filter: [3, 3, 3, 2],
        strides: [1, 2],
        pad: [
          [0, 0],
          [1, 1],
          [0, 1],
          [0, 0],
        ],
      },
    );

    for (const testCase of cases) {
      const { x, filter, strides, pad } = testCase;
      it(`x ${x}, filter ${filter}, strides ${strides}, ${describePad(pad)}`, () => {
        const dyShape = convOutputShape(x, filter, strides, pad);
        const [kernelHeight, kernelWidth, inputChannels, outputChannels] = filter;
        return compare({
          inputs: [input(x), input(filter), input(dyShape)],
          compute: withGradients((xTensor, filterTensor) =>
            tf.conv2d(xTensor as tf.Tensor4D, filterTensor as tf.Tensor4D, strides, pad),
          ),
          outputNames: ['y', 'dx', 'dfilter'],
          reductionLengths: [
            kernelHeight * kernelWidth * inputChannels,
            kernelHeight * kernelWidth * outputChannels,
            dyShape[0] * dyShape[1] * dyShape[2],
          ],
          native: ['conv2d', 'conv2dBackpropInput', 'conv2dBackpropFilter'],
        });
      });
    }

    // TF.js has no gradient for dilated convolutions, and takes dilations only with stride 1.
    for (const kernel of [3, 5]) {
      for (const pad of ['same', 'valid', 2] as Pad[]) {
        const xShape: Shape4D = [2, 13, 12, 3];
        const filterShape: Shape4D = [kernel, kernel, 3, 4];
        it(`dilation 2: x ${xShape}, filter ${filterShape}, ${describePad(pad)}`, () =>
          compare({
            inputs: [input(xShape), input(filterShape)],
            compute: (xTensor, filterTensor) => [
              tf.conv2d(xTensor as tf.Tensor4D, filterTensor as tf.Tensor4D, 1, pad, 'NHWC', 2),
            ],
            outputNames: ['y'],
            reductionLengths: [kernel * kernel * 3],
            native: ['conv2d'],
          }));
      }
    }

    // TF.js counts one more window than the padding holds; oneDNN derives the output from the padding, so
    // these go to the cpu kernel.
    it('ceil rounding, whose last windows reach past the input: cpu fallback (forward only: the gradient ignores the rounding)', () =>
      compare({
        inputs: [input([2, 10, 10, 2]), input([3, 3, 2, 3])],
        compute: (xTensor, filterTensor) => [
          tf.conv2d(xTensor as tf.Tensor4D, filterTensor as tf.Tensor4D, 2, 0, 'NHWC', 1, 'ceil'),
        ],
        outputNames: ['y'],
        reductionLengths: [18],
        fallback: ['conv2d'],
      }));
  });

  describe('conv2dTranspose and its gradients', () => {
    const cases: {
      output: Shape4D;
      kernel: number;
      inChannels: number;
      strides: number;
      pad: 'same' | 'valid';
    }[] = [];
    for (const strides of [1, 2]) {
      for (const pad of ['same', 'valid'] as const) {
        for (const [size, kernel] of [
          [8, 3],
          [9, 4],
          [12, 2],
          [7, 3],
        ] as const) {
          cases.push({ output: [2, size, size + 1, 3], kernel, inChannels: 5, strides, pad });
        }
      }
    }
    for (const { output, kernel, inChannels, strides, pad } of cases) {
      const filterShape: Shape4D = [kernel, kernel, output[3], inChannels];
      // The input is what a conv2d with the same settings makes of the output shape.
      const xShape = tf.backend_util.computeConv2DInfo(
        output,
        [kernel, kernel, output[3], inChannels],
        strides,
        1,
        pad,
      ).outShape;
      it(`output ${output}, filter ${filterShape}, stride ${strides}, pad ${pad}`, () =>
        compare({
          inputs: [input(xShape), input(filterShape), input(output)],
          compute: withGradients((xTensor, filterTensor) =>
            tf.conv2dTranspose(xTensor as tf.Tensor4D, filterTensor as tf.Tensor4D, output, strides, pad),
          ),
          outputNames: ['y', 'dx', 'dfilter'],
          reductionLengths: [
            kernel * kernel * inChannels,
            kernel * kernel * output[3],
            sizeOf(xShape.slice(0, 3)),
          ],
          native: ['conv2dBackpropInput', 'conv2d', 'conv2dBackpropFilter'],
        }));
    }
  });

  describe('matMul and its gradients', () => {
    const batchPairs: [number[], number[]][] = [
      [[], []],
      [[3], [3]],
      [[1], [4]],
      [[4], [1]],
      [[4], []],
      [[], [3]],
      [
        [2, 3],
        [2, 3],
      ],
    ];
    const sizes: [number, number, number][] = [
      [7, 5, 9],
      [1, 16, 3],
      [33, 17, 20],
    ];
    batchPairs.forEach(([batchA, batchB], pairIndex) => {
      const [m, k, n] = sizes[pairIndex % sizes.length]!;
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const aShape = [...batchA, ...(transposeA ? [k, m] : [m, k])];
          const bShape = [...batchB, ...(transposeB ? [n, k] : [k, n])];
          const outShape = [...tf.backend_util.assertAndGetBroadcastShape(batchA, batchB), m, n];
          const multiply = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, transposeA, transposeB);
          const label = `a ${JSON.stringify(aShape)}${transposeA ? 'ᵀ' : ''} × b ${JSON.stringify(bShape)}${transposeB ? 'ᵀ' : ''}`;
          // TF.js's BatchMatMul gradient does not sum a broadcast batch back to its operand's shape, so
          // broadcasts are checked forward; their gradients are the same kernel on unbroadcast operands.
          if (tf.util.arraysEqual(batchA, batchB)) {
            it(`${label}, and its gradients`, () =>
              compare({
                inputs: [input(aShape), input(bShape), input(outShape)],
                compute: withGradients(multiply),
                outputNames: ['c', 'da', 'db'],
                reductionLengths: [k, n, m],
                native: ['matmul'],
              }));
          } else {
            it(label, () =>
              compare({
                inputs: [input(aShape), input(bShape)],
                compute: (a, b) => [multiply(a, b)],
                outputNames: ['c'],
                reductionLengths: [k],
                native: ['matmul'],
              }),
            );
          }
        }
      }
    });

    it('batches of 2 against 3 (broadcast both ways) fall back to the cpu kernel', () =>
      compare({
        inputs: [input([2, 1, 6, 5]), input([1, 3, 5, 4])],
        compute: (a, b) => [tf.matMul(a, b)],
        outputNames: ['c'],
        reductionLengths: [5],
        fallback: ['matmul'],
      }));
  });

  describe('batch norm with given statistics (evaluation mode)', () => {
    const cases: { shape: number[]; offset: boolean; scale: boolean; epsilon: number }[] = [
      { shape: [4, 6, 6, 32], offset: true, scale: true, epsilon: 1e-5 },
      { shape: [2, 5, 7, 3], offset: true, scale: true, epsilon: 1e-3 },
      { shape: [300, 64], offset: false, scale: true, epsilon: 1e-5 },
      { shape: [3, 4, 4, 8], offset: true, scale: false, epsilon: 0.1 },
      { shape: [3, 4, 4, 8], offset: false, scale: false, epsilon: 1e-5 },
    ];
    for (const { shape, offset, scale, epsilon } of cases) {
      const channels = shape.at(-1)!;
      const perChannel = sizeOf(shape) / channels;
      const normalise = (
        x: tf.Tensor,
        mean: tf.Tensor,
        variance: tf.Tensor,
        shift: tf.Tensor,
        factor: tf.Tensor,
      ) => tf.batchNorm(x, mean, variance, offset ? shift : undefined, scale ? factor : undefined, epsilon);
      const statistics = [
        input([channels], -1, 1),
        input([channels], 0.01, 2),
        input([channels]),
        input([channels], 0.5, 1.5),
      ];
      // TF.js's gradient of batchNorm fails without both offset and scale, so those cases check the forward pass.
      const withBoth = offset && scale;
      it(`x ${JSON.stringify(shape)}${offset ? ', offset' : ''}${scale ? ', scale' : ''}, epsilon ${epsilon}${withBoth ? ', and its gradients' : ''}`, () =>
        compare(
          withBoth
            ? {
                inputs: [input(shape, -3, 3), ...statistics, input(shape)],
                compute: withGradients(normalise),
                outputNames: ['y', 'dx', 'd mean', 'd variance', 'd offset', 'd scale'],
                reductionLengths: [1, 1, perChannel, perChannel, perChannel, perChannel],
                native: ['batchNormInference'],
              }
            : {
                inputs: [input(shape, -3, 3), ...statistics],
                compute: (...tensors) => [
                  normalise(...(tensors as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])),
                ],
                outputNames: ['y'],
                reductionLengths: [1],
                native: ['batchNormInference'],
              },
        ));
    }

    it('statistics broadcast over more than the channels go to the cpu kernel', () =>
      compare({
        inputs: [input([2, 3, 3, 4]), input([1, 1, 3, 4]), input([1, 1, 3, 4], 0.1, 1)],
        compute: (x, mean, variance) => [tf.batchNorm(x, mean, variance)],
        outputNames: ['y'],
        reductionLengths: [1],
        fallback: ['batchNormInference'],
      }));
  });

  describe('reused output buffers', () => {
    const shape = [64, 4 * nativeElementThreshold];

    it('an array read out of a tensor keeps its values after the tensor is disposed and its size is made again', async () => {
      await tf.setBackend('onednn');
      const [a, b] = [input(shape), input(shape)].map((entry) => tf.tensor(entry.values, entry.shape));
      const first = tf.relu(a!);
      const read = first.dataSync();
      const expected = read.slice();
      first.dispose();
      const { calls } = counter.during(() => tf.dispose([tf.relu(b!), tf.exp(b!)]));
      assert.equal(calls.get('pointwise'), 2);
      assert.deepEqual(read, expected);
      tf.dispose([a!, b!]);
    });

    it("a view the cpu backend's strided slice takes of a native output keeps its values after the output is disposed", async () => {
      await tf.setBackend('onednn');
      const [a, b] = [input(shape), input(shape)].map((entry) => tf.tensor(entry.values, entry.shape));
      const output = tf.relu(a!);
      // One whole row: the cpu kernel's simple slice, a subarray of the output's own array.
      const row = tf.stridedSlice(output, [5, 0], [6, shape[1]!], [1, 1]);
      const expected = tf.tidy(() =>
        tf
          .relu(tf.slice(a!, [5, 0], [1, shape[1]!]))
          .dataSync()
          .slice(),
      );
      output.dispose();
      tf.dispose([tf.relu(b!), tf.exp(b!)]);
      assert.deepEqual(row.dataSync(), expected);
      tf.dispose([a!, b!, row]);
    });

    it('a disposed native output is reused for the next output of its size', async () => {
      await tf.setBackend('onednn');
      const backend = tf.backend() as unknown as { floats(info: tf.TensorInfo): Float32Array | undefined };
      const a = tf.tensor(input(shape).values, shape);
      const first = tf.relu(a);
      const buffer = backend.floats(first)!.buffer;
      first.dispose();
      const second = tf.exp(a);
      assert.equal(backend.floats(second)!.buffer, buffer);
      tf.dispose([a, second]);
    });
  });

  describe('fused batch norm in training against tf.moments and tf.batchNorm', () => {
    interface BatchNormCase {
      name: string;
      shape: number[];
      epsilon: number;
      /** Added to x: activations after a ReLU sit away from zero, which tests how the variance is summed. */
      shift?: number;
      /** A channel whose values are all equal: variance 0, so epsilon alone keeps the division finite. */
      constantChannel?: boolean;
    }
    const cases: BatchNormCase[] = [
      { name: 'rank 2', shape: [64, 16], epsilon: 1e-5 },
      { name: 'rank 2, odd', shape: [37, 5], epsilon: 1e-3 },
      { name: 'rank 4', shape: [4, 6, 6, 8], epsilon: 1e-5 },
      { name: 'rank 4, odd sizes', shape: [3, 5, 7, 3], epsilon: 1e-5 },
      { name: 'rank 4, two rows', shape: [2, 1, 1, 12], epsilon: 1e-5 },
      { name: 'rank 4, shifted by 3', shape: [2, 8, 8, 4], epsilon: 1e-5, shift: 3 },
      { name: 'rank 4, a constant channel', shape: [2, 4, 4, 6], epsilon: 1e-3, constantChannel: true },
      { name: 'rank 4, shifted by 50, far beyond the spread', shape: [2, 8, 8, 4], epsilon: 1e-5, shift: 50 },
      // Past the size at which the threads split the rows and add up their partial sums.
      { name: 'rank 4, on both threads', shape: [16, 32, 32, 32], epsilon: 1e-5, shift: 1 },
    ];
    for (const { name, shape, epsilon, shift, constantChannel } of cases) {
      const channels = shape.at(-1)!;
      const rows = sizeOf(shape) / channels;
      it(`${name}: x ${shape}, epsilon ${epsilon}`, () => {
        const x = input(shape);
        if (shift) x.values = x.values.map((value) => value + shift);
        if (constantChannel) {
          for (let index = 1; index < x.values.length; index += channels) x.values[index] = 0.3;
        }
        const axes = shape.map((_, axis) => axis).slice(0, -1);
        return compare({
          inputs: [x, input([channels], 0.5, 1.5), input([channels]), input(shape)],
          compute: (xTensor, scale, offset, dy) => {
            const normalise = (...args: tf.Tensor[]) =>
              fusedBatchNormTraining(args[0]!, args[1]!, args[2]!, epsilon).y;
            const { y, mean, variance } = fusedBatchNormTraining(xTensor, scale, offset, epsilon);
            return [y, mean, variance, ...tf.grads(normalise)([xTensor, scale, offset], dy)];
          },
          reference: (xTensor, scale, offset, dy) => {
            const normalise = (...args: tf.Tensor[]) => {
              const moments = tf.moments(args[0]!, axes);
              return tf.batchNorm(args[0]!, moments.mean, moments.variance, args[2]!, args[1]!, epsilon);
            };
            const { mean, variance } = tf.moments(xTensor, axes);
            return [
              normalise(xTensor, scale, offset),
              mean,
              variance,
              ...tf.grads(normalise)([xTensor, scale, offset], dy),
            ];
          },
          outputNames: ['y', 'mean', 'variance', 'dx', 'dscale', 'doffset'],
          reductionLengths: [rows, rows, rows, rows, rows, rows],
          native: ['batchNormTrain', 'batchNormTrainGrad'],
        });
      });
    }

    it('differentiates with respect to x alone without leaking the unused gradients', () =>
      compare({
        inputs: [input([2, 5, 5, 4]), input([4], 0.5, 1.5), input([4]), input([2, 5, 5, 4])],
        compute: (xTensor, scale, offset, dy) =>
          tf.grads((x: tf.Tensor) => fusedBatchNormTraining(x, scale, offset, 1e-5).y)([xTensor], dy),
        reference: (xTensor, scale, offset, dy) =>
          tf.grads((x: tf.Tensor) => {
            const { mean, variance } = tf.moments(x, [0, 1, 2]);
            return tf.batchNorm(x, mean, variance, offset, scale, 1e-5);
          })([xTensor], dy),
        outputNames: ['dx'],
        reductionLengths: [50],
        native: ['batchNormTrain', 'batchNormTrainGrad'],
      }));
  });

  // The reference is TF.js's own AvgPoolGrad, which wasm shares: it divides a padded window's gradient by
  // the full window although the forward divided by the valid count. Matching it keeps training the same on
  // every backend.
  describe('maxPool and avgPool with their gradients', () => {
    const shapes: Shape4D[] = [
      [2, 8, 8, 3],
      [1, 9, 7, 4],
      [3, 6, 11, 2],
    ];
    const pads: Pad[] = [
      'same',
      'valid',
      1,
      [
        [0, 0],
        [1, 0],
        [0, 1],
        [0, 0],
      ],
    ];
    let index = 0;
    for (const [name, pool] of [
      ['maxPool', tf.maxPool],
      ['avgPool', tf.avgPool],
    ] as const) {
      for (const size of [2, 3]) {
        for (const strides of [1, 2]) {
          for (const pad of pads) {
            const xShape = shapes[index++ % shapes.length]!;
            const info = tf.backend_util.computePool2DInfo(xShape, size, strides, 1, pad);
            // TF.js's average-pooling gradient divides padded windows by the full window, unlike its own
            // forward pass; the native kernel defers to it there so every backend trains alike.
            const padded = Object.values(info.padInfo).some(
              (padding) => typeof padding === 'number' && padding > 0,
            );
            const nativeGradient = name === 'maxPool' || !padded;
            it(`${name} ${size}×${size}, stride ${strides}, ${describePad(pad)}, x ${xShape}`, () =>
              compare({
                inputs: [input(xShape), input(info.outShape)],
                compute: withGradients((x) => pool(x as tf.Tensor4D, size, strides, pad)),
                outputNames: ['y', 'dx'],
                reductionLengths: [size * size, size * size],
                native: nativeGradient ? ['pool', 'poolGrad'] : ['pool'],
                ...(nativeGradient ? {} : { fallback: ['poolGrad'] }),
              }));
          }
        }
      }
    }
  });

  // oneDNN's max and min drop NaN, so Maximum, Minimum, Max and Min always run TF.js's kernels.
  const nativeBinary = new Set(['Add', 'Sub', 'Multiply', 'RealDiv', 'SquaredDifference']);
  const nativeReductions = new Set(['Sum', 'Mean']);
  /** Relu, Exp and Step run in the addon's own loops, which keep NaN; the rest through oneDNN's eltwise. */
  const unaryFunction = (name: string) => (['Relu', 'Exp', 'Step'].includes(name) ? 'pointwise' : 'unary');

  describe('binary elementwise ops', () => {
    const ops = {
      Add: tf.add,
      Sub: tf.sub,
      Multiply: tf.mul,
      RealDiv: tf.div,
      Maximum: tf.maximum,
      Minimum: tf.minimum,
      SquaredDifference: tf.squaredDifference,
    } as const;
    const big = nativeElementThreshold;
    const pairs: [number[], number[]][] = [
      [[big + 904], [big + 904]],
      [[big], [big]],
      [[big - 1], [big - 1]],
      [
        [64, 80],
        [64, 80],
      ],
      [
        [64, 63],
        [64, 63],
      ],
      [
        [8, 24, 30],
        [8, 24, 30],
      ],
      [
        [2, 8, 16, 20],
        [2, 8, 16, 20],
      ],
      [
        [2, 3, 8, 9, 10],
        [2, 3, 8, 9, 10],
      ],
      [[64, 80], []],
      [[], [64, 80]],
      [[2, 8, 16, 20], [20]],
      [[20], [2, 8, 16, 20]],
      [
        [2, 8, 16, 20],
        [2, 1, 1, 20],
      ],
      [
        [2, 1, 1, 20],
        [2, 8, 16, 20],
      ],
      [
        [2, 8, 16, 20],
        [2, 8, 16, 1],
      ],
      [[2, 3, 8, 9, 10], [10]],
      [[10], [2, 3, 8, 9, 10]],
      [
        [5, 6, 7],
        [5, 6, 7],
      ],
      [
        [64, 1],
        [1, 80],
      ],
      [
        [2, 2, 2, 2, 16, 20],
        [2, 2, 2, 2, 16, 20],
      ],
    ];
    for (const [name, op] of Object.entries(ops)) {
      for (const [aShape, bShape] of pairs) {
        const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
        const padded = (shape: number[]) => [...new Array(outShape.length - shape.length).fill(1), ...shape];
        const full = (shape: number[]) => tf.util.arraysEqual(padded(shape), outShape);
        // oneDNN broadcasts only its second operand; the kernels swap the operands when the first one is
        // broadcast and undo the swap in the same pass (negating a difference, inverting a quotient).
        const native =
          nativeBinary.has(name) &&
          sizeOf(outShape) >= nativeElementThreshold &&
          outShape.length <= 5 &&
          (full(aShape) || full(bShape));
        // Divisors stay away from zero, where a quotient's rounding is no longer relative.
        const bRange: [number, number] = name === 'RealDiv' ? [0.5, 2] : [-1, 1];
        const label = `${name} ${JSON.stringify(aShape)} with ${JSON.stringify(bShape)}`;
        it(`${label}: ${native ? 'native' : 'cpu fallback'}`, () =>
          compare({
            inputs: [input(aShape), input(bShape, ...bRange)],
            compute: (a, b) => [op(a, b)],
            outputNames: [name],
            reductionLengths: [1],
            ...(native ? { native: ['binary'] } : { fallback: ['binary'] }),
          }));
        // TF.js's Maximum, Minimum and SquaredDifference gradients do not sum a broadcast operand's gradient
        // back to its shape.
        const differentiable =
          !['Maximum', 'Minimum', 'SquaredDifference'].includes(name) || tf.util.arraysEqual(aShape, bShape);
        if (native && differentiable) {
          it(`${label}: gradients`, () =>
            compare({
              inputs: [input(aShape), input(bShape, ...bRange), input(outShape)],
              compute: withGradients((a, b) => op(a, b)),
              outputNames: [name, 'da', 'db'],
              // A broadcast operand's gradient sums over the axes it was broadcast along.
              reductionLengths: [1, sizeOf(outShape) / sizeOf(aShape), sizeOf(outShape) / sizeOf(bShape)],
              native: ['binary'],
            }));
        }
      }
    }

    it('int32 operands go to the cpu kernel', () =>
      compare({
        inputs: [int32Input([64, 80]), int32Input([64, 80])],
        compute: (a, b) => [tf.add(a, b), tf.mul(a, b)],
        outputNames: ['Add', 'Multiply'],
        reductionLengths: [1, 1],
        fallback: ['binary'],
      }));
  });

  describe('unary elementwise ops and Step', () => {
    const reluGradient = (name: string): NativeFunction[] => (name === 'Relu' ? ['reluGrad'] : []);
    const ops: Record<string, { op: (x: tf.Tensor) => tf.Tensor; range: [number, number] }> = {
      Relu: { op: tf.relu, range: [-1, 1] },
      Exp: { op: tf.exp, range: [-10, 10] },
      Log: { op: tf.log, range: [1e-3, 100] },
      Sqrt: { op: tf.sqrt, range: [1e-3, 100] },
      Square: { op: tf.square, range: [-10, 10] },
      Abs: { op: tf.abs, range: [-1, 1] },
      Tanh: { op: tf.tanh, range: [-6, 6] },
      Sigmoid: { op: tf.sigmoid, range: [-12, 12] },
    };
    const shapes = [
      [70, 70],
      [nativeElementThreshold],
      [3, 5, 17, 19],
      [nativeElementThreshold - 1],
      [2, 3, 4, 5, 6],
    ];
    for (const [name, { op, range }] of Object.entries(ops)) {
      for (const shape of shapes) {
        const native = sizeOf(shape) >= nativeElementThreshold;
        it(`${name} ${JSON.stringify(shape)}: ${native ? 'native' : 'cpu fallback'}, and its gradient`, () =>
          compare({
            inputs: [input(shape, ...range), input(shape)],
            compute: withGradients(op),
            outputNames: [name, 'dx'],
            reductionLengths: [1, 1],
            // ReLU's gradient is one native pass at any size: it replaces three kernels, not one loop.
            ...(native
              ? { native: [unaryFunction(name), ...reluGradient(name)] }
              : { fallback: [unaryFunction(name)], native: reluGradient(name) }),
          }));
      }
    }

    for (const shape of [[70, 70], [nativeElementThreshold - 1]]) {
      const native = sizeOf(shape) >= nativeElementThreshold;
      for (const alpha of [0, 0.3, -1]) {
        it(`Step ${JSON.stringify(shape)}, alpha ${alpha}, with zeros and NaNs: ${native ? 'native' : 'cpu fallback'}`, () => {
          const x = input(shape);
          // x > 0 picks 1, anything else alpha, and a NaN stays NaN as in TF.js.
          for (let index = 0; index < x.values.length; index += 97) x.values[index] = Number.NaN;
          for (let index = 13; index < x.values.length; index += 89) x.values[index] = 0;
          return compare({
            inputs: [x],
            compute: (xTensor) => [tf.step(xTensor, alpha)],
            outputNames: ['Step'],
            reductionLengths: [1],
            ...(native ? { native: ['pointwise'] } : { fallback: ['pointwise'] }),
          });
        });
      }
    }
  });

  describe('reductions', () => {
    const ops = {
      Sum: tf.sum,
      Mean: tf.mean,
      Max: tf.max,
      Min: tf.min,
    } as const;
    const cases: { shape: number[]; axis?: number | number[] }[] = [
      { shape: [64, 80], axis: 0 },
      { shape: [64, 80], axis: 1 },
      { shape: [64, 80], axis: -1 },
      { shape: [64, 80] },
      { shape: [8, 24, 30], axis: [0] },
      { shape: [8, 24, 30], axis: [1] },
      { shape: [8, 24, 30], axis: [0, 2] },
      { shape: [8, 24, 30], axis: [-2, -1] },
      { shape: [2, 8, 16, 20], axis: [0, 1, 2] },
      { shape: [2, 8, 16, 20], axis: [1, 2] },
      { shape: [2, 8, 16, 20], axis: [3] },
      { shape: [2, 8, 16, 20], axis: [0, 3] },
      { shape: [2, 3, 8, 9, 10], axis: [1, 3] },
      { shape: [2, 3, 8, 9, 10], axis: [4] },
      { shape: [2, 3, 8, 9, 10], axis: [0, 1, 2, 3, 4] },
      { shape: [40, 50], axis: 1 },
      { shape: [2, 2, 2, 3, 4, 50], axis: [2, 5] },
      // The global average pool of a 1×1 map (a ResNet's last at 32 px), and a mix of size-1 and larger axes.
      { shape: [8, 1, 1, 512], axis: [1, 2] },
      { shape: [8, 1, 16, 512], axis: [1, 2] },
    ];
    for (const [name, op] of Object.entries(ops)) {
      for (const { shape, axis } of cases) {
        for (const keepDims of [false, true]) {
          const axes = tf.util.parseAxisParam(axis ?? shape.map((_, dimension) => dimension), shape);
          const native =
            nativeReductions.has(name) &&
            sizeOf(shape) >= nativeElementThreshold &&
            shape.length <= 5 &&
            axes.some((dimension) => shape[dimension]! > 1);
          const reduced = sizeOf(axes.map((dimension) => shape[dimension]!));
          const outShape = keepDims
            ? shape.map((size, dimension) => (axes.includes(dimension) ? 1 : size))
            : shape.filter((_, dimension) => !axes.includes(dimension));
          it(`${name} ${JSON.stringify(shape)} over ${JSON.stringify(axis ?? 'all')}${keepDims ? ', keepDims' : ''}: ${native ? 'native' : 'cpu fallback'}, and its gradient`, () =>
            compare({
              inputs: [input(shape), input(outShape)],
              compute: (x, dy) => [
                op(x, axis, keepDims),
                ...tf.grads((value: tf.Tensor) => op(value, axis, keepDims))([x], dy),
              ],
              outputNames: [name, 'dx'],
              reductionLengths: [reduced, 1],
              ...(native ? { native: ['reduce'] } : { fallback: ['reduce'] }),
            }));
        }
      }
    }

    it('int32 sums go to the cpu kernel', () =>
      compare({
        inputs: [int32Input([64, 80])],
        compute: (x) => [tf.sum(x, 1), tf.max(x, 0)],
        outputNames: ['Sum', 'Max'],
        reductionLengths: [1, 1],
        fallback: ['reduce'],
      }));
  });

  describe('slices, splits and concatenations', () => {
    // Runs shorter and longer than the kernels' element-by-element copy, whole rows and partial ones.
    const slices: { shape: number[]; begin: number[]; size: number[] }[] = [
      { shape: [300], begin: [7], size: [200] },
      { shape: [300], begin: [290], size: [-1] },
      { shape: [20, 70], begin: [3, 0], size: [10, 70] },
      { shape: [20, 70], begin: [0, 5], size: [20, 60] },
      { shape: [20, 70], begin: [2, 5], size: [5, 3] },
      { shape: [4, 9, 10, 6], begin: [1, 2, 0, 0], size: [2, 5, 10, 6] },
      { shape: [4, 9, 10, 6], begin: [0, 0, 3, 1], size: [4, 9, 4, 4] },
      { shape: [4, 9, 10, 6], begin: [0, 0, 0, 2], size: [-1, -1, -1, 3] },
      { shape: [2, 3, 5, 4, 7], begin: [1, 1, 1, 1, 1], size: [1, 2, 3, 2, 5] },
    ];
    for (const { shape, begin, size } of slices) {
      it(`Slice ${JSON.stringify(shape)} from ${JSON.stringify(begin)}, size ${JSON.stringify(size)}, and its gradient`, () => {
        const outShape = size.map((extent, axis) => (extent === -1 ? shape[axis]! - begin[axis]! : extent));
        return compare({
          inputs: [input(shape), input(outShape)],
          compute: withGradients((x) => tf.slice(x, begin, size)),
          outputNames: ['y', 'dx'],
          reductionLengths: [1, 1],
          native: ['copyBox'],
        });
      });
    }

    const splits: { shape: number[]; splits: number | number[]; axis: number }[] = [
      { shape: [12, 70], splits: 3, axis: 0 },
      { shape: [12, 70], splits: [20, 40, 10], axis: 1 },
      { shape: [4, 8, 16, 6], splits: 2, axis: 2 },
      { shape: [4, 8, 16, 6], splits: [1, 2, 3], axis: -1 },
      { shape: [4, 8, 16, 6], splits: [3, -1], axis: 1 },
      { shape: [2, 3, 4, 5, 6], splits: [2, 2], axis: 2 },
    ];
    for (const { shape, splits: numOrSizeSplits, axis } of splits) {
      it(`SplitV ${JSON.stringify(shape)} into ${JSON.stringify(numOrSizeSplits)} along ${axis}, and its gradient`, () => {
        const pieces = (x: tf.Tensor) => tf.split(x, numOrSizeSplits, axis);
        // Weighting each piece makes the gradient of their sum tell the pieces apart.
        const weighted = (x: tf.Tensor) =>
          tf.addN(pieces(x).map((piece, index) => tf.sum(tf.mul(piece, index + 1))));
        return compare({
          inputs: [input(shape)],
          compute: (x) => [...pieces(x), ...tf.grads(weighted)([x])],
          outputNames: [...pieces(tf.zeros(shape)).map((_, index) => `piece ${index}`), 'dx'],
          reductionLengths: [...pieces(tf.zeros(shape)).map(() => 1), 1],
          native: ['copyBox'],
        });
      });
    }

    const concatenations: { shapes: number[][]; axis: number }[] = [
      { shapes: [[100], [37]], axis: 0 },
      {
        shapes: [
          [5, 70],
          [3, 70],
          [1, 70],
        ],
        axis: 0,
      },
      {
        shapes: [
          [5, 70],
          [5, 3],
        ],
        axis: 1,
      },
      {
        shapes: [
          [2, 8, 16, 3],
          [2, 8, 16, 5],
        ],
        axis: 3,
      },
      {
        shapes: [
          [2, 8, 16, 3],
          [2, 8, 1, 3],
          [2, 8, 4, 3],
        ],
        axis: 2,
      },
      {
        shapes: [
          [2, 8, 16, 3],
          [2, 8, 16, 3],
        ],
        axis: -3,
      },
      {
        shapes: [
          [2, 3, 4, 5, 6],
          [2, 3, 4, 2, 6],
        ],
        axis: 3,
      },
    ];
    for (const { shapes, axis } of concatenations) {
      it(`Concat ${shapes.map((shape) => JSON.stringify(shape)).join(' ')} along ${axis}, and its gradient`, () => {
        const outShape = tf.backend_util.computeOutShape(
          shapes,
          tf.util.parseAxisParam(axis, shapes[0]!)[0]!,
        );
        return compare({
          inputs: [...shapes.map((shape) => input(shape)), input(outShape)],
          compute: withGradients((...parts) => tf.concat(parts, axis)),
          outputNames: ['y', ...shapes.map((_, index) => `d part ${index}`)],
          reductionLengths: [1, ...shapes.map(() => 1)],
          native: ['copyBox'],
        });
      });
    }

    const paddings: { shape: number[]; paddings: [number, number][]; value: number }[] = [
      {
        shape: [64, 128],
        paddings: [
          [64, 0],
          [0, 0],
        ],
        value: 0,
      },
      {
        shape: [64, 128],
        paddings: [
          [0, 64],
          [0, 0],
        ],
        value: 0,
      },
      { shape: [300], paddings: [[3, 5]], value: -2 },
      {
        shape: [4, 9, 10, 6],
        paddings: [
          [0, 0],
          [1, 1],
          [2, 0],
          [0, 0],
        ],
        value: 0,
      },
      {
        shape: [2, 5, 5, 3],
        paddings: [
          [1, 0],
          [0, 2],
          [3, 1],
          [1, 2],
        ],
        value: 0.5,
      },
      {
        shape: [2, 3, 4, 5, 6],
        paddings: [
          [0, 1],
          [1, 0],
          [0, 0],
          [2, 2],
          [0, 3],
        ],
        value: 0,
      },
    ];
    for (const { shape, paddings: padding, value } of paddings) {
      it(`PadV2 ${JSON.stringify(shape)} by ${JSON.stringify(padding)} with ${value}, and its gradient`, async () => {
        const outShape = shape.map((extent, axis) => padding[axis]![0] + extent + padding[axis]![1]);
        // Forward alone first: the gradient, a slice, copies natively too.
        await compare({
          inputs: [input(shape)],
          compute: (x) => [tf.pad(x, padding, value)],
          outputNames: ['y'],
          reductionLengths: [1],
          native: ['copyBox'],
        });
        await compare({
          inputs: [input(shape), input(outShape)],
          compute: withGradients((x) => tf.pad(x, padding, value)),
          outputNames: ['y', 'dx'],
          reductionLengths: [1, 1],
          native: ['copyBox'],
        });
      });
    }

    for (const shape of [
      [2, 3, 4, 5],
      [64, 4, 4, 128],
      [1, 1, 1, 1],
      [3, 8, 2, 16],
    ] as Shape4D[]) {
      it(`the decoder's nearest-neighbour ×2 of ${JSON.stringify(shape)} in one kernel each way, as its composition`, () =>
        compare({
          inputs: [input(shape), input([shape[0], 2 * shape[1], 2 * shape[2], shape[3]])],
          compute: withGradients((x) => upsampleNearest2x(x as tf.Tensor4D)),
          outputNames: ['y', 'dx'],
          reductionLengths: [1, 4],
          native: ['upsampleNearest2x', 'upsampleNearest2xGrad'],
        }));
    }

    it('an empty piece, an empty part and int32 values go to the cpu kernels', () =>
      compare({
        inputs: [input([4, 6]), input([4, 0]), int32Input([4, 6])],
        compute: (x, empty, integers) => [
          ...tf.split(x, [2, 0, 4], 1),
          tf.concat([x, empty], 1),
          tf.slice(integers, [1, 2], [2, 3]),
          tf.concat([integers, integers], 0),
        ],
        outputNames: ['piece 0', 'piece 1', 'piece 2', 'with an empty part', 'int32 slice', 'int32 concat'],
        reductionLengths: [1, 1, 1, 1, 1, 1],
        fallback: ['output', 'copyBox'],
      }));
  });

  describe('NaN propagation, as in TF.js: a diverged step must show as NaN, not as a finite value', () => {
    const shape = [64, 80];
    /** The values with a NaN in every third row, at a column that moves from row to row. */
    function withNaNs(entry: { shape: number[]; values: Float32Array }) {
      const [rows, columns] = shape as [number, number];
      for (let row = 0; row < rows; row += 3)
        entry.values[row * columns + ((row * 7) % columns)] = Number.NaN;
      return entry;
    }
    const unary = {
      Relu: tf.relu,
      Exp: tf.exp,
      Log: tf.log,
      Sqrt: tf.sqrt,
      Square: tf.square,
      Abs: tf.abs,
      Tanh: tf.tanh,
      Sigmoid: tf.sigmoid,
    };
    for (const [name, op] of Object.entries(unary)) {
      it(name, () =>
        compare({
          inputs: [withNaNs(input(shape, 0.1, 2))],
          compute: (x) => [op(x)],
          outputNames: [name],
          reductionLengths: [1],
          native: [unaryFunction(name)],
        }),
      );
    }
    for (const operand of ['x', 'dy'] as const) {
      it(`Relu's gradient, NaN in ${operand}`, () =>
        compare({
          inputs:
            operand === 'x' ? [withNaNs(input(shape)), input(shape)] : [input(shape), withNaNs(input(shape))],
          compute: withGradients(tf.relu),
          outputNames: ['Relu', 'dx'],
          reductionLengths: [1, 1],
          native: ['reluGrad'],
        }));
    }
    const binary = {
      Add: tf.add,
      Sub: tf.sub,
      Multiply: tf.mul,
      RealDiv: tf.div,
      Maximum: tf.maximum,
      Minimum: tf.minimum,
      SquaredDifference: tf.squaredDifference,
    };
    for (const [name, op] of Object.entries(binary)) {
      for (const operand of ['first', 'second'] as const) {
        it(`${name}, NaN in the ${operand} operand`, () =>
          compare({
            inputs:
              operand === 'first'
                ? [withNaNs(input(shape)), input(shape, 0.5, 2)]
                : [input(shape), withNaNs(input(shape, 0.5, 2))],
            compute: (a, b) => [op(a, b)],
            outputNames: [name],
            reductionLengths: [1],
            ...(nativeBinary.has(name) ? { native: ['binary'] } : { fallback: ['binary'] }),
          }));
      }
    }
    const reductions = { Sum: tf.sum, Mean: tf.mean, Max: tf.max, Min: tf.min };
    for (const [name, op] of Object.entries(reductions)) {
      for (const axis of [0, 1]) {
        it(`${name} over axis ${axis}`, () =>
          compare({
            inputs: [withNaNs(input(shape))],
            compute: (x) => [op(x, axis)],
            outputNames: [name],
            reductionLengths: [shape[axis]!],
            ...(nativeReductions.has(name) ? { native: ['reduce'] } : { fallback: ['reduce'] }),
          }));
      }
    }
  });

  describe('fused optimizer updates against the updates the cpu backend composes', () => {
    // A conv filter and a dense weight (decayed, and scaled by LARS) and two vectors (neither).
    const shapes = [[3, 3, 8, 16], [64, 80], [16], [1000]];
    for (const [name, kernel] of [
      ['adam', 'adam'],
      ['sgd', 'momentum'],
      ['lars', 'momentum'],
    ] as [OptimizerName, NativeFunction][]) {
      it(`${name}: three steps of SslOptimizer`, async () => {
        const initial = shapes.map((shape) => input(shape));
        const targets = shapes.map((shape) => input(shape));
        const rate = name === 'lars' ? 0.5 : 0.05;
        const trainOn = async (backendName: 'onednn' | 'cpu') => {
          await tf.setBackend(backendName);
          const tensorsBefore = tf.memory().numTensors;
          const variables = tf.tidy(() =>
            initial.map((entry, index) =>
              tf.variable(
                tf.tensor(entry.values, entry.shape),
                true,
                `fused-${name}-${backendName}-${index}`,
              ),
            ),
          );
          const optimizer = new SslOptimizer(
            { name, momentum: 0.9, weightDecay: 0.01, trustCoefficient: 0.02 },
            [{ variables, scheduled: true }],
          );
          const steps: Promise<unknown>[] = [];
          const { calls } = counter.during(() => {
            for (let step = 0; step < 3; step++) {
              // The update runs before step() returns; only reading the loss back waits.
              steps.push(
                optimizer.step(
                  () => {
                    const total = tf.addN(
                      variables.map((variable, index) =>
                        tf.sum(
                          tf.square(
                            tf.sub(variable, tf.tensor(targets[index]!.values, targets[index]!.shape)),
                          ),
                        ),
                      ),
                    ) as tf.Scalar;
                    return { total, terms: { total } };
                  },
                  { scheduled: rate, fixed: rate },
                ),
              );
            }
          });
          await Promise.all(steps);
          const values = optimizer.state.all().map(([stateName, variable]) => ({
            name: stateName.replace(`-${backendName}-`, '-'),
            values: variable.dataSync().slice(),
          }));
          values.push(
            ...variables.map((variable, index) => ({
              name: `weight ${index}`,
              values: variable.dataSync().slice(),
            })),
          );
          optimizer.dispose();
          tf.dispose(variables);
          assert.equal(tf.memory().numTensors, tensorsBefore, `${backendName}: tensors leaked`);
          return { values, calls };
        };
        const onednn = await trainOn('onednn');
        const cpu = await trainOn('cpu');
        assert.equal(onednn.calls.get(kernel), 3 * shapes.length, `native ${kernel} calls`);
        assert.deepEqual(
          onednn.values.map((entry) => entry.name),
          cpu.values.map((entry) => entry.name),
        );
        onednn.values.forEach((entry, index) => {
          // LARS scales each step by a ratio of norms, sums over the whole weight; the others are elementwise.
          const reductionLength = name === 'lars' ? entry.values.length : 1;
          assertClose(entry.values, cpu.values[index]!.values, reductionLength, entry.name);
        });
      });
    }
  });

  it('leaks neither tensors nor buffers over repeated training steps through every native kernel', async () => {
    await tf.setBackend('onednn');
    const images = tf.tensor4d(seededUniform(2 * 12 * 12 * 3, 9001), [2, 12, 12, 3]);
    const weights = tf.tidy(() => [
      tf.variable(tf.tensor4d(seededUniform(3 * 3 * 3 * 32, 9002, -0.3, 0.3), [3, 3, 3, 32])),
      tf.variable(tf.tensor1d(seededUniform(32, 9003, 0.5, 1.5))),
      tf.variable(tf.tensor1d(seededUniform(32, 9004))),
      tf.variable(tf.tensor2d(seededUniform(32 * 10, 9005, -0.3, 0.3), [32, 10])),
    ]);
    const [filter, scale, offset, dense] = weights as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
    const loss = () => {
      const convolved = tf.conv2d(images, filter as tf.Tensor4D, 1, 'same');
      const normalised = fusedBatchNormTraining(convolved, scale, offset, 1e-5).y;
      const pooled = tf.avgPool(tf.maxPool(tf.relu(normalised) as tf.Tensor4D, 2, 2, 'same'), 6, 6, 'valid');
      const features = tf.reshape(pooled, [2, 32]);
      return tf.mean(tf.square(tf.sigmoid(tf.matMul(features, dense)))) as tf.Scalar;
    };
    const step = () => {
      const { value, grads } = tf.variableGrads(loss);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = tf.backend().numDataIds();
    const { calls } = counter.during(() => {
      for (let iteration = 0; iteration < 20; iteration++) step();
    });
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(tf.backend().numDataIds(), buffersBefore);
    // Per step: one convolution and its filter gradient (the images need none), two pools each way, the
    // dense layer forward and for both operands' gradients.
    const perStep = {
      conv2d: 1,
      conv2dBackpropFilter: 1,
      conv2dBackpropInput: 0,
      batchNormTrain: 1,
      batchNormTrainGrad: 1,
      pool: 2,
      poolGrad: 2,
      matmul: 3,
      reluGrad: 1,
    };
    for (const [name, count] of Object.entries(perStep)) {
      assert.equal(calls.get(name) ?? 0, 20 * count, `${name} calls`);
    }
    tf.dispose([images, ...weights]);
  });
});
