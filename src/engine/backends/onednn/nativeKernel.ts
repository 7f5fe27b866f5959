import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import {
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
 * The cpu backend with oneDNN kernels in front: tensors stay the cpu backend's Float32Arrays, which the addon
 * reads and writes in place, so nothing is copied between a native kernel and a JavaScript one.
 */
export class OneDnnBackend extends MathBackendCPU {
  constructor(readonly addon: OneDnnAddon) {
    super();
  }

  /** A tensor's values when they are float32 and oneDNN can take them; undefined sends the kernel to JavaScript. */
  floats(info: TensorInfo): Float32Array | undefined {
    if (info.dtype !== 'float32') return undefined;
    const { values } = this.data.get(info.dataId);
    return values instanceof Float32Array ? values : undefined;
  }

  /** A new float32 tensor for a kernel to fill. */
  output(shape: number[]): { info: TensorInfo; values: Float32Array } {
    const values = new Float32Array(shape.reduce((size, dimension) => size * dimension, 1));
    return { info: this.makeTensorInfo(shape, 'float32', values), values };
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
