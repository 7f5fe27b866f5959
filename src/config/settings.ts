import { backendNames } from '../protocol/backend';

/**
 * The single typed source of SynthPair's VS Code settings: the manifest's `contributes.configuration` is
 * generated from it (`npm run generate`), and the host reads settings through it.
 */
export const settingDefinitions = {
  backend: {
    type: 'string',
    enum: ['auto', ...backendNames],
    enumDescriptions: [
      'Try node-gpu, node, wasm, then cpu, and use the first that works.',
      '@tensorflow/tfjs-node-gpu (CUDA 11.2 / cuDNN 8.1), when installed and an NVIDIA GPU is present.',
      '@tensorflow/tfjs-node (libtensorflow on the CPU), when installed.',
      "WebAssembly with SIMD (XNNPACK) and SynthPair's training kernels. Always available.",
      'Pure JavaScript. Always available and slow: for debugging.',
    ],
    default: 'auto',
    markdownDescription:
      'TF.js backend for the engine worker. `auto` reports in the **SynthPair** output channel which backend runs and why each faster one was skipped.',
  },
  nativeModulePaths: {
    type: 'array',
    items: { type: 'string' },
    default: [] as string[],
    markdownDescription:
      'Extra folders searched for the optional `@tensorflow/tfjs-node` and `@tensorflow/tfjs-node-gpu` packages (a folder whose `node_modules` holds them).',
  },
} as const;

export const settingsSection = 'synthpair';
