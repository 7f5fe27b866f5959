import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { backend_util, getKernel, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

export type ConvDataFormat = 'NHWC' | 'NCHW';

/** Per-side amounts on the two spatial axes (rows/columns padded or cropped); never negative. */
export interface SpatialPadding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

export function assertChannelsLast(kernelName: string, dataFormat: ConvDataFormat): void {
  if (backend_util.convertConv2DDataFormat(dataFormat) !== 'channelsLast') {
    throw new Error(
      `SynthPair's wasm ${kernelName} supports only dataFormat 'NHWC', got '${dataFormat}'; ` +
        'transpose the input to NHWC or use the cpu backend',
    );
  }
}

export function assertGradientMatchesForward(
  kernelName: string,
  dyShape: readonly number[],
  convInfo: backend_util.Conv2DInfo,
): void {
  const expected = convInfo.outShape;
  if (dyShape.length !== 4 || dyShape.some((size, axis) => size !== expected[axis])) {
    throw new Error(
      `${kernelName}: dy has shape [${dyShape.join(',')}] but the forward convolution produces ` +
        `[${expected.join(',')}]; strides, pad or dimRoundingMode do not match the forward pass`,
    );
  }
}

/**
 * Runs another kernel of the wasm backend directly, bypassing the engine, so intermediates neither enter
 * tf.memory() bookkeeping nor the gradient tape; the caller owns the result and must dispose it.
 */
export function runWasmKernel(
  kernelName: string,
  backend: BackendWasm,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap,
): TensorInfo {
  const kernel = getKernel(kernelName, 'wasm');
  if (!kernel) {
    throw new Error(
      `The wasm backend has no '${kernelName}' kernel, which SynthPair's training kernels build on`,
    );
  }
  const result = kernel.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(result)) {
    throw new Error(`The wasm '${kernelName}' kernel returned several tensors where one was expected`);
  }
  return result;
}

/** XNNPACK convolution with stride 1, explicit padding and optional filter dilation. */
export function convolveStride1(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  padding: SpatialPadding,
  dilations: [number, number],
): TensorInfo {
  return runWasmKernel(
    'Conv2D',
    backend,
    { x, filter },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [padding.top, padding.bottom],
        [padding.left, padding.right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations,
    },
  );
}

export function transposeOnWasm(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return runWasmKernel('Transpose', backend, { x }, { perm });
}

/** The heap view must be taken after the last allocation: growing the wasm memory detaches older views. */
export function float32View(backend: BackendWasm, tensor: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(tensor) as Float32Array;
}

/**
 * A tensor over part of another's memory, so a kernel can hand XNNPACK a slice without copying it. Release it
 * with releaseHeapAlias, never disposeData, which would free memory the alias does not own.
 */
export function aliasHeap(
  backend: BackendWasm,
  base: TensorInfo,
  elementOffset: number,
  shape: number[],
): TensorInfo {
  const { memoryOffset } = backend.dataIdMap.get(base.dataId);
  return backend.makeOutput(shape, 'float32', memoryOffset + elementOffset * Float32Array.BYTES_PER_ELEMENT);
}

interface WasmTensorRegistry {
  tfjs: { disposeData(tensorId: number): void };
}

export function releaseHeapAlias(backend: BackendWasm, alias: TensorInfo): void {
  const { id } = backend.dataIdMap.get(alias.dataId);
  // Unregisters the id on the C++ side (dropping XNNPACK operators cached for it) without freeing memory.
  (backend.wasm as unknown as WasmTensorRegistry).tfjs.disposeData(id);
  backend.dataIdMap.delete(alias.dataId);
}

export function disposeAll(backend: BackendWasm, tensors: Iterable<TensorInfo>): void {
  for (const tensor of tensors) {
    backend.disposeData(tensor.dataId);
  }
}
