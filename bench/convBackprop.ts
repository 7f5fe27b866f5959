// Times SynthPair's wasm conv gradients against tfjs-backend-wasm's stock Conv2DBackpropInput, per
// ResNet-18 (half width) layer at 64x64 input and batch 64, and for a whole training step of a small conv net.
// Run: npm run bench. Prints a table and writes it as JSON to bench/results/conv-backprop.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initWasmBackend } from '../src/engine/backends/wasm/loadWasm';
import { registerWasmTrainingKernels } from '../src/engine/backends/wasm/registerTrainingKernels';

type Shape4D = [number, number, number, number];

interface LayerCase {
  name: string;
  xShape: Shape4D;
  filterShape: Shape4D;
  stride: number;
}

const layers: LayerCase[] = [
  { name: 'stem 3→32 3x3 s1 @64', xShape: [64, 64, 64, 3], filterShape: [3, 3, 3, 32], stride: 1 },
  { name: '32→32 3x3 s1 @32', xShape: [64, 32, 32, 32], filterShape: [3, 3, 32, 32], stride: 1 },
  { name: '32→64 3x3 s2 @32', xShape: [64, 32, 32, 32], filterShape: [3, 3, 32, 64], stride: 2 },
  { name: '32→64 1x1 s2 shortcut @32', xShape: [64, 32, 32, 32], filterShape: [1, 1, 32, 64], stride: 2 },
  { name: '64→64 3x3 s1 @16', xShape: [64, 16, 16, 64], filterShape: [3, 3, 64, 64], stride: 1 },
  { name: '128→128 3x3 s1 @8', xShape: [64, 8, 8, 128], filterShape: [3, 3, 128, 128], stride: 1 },
];

const repetitions = 5;
const stepRepetitions = 5;

// The stock kernel must be captured before initWasmBackend replaces it. Its setup (binding the C++
// function) runs only for kernels registered when the backend starts, so it is run by hand below.
const stockBackpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `prepare` runs untimed before each run, so kernels cannot reuse what they cached for earlier inputs. */
function timeMedian<T>(
  runs: number,
  prepare: () => T,
  work: (prepared: T) => void,
  cleanUp: (prepared: T) => void,
) {
  const times: number[] = [];
  for (let run = 0; run <= runs; run++) {
    const prepared = prepare();
    const started = performance.now();
    work(prepared);
    const elapsed = performance.now() - started;
    cleanUp(prepared);
    if (run > 0) {
      times.push(elapsed);
    }
  }
  return median(times);
}

/**
 * dy is copied before every run: XNNPACK operators are cached per weight tensor, and the 1×1 filter gradient
 * packs dy as weights, which a training step never reuses.
 */
function timeKernel(kernelName: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): number {
  return timeMedian(
    repetitions,
    () => ({ ...inputs, dy: tf.add(inputs.dy, 0) }),
    (freshInputs) => tf.dispose(tf.engine().runKernel(kernelName, freshInputs, attrs) as tf.Tensor),
    (freshInputs) => tf.dispose(freshInputs.dy),
  );
}

function useStockBackpropInput(): void {
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel(stockBackpropInput);
}

function benchLayer(layer: LayerCase) {
  const x = tf.randomNormal(layer.xShape) as tf.Tensor4D;
  const filter = tf.randomNormal(layer.filterShape) as tf.Tensor4D;
  const dy = tf.randomNormal(tf.conv2d(x, filter, layer.stride, 'same').shape);
  const attrs = { strides: layer.stride, pad: 'same', dataFormat: 'NHWC' };
  const backpropInput = { dy, filter };
  const backpropInputAttrs = { ...attrs, inputShape: layer.xShape };

  const newFilterMs = timeKernel(
    'Conv2DBackpropFilter',
    { x, dy },
    { ...attrs, filterShape: layer.filterShape },
  );
  const newInputMs = timeKernel('Conv2DBackpropInput', backpropInput, backpropInputAttrs);
  useStockBackpropInput();
  const stockInputMs = timeKernel('Conv2DBackpropInput', backpropInput, backpropInputAttrs);
  registerWasmTrainingKernels();
  tf.dispose([x, filter, dy]);
  return { newFilterMs, newInputMs, stockInputMs };
}

