import {
  AvgPool,
  type AvgPoolAttrs,
  AvgPoolGrad,
  type AvgPoolGradAttrs,
  type AvgPoolGradInputs,
  type AvgPoolInputs,
  backend_util,
  type KernelConfig,
  MaxPool,
  type MaxPoolAttrs,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type MaxPoolGradInputs,
  type MaxPoolInputs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { paddingFits } from './convolution';
import { nativeKernel, type OneDnnBackend } from './nativeKernel';

type PoolAttrs = Pick<MaxPoolAttrs, 'filterSize' | 'strides' | 'pad' | 'dimRoundingMode'>;

/** The layout of native/src/pooling.cc's sizes, or undefined for what oneDNN's pooling does not cover. */
function poolingSizes(x: TensorInfo, attrs: PoolAttrs, isMax: boolean): Int32Array | undefined {
  if (x.shape.length !== 4) return undefined;
  const info = backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { padInfo } = info;
  if (!paddingFits(info)) return undefined;
  return Int32Array.of(
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    padInfo.top,
    padInfo.left,
    padInfo.bottom,
    padInfo.right,
    isMax ? 1 : 0,
  );
}

function pool(
  backend: OneDnnBackend,
  x: TensorInfo,
  attrs: PoolAttrs,
  isMax: boolean,
): TensorInfo | undefined {
  const xValues = backend.floats(x);
  const sizes = poolingSizes(x, attrs, isMax);
  if (!xValues || !sizes) return undefined;
  const out = backend.output([sizes[0]!, sizes[4]!, sizes[5]!, sizes[3]!]);
  backend.addon.pool(xValues, out.values, sizes);
  return out.info;
}

function poolGrad(
  backend: OneDnnBackend,
  dy: TensorInfo,
  input: TensorInfo,
  attrs: PoolAttrs,
  isMax: boolean,
): TensorInfo | undefined {
  const dyValues = backend.floats(dy);
  const inputValues = backend.floats(input);
  const sizes = poolingSizes(input, attrs, isMax);
  if (!dyValues || !inputValues || !sizes) return undefined;
  // TF.js's average-pooling gradient spreads each window's gradient over the whole window, padding included,
  // while its forward pass averages over the cells inside the image; oneDNN's gradient is that forward's
  // exact one. Padded windows go to TF.js's kernel so that every backend trains alike.
  if (!isMax && sizes.subarray(10, 14).some((padding) => padding > 0)) return undefined;
  const out = backend.output(input.shape);
  backend.addon.poolGrad(dyValues, inputValues, out.values, sizes);
  return out.info;
}

export const poolingKernels: readonly KernelConfig[] = [
  nativeKernel<MaxPoolInputs, MaxPoolAttrs>(MaxPool, ({ inputs, attrs, backend }) =>
    pool(backend, inputs.x!, attrs, true),
  ),
  nativeKernel<AvgPoolInputs, AvgPoolAttrs>(AvgPool, ({ inputs, attrs, backend }) =>
    pool(backend, inputs.x!, attrs, false),
  ),
  nativeKernel<MaxPoolGradInputs, MaxPoolGradAttrs>(MaxPoolGrad, ({ inputs, attrs, backend }) =>
    poolGrad(backend, inputs.dy!, inputs.input!, attrs, true),
  ),
  nativeKernel<AvgPoolGradInputs, AvgPoolGradAttrs>(AvgPoolGrad, ({ inputs, attrs, backend }) =>
    poolGrad(backend, inputs.dy!, inputs.input!, attrs, false),
  ),
];
