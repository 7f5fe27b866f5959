import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropFilterInputs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import {
  aliasHeap,
  assertChannelsLast,
  assertGradientMatchesForward,
  convolveStride1,
  disposeAll,
  float32View,
  releaseHeapAlias,
  runWasmKernel,
  transposeOnWasm,
} from './wasmKernelUtils';

/**
 * XNNPACK slows down several-fold once a convolution's filter outgrows the caches (measured: a 17 MB filter
 * runs at a third of the speed of the same work split into 8 MB pieces), and here the filter is dy, which
 * is large. So the batch is processed in groups whose slice of dy stays under this size.
 */
const maxFilterBytesPerGroup = 4 * 1024 * 1024;

function imagesPerGroup(batchSize: number, bytesPerImage: number): number {
  let best = 1;
  for (let candidate = 1; candidate <= batchSize; candidate++) {
    if (batchSize % candidate === 0 && candidate * bytesPerImage <= maxFilterBytesPerGroup) {
      best = candidate;
    }
  }
  return best;
}

/**
 * dW[a,b,c,o] = Σ_{n,i,j} x[n, i·s+a−padTop, j·s+b−padLeft, c] · dy[n,i,j,o] is itself a stride-1
 * convolution once the input channels play the batch and the images play the channels: input x as
 * [inC,H,W,N], filter dy as [outH,outW,N,outC] dilated by the forward stride. That lets XNNPACK's tuned
 * convolution do all the arithmetic, and no multiply is wasted on inserted zeros.
 */
function conv2DBackpropFilter(args: {
  inputs: Conv2DBackpropFilterInputs;
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  assertChannelsLast(Conv2DBackpropFilter, dataFormat);

  const convInfo = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  assertGradientMatchesForward(Conv2DBackpropFilter, dy.shape, convInfo);
  const { batchSize, filterHeight, filterWidth, inChannels, outChannels, inHeight, inWidth } = convInfo;
  const { strideHeight, strideWidth } = convInfo;
  const { top, left } = convInfo.padInfo;
  const [, outHeight, outWidth] = dy.shape;

  if (filterHeight === 1 && filterWidth === 1) {
    return pointwiseFilterGradient(backend, x, dy, convInfo);
  }

  const groupSize = imagesPerGroup(
    batchSize,
    outHeight * outWidth * outChannels * Float32Array.BYTES_PER_ELEMENT,
  );
  const groups = batchSize / groupSize;
  // One transpose each lays every group out contiguously: x → [G, inC, H, W, n], dy → [G, outH, outW, n, outC].
  const groupedX = transposeOnWasm(
    backend,
    { ...x, shape: [groups, groupSize, inHeight, inWidth, inChannels] },
    [0, 4, 2, 3, 1],
  );
  const groupedDy = transposeOnWasm(
    backend,
    { ...dy, shape: [groups, groupSize, outHeight, outWidth, outChannels] },
    [0, 2, 3, 1, 4],
  );
  // The bottom/right padding is chosen so the correlation yields at least filterHeight × filterWidth taps;
  // rows the forward pass never reached (floor rounding) fall outside and are cropped when accumulating.
  const padding = {
    top,
    left,
    bottom: Math.max(0, filterHeight + (outHeight - 1) * strideHeight - inHeight - top),
    right: Math.max(0, filterWidth + (outWidth - 1) * strideWidth - inWidth - left),
  };
  const xGroupSize = inChannels * inHeight * inWidth * groupSize;
  const dyGroupSize = outHeight * outWidth * groupSize * outChannels;

  const dw = backend.makeOutput(filterShape, 'float32');
  for (let group = 0; group < groups; group++) {
    const xGroup = aliasHeap(backend, groupedX, group * xGroupSize, [
      inChannels,
      inHeight,
      inWidth,
      groupSize,
    ]);
    const dyGroup = aliasHeap(backend, groupedDy, group * dyGroupSize, [
      outHeight,
      outWidth,
      groupSize,
      outChannels,
    ]);
    const groupGradient = convolveStride1(backend, xGroup, dyGroup, padding, [strideHeight, strideWidth]);
    releaseHeapAlias(backend, xGroup);
    releaseHeapAlias(backend, dyGroup);
    accumulateFilterGradient(backend, groupGradient, dw, group === 0);
    disposeAll(backend, [groupGradient]);
  }
  disposeAll(backend, [groupedX, groupedDy]);
  return dw;
}

/**
 * A 1×1 filter's gradient is one matrix product, dW = Xᵀ·dy over all output pixels. As a dilated
 * convolution it would instead stream dy's huge packed filter past a handful of output pixels, several
 * times slower (a 1×1 stride-2 shortcut on 64×32×32×32: 30 ms against 7 ms).
 */
function pointwiseFilterGradient(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  convInfo: backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outChannels, strideHeight, strideWidth } = convInfo;
  const [, outHeight, outWidth] = dy.shape;
  const pixels = batchSize * outHeight * outWidth;
  const sampledColumns = backend.makeOutput([inChannels, pixels], 'float32');
  const source = float32View(backend, x);
  const target = float32View(backend, sampledColumns);
  // Column p holds the input pixel that output pixel p read, channel-major so XNNPACK reduces over pixels.
  let pixel = 0;
  for (let image = 0; image < batchSize; image++) {
    for (let outRow = 0; outRow < outHeight; outRow++) {
      const inRow = outRow * strideHeight - convInfo.padInfo.top;
      for (let outCol = 0; outCol < outWidth; outCol++, pixel++) {
        const inCol = outCol * strideWidth - convInfo.padInfo.left;
        const inside = inRow >= 0 && inRow < inHeight && inCol >= 0 && inCol < inWidth;
        const from = ((image * inHeight + inRow) * inWidth + inCol) * inChannels;
        for (let channel = 0; channel < inChannels; channel++) {
          target[channel * pixels + pixel] = inside ? source[from + channel] : 0;
        }
      }
    }
  }
  const product = runWasmKernel(
    'BatchMatMul',
    backend,
    { a: sampledColumns, b: { ...dy, shape: [pixels, outChannels] } },
    { transposeA: false, transposeB: false },
  );
  disposeAll(backend, [sampledColumns]);
  // [inC, outC] and [1, 1, inC, outC] share a layout; tfjs's own kernels relabel shapes the same way.
  return { ...product, shape: [1, 1, inChannels, outChannels] };
}

/** Adds (or, for the first group, writes) [inC, h', w', outC] into dW [fh, fw, inC, outC], cropping to fh × fw. */
function accumulateFilterGradient(
  backend: BackendWasm,
  groupGradient: TensorInfo,
  dw: TensorInfo,
  isFirstGroup: boolean,
): void {
  const [filterHeight, filterWidth, inChannels, outChannels] = dw.shape;
  const [, computedHeight, computedWidth] = groupGradient.shape;
  const source = float32View(backend, groupGradient);
  const target = float32View(backend, dw);
  for (let row = 0; row < filterHeight; row++) {
    for (let col = 0; col < filterWidth; col++) {
      for (let channel = 0; channel < inChannels; channel++) {
        const from = ((channel * computedHeight + row) * computedWidth + col) * outChannels;
        const to = ((row * filterWidth + col) * inChannels + channel) * outChannels;
        if (isFirstGroup) {
          target.set(source.subarray(from, from + outChannels), to);
        } else {
          for (let outChannel = 0; outChannel < outChannels; outChannel++) {
            target[to + outChannel] += source[from + outChannel];
          }
        }
      }
    }
  }
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
