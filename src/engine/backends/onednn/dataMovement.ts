import {
  backend_util,
  Concat,
  type ConcatAttrs,
  type ConcatInputs,
  type KernelConfig,
  PadV2,
  type PadV2Attrs,
  type PadV2Inputs,
  Slice,
  type SliceAttrs,
  type SliceInputs,
  SplitV,
  type SplitVAttrs,
  type SplitVInputs,
  slice_util,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { nativeKernel, type OneDnnBackend, sizeOf } from './nativeKernel';

/**
 * Slices, splits and concatenations as box copies in the addon, a memcpy per contiguous run. tfjs-backend-cpu
 * moves a slice that is not one contiguous block element by element through index arithmetic: the gradient
 * of the decoder's nearest-neighbour upsampling (a concatenation along the width) took 40 s a step that way.
 */
function copySlice(
  backend: OneDnnBackend,
  x: TensorInfo,
  begin: number[],
  size: number[],
): TensorInfo | undefined {
  const values = backend.floats(x);
  if (!values || x.shape.length === 0 || size.some((extent) => extent === 0)) return undefined;
  // The run copied at once: the innermost sliced axis and every full axis inside it.
  let innermost = x.shape.length - 1;
  while (innermost > 0 && size[innermost] === x.shape[innermost]) innermost--;
  const strides = [...util.computeStrides(x.shape), 1];
  const out = backend.output(size);
  const extents = [...size.slice(0, innermost), size[innermost]! * strides[innermost]!];
  const start = begin.reduce((offset, position, axis) => offset + position * strides[axis]!, 0);
  backend.addon.copyBox(
    values,
    start,
    Int32Array.from(strides.slice(0, innermost)),
    out.values,
    0,
    Int32Array.from(util.computeStrides(extents).slice(0, innermost)),
    Int32Array.from(extents),
  );
  return out.info;
}

const slice = nativeKernel<SliceInputs, SliceAttrs>(Slice, ({ inputs, attrs, backend }) => {
  const x = inputs.x!;
  const [begin, size] = slice_util.parseSliceParams(x, attrs.begin, attrs.size);
  slice_util.assertParamsValid(x, begin!, size!);
  return copySlice(backend, x, begin!, size!);
});

const splitV = nativeKernel<SplitVInputs, SplitVAttrs>(SplitV, ({ inputs, attrs, backend }) => {
  const x = inputs.x!;
  const axis = util.parseAxisParam(attrs.axis, x.shape)[0]!;
  const sizes = backend_util.prepareSplitSize(x, attrs.numOrSizeSplits, axis);
  if (!backend.floats(x) || sizes.some((extent) => extent === 0)) return undefined;
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((extent) => {
    const size = [...x.shape];
    size[axis] = extent;
    const piece = copySlice(backend, x, [...begin], size)!;
    begin[axis]! += extent;
    return piece;
  });
});

const concat = nativeKernel<ConcatInputs, ConcatAttrs>(Concat, ({ inputs, attrs, backend }) => {
  const tensors = Object.values(inputs) as TensorInfo[];
  const parts = tensors.map((tensor) => backend.floats(tensor));
  if (tensors.length < 2 || parts.some((part) => !part || part.length === 0)) return undefined;
  const axis = util.parseAxisParam(attrs.axis, tensors[0]!.shape)[0]!;
  const shape = backend_util.computeOutShape(
    tensors.map((tensor) => tensor.shape),
    axis,
  );
  // Each input as rows of its axis and everything inside it; an output row is their rows side by side.
  const rows = sizeOf(shape.slice(0, axis));
  const widths = tensors.map((tensor) => sizeOf(tensor.shape.slice(axis)));
  const rowWidth = widths.reduce((sum, width) => sum + width, 0);
  const out = backend.output(shape);
  let column = 0;
  parts.forEach((part, index) => {
    const width = widths[index]!;
    backend.addon.copyBox(
      part!,
      0,
      Int32Array.of(width),
      out.values,
      column,
      Int32Array.of(rowWidth),
      Int32Array.of(rows, width),
    );
    column += width;
  });
  return out.info;
});

/**
 * Constant padding, the gradient of a slice: the cpu kernel places each value through index arithmetic, which
 * took 15 ms for one [64, 128] slice gradient of the method's step.
 */
const pad = nativeKernel<PadV2Inputs, PadV2Attrs>(PadV2, ({ inputs, attrs, backend }) => {
  const x = inputs.x!;
  const values = backend.floats(x);
  if (!values || x.shape.length === 0 || values.length === 0) return undefined;
  const shape = x.shape.map((extent, axis) => attrs.paddings[axis]![0] + extent + attrs.paddings[axis]![1]);
  const strides = util.computeStrides(shape);
  const out = backend.output(shape);
  out.values.fill(attrs.constantValue);
  const start = attrs.paddings.reduce((offset, [before], axis) => offset + before * (strides[axis] ?? 1), 0);
  backend.addon.copyBox(
    values,
    0,
    Int32Array.from(util.computeStrides(x.shape)),
    out.values,
    start,
    Int32Array.from(strides),
    Int32Array.from(x.shape),
  );
  return out.info;
});

export const dataMovementKernels: readonly KernelConfig[] = [slice, splitV, concat, pad];
