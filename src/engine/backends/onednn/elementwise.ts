import {
  type BinaryInputs,
  backend_util,
  cast,
  engine,
  type GradConfig,
  type KernelConfig,
  mul,
  Relu,
  type StepAttrs,
  type SumAttrs,
  step,
  type Tensor,
  type TensorInfo,
  type UnaryInputs,
  util,
} from '@tensorflow/tfjs-core';
import { binaryKinds, followingOperations, pointwiseKinds, reductionKinds, unaryKinds } from './addon';
import { activeBackendHas, nativeKernel, onlyNativeKernel, sizeOf } from './nativeKernel';

/**
 * Below this many elements a native call costs more than TF.js's JavaScript loop; the optimiser's updates
 * of small parameters (biases, norm scales) stay there.
 */
export const nativeElementThreshold = 4096;

/**
 * How a kernel maps onto oneDNN's binary primitive, which writes the shape of its first operand and
 * broadcasts only the second: when the broadcast operand comes first, the operands swap and an operation
 * on the result in the same pass restores the order (b − a negated, b / a inverted).
 */
interface BinaryPlan {
  kind: keyof typeof binaryKinds;
  following: keyof typeof followingOperations;
  swapped: keyof typeof followingOperations | undefined;
}

const binaryPlans: Record<string, BinaryPlan> = {
  Add: { kind: 'Add', following: 'none', swapped: 'none' },
  Sub: { kind: 'Sub', following: 'none', swapped: 'negate' },
  Multiply: { kind: 'Multiply', following: 'none', swapped: 'none' },
  RealDiv: { kind: 'RealDiv', following: 'none', swapped: 'reciprocal' },
  // (a − b)², the reconstruction loss's kernel; squaring makes the order irrelevant.
  SquaredDifference: { kind: 'Sub', following: 'square', swapped: 'square' },
};

function binaryKernel(kernelName: string): KernelConfig {
  const plan = binaryPlans[kernelName]!;
  return nativeKernel<BinaryInputs>(kernelName, ({ inputs, backend }) => {
    const outShape = backend_util.assertAndGetBroadcastShape(inputs.a!.shape, inputs.b!.shape);
    const rank = outShape.length;
    if (rank === 0 || rank > 5 || sizeOf(outShape) < nativeElementThreshold) return undefined;
    const padded = (shape: number[]) => [...new Array<number>(rank - shape.length).fill(1), ...shape];
    let [first, second] = [inputs.a!, inputs.b!];
    let following = plan.following;
    if (!util.arraysEqual(padded(first.shape), outShape)) {
      if (plan.swapped === undefined || !util.arraysEqual(padded(second.shape), outShape)) return undefined;
      [first, second] = [second, first];
      following = plan.swapped;
    }
    const firstValues = backend.floats(first);
    const secondValues = backend.floats(second);
    if (!firstValues || !secondValues) return undefined;
    const out = backend.output(outShape);
    backend.addon.binary(
      binaryKinds[plan.kind],
      firstValues,
      secondValues,
      out.values,
      Int32Array.from(outShape),
      Int32Array.from(padded(second.shape)),
      followingOperations[following],
    );
    return out.info;
  });
}

function unaryKernel(kernelName: keyof typeof unaryKinds): KernelConfig {
  return nativeKernel<UnaryInputs>(kernelName, ({ inputs, backend }) => {
    const x = inputs.x!;
    const values = backend.floats(x);
    if (!values || values.length < nativeElementThreshold) return undefined;
    const out = backend.output(x.shape);
    backend.addon.unary(unaryKinds[kernelName], values, out.values, values.length);
    return out.info;
  });
}

/** Step (ReLU's gradient mask) takes its value below zero as an attribute. */
function pointwiseKernel(kernelName: keyof typeof pointwiseKinds): KernelConfig {
  return nativeKernel<UnaryInputs, Partial<StepAttrs>>(kernelName, ({ inputs, attrs, backend }) => {
    const x = inputs.x!;
    const values = backend.floats(x);
    if (!values || values.length < nativeElementThreshold) return undefined;
    const out = backend.output(x.shape);
    backend.addon.pointwise(pointwiseKinds[kernelName], values, out.values, attrs?.alpha ?? 0);
    return out.info;
  });
}

/** Sum and Mean, over any axes. */
function reductionKernel(kernelName: keyof typeof reductionKinds): KernelConfig {
  return nativeKernel<UnaryInputs, SumAttrs>(kernelName, ({ inputs, attrs, backend }) => {
    const x = inputs.x!;
    const values = backend.floats(x);
    if (!values || values.length < nativeElementThreshold || x.shape.length > 5) return undefined;
    const axes = util.parseAxisParam(attrs.axis, x.shape);
    const keptShape = x.shape.map((dimension, axis) => (axes.includes(axis) ? 1 : dimension));
    // oneDNN refuses a reduction whose output has its input's shape (axes of size 1 only, as the pooling of a
    // 1×1 map): it is a copy, which the cpu kernel does.
    if (keptShape.every((dimension, axis) => dimension === x.shape[axis])) return undefined;
    const out = backend.output(
      attrs.keepDims ? keptShape : x.shape.filter((_, axis) => !axes.includes(axis)),
    );
    backend.addon.reduce(
      reductionKinds[kernelName],
      values,
      out.values,
      Int32Array.from(x.shape),
      Int32Array.from(keptShape),
    );
    return out.info;
  });
}

const reluGradKernelName = 'SynthPairReluGrad';

const reluGrad = onlyNativeKernel<{ dy: TensorInfo; y: TensorInfo }>(
  reluGradKernelName,
  ({ inputs, backend }) => {
    const dx = backend.output(inputs.y.shape);
    backend.addon.reluGrad(backend.floats(inputs.dy)!, backend.floats(inputs.y)!, dx.values);
    return dx.info;
  },
);

/**
 * ReLU's gradient in one pass where the backend has the kernel, instead of TF.js's Step, Cast and Multiply:
 * three passes and two intermediates for each of a ResNet's activations. It keeps ReLU's output rather than
 * its input, as PyTorch's in-place ReLU does: the output is positive where the input is, NaN where it is, and
 * the next layer keeps it anyway, so the batch norm's output before it need not outlive the forward pass (a
 * third of a ResNet's activations). Elsewhere it composes TF.js's kernels on that output.
 */
export const reluGradient: GradConfig = {
  kernelName: Relu,
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [y] = saved as [Tensor];
    const gradient = dy as Tensor;
    return {
      x: () =>
        y.dtype === 'float32' && gradient.dtype === 'float32' && activeBackendHas(reluGradKernelName)
          ? (engine().runKernel(reluGradKernelName, { dy: gradient, y }) as Tensor)
          : mul(gradient, cast(step(y), 'float32')),
    };
  },
};

export const elementwiseKernels: readonly KernelConfig[] = [
  reluGrad,
  ...Object.keys(binaryPlans).map(binaryKernel),
  ...(Object.keys(unaryKinds) as (keyof typeof unaryKinds)[]).map(unaryKernel),
  ...(Object.keys(pointwiseKinds) as (keyof typeof pointwiseKinds)[]).map(pointwiseKernel),
  reductionKernel('Sum'),
  reductionKernel('Mean'),
];
