import {
  backend_util,
  Conv2D,
  type Conv2DAttrs,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropFilterInputs,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type Conv2DBackpropInputInputs,
  type Conv2DInputs,
  type KernelConfig,
} from '@tensorflow/tfjs-core';
import { nativeKernel } from './nativeKernel';

/** The layout of native/src/convolution.cc's sizes, or undefined where the padding does not fit. */
function convolutionSizes(info: backend_util.Conv2DInfo): Int32Array | undefined {
  const { padInfo } = info;
  if (!paddingFits(info)) return undefined;
  return Int32Array.of(
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    padInfo.top,
    padInfo.left,
    padInfo.bottom,
    padInfo.right,
  );
}

/**
 * Whether TF.js's output size is the one oneDNN derives from the padding, for convolutions and pooling:
 * 'ceil' rounding makes one more window than the padding holds.
 */
export function paddingFits(info: backend_util.Conv2DInfo): boolean {
  const fits = (input: number, padding: number, window: number, stride: number, outputs: number) =>
    Math.floor((input + padding - window) / stride) + 1 === outputs;
  const { padInfo } = info;
  return (
    fits(
      info.inHeight,
      padInfo.top + padInfo.bottom,
      info.effectiveFilterHeight,
      info.strideHeight,
      info.outHeight,
    ) &&
    fits(
      info.inWidth,
      padInfo.left + padInfo.right,
      info.effectiveFilterWidth,
      info.strideWidth,
      info.outWidth,
    )
  );
}

function channelsLast(dataFormat: string): boolean {
  return backend_util.convertConv2DDataFormat(dataFormat as 'NHWC' | 'NCHW') === 'channelsLast';
}

const conv2d = nativeKernel<Conv2DInputs, Conv2DAttrs>(Conv2D, ({ inputs, attrs, backend }) => {
  const { x, filter } = inputs;
  const xValues = backend.floats(x!);
  const filterValues = backend.floats(filter!);
  if (!xValues || !filterValues || !channelsLast(attrs.dataFormat)) return undefined;
  const info = backend_util.computeConv2DInfo(
    x!.shape as [number, number, number, number],
    filter!.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const sizes = convolutionSizes(info);
  if (!sizes) return undefined;
  const out = backend.output(info.outShape);
  backend.addon.conv2d(xValues, filterValues, out.values, sizes);
  return out.info;
});

/** Also TF.js's transposed convolution: conv2dTranspose is this kernel with the layer's input as dy. */
const conv2dBackpropInput = nativeKernel<Conv2DBackpropInputInputs, Conv2DBackpropInputAttrs>(
  Conv2DBackpropInput,
  ({ inputs, attrs, backend }) => {
    const { dy, filter } = inputs;
    const dyValues = backend.floats(dy!);
    const filterValues = backend.floats(filter!);
    if (!dyValues || !filterValues || !channelsLast(attrs.dataFormat)) return undefined;
    const info = backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter!.shape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const sizes = convolutionSizes(info);
    if (!sizes) return undefined;
    const out = backend.output(info.inShape);
    backend.addon.conv2dBackpropInput(dyValues, filterValues, out.values, sizes);
    return out.info;
  },
);

const conv2dBackpropFilter = nativeKernel<Conv2DBackpropFilterInputs, Conv2DBackpropFilterAttrs>(
  Conv2DBackpropFilter,
  ({ inputs, attrs, backend }) => {
    const { x, dy } = inputs;
    const xValues = backend.floats(x!);
    const dyValues = backend.floats(dy!);
    if (!xValues || !dyValues || !channelsLast(attrs.dataFormat)) return undefined;
    const info = backend_util.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const sizes = convolutionSizes(info);
    if (!sizes) return undefined;
    const out = backend.output(info.filterShape);
    backend.addon.conv2dBackpropFilter(xValues, dyValues, out.values, sizes);
    return out.info;
  },
);

export const convolutionKernels: readonly KernelConfig[] = [
  conv2d,
  conv2dBackpropInput,
  conv2dBackpropFilter,
];
