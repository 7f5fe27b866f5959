import {
  backend_util,
  Concat,
  type ConcatAttrs,
  type ConcatInputs,
  type KernelConfig,
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
 * Slices, splits and concatenations as copies of contiguous runs. tfjs-backend-cpu moves a slice that is
 * not one contiguous block element by element through index arithmetic: the gradient of the decoder's
 * nearest-neighbour upsampling (a concatenation along the width) took 40 s a step that way.
 */
/** Below this many elements a loop copies faster than making a subarray view to copy from. */
const shortRun = 64;

function copySlice(
  backend: OneDnnBackend,
  x: TensorInfo,
  begin: number[],
  size: number[],
): TensorInfo | undefined {
  const values = backend.floats(x);
  if (!values || size.some((extent) => extent === 0)) return undefined;
  const rank = x.shape.length;
  // The run copied at once: the innermost sliced axis and every full axis inside it.
  let innermost = rank - 1;
  while (innermost > 0 && size[innermost] === x.shape[innermost]) innermost--;
  const strides = [...util.computeStrides(x.shape), 1];
  const run = size[innermost]! * strides[innermost]!;
  const out = backend.output(size);
  const index = new Array<number>(innermost).fill(0);
  for (let offset = 0; offset < out.values.length; offset += run) {
    let from = begin[innermost]! * strides[innermost]!;
    for (let axis = 0; axis < innermost; axis++) from += (begin[axis]! + index[axis]!) * strides[axis]!;
    if (run < shortRun) {
      for (let element = 0; element < run; element++) out.values[offset + element] = values[from + element]!;
    } else {
      out.values.set(values.subarray(from, from + run), offset);
    }
    for (let axis = innermost - 1; axis >= 0; axis--) {
      if (++index[axis]! < size[axis]!) break;
      index[axis] = 0;
    }
  }
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
    for (let row = 0; row < rows; row++) {
      out.values.set(part!.subarray(row * width, (row + 1) * width), row * rowWidth + column);
    }
    column += width;
  });
  return out.info;
});

export const dataMovementKernels: readonly KernelConfig[] = [slice, splitV, concat];
