import os from 'node:os';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import {
  type backend_util,
  type DataId,
  type DataType,
  getBackend,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { OneDnnAddon } from './addon';

export const oneDnnBackendName = 'onednn';

/**
 * Freed outputs of native kernels, kept by length for the next kernel that writes as many values. A fresh
 * Float32Array costs the kernel that fills it a page fault and a zeroed page every 4 KiB: an element-wise
 * product of 2 M values took three times as long into a new array as into a used one, and a whole encoder
 * step nearly twice as long. Lengths unused the longest are let go first when the pool is full, so the shapes
 * of an evaluation give way to those of the training step that follows it.
 */
class OutputPool {
  /** Iterated from the length used the longest ago: each take or give moves its length to the end. */
  private readonly free = new Map<number, Float32Array[]>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  take(length: number): Float32Array | undefined {
    const sameLength = this.free.get(length);
    const values = sameLength?.pop();
    if (!values) return undefined;
    this.bytes -= values.byteLength;
    this.free.delete(length);
    if (sameLength!.length > 0) this.free.set(length, sameLength!);
    return values;
  }

  give(values: Float32Array): void {
    if (values.byteLength > this.maxBytes) return;
    for (const [length, arrays] of this.free) {
      if (this.bytes + values.byteLength <= this.maxBytes) break;
      this.free.delete(length);
      for (const array of arrays) this.bytes -= array.byteLength;
    }
    const sameLength = this.free.get(values.length) ?? [];
    this.free.delete(values.length);
    sameLength.push(values);
    this.free.set(values.length, sameLength);
    this.bytes += values.byteLength;
  }

  clear(): void {
    this.free.clear();
    this.bytes = 0;
  }
}

/**
 * What the pool may hold: an eighth of the machine's memory, at most 4 GiB. A buffer the pool lets go of is
 * garbage until V8 collects it, so the pool holds what would have been held anyway: a method step kept its peak
 * RSS with a 2 GiB pool and took a third less time than with a 512 MiB one, which let much of it go.
 */
const outputPoolBytes = Math.min(4 * 1024 ** 3, os.totalmem() / 8);

/**
 * The cpu backend with oneDNN kernels in front: tensors stay the cpu backend's Float32Arrays, which the addon
 * reads and writes in place, so nothing is copied between a native kernel and a JavaScript one.
 */
export class OneDnnBackend extends MathBackendCPU {
  private readonly pool = new OutputPool(outputPoolBytes);
  /**
   * The buffers of native outputs that nothing but their own tensor can see, which may be reused once it is
   * disposed. A buffer leaves the set when its values are read out (dataSync hands out the array itself) or
   * when another tensor is made over it (the cpu backend's simple slice is a view of its input).
   */
  private readonly reusable = new WeakSet<ArrayBufferLike>();
  private outputBeingMade: Float32Array | undefined;

  constructor(readonly addon: OneDnnAddon) {
    super();
  }

  /** A tensor's values when they are float32 and oneDNN can take them; undefined sends the kernel to JavaScript. */
  floats(info: TensorInfo): Float32Array | undefined {
    if (info.dtype !== 'float32') return undefined;
    const { values } = this.data.get(info.dataId);
    return values instanceof Float32Array ? values : undefined;
  }

  /** A float32 tensor for a kernel to fill: every native kernel writes each of its outputs' values. */
  output(shape: number[]): { info: TensorInfo; values: Float32Array } {
    const length = sizeOf(shape);
    const values = this.pool.take(length) ?? new Float32Array(length);
    this.reusable.add(values.buffer);
    this.outputBeingMade = values;
    try {
      return { info: this.makeTensorInfo(shape, 'float32', values), values };
    } finally {
      this.outputBeingMade = undefined;
    }
  }

  override write(values: backend_util.BackendValues, shape: number[], dtype: DataType): DataId {
    if (values !== this.outputBeingMade) this.disown(values);
    return super.write(values, shape, dtype);
  }

  override move(
    dataId: DataId,
    values: backend_util.BackendValues,
    shape: number[],
    dtype: DataType,
    refCount: number,
  ): void {
    this.disown(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override readSync(dataId: DataId): backend_util.BackendValues {
    const values = super.readSync(dataId);
    this.disown(values);
    return values;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const disposed = super.disposeData(dataId, force);
    if (disposed && values instanceof Float32Array && this.reusable.delete(values.buffer)) {
      this.pool.give(values);
    }
    return disposed;
  }

  override dispose(): void {
    this.pool.clear();
    super.dispose();
  }

  private disown(values: backend_util.BackendValues): void {
    if (ArrayBuffer.isView(values)) this.reusable.delete(values.buffer);
  }
}

export interface NativeKernelArgs<Inputs extends object, Attrs extends object> {
  inputs: Inputs;
  attrs: Attrs;
  backend: OneDnnBackend;
}

/**
 * A kernel that runs natively when it can and otherwise falls back to the cpu backend's JavaScript kernel of
 * the same name: other dtypes, other layouts, shapes oneDNN cannot take or tensors too small to repay a call.
 */
export function nativeKernel<Inputs extends object = NamedTensorInfoMap, Attrs extends object = NamedAttrMap>(
  kernelName: string,
  run: (args: NativeKernelArgs<Inputs, Attrs>) => TensorInfo | TensorInfo[] | undefined,
): KernelConfig {
  const fallback = getKernel(kernelName, 'cpu')?.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const native = run(args as unknown as NativeKernelArgs<Inputs, Attrs>);
    if (native) return native;
    if (!fallback) throw new Error(`${kernelName} has no cpu kernel to fall back to`);
    return fallback(args);
  };
  return { kernelName, backendName: oneDnnBackendName, kernelFunc };
}

/** A kernel only the onednn backend has (the fused batch norm): no fallback, since nothing else calls it. */
export function onlyNativeKernel<
  Inputs extends object = NamedTensorInfoMap,
  Attrs extends object = NamedAttrMap,
>(
  kernelName: string,
  run: (args: NativeKernelArgs<Inputs, Attrs>) => TensorInfo | TensorInfo[],
): KernelConfig {
  return {
    kernelName,
    backendName: oneDnnBackendName,
    kernelFunc: (args) => run(args as unknown as NativeKernelArgs<Inputs, Attrs>),
  };
}

/** Whether the active backend has a kernel: the fused ones exist only on onednn, and callers compose otherwise. */
export function activeBackendHas(kernelName: string): boolean {
  return getKernel(kernelName, getBackend()) !== undefined;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((size, dimension) => size * dimension, 1);
}
