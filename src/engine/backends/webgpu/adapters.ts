import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What SynthPair reads from a WebGPU adapter: plain data, so the decisions below need no GPU to test. */
export interface AdapterFacts {
  /** The flag's older home on GPUAdapter itself; Dawn for Node reports it only in `info`. */
  isFallbackAdapter?: boolean;
  info: AdapterInfoFacts;
}

export interface AdapterInfoFacts {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
  /** Dawn's own classification (discrete, integrated, CPU), where the binding exposes it. */
  adapterType?: string;
}

// CPU implementations of Vulkan and Direct3D that present themselves as GPUs: Google's SwiftShader (Dawn's
// fallback adapter), Mesa's lavapipe (which names its device llvmpipe) and softpipe, and Windows' WARP.
const softwareRenderers = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i;

/**
 * Why the adapter is a software one, or undefined for a hardware GPU. A software adapter runs every shader
 * on the CPU, slower than the CPU backends that were written for it, so it is only worth using when asked for.
 */
export function softwareAdapterEvidence(adapter: AdapterFacts): string | undefined {
  const { info } = adapter;
  if (info.isFallbackAdapter || adapter.isFallbackAdapter) {
    return 'WebGPU marks it as a fallback adapter';
  }
  if (info.adapterType?.toLowerCase() === 'cpu') {
    return 'its adapter type is CPU';
  }
  for (const text of [info.vendor, info.architecture, info.device, info.description]) {
    const renderer = text?.match(softwareRenderers)?.[0];
    if (renderer) {
      return `it is ${renderer}, a CPU renderer`;
    }
  }
  return undefined;
}

/** Vendor, architecture and description (or device, when there is no description) as the adapter gives them. */
export function describeAdapter(info: AdapterInfoFacts): string {
  const parts = [info.vendor, info.architecture, info.description || info.device]
    .map((part) => part?.trim())
    .filter((part): part is string => Boolean(part));
  return parts.length > 0 ? [...new Set(parts)].join(' ') : 'an adapter that gives no name';
}

/**
 * What a user can do when Dawn finds no adapter at all. `vulkanLoader` is whether libvulkan.so.1 is installed
 * (undefined when that cannot be told): on Linux Dawn reaches GPUs only through it, and its absence is the
 * usual reason on a headless machine.
 */
export function noAdapterAdvice(platform: NodeJS.Platform, vulkanLoader: boolean | undefined): string {
  switch (platform) {
    case 'linux':
      return vulkanLoader === false
        ? "on Linux Dawn reaches GPUs through Vulkan, and the Vulkan loader libvulkan.so.1 is not installed: install it (Debian/Ubuntu: libvulkan1) with your GPU vendor's Vulkan driver"
        : "on Linux Dawn reaches GPUs through Vulkan: install your GPU vendor's Vulkan driver (NVIDIA's, or Mesa's for AMD and Intel); Dawn's warnings on the worker's standard error say what it rejected";
    case 'win32':
      return 'Dawn needs a GPU with a Direct3D 12 driver: update the GPU driver';
    case 'darwin':
      return 'Dawn needs a Mac whose GPU supports Metal';
    default:
      return `Dawn has no GPU backend on ${platform}`;
  }
}

/** Whether the dynamic linker can find libvulkan.so.1, or undefined where its cache cannot be read. */
export function vulkanLoaderInstalled(): boolean | undefined {
  const libraryPath = (process.env.LD_LIBRARY_PATH ?? '').split(path.delimiter).filter(Boolean);
  if (libraryPath.some((folder) => existsSync(path.join(folder, 'libvulkan.so.1')))) {
    return true;
  }
  try {
    // The cache ldconfig writes lists every library the linker finds without LD_LIBRARY_PATH, by file name.
    return readFileSync('/etc/ld.so.cache').includes('libvulkan.so.1');
  } catch {
    return undefined;
  }
}
