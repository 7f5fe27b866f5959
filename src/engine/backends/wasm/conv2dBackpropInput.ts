import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  backend_util,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type Conv2DBackpropInputInputs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import {
  assertChannelsLast,
  assertGradientMatchesForward,
  convolveStride1,
  disposeAll,
  float32View,
  type SpatialPadding,
} from './wasmKernelUtils';

/**
 * How one spatial axis of dx decomposes by stride phase. The input positions p ≡ phase (mod stride) only
 * receive gradient through the filter taps a ≡ phase + padBefore (mod stride), so each phase is a dense
 * stride-1 correlation of dy with that subset of taps, reversed. This is the zero-inserted ("transposed")
 * convolution without multiplying the inserted zeros: a stride-2 layer costs a quarter of the naive FLOPs.
 */
interface AxisPhase {
  phase: number;
  /** Input positions phase, phase + stride, ... that exist along this axis. */
  positions: number;
  /** Filter indices in the order the correlation visits them (reversed). */
  taps: number[];
  /** dy rows to drop where the correlation would need negative padding. */
  cropBefore: number;
  cropAfter: number;
  padBefore: number;
  padAfter: number;
}

function planAxisPhases(
  stride: number,
  forwardPadBefore: number,
  filterSize: number,
  gradientLength: number,
  inputLength: number,
): AxisPhase[] {
  const phases: AxisPhase[] = [];
  for (let phase = 0; phase < Math.min(stride, inputLength); phase++) {
    const positions = Math.ceil((inputLength - phase) / stride);
    const firstTap = (phase + forwardPadBefore) % stride;
    const tapCount = firstTap < filterSize ? Math.ceil((filterSize - firstTap) / stride) : 0;
    const taps = Array.from({ length: tapCount }, (_, index) => firstTap + stride * (tapCount - 1 - index));
    // dx[phase + stride·q] = Σ_k dy[q + shift − k] · w[firstTap + stride·k]
    const shift = (phase + forwardPadBefore - firstTap) / stride;
    const before = tapCount - 1 - shift;
    const after = positions - 1 + tapCount - gradientLength - before;
    phases.push({
      phase,
      positions,
      taps,
      cropBefore: Math.max(0, -before),
      cropAfter: Math.max(0, -after),
      padBefore: Math.max(0, before),
      padAfter: Math.max(0, after),
    });
  }
  return phases;
}

function contributes(axis: AxisPhase, gradientLength: number): boolean {
  return axis.taps.length > 0 && gradientLength - axis.cropBefore - axis.cropAfter > 0;
}

/** w[fh,fw,inC,outC] → the phase's filter [rowTaps, colTaps, outC, inC], spatially reversed. */
function phaseFilter(
  backend: BackendWasm,
  filter: TensorInfo,
  rowTaps: readonly number[],
  colTaps: readonly number[],
): TensorInfo {
  const [, filterWidth, inChannels, outChannels] = filter.shape;
  const phase = backend.makeOutput([rowTaps.length, colTaps.length, outChannels, inChannels], 'float32');
  const source = float32View(backend, filter);
  const target = float32View(backend, phase);
  let to = 0;
  for (const row of rowTaps) {
    for (const col of colTaps) {
      const tapStart = (row * filterWidth + col) * inChannels * outChannels;
      for (let outChannel = 0; outChannel < outChannels; outChannel++) {
        for (let inChannel = 0; inChannel < inChannels; inChannel++) {
          target[to++] = source[tapStart + inChannel * outChannels + outChannel];
        }
      }
    }
  }
  return phase;
}

function cropSpatially(backend: BackendWasm, x: TensorInfo, crop: SpatialPadding): TensorInfo {
  const [batch, height, width, channels] = x.shape;
  const croppedHeight = height - crop.top - crop.bottom;
  const croppedWidth = width - crop.left - crop.right;
  const cropped = backend.makeOutput([batch, croppedHeight, croppedWidth, channels], 'float32');
  const source = float32View(backend, x);
  const target = float32View(backend, cropped);
  const rowLength = croppedWidth * channels;
  for (let image = 0; image < batch; image++) {
    for (let row = 0; row < croppedHeight; row++) {
      const from = ((image * height + row + crop.top) * width + crop.left) * channels;
      target.set(source.subarray(from, from + rowLength), (image * croppedHeight + row) * rowLength);
    }
  }
  return cropped;
}

