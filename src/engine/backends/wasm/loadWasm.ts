import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels, wasmTrainingKernelNames } from './registerTrainingKernels';

export interface WasmBackendInfo {
  simd: boolean;
  /**
   * tfjs-backend-wasm 4.22 starts its pthreads build only in browsers: in Node it always runs one thread
   * (tfjs issue #3830), whatever the machine has.
   */
  threads: boolean;
  threadCount: number;
  /** Kernels SynthPair registered because stock tfjs-backend-wasm lacks or slows training. */
  trainingKernels: string[];
}

/**
 * Starts TF.js's wasm backend from the .wasm binaries in `wasmDir` (the package's dist/ folder, or the copy
 * the build puts next to the bundles) with SynthPair's training kernels, and makes it the active backend.
 */
export async function initWasmBackend(wasmDir: string): Promise<WasmBackendInfo> {
  // tfjs joins prefix and file name without a separator.
  setWasmPaths(/[\\/]$/.test(wasmDir) ? wasmDir : `${wasmDir}/`);
  registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) {
    throw new Error(`the wasm backend could not be initialised from the binaries in ${wasmDir}`);
  }
  const [simd, threads] = await Promise.all([
    tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
  ]);
  const threadCount = getThreadsCount();
  return {
    simd: simd === true,
    threads: threads === true && threadCount > 1,
    threadCount,
    trainingKernels: [...wasmTrainingKernelNames],
  };
}
