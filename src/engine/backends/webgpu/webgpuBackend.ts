import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { tf } from '../../tf';
import type { Attempt } from '../selectBackend';
import {
  type AdapterInfoFacts,
  describeAdapter,
  noAdapterAdvice,
  softwareAdapterEvidence,
  vulkanLoaderInstalled,
} from './adapters';
import { installWebGpuGlobals } from './globals';

/** The part of the `webgpu` package (Dawn for Node) used here. */
interface Dawn {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** GPUAdapter as Dawn has it: the @webgpu/types release that tfjs-backend-webgpu brings predates `info`. */
type DawnAdapter = GPUAdapter & { info: GPUAdapterInfo & AdapterInfoFacts };

const dawnPackage = 'webgpu';

/** A GPU that has not answered a 2x2 matmul by then is treated as hung rather than left to stall startup. */
const sanityCheckMillis = 20_000;

/**
 * Tries TF.js's WebGPU backend on the best adapter Dawn finds. A software adapter is used only when the
 * backend is forced to webgpu: it runs every shader on the CPU, slower than the CPU backends.
 */
export async function tryWebGpu(options: { forced: boolean }): Promise<Attempt> {
  // Without a Vulkan loader Dawn can find no hardware adapter on Linux, and asking it would print its
  // warning on the standard error of every run and CLI command.
  if (!options.forced && process.platform === 'linux' && vulkanLoaderInstalled() === false) {
    return { outcome: 'unusable', reason: `no WebGPU adapter: ${noAdapterAdvice('linux', false)}` };
  }
  const loaded = await loadDawn();
  if ('outcome' in loaded) {
    return loaded;
  }
  return tryWebGpuOn(loaded.create([]), loaded.globals, options);
}

/**
 * The attempt on a given Dawn GPU object. Separate from {@link tryWebGpu} so a test can hand it Dawn's null
 * backend, whose adapter accepts work and computes nothing: the sanity check must catch that.
 */
export async function tryWebGpuOn(
  gpu: GPU,
  globals: Readonly<Record<string, unknown>>,
  { forced }: { forced: boolean },
): Promise<Attempt> {
  // Some implementations offer their software adapter only to a request for a fallback one; asking for it
  // second lets any hardware GPU win, and still tells a user who has none what there is.
  const adapter = ((await gpu.requestAdapter({ powerPreference: 'high-performance' })) ??
    (await gpu.requestAdapter({ forceFallbackAdapter: true }))) as DawnAdapter | null;
  if (!adapter) {
    const vulkanLoader = process.platform === 'linux' ? vulkanLoaderInstalled() : undefined;
    return {
      outcome: 'unusable',
      reason: `Dawn found no WebGPU adapter: ${noAdapterAdvice(process.platform, vulkanLoader)}`,
    };
  }

  const name = describeAdapter(adapter.info);
  const softwareEvidence = softwareAdapterEvidence(adapter);
  if (softwareEvidence && !forced) {
    return {
      outcome: 'unusable',
      reason:
        `the only WebGPU adapter Dawn found, ${name}, is a software one (${softwareEvidence}): ` +
        'it would run slower than the CPU backends, so it is used only when the backend is forced to webgpu',
    };
  }

  try {
    await startBackend(gpu, globals, adapter);
  } catch (error) {
    return {
      outcome: 'failed',
      reason: `WebGPU on ${name} failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  return {
    outcome: 'selected',
    tf,
    tfjsBackend: 'webgpu',
    reason: softwareEvidence
      ? `tfjs-backend-webgpu through Dawn on ${name}, a software adapter (${softwareEvidence}): ` +
        'slower than the CPU backends, used only because the backend is forced to webgpu'
      : `tfjs-backend-webgpu through Dawn on ${name}`,
    details: { webgpu: { adapter: name, software: softwareEvidence !== undefined } },
  };
}

type LoadedDawn = Dawn | Exclude<Attempt, { outcome: 'selected' }>;

async function loadDawn(): Promise<LoadedDawn> {
  let entry: string;
  try {
    // Resolved from the code's own folder, so the worker bundle finds a package installed beside it.
    entry = createRequire(path.join(__dirname, 'package.json')).resolve(dawnPackage);
  } catch {
    return {
      outcome: 'not-installed',
      reason: `${dawnPackage} (Dawn's WebGPU for Node) is not installed: it is optional, and brings GPU training through Vulkan, Direct3D 12 or Metal`,
    };
  }
  try {
    // The package is an ES module. import() loads it in every Node the worker may run in; require() would
    // fail in the Electron builds of Node 20 that cannot require ES modules.
    return (await import(pathToFileURL(entry).href)) as Dawn;
  } catch (error) {
    return {
      outcome: 'failed',
      reason: `${dawnPackage} failed to load from ${path.dirname(entry)}: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

/** Makes TF.js's webgpu backend run on `adapter`, and proves it computes, or undoes everything and throws. */
async function startBackend(
  gpu: GPU,
  globals: Readonly<Record<string, unknown>>,
  adapter: DawnAdapter,
): Promise<void> {
  // Imported before navigator.gpu exists, so the package does not register a factory of its own that would
  // pick an adapter itself; the one left by an earlier attempt or another runtime's navigator.gpu goes below.
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  const uninstallGlobals = installWebGpuGlobals(gpu, globals);
  let device: GPUDevice | undefined;
  try {
    device = await adapter.requestDevice(deviceDescriptor(adapter));
    if (tf.findBackendFactory('webgpu')) {
      tf.removeBackend('webgpu');
    }
    const backend = new WebGPUBackend(device, adapter.info);
    tf.registerBackend('webgpu', () => backend);
    if (!(await tf.setBackend('webgpu'))) {
      throw new Error('TF.js could not make webgpu its backend');
    }
    await checkMatMul();
  } catch (error) {
    if (tf.findBackendFactory('webgpu')) {
      tf.removeBackend('webgpu');
    }
    device?.destroy();
    uninstallGlobals();
    throw error;
  }
}

/**
 * A device starts with WebGPU's minimum limits (128 MiB storage bindings, for one), not the adapter's;
 * tfjs-backend-webgpu's own factory raises these to the adapter's, and its kernels size their work by them.
 */
function deviceDescriptor(adapter: GPUAdapter): GPUDeviceDescriptor {
  const { limits } = adapter;
  return {
    // What tf.time() reports as kernel time, where the adapter can measure it.
    requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  };
}

/** A backend that accepts work is not yet one that computes: read a small product back and compare. */
async function checkMatMul(): Promise<void> {
  const expected = [19, 22, 43, 50];
  const product = tf.tidy(() =>
    tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])),
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`a 2x2 matmul did not finish within ${sanityCheckMillis / 1000} s`)),
        sanityCheckMillis,
      );
    });
    const values = Array.from(await Promise.race([product.data(), timeout]));
    if (values.some((value, index) => value !== expected[index])) {
      throw new Error(`a 2x2 matmul read back [${values.join(', ')}] instead of [${expected.join(', ')}]`);
    }
  } finally {
    clearTimeout(timer);
    product.dispose();
  }
}
