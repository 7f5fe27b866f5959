import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import type { BackendAttempt, BackendName, BackendPreference, BackendReport } from '../../protocol/backend';
import { backendNames } from '../../protocol/backend';
import { tf as tfCore } from '../tf';
import { initWasmBackend } from './wasm/loadWasm';

export type TensorFlow = typeof tfCore;

export interface SelectedBackend {
  /** The TF.js namespace to use: a native package brings its own copy of tfjs-core and its engine. */
  tf: TensorFlow;
  report: BackendReport;
}

export interface BackendSelectionOptions {
  preference: BackendPreference;
  wasmDir: string;
  nativeModulePaths: readonly string[];
  synthpairVersion: string;
  /** Where an NVIDIA driver leaves traces; overridable so the check can be tested. */
  nvidiaDeviceFiles?: readonly string[];
}

type Attempt =
  | { outcome: 'selected'; tf: TensorFlow; tfjsBackend: string; reason: string; wasm?: BackendReport['wasm'] }
  | { outcome: Exclude<BackendAttempt['outcome'], 'selected' | 'not-tried'>; reason: string };

const nativePackages = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
} as const;

const defaultNvidiaDeviceFiles = ['/dev/nvidiactl', '/proc/driver/nvidia/version'];

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
      return tryNative(name, options, () => {
        const deviceFiles = options.nvidiaDeviceFiles ?? defaultNvidiaDeviceFiles;
        return deviceFiles.some((file) => existsSync(file))
          ? undefined
          : 'no NVIDIA GPU driver found on this machine';
      });
    case 'node':
      return tryNative(name, options, () => undefined);
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

function resolveNative(packageName: string, searchPaths: readonly string[]): string | undefined {
  // The worker bundle lives in the extension's dist/, so plain resolution finds packages installed beside the
  // extension; the configured folders let a user point at an install of their own.
  for (const base of [...searchPaths, __dirname]) {
    try {
      return createRequire(path.join(base, 'package.json')).resolve(packageName);
    } catch {
      // Not installed under this folder; try the next one.
    }
  }
  return undefined;
}

async function tryNative(
  name: keyof typeof nativePackages,
  options: BackendSelectionOptions,
  precondition: () => string | undefined,
): Promise<Attempt> {
  const packageName = nativePackages[name];
  const entry = resolveNative(packageName, options.nativeModulePaths);
  if (!entry) {
    return {
      outcome: 'not-installed',
      reason: `${packageName} is not installed (optional: its install downloads libtensorflow, which needs internet)`,
    };
  }
  const unusable = precondition();
  if (unusable) {
    return { outcome: 'unusable', reason: unusable };
  }
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
