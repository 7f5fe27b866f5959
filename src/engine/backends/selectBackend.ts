import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import type { BackendAttempt, BackendName, BackendPreference, BackendReport } from '../../protocol/backend';
import { backendNames } from '../../protocol/backend';
import { tf as tfCore } from '../tf';
import {
  locateNativeBackend,
  type NativeBackendLookup,
  type NativeBackendName,
  nativePackages,
} from './nativeBackends';
import { initWasmBackend } from './wasm/loadWasm';

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

type Attempt =
  | { outcome: 'selected'; tf: TensorFlow; tfjsBackend: string; reason: string; wasm?: BackendReport['wasm'] }
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
      ...(chosen.wasm ? { wasm: chosen.wasm } : {}),
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
  return {
    outcome: 'selected',
    tf,
    tfjsBackend: tf.getBackend(),
    reason: `${packageName} loaded from ${path.dirname(entry)}`,
  };
}

function explainNativeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/libcudart\.so\.11|libcudnn\.so\.8|libcublas\.so\.11/.test(message)) {
    return `${message} — tfjs-node-gpu 4.x needs CUDA 11.2 and cuDNN 8.1; a CUDA 12 machine cannot load it`;
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
      wasm,
    };
  } catch (error) {
    return {
      outcome: 'failed',
      reason: `wasm failed to start: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
