import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import type {
  BackendAttempt,
  BackendName,
  BackendPreference,
  BackendReport,
} from '../../shared/protocol/backend';
import { backendNames } from '../../shared/protocol/backend';
import { tf as tfCore } from '../tf';
import {
  locateNativeBackend,
  type NativeBackendLookup,
  type NativeBackendName,
  nativePackages,
} from './nativeBackends';
import { tryOneDnn } from './onednn/onednnBackend';
import { initWasmBackend } from './wasm/loadWasm';
import { tryWebGpu } from './webgpu/webgpuBackend';

export type TensorFlow = typeof tfCore;

export interface SelectedBackend {
  /** The TF.js namespace to use: a native package brings its own copy of tfjs-core and its engine. */
  tf: TensorFlow;
  report: BackendReport;
}

export interface BackendSelectionOptions extends NativeBackendLookup {
  preference: BackendPreference;
  wasmDir: string;
  synthpairVersion: string;
}

/** What trying one backend came to; a selected one brings the part of the report only it can fill in. */
export type Attempt =
  | {
      outcome: 'selected';
      tf: TensorFlow;
      tfjsBackend: string;
      reason: string;
      details?: Pick<BackendReport, 'wasm' | 'onednn' | 'webgpu'>;
    }
  | { outcome: Exclude<BackendAttempt['outcome'], 'selected' | 'not-tried'>; reason: string };

/**
 * Picks the fastest TF.js backend that works here, in the order GPU → native CPU → wasm → cpu, and
 * records for every backend it passed over why, so the user can tell an absent package from a broken one.
 */
export async function selectBackend(options: BackendSelectionOptions): Promise<SelectedBackend> {
  const started = performance.now();
  const candidates: readonly BackendName[] =
    options.preference === 'auto' ? backendNames : [options.preference];
  const attempts: BackendAttempt[] = [];
  let chosen: Extract<Attempt, { outcome: 'selected' }> | undefined;
  let chosenName: BackendName | undefined;

  for (const name of backendNames) {
    if (chosen || !candidates.includes(name)) {
      attempts.push({
        name,
        outcome: 'not-tried',
        reason: chosen ? `${chosenName} was selected first` : `backend forced to ${options.preference}`,
      });
      continue;
    }
    const attemptStarted = performance.now();
    const attempt = await tryBackend(name, options);
    attempts.push({
      name,
      outcome: attempt.outcome,
      reason: attempt.reason,
      millis: Math.round(performance.now() - attemptStarted),
    });
    if (attempt.outcome === 'selected') {
      chosen = attempt;
      chosenName = name;
    }
  }

  if (!chosen || !chosenName) {
    const reasons = attempts
      .filter((attempt) => attempt.outcome !== 'not-tried')
      .map((attempt) => `${attempt.name}: ${attempt.reason}`)
      .join('; ');
    throw new Error(`No TF.js backend could be started (${reasons})`);
  }

  const cpus = os.cpus();
  return {
    tf: chosen.tf,
    report: {
      selected: chosenName,
      tfjsBackend: chosen.tfjsBackend,
      preference: options.preference,
      attempts,
      ...chosen.details,
      versions: {
        tfjs: chosen.tf.version_core,
        node: process.versions.node,
        synthpair: options.synthpairVersion,
      },
      platform: {
        os: `${os.type()} ${os.release()}`,
        arch: os.arch(),
        cpus: cpus.length,
        cpuModel: cpus[0]?.model ?? 'unknown',
      },
      startupMillis: Math.round(performance.now() - started),
    },
  };
}

async function tryBackend(name: BackendName, options: BackendSelectionOptions): Promise<Attempt> {
  switch (name) {
    case 'node-gpu':
    case 'node':
      return tryNative(name, options);
    case 'webgpu':
      return tryWebGpu({ forced: options.preference === 'webgpu' });
    case 'onednn':
      return tryOneDnn();
    case 'wasm':
      return tryWasm(options.wasmDir);
    case 'cpu':
      await tfCore.setBackend('cpu');
      return {
        outcome: 'selected',
        tf: tfCore,
        tfjsBackend: 'cpu',
        reason: `pure JavaScript (tfjs-backend-cpu ${version_cpu}): slow, always works`,
      };
  }
}

