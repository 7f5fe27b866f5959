import type { BackendReport } from '../../src/shared/protocol/backend';

/** A report shaped like one from a machine without native TF.js packages. */
export function sampleReport(): BackendReport {
  return {
    selected: 'wasm',
    tfjsBackend: 'wasm',
    preference: 'auto',
    attempts: [
      {
        name: 'node-gpu',
        outcome: 'not-installed',
        reason: '@tensorflow/tfjs-node-gpu is not installed',
        millis: 1,
      },
      {
        name: 'node',
        outcome: 'failed',
        reason: '@tensorflow/tfjs-node failed to load: tfjs_binding.node missing',
        millis: 3,
      },
      { name: 'wasm', outcome: 'selected', reason: 'XNNPACK WebAssembly (SIMD, single thread)', millis: 40 },
      { name: 'cpu', outcome: 'not-tried', reason: 'wasm was selected first' },
    ],
    wasm: {
      simd: true,
      threads: false,
      threadCount: 1,
      trainingKernels: ['Conv2DBackpropFilter', 'Conv2DBackpropInput'],
    },
    versions: { tfjs: '4.22.0', node: '20.20.2', synthpair: '0.1.0' },
    platform: { os: 'Linux 6.1', arch: 'x64', cpus: 2, cpuModel: 'Test CPU' },
    startupMillis: 44,
  };
}
