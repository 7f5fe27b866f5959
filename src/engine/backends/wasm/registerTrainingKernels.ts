// Imported for its side effect: the stock kernels must be registered before ours replace them, or a later
// first import of the package would silently put the stock Conv2DBackpropInput back.
import '@tensorflow/tfjs-backend-wasm';
import { getKernel, type KernelConfig, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2dBackpropFilter';
import { conv2DBackpropInputConfig } from './conv2dBackpropInput';

const trainingKernels: readonly KernelConfig[] = [conv2DBackpropFilterConfig, conv2DBackpropInputConfig];

/** Names of the kernels SynthPair supplies for the wasm backend. */
export const wasmTrainingKernelNames: readonly string[] = trainingKernels.map((config) => config.kernelName);

/**
 * Makes conv nets trainable on 'wasm': tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter and a scalar-loop
 * Conv2DBackpropInput. Safe to call any number of times, before or after the backend is initialised, since
 * these kernels need no setup of their own.
 */
export function registerWasmTrainingKernels(): void {
  for (const config of trainingKernels) {
    const registered = getKernel(config.kernelName, 'wasm');
    if (registered === config) {
      continue;
    }
    if (registered) {
      unregisterKernel(config.kernelName, 'wasm');
    }
    registerKernel(config);
  }
}
