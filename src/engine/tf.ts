// The engine's one entry to TF.js: everything that builds or trains models imports `tf` from here, so the
// gradients are registered before the first tape runs.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
// The fallback every other backend falls back to, and the one tests compare against.
import '@tensorflow/tfjs-backend-cpu';
import { reluGradient } from './backends/onednn/elementwise';
import { installFreeingBackprop } from './backprop';

// tfjs-backend-cpu greets Node users with advice to install tfjs-node; the backend report already says
// which backends exist and why each was or was not used, so that banner would only mislead.
tf.env().set('PROD', true);
installFreeingBackprop();
// On every backend, so that each keeps ReLU's output rather than its input for the backward pass.
tf.registerGradient(reluGradient);

export { tf };

/**
 * The seed to hand TF.js's random ops. They test the seed for truthiness and draw from Math.random when it
 * is 0, so seed 0 — the default — would be the one seed that never repeats. 2^32 lies outside the 32-bit
 * seeds the engine derives, so the mapping stays one-to-one.
 */
export function tfSeed(seed: number): number {
  return seed === 0 ? 2 ** 32 : seed;
}

/**
 * The values of a tensor the caller is done with, which is disposed however the read ends. The engine reads
 * tensors only so, never with dataSync(): tfjs-backend-webgpu reads synchronously through OffscreenCanvas,
 * which Node lacks, so on webgpu only `data()` can read.
 */
export async function readAndDispose<D extends tf.DataType = 'float32'>(
  tensor: tf.Tensor,
): Promise<tf.DataTypeMap[D]> {
  try {
    return await tensor.data<D>();
  } finally {
    tensor.dispose();
  }
}
