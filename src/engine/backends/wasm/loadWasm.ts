import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { nodeThreadsUnavailableReason, startWithNodeThreads } from './nodeThreads';
import { registerWasmTrainingKernels, wasmTrainingKernelNames } from './registerTrainingKernels';

export interface WasmBackendInfo {
  simd: boolean;
  threads: boolean;
  threadCount: number;
  /** Kernels SynthPair registered because stock tfjs-backend-wasm lacks or slows training. */
  trainingKernels: string[];
  /** Set when more than one thread was asked for but the backend runs single-threaded. */
  threadsUnavailable?: string;
}

export interface WasmBackendOptions {
  /**
   * XNNPACK threads (at most 8). Above 1 this starts tfjs's pthreads build through a Node workaround that
   * patches globals while the backend starts; 1, the default, keeps tfjs's own single-threaded start.
   */
  threadCount?: number;
}

/**
 * Starts TF.js's wasm backend from the .wasm binaries in `wasmDir` (the package's dist/ folder, or the copy
 * the build puts next to the bundles) with SynthPair's training kernels, and makes it the active backend.
 */
export async function initWasmBackend(
  wasmDir: string,
  options: WasmBackendOptions = {},
): Promise<WasmBackendInfo> {
  const requestedThreads = Math.min(8, Math.max(1, Math.floor(options.threadCount ?? 1)));
  // tfjs joins prefix and file name without a separator.
  setWasmPaths(/[\\/]$/.test(wasmDir) ? wasmDir : `${wasmDir}/`);
  registerWasmTrainingKernels();
  const startBackend = async () => {
    if (!(await tf.setBackend('wasm'))) {
      throw new Error(`the wasm backend could not be initialised from the binaries in ${wasmDir}`);
    }
  };
  const threadsUnavailable = requestedThreads > 1 ? await nodeThreadsUnavailableReason() : undefined;
  if (requestedThreads > 1 && !threadsUnavailable) {
    await startWithNodeThreads(requestedThreads, startBackend);
  } else {
    await startBackend();
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
    ...(threadsUnavailable ? { threadsUnavailable } : {}),
  };
}
