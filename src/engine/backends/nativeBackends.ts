import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const nativePackages = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
} as const;

export type NativeBackendName = keyof typeof nativePackages;

export interface NativeBackendLookup {
  /** Extra folders searched for the native packages before the one this code was loaded from. */
  nativeModulePaths: readonly string[];
  /** Where an NVIDIA driver leaves traces; overridable so the check can be tested. */
  nvidiaDeviceFiles?: readonly string[];
}

export type NativeBackendLocation =
  | { found: true; entry: string }
  | { found: false; outcome: 'not-installed' | 'unusable'; reason: string };

const defaultNvidiaDeviceFiles = ['/dev/nvidiactl', '/proc/driver/nvidia/version'];

/**
 * Finds a native backend's package and checks that this machine could run it, without loading it: loading
 * libtensorflow takes seconds and claims the GPU, too much for a question asked as the user types.
 */
export function locateNativeBackend(
  name: NativeBackendName,
  lookup: NativeBackendLookup,
): NativeBackendLocation {
  const packageName = nativePackages[name];
  const entry = resolveNative(packageName, lookup.nativeModulePaths);
  if (!entry) {
    return {
      found: false,
      outcome: 'not-installed',
      reason: `${packageName} is not installed (optional: its install downloads libtensorflow, which needs internet)`,
    };
  }
  if (name === 'node-gpu') {
    const deviceFiles = lookup.nvidiaDeviceFiles ?? defaultNvidiaDeviceFiles;
    if (!deviceFiles.some((file) => existsSync(file))) {
      return { found: false, outcome: 'unusable', reason: 'no NVIDIA GPU driver found on this machine' };
    }
  }
  return { found: true, entry };
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