/** Writes a phase's gradient [N, rows, cols, C] to dx[n, rowPhase + stride·i, colPhase + stride·j, c]. */
function scatterPhase(
  backend: BackendWasm,
  phaseGradient: TensorInfo,
  dx: TensorInfo,
  rows: AxisPhase,
  cols: AxisPhase,
  strideHeight: number,
  strideWidth: number,
): void {
  const [batch, height, width, channels] = dx.shape;
  const source = float32View(backend, phaseGradient);
  const target = float32View(backend, dx);
  let from = 0;
  for (let image = 0; image < batch; image++) {
    for (let i = 0; i < rows.positions; i++) {
      const rowStart = (image * height + rows.phase + strideHeight * i) * width;
      for (let j = 0; j < cols.positions; j++) {
        let to = (rowStart + cols.phase + strideWidth * j) * channels;
        for (let channel = 0; channel < channels; channel++) {
          target[to++] = source[from++];
        }
      }
    }
  }
}

/** The phase's share of dx as [N, rows.positions, cols.positions, inC]. */
function convolvePhase(
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  rows: AxisPhase,
  cols: AxisPhase,
): TensorInfo {
  const crop = { top: rows.cropBefore, bottom: rows.cropAfter, left: cols.cropBefore, right: cols.cropAfter };
  const needsCrop = crop.top + crop.bottom + crop.left + crop.right > 0;
  const source = needsCrop ? cropSpatially(backend, dy, crop) : dy;
  const taps = phaseFilter(backend, filter, rows.taps, cols.taps);
  const phaseGradient = convolveStride1(
    backend,
    source,
    taps,
    { top: rows.padBefore, bottom: rows.padAfter, left: cols.padBefore, right: cols.padAfter },
    [1, 1],
  );
  disposeAll(backend, needsCrop ? [source, taps] : [taps]);
  return phaseGradient;
}

function conv2DBackpropInput(args: {
  inputs: Conv2DBackpropInputInputs;
  backend: BackendWasm;
  attrs: Conv2DBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as TensorInfo;
  const filter = inputs.filter as TensorInfo;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  assertChannelsLast(Conv2DBackpropInput, dataFormat);

  const convInfo = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  assertGradientMatchesForward(Conv2DBackpropInput, dy.shape, convInfo);
  const { filterHeight, filterWidth, inHeight, inWidth, strideHeight, strideWidth } = convInfo;
  const [, outHeight, outWidth] = dy.shape;
  const rowPhases = planAxisPhases(strideHeight, convInfo.padInfo.top, filterHeight, outHeight, inHeight);
  const colPhases = planAxisPhases(strideWidth, convInfo.padInfo.left, filterWidth, outWidth, inWidth);

  const phasePairs = rowPhases.flatMap((rows) => colPhases.map((cols) => ({ rows, cols })));
  const active = phasePairs.filter(
    ({ rows, cols }) => contributes(rows, outHeight) && contributes(cols, outWidth),
  );
  const [onlyPhase] = active;
  if (onlyPhase && phasePairs.length === 1) {
    // With one phase (stride 1 or a 1-pixel axis) its correlation already is the whole of dx.
    return convolvePhase(backend, dy, filter, onlyPhase.rows, onlyPhase.cols);
  }
  const dx = backend.makeOutput(inputShape, 'float32');
  if (active.length < phasePairs.length) {
    float32View(backend, dx).fill(0);
  }
  for (const { rows, cols } of active) {
    const phaseGradient = convolvePhase(backend, dy, filter, rows, cols);
    scatterPhase(backend, phaseGradient, dx, rows, cols, strideHeight, strideWidth);
    disposeAll(backend, [phaseGradient]);
  }
  return dx;
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
