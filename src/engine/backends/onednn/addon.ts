import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** Numbering shared with native/src/elementwise.cc. */
export const binaryKinds = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 } as const;
export const unaryKinds = { Log: 0, Sqrt: 1, Square: 2, Abs: 3, Tanh: 4, Sigmoid: 5 } as const;
export const pointwiseKinds = { Step: 0, Relu: 1, Exp: 2 } as const;
export const reductionKinds = { Sum: 0, Mean: 1 } as const;
/** What native/src/elementwise.cc can apply to a binary result in the same pass. */
export const followingOperations = { none: 0, negate: 1, reciprocal: 2, square: 3 } as const;

/**
 * The native addon built from native/src at install. Every function reads and writes the Float32Arrays that
 * hold TF.js tensors in place; sizes travel as Int32Arrays in the order native/src documents per kernel.
 */
export interface OneDnnAddon {
  describe(): {
    version: string;
    cpuRuntime: string;
    threads: number;
    isa: number;
    /** The libdnnl the loader chose, where the system can tell. */
    libraryFile?: string;
  };
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, sizes: Int32Array): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, sizes: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dFilter: Float32Array, sizes: Int32Array): void;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, sizes: Int32Array): void;
  batchNormTrain(
    x: Float32Array,
    scale: Float32Array,
    offset: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    sizes: Int32Array,
  ): void;
  batchNormTrainGrad(
    dy: Float32Array,
    x: Float32Array,
    scale: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    dx: Float32Array,
    dScale: Float32Array,
    dOffset: Float32Array,
    sizes: Int32Array,
  ): void;
  pool(x: Float32Array, y: Float32Array, sizes: Int32Array): void;
  poolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, sizes: Int32Array): void;
  binary(
    kind: number,
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    shapeA: Int32Array,
    shapeB: Int32Array,
    following: number,
  ): void;
  unary(kind: number, x: Float32Array, y: Float32Array, size: number): void;
  pointwise(kind: number, x: Float32Array, y: Float32Array, alpha: number): void;
  reduce(kind: number, x: Float32Array, y: Float32Array, shapeX: Int32Array, shapeY: Int32Array): void;
  /** y: ReLU's output, positive exactly where its input is. */
  reluGrad(dy: Float32Array, y: Float32Array, dx: Float32Array): void;
  /** offset and scale are empty arrays where the op has none. */
  batchNormInference(
    x: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    offset: Float32Array,
    scale: Float32Array,
    y: Float32Array,
    epsilon: number,
  ): void;
  /** sizes: N, H, W, C of x; y holds [N, 2H, 2W, C]. */
  upsampleNearest2x(x: Float32Array, y: Float32Array, sizes: Int32Array): void;
  /** sizes: N, H, W, C of dx; dy holds [N, 2H, 2W, C]. */
  upsampleNearest2xGrad(dy: Float32Array, dx: Float32Array, sizes: Int32Array): void;
  /** Strides name every axis but the last, which is contiguous in both arrays. */
  copyBox(
    source: Float32Array,
    sourceStart: number,
    sourceStrides: Int32Array,
    destination: Float32Array,
    destinationStart: number,
    destinationStrides: Int32Array,
    extents: Int32Array,
  ): void;
  adam(
    variable: Float32Array,
    gradient: Float32Array,
    first: Float32Array,
    second: Float32Array,
    newVariable: Float32Array,
    newFirst: Float32Array,
    newSecond: Float32Array,
    settings: Float32Array,
  ): void;
  momentum(
    variable: Float32Array,
    gradient: Float32Array,
    buffer: Float32Array,
    newVariable: Float32Array,
    newBuffer: Float32Array,
    settings: Float32Array,
  ): void;
}

export const addonFileName = 'synthpair_onednn.node';
/** Written by scripts/build-native.mjs when the addon could not be built, with the reason in words. */
export const unavailableFileName = 'synthpair_onednn.unavailable.txt';

export type AddonLoad =
  | { loaded: true; addon: OneDnnAddon; file: string }
  | { loaded: false; reason: string };

/**
 * Where the addon may lie: beside the bundled worker in dist/native (copied there by the build), or in the
 * node-gyp output of a source checkout above this file.
 */
function candidateFolders(): string[] {
  const folders = [path.join(__dirname, 'native')];
  for (let folder = __dirname; path.dirname(folder) !== folder; folder = path.dirname(folder)) {
    folders.push(path.join(folder, 'native', 'build', 'Release'));
  }
  return folders;
}

/** `folders` replaces the places searched, for tests of an install that could not build the addon. */
export function loadOneDnnAddon(folders: readonly string[] = candidateFolders()): AddonLoad {
  const folder = folders.find((candidate) => existsSync(path.join(candidate, addonFileName)));
  if (!folder) {
    const explained = folders.find((candidate) => existsSync(path.join(candidate, unavailableFileName)));
    return {
      loaded: false,
      reason: explained
        ? `the native addon was not built at install: ${readFileSync(path.join(explained, unavailableFileName), 'utf8').trim()}`
        : 'the native addon is not built (run `npm run build:native`; it needs a C++ compiler and libdnnl-dev)',
    };
  }
  const file = path.join(folder, addonFileName);
  // OpenMP reads this once, as the addon loads. Its default spins idle threads between parallel regions,
  // which on a machine whose cores the batch workers, the editor and other processes share burns those cores
  // and stalls every region on a descheduled thread: a tiny run took four times as long as with sleeping
  // threads. OMP_NUM_THREADS and an explicit OMP_WAIT_POLICY still win.
  process.env.OMP_WAIT_POLICY ??= 'passive';
  try {
    return { loaded: true, addon: createRequire(file)(file) as OneDnnAddon, file };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const hint = /libdnnl\.so/.test(message)
      ? ' — the oneDNN runtime is missing (Debian/Ubuntu: apt install libdnnl2)'
      : /libgomp/.test(message)
        ? ' — the OpenMP runtime is missing (apt install libgomp1)'
        : '';
    return { loaded: false, reason: `the native addon failed to load: ${message}${hint}` };
  }
}

/** oneDNN's numbering of instruction sets (dnnl::cpu_isa), named as its documentation does. */
export function isaName(isa: number): string {
  const names: Record<number, string> = {
    1: 'SSE4.1',
    3: 'AVX',
    7: 'AVX2',
    1031: 'AVX2 with VNNI',
    39: 'AVX-512',
    103: 'AVX-512 with VNNI',
    231: 'AVX-512 with BF16',
    999: 'AMX',
  };
  return names[isa] ?? `ISA 0x${isa.toString(16)}`;
}
