// The arithmetic of a training step, counted from the kernels TF.js ran as tf.profile() lists them: only
// convolutions and matrix products, which hold nearly all of a conv net's multiply-adds. Every other kernel
// (batch norm, activations, pooling, element-wise maths, the optimiser's update) counts zero.

/** One kernel call as tf.profile() records it; kernelTimeMs is NaN where the backend could not time it. */
export interface KernelCall {
  name: string;
  inputShapes: (number[] | null)[];
  outputShapes: (number[] | null)[];
  kernelTimeMs: number;
}

/** Kernels whose FLOPs are counted. A backward convolution counts as much as the forward one it belongs to. */
export const convolutionKernels: readonly string[] = [
  'Conv2D',
  'FusedConv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
];
export const matMulKernels: readonly string[] = ['BatchMatMul', '_FusedMatMul'];

function size(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

/**
 * 2·N·OH·OW·OC·KH·KW·IC, read as 2 · |output map| · |filter| / OC: the output map is the forward output
 * (Conv2D, FusedConv2D) or its gradient dy (the backprops), and the filter is the filter (Conv2D,
 * Conv2DBackpropInput) or its gradient (Conv2DBackpropFilter), so all three kernels of one layer count the same.
 */
function convolutionFlops(outputMap: readonly number[], filter: readonly number[]): number {
  const outChannels = filter[3]!;
  return (2 * size(outputMap) * size(filter)) / outChannels;
}

/**
 * 2·B·M·N·K. The output [..., M, N] gives B, M and N; a holds M·K numbers per batch entry whether or not it is
 * transposed ([M, K] or [K, M]), so K = (its last two dimensions) / M needs no transpose flag, which the
 * profile does not record. A broadcast a (batch 1) still holds M·K per entry.
 */
function matMulFlops(a: readonly number[], output: readonly number[]): number {
  const rows = output.at(-2)!;
  const inner = (a.at(-2)! * a.at(-1)!) / rows;
  return 2 * size(output) * inner;
}

/** FLOPs of one kernel call; 0 for a kernel this count ignores or a call whose shapes are missing. */
export function kernelFlops(call: Omit<KernelCall, 'kernelTimeMs'>): number {
  const [first, second] = call.inputShapes;
  const [output] = call.outputShapes;
  switch (call.name) {
    case 'Conv2D':
    case 'FusedConv2D':
      // Inputs x, filter.
      return output && second ? convolutionFlops(output, second) : 0;
    case 'Conv2DBackpropInput':
      // Inputs dy, filter.
      return first && second ? convolutionFlops(first, second) : 0;
    case 'Conv2DBackpropFilter':
      // Inputs x, dy; the output is the filter's gradient.
      return second && output ? convolutionFlops(second, output) : 0;
    case 'BatchMatMul':
    case '_FusedMatMul':
      // Inputs a, b (then bias and activation weights for the fused kernel).
      return first && output ? matMulFlops(first, output) : 0;
    default:
      return 0;
  }
}

export interface KernelTotals {
  name: string;
  calls: number;
  /** Sum of the calls' kernelTimeMs; NaN when any call could not be timed. */
  totalMs: number;
  flops: number;
}

/** Calls grouped by kernel name, the most time-consuming first. */
export function kernelTotals(calls: readonly KernelCall[]): KernelTotals[] {
  const byName = new Map<string, KernelTotals>();
  for (const call of calls) {
    const totals = byName.get(call.name) ?? { name: call.name, calls: 0, totalMs: 0, flops: 0 };
    totals.calls++;
    totals.totalMs += call.kernelTimeMs;
    totals.flops += kernelFlops(call);
    byName.set(call.name, totals);
  }
  return [...byName.values()].sort((a, b) => (b.totalMs || 0) - (a.totalMs || 0));
}

export interface StepFlops {
  /** Every counted kernel's FLOPs. */
  total: number;
  /** Those of the convolution kernels alone, and the time they took. */
  convolution: { flops: number; ms: number };
}

export function stepFlops(calls: readonly KernelCall[]): StepFlops {
  let total = 0;
  const convolution = { flops: 0, ms: 0 };
  for (const call of calls) {
    const flops = kernelFlops(call);
    total += flops;
    if (convolutionKernels.includes(call.name)) {
      convolution.flops += flops;
      convolution.ms += call.kernelTimeMs;
    }
  }
  return { total, convolution };
}
