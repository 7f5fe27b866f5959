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

/** The layout of native/src/convolution.cc's sizes. */
function convolutionSizes(info: backend_util.Conv2DInfo): Int32Array {
  const { padInfo } = info;
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
  const out = backend.output(info.outShape);
  backend.addon.conv2d(xValues, filterValues, out.values, convolutionSizes(info));
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
    const out = backend.output(info.inShape);
    backend.addon.conv2dBackpropInput(dyValues, filterValues, out.values, convolutionSizes(info));
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
    const out = backend.output(info.filterShape);
    backend.addon.conv2dBackpropFilter(xValues, dyValues, out.values, convolutionSizes(info));
    return out.info;
  },
);

export const convolutionKernels: readonly KernelConfig[] = [
  conv2d,
  conv2dBackpropInput,
  conv2dBackpropFilter,
];
