import {
  getKernel,
  getKernelsForBackend,
  type KernelConfig,
  registerBackend,
  registerGradient,
  registerKernel,
} from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import type { Attempt } from '../selectBackend';
import { isaName, loadOneDnnAddon, type OneDnnAddon } from './addon';
import { batchNormKernels, batchNormTrainingGradient } from './batchNorm';
import { convolutionKernels } from './convolution';
import { dataMovementKernels } from './dataMovement';
import { elementwiseKernels } from './elementwise';
import { matmulKernels } from './matmul';
import { OneDnnBackend, oneDnnBackendName } from './nativeKernel';
import { optimizerKernels } from './optimizerUpdates';
import { poolingKernels } from './pooling';
import { upsampleGradient, upsampleKernels } from './upsample';

function nativeKernels(): readonly KernelConfig[] {
  return [
    ...convolutionKernels,
    ...matmulKernels,
    ...batchNormKernels,
    ...poolingKernels,
    ...elementwiseKernels,
    ...optimizerKernels,
    ...dataMovementKernels,
    ...upsampleKernels,
  ];
}

let registered: { addon: OneDnnAddon; kernelNames: string[] } | undefined;

/**
 * Registers the onednn backend once per process: every cpu kernel under the new name, then the native ones
 * over them, each falling back to its cpu twin for cases oneDNN does not take.
 */
export function registerOneDnnBackend(addon: OneDnnAddon): string[] {
  if (registered) return registered.kernelNames;
  for (const config of getKernelsForBackend('cpu')) {
    registerKernel({ ...config, backendName: oneDnnBackendName });
  }
  const natives = nativeKernels();
  for (const config of natives) {
    if (getKernel(config.kernelName, oneDnnBackendName)) {
      tf.unregisterKernel(config.kernelName, oneDnnBackendName);
    }
    registerKernel(config);
  }
  registerGradient(batchNormTrainingGradient);
  registerGradient(upsampleGradient);
  // Priority 0 keeps TF.js from choosing it on its own: the worker picks backends explicitly.
  registerBackend(oneDnnBackendName, () => new OneDnnBackend(addon), 0);
  registered = { addon, kernelNames: natives.map((config) => config.kernelName) };
  return registered.kernelNames;
}

export async function tryOneDnn(): Promise<Attempt> {
  const load = loadOneDnnAddon();
  if (!load.loaded) {
    return { outcome: load.reason.includes('not built') ? 'not-installed' : 'failed', reason: load.reason };
  }
  try {
    const nativeKernelNames = registerOneDnnBackend(load.addon);
    if (!(await tf.setBackend(oneDnnBackendName))) {
      return { outcome: 'failed', reason: 'TF.js could not initialise the onednn backend' };
    }
    const description = load.addon.describe();
    return {
      outcome: 'selected',
      tf,
      tfjsBackend: oneDnnBackendName,
      reason: `oneDNN ${description.version} (${isaName(description.isa)}, ${description.threads} OpenMP threads) through SynthPair's native addon`,
      details: {
        onednn: {
          library: `${description.version} (${description.cpuRuntime}, ${isaName(description.isa)})`,
          ...(description.libraryFile && { libraryFile: description.libraryFile }),
          threads: description.threads,
          nativeKernels: nativeKernelNames,
        },
      },
    };
  } catch (error) {
    return {
      outcome: 'failed',
      reason: `the onednn backend failed to start: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
