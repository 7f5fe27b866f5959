import { backendNames } from '../protocol/backend';

/**
 * The single typed source of SynthPair's VS Code settings: the manifest's `contributes.configuration` and
 * `capabilities.untrustedWorkspaces.restrictedConfigurations` are generated from it (`npm run generate`), and
 * the host reads settings through it. A `restricted` setting chooses what code runs, so VS Code ignores a
 * folder's or workspace's value for it until the workspace is trusted.
 */
export const settingDefinitions = {
  backend: {
    type: 'string',
    enum: ['auto', ...backendNames],
    enumDescriptions: [
      'Try node-gpu, webgpu, onednn, node, wasm, then cpu, and use the first that works.',
      '@tensorflow/tfjs-node-gpu (CUDA 11.2 / cuDNN 8.1), when installed and an NVIDIA GPU is present.',
      'WebGPU through Dawn (the `webgpu` package) on a hardware GPU adapter; forcing it also accepts a software adapter.',
      "SynthPair's native oneDNN kernels on the CPU, all cores; built at install when a compiler and oneDNN (`libdnnl-dev`) are present.",
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
    scope: 'machine',
    restricted: true,
    markdownDescription:
      'Extra folders searched for the optional `@tensorflow/tfjs-node` and `@tensorflow/tfjs-node-gpu` packages (a folder whose `node_modules` holds them).',
  },
  runsFolder: {
    type: 'string',
    default: '.synthpair/runs',
    markdownDescription:
      'Where runs started from VS Code are written, relative to the workspace folder of the experiment file (or absolute). The **SynthPair** view also lists runs the `synthpair` CLI writes there.',
  },
  concurrency: {
    type: 'integer',
    minimum: 1,
    maximum: 16,
    default: 1,
    markdownDescription:
      'How many runs train at once; further runs wait in the queue. Each run is a worker process that uses every core TF.js gives it, so more than 1 rarely helps on one machine.',
  },
  workerMemoryMb: {
    type: 'integer',
    minimum: 256,
    maximum: 262144,
    default: 4096,
    markdownDescription:
      "JavaScript heap limit of each training worker in MiB (Node's `--max-old-space-size`). Tensors of the wasm backend live outside it, in WebAssembly memory.",
  },
  showWalkthrough: {
    type: 'boolean',
    default: true,
    markdownDescription:
      'Open the **Get Started with SynthPair** walkthrough beside the experiment the first time SynthPair activates in a workspace that has one; once per user. The walkthrough stays in Help → Welcome either way.',
  },
  nodeExecutable: {
    type: 'string',
    default: '',
    scope: 'machine',
    restricted: true,
    markdownDescription:
      "The Node.js executable that runs the training workers; empty uses the extension host's own runtime. Set it to use a Node with native TF.js packages built for it.",
  },
} as const;

export const settingsSection = 'synthpair';