/** conv(3→16) → conv s2(16→32) → conv(32→32) → conv s2(32→64) → global mean → dense(10), softmax loss. */
function trainingStepTimer() {
  const batch = 32;
  const images = tf.randomNormal([batch, 32, 32, 3]);
  const labels = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32') as tf.Tensor1D, 10);
  const convShapes: Array<[Shape4D, number]> = [
    [[3, 3, 3, 16], 1],
    [[3, 3, 16, 32], 2],
    [[3, 3, 32, 32], 1],
    [[3, 3, 32, 64], 2],
  ];
  const kernels = convShapes.map(([shape]) => tf.variable(tf.randomNormal(shape, 0, 0.1)));
  const dense = tf.variable(tf.randomNormal([64, 10], 0, 0.1));
  const optimizer = tf.train.sgd(0.01);
  const step = () =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => {
        let activation = images as tf.Tensor4D;
        kernels.forEach((kernel, index) => {
          activation = tf.relu(tf.conv2d(activation, kernel as tf.Tensor4D, convShapes[index][1], 'same'));
        });
        const logits = tf.matMul(tf.mean(activation, [1, 2]) as tf.Tensor2D, dense);
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      });
      optimizer.applyGradients(grads);
    });
  return {
    time: () =>
      timeMedian(
        stepRepetitions,
        () => undefined,
        step,
        () => undefined,
      ),
    dispose: () => tf.dispose([images, labels, dense, ...kernels]),
  };
}

function format(ms: number): string {
  return ms.toFixed(1).padStart(9);
}

async function main(): Promise<void> {
  const wasm = await initWasmBackend(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')));
  stockBackpropInput.setupFunc?.(tf.backend() as BackendWasm);
  console.log(
    `tfjs ${tf.version_core} wasm: SIMD ${wasm.simd}, threads ${wasm.threads} (${wasm.threadCount})` +
      '; ' +
      `median of ${repetitions} runs after a warm-up, milliseconds`,
  );
  console.log(
    `${'layer (batch 64, pad same)'.padEnd(28)}${'dx stock'.padStart(9)}${'dx new'.padStart(9)}` +
      `${'speedup'.padStart(9)}${'dW new'.padStart(9)}`,
  );
  const rows: Array<Record<string, string | number>> = [];
  for (const layer of layers) {
    const { newFilterMs, newInputMs, stockInputMs } = benchLayer(layer);
    rows.push({ case: layer.name, stockInputMs, newInputMs, newFilterMs });
    console.log(
      `${layer.name.padEnd(28)}${format(stockInputMs)}${format(newInputMs)}` +
        `${`${(stockInputMs / newInputMs).toFixed(1)}x`.padStart(9)}${format(newFilterMs)}`,
    );
  }

  const training = trainingStepTimer();
  const newStepMs = training.time();
  useStockBackpropInput();
  const stockStepMs = training.time();
  registerWasmTrainingKernels();
  training.dispose();
  console.log(
    `${'training step, 4 convs b32'.padEnd(28)}${format(stockStepMs)}${format(newStepMs)}` +
      `${`${(stockStepMs / newStepMs).toFixed(1)}x`.padStart(9)}${'(dx stock = stock dx + new dW)'.padStart(32)}`,
  );
  rows.push({ case: 'training step, 4 convs b32', stockStepMs, newStepMs });
  const resultsDir = path.join(__dirname, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    path.join(resultsDir, 'conv-backprop.json'),
    `${JSON.stringify({ tfjs: tf.version_core, wasm, repetitions, statistic: 'median', rows }, null, 2)}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
