import {
  engine,
  FusedBatchNorm,
  type FusedBatchNormAttrs,
  type FusedBatchNormInputs,
  type GradConfig,
  type KernelConfig,
  type NamedAttrMap,
  type Tensor,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { activeBackendHas, nativeKernel, onlyNativeKernel } from './nativeKernel';

/**
 * Batch norm in training as one kernel: y, the batch mean and the biased batch variance per channel (the last
 * axis). TF.js composes it from moments and about ten elementwise kernels forward and more backward; oneDNN
 * does each direction in one pass over the data.
 */
export const batchNormTrainingKernelName = 'SynthPairBatchNormTraining';
const batchNormTrainingGradKernelName = 'SynthPairBatchNormTrainingGrad';

interface BatchNormTrainingAttrs extends NamedAttrMap {
  epsilon: number;
}

/** native/src/normalization.cc's sizes: the tensor as [N, H, W, C], and epsilon in units of 1e-9. */
function normalizationSizes(shape: readonly number[], epsilon: number): Int32Array {
  const channels = shape[shape.length - 1]!;
  const rows = shape.slice(0, -1).reduce((size, dimension) => size * dimension, 1);
  return Int32Array.of(rows, 1, 1, channels, Math.round(epsilon * 1e9));
}

const forward = onlyNativeKernel<
  { x: TensorInfo; scale: TensorInfo; offset: TensorInfo },
  BatchNormTrainingAttrs
>(batchNormTrainingKernelName, ({ inputs, attrs, backend }) => {
  const { x, scale, offset } = inputs;
  const channels = x.shape[x.shape.length - 1]!;
  const y = backend.output(x.shape);
  const mean = backend.output([channels]);
  const variance = backend.output([channels]);
  backend.addon.batchNormTrain(
    backend.floats(x)!,
    backend.floats(scale)!,
    backend.floats(offset)!,
    y.values,
    mean.values,
    variance.values,
    normalizationSizes(x.shape, attrs.epsilon),
  );
  return [y.info, mean.info, variance.info];
});

const backward = onlyNativeKernel<
  { dy: TensorInfo; x: TensorInfo; scale: TensorInfo; mean: TensorInfo; variance: TensorInfo },
  BatchNormTrainingAttrs
>(batchNormTrainingGradKernelName, ({ inputs, attrs, backend }) => {
  const { dy, x, scale, mean, variance } = inputs;
  const channels = x.shape[x.shape.length - 1]!;
  const dx = backend.output(x.shape);
  const dScale = backend.output([channels]);
  const dOffset = backend.output([channels]);
  backend.addon.batchNormTrainGrad(
    backend.floats(dy)!,
    backend.floats(x)!,
    backend.floats(scale)!,
    backend.floats(mean)!,
    backend.floats(variance)!,
    dx.values,
    dScale.values,
    dOffset.values,
    normalizationSizes(x.shape, attrs.epsilon),
  );
  return [dx.info, dScale.info, dOffset.info];
});

/**
 * Batch norm with given statistics, as the frozen encoder runs in evaluation mode: the cpu kernel's loop took
 * a fifth of the decoder's step. Statistics that are not one value per channel of the last axis go to it.
 */
const inference = nativeKernel<FusedBatchNormInputs, FusedBatchNormAttrs>(
  FusedBatchNorm,
  ({ inputs, attrs, backend }) => {
    const { x, mean, variance, offset, scale } = inputs;
    const channels = x!.shape[x!.shape.length - 1];
    const perChannel = (info: TensorInfo | undefined) =>
      info === undefined || (info.shape.length === 1 && info.shape[0] === channels);
    if (![mean, variance, offset, scale].every(perChannel) || mean === undefined || variance === undefined) {
      return undefined;
    }
    const [xValues, meanValues, varianceValues] = [x!, mean, variance].map((info) => backend.floats(info));
    const offsetValues = offset ? backend.floats(offset) : new Float32Array(0);
    const scaleValues = scale ? backend.floats(scale) : new Float32Array(0);
    if (!xValues || !meanValues || !varianceValues || !offsetValues || !scaleValues) return undefined;
    const y = backend.output(x!.shape);
    backend.addon.batchNormInference(
      xValues,
      meanValues,
      varianceValues,
      offsetValues,
      scaleValues,
      y.values,
      // The cpu kernel's default, for a caller that passes none.
      attrs.varianceEpsilon ?? 0.001,
    );
    return y.info;
  },
);

export const batchNormKernels: readonly KernelConfig[] = [forward, backward, inference];

/**
 * The gradient with the batch statistics' dependence on x included, as composing moments and batchNorm
 * gives. The mean and variance outputs feed the running estimates only, so gradients arriving at them are
 * not propagated.
 */
export const batchNormTrainingGradient: GradConfig = {
  kernelName: batchNormTrainingKernelName,
  inputsToSave: ['x', 'scale'],
  outputsToSave: [false, true, true],
  gradFunc: (dy, saved, attrs) => {
    const [x, scale, mean, variance] = saved as [Tensor, Tensor, Tensor, Tensor];
    const dyOfOutput = Array.isArray(dy) ? dy[0]! : dy;
    // Run once, here: TF.js calls each input's gradient inside its own tidy, which would dispose the other
    // two outputs of a kernel run lazily by the first.
    const [dx, dScale, dOffset] = engine().runKernel(
      batchNormTrainingGradKernelName,
      { dy: dyOfOutput, x, scale, mean, variance },
      attrs as NamedAttrMap,
    ) as Tensor[];
    return { x: () => dx!, scale: () => dScale!, offset: () => dOffset! };
  },
};

/** Whether the active backend trains batch norm with the fused kernel. */
export function fusedBatchNormTrainingAvailable(): boolean {
  return activeBackendHas(batchNormTrainingKernelName);
}

/** Normalises x over every axis but the last with the batch's moments, and returns them too. */
export function fusedBatchNormTraining(
  x: Tensor,
  scale: Tensor,
  offset: Tensor,
  epsilon: number,
): { y: Tensor; mean: Tensor; variance: Tensor } {
  const [y, mean, variance] = engine().runKernel(
    batchNormTrainingKernelName,
    { x, scale, offset },
    { epsilon },
  ) as Tensor[];
  return { y: y!, mean: mean!, variance: variance! };
}
