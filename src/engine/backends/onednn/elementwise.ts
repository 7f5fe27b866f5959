import {
  type BinaryInputs,
  backend_util,
  type KernelConfig,
  type NamedAttrMap,
  Step,
  type StepAttrs,
  type UnaryInputs,
  util,
} from '@tensorflow/tfjs-core';
import { binaryKinds, reductionKinds, unaryKinds } from './addon';
import { nativeKernel, sizeOf } from './nativeKernel';

/**
 * Below this many elements a native call costs more than TF.js's JavaScript loop; the optimiser's updates
 * of small parameters (biases, norm scales) stay there.
 */
export const nativeElementThreshold = 4096;

const commutative = new Set<keyof typeof binaryKinds>(['Add', 'Multiply', 'Maximum', 'Minimum']);

/** oneDNN's binary primitive writes the shape of its first operand and broadcasts only the second. */
function binaryKernel(kernelName: keyof typeof binaryKinds): KernelConfig {
  return nativeKernel<BinaryInputs>(kernelName, ({ inputs, backend }) => {
    const outShape = backend_util.assertAndGetBroadcastShape(inputs.a!.shape, inputs.b!.shape);
    const rank = outShape.length;
    if (rank === 0 || rank > 5 || sizeOf(outShape) < nativeElementThreshold) return undefined;
    const padded = (shape: number[]) => [...new Array<number>(rank - shape.length).fill(1), ...shape];
    let [first, second] = [inputs.a!, inputs.b!];
    if (!util.arraysEqual(padded(first.shape), outShape)) {
      if (!commutative.has(kernelName) || !util.arraysEqual(padded(second.shape), outShape)) return undefined;
      [first, second] = [second, first];
    }
    const firstValues = backend.floats(first);
    const secondValues = backend.floats(second);
    if (!firstValues || !secondValues) return undefined;
    const out = backend.output(outShape);
    backend.addon.binary(
      binaryKinds[kernelName],
      firstValues,
      secondValues,
      out.values,
      Int32Array.from(outShape),
      Int32Array.from(padded(second.shape)),
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

const step = nativeKernel<UnaryInputs, StepAttrs>(Step, ({ inputs, attrs, backend }) => {
  const x = inputs.x!;
  const values = backend.floats(x);
  if (!values || values.length < nativeElementThreshold) return undefined;
  const out = backend.output(x.shape);
  backend.addon.step(values, out.values, attrs.alpha);
  return out.info;
});

/** Sum and Mean name their axes `axis`, Max names them `reductionIndices`. */
function reductionKernel(
  kernelName: keyof typeof reductionKinds,
  axesAttr: 'axis' | 'reductionIndices',
): KernelConfig {
  return nativeKernel<UnaryInputs, NamedAttrMap>(kernelName, ({ inputs, attrs, backend }) => {
    const x = inputs.x!;
    const values = backend.floats(x);
    if (!values || values.length < nativeElementThreshold || x.shape.length > 5) return undefined;
    const axes = util.parseAxisParam(attrs[axesAttr] as number | number[], x.shape);
    const keptShape = x.shape.map((dimension, axis) => (axes.includes(axis) ? 1 : dimension));
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

export const elementwiseKernels: readonly KernelConfig[] = [
  ...(Object.keys(binaryKinds) as (keyof typeof binaryKinds)[]).map(binaryKernel),
  ...(Object.keys(unaryKinds) as (keyof typeof unaryKinds)[]).map(unaryKernel),
  step,
  reductionKernel('Sum', 'axis'),
  reductionKernel('Mean', 'axis'),
  reductionKernel('Max', 'reductionIndices'),
  reductionKernel('Min', 'axis'),
];