async function tryNative(name: NativeBackendName, options: BackendSelectionOptions): Promise<Attempt> {
  const packageName = nativePackages[name];
  const location = locateNativeBackend(name, options);
  if (!location.found) {
    return { outcome: location.outcome, reason: location.reason };
  }
  const { entry } = location;
  let tf: TensorFlow;
  try {
    tf = createRequire(entry)(entry) as TensorFlow;
    await tf.ready();
  } catch (error) {
    return { outcome: 'failed', reason: `${packageName} failed to load: ${explainNativeFailure(error)}` };
  }
  // libtensorflow only warns on stderr when CUDA 11's libraries are absent and then runs on the CPU, so a
  // GPU package that loaded is not yet a GPU that runs.
  if (name === 'node-gpu' && (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === false) {
    return {
      outcome: 'unusable',
      reason: `${packageName} loaded but libtensorflow found no usable GPU: it needs CUDA 11.2 and cuDNN 8.1 on the library path, which a CUDA 12 machine lacks`,
    };
  }
  return {
    outcome: 'selected',
    tf,
    tfjsBackend: tf.getBackend(),
    reason: `${packageName} loaded from ${path.dirname(entry)}`,
  };
}

/** What a native package's load error means for the user, appended to the error itself. */
export function explainNativeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // libtensorflow 2.9, inside tfjs-node-gpu 4.x, asks for CUDA 11's libraries and cuDNN 8's. CUDA 12 renamed
  // these (cudart, cuBLAS and cuSPARSE to .so.12 / 64_12.dll, cuFFT to .so.11 / 64_11.dll), cuDNN 9 too.
  if (
    /lib(?:cudart|cublas|cublasLt|cusparse)\.so\.11|libcufft\.so\.10|libcudnn\.so\.8|(?:cudart64_110|cublas(?:Lt)?64_11|cusparse64_11|cufft64_10|cudnn64_8)\.dll/.test(
      message,
    )
  ) {
    return `${message} — tfjs-node-gpu 4.x needs CUDA 11.2 and cuDNN 8.1; a CUDA 12 machine cannot load it`;
  }
  // cuSOLVER and cuRAND kept these sonames in CUDA 12, so their absence means no CUDA libraries are found at all.
  if (/libcusolver\.so\.11|libcurand\.so\.10|(?:cusolver64_11|curand64_10)\.dll/.test(message)) {
    return `${message} — the CUDA libraries are not on the library path: tfjs-node-gpu 4.x needs CUDA 11.2 and cuDNN 8.1 installed there (LD_LIBRARY_PATH on Linux, PATH on Windows)`;
  }
  if (/CUDA driver version is insufficient/i.test(message)) {
    return `${message} — the NVIDIA driver is older than the CUDA 11.2 runtime tfjs-node-gpu 4.x is built on: update the driver`;
  }
  // Checked before the binding's name, which such a message also holds ("required by .../tfjs_binding.node").
  if (/GLIBC(?:XX)?_[\d.]+' not found/.test(message)) {
    return `${message} — this Linux's C or C++ runtime is older than the one libtensorflow was built against: it needs a newer distribution`;
  }
  if (/tfjs_binding\.node|libtensorflow/.test(message)) {
    return `${message} — libtensorflow was not downloaded when the package was installed`;
  }
  return message;
}

async function tryWasm(wasmDir: string): Promise<Attempt> {
  try {
    const wasm = await initWasmBackend(wasmDir);
    const features = [
      wasm.simd ? 'SIMD' : 'no SIMD',
      wasm.threads ? `${wasm.threadCount} threads` : 'single thread',
    ];
    return {
      outcome: 'selected',
      tf: tfCore,
      tfjsBackend: 'wasm',
      reason: `XNNPACK WebAssembly (${features.join(', ')}) with SynthPair's training kernels`,
      details: { wasm },
    };
  } catch (error) {
    return {
      outcome: 'failed',
      reason: `wasm failed to start: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
