import {
  engine,
  type KernelConfig,
  type NamedAttrMap,
  type Tensor,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { activeBackendHas, onlyNativeKernel } from './nativeKernel';

const adamKernelName = 'SynthPairAdamUpdate';
const momentumKernelName = 'SynthPairMomentumUpdate';

export interface AdamSettings {
  rate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** 1 − β₁ᵗ and 1 − β₂ᵗ at this step. */
  correction1: number;
  correction2: number;
  weightDecay: number;
}

export interface MomentumSettings {
  rate: number;
  momentum: number;
  weightDecay: number;
}

const adam = onlyNativeKernel<
  { variable: TensorInfo; gradient: TensorInfo; first: TensorInfo; second: TensorInfo },
  AdamSettings & NamedAttrMap
>(adamKernelName, ({ inputs, attrs, backend }) => {
  const { variable, gradient, first, second } = inputs;
  const [newVariable, newFirst, newSecond] = [
    backend.output(variable.shape),
    backend.output(variable.shape),
    backend.output(variable.shape),
  ];
  backend.addon.adam(
    backend.floats(variable)!,
    backend.floats(gradient)!,
    backend.floats(first)!,
    backend.floats(second)!,
    newVariable.values,
    newFirst.values,
    newSecond.values,
    Float32Array.of(
      attrs.rate,
      attrs.beta1,
      attrs.beta2,
      attrs.epsilon,
      attrs.correction1,
      attrs.correction2,
      attrs.weightDecay,
    ),
  );
  return [newVariable.info, newFirst.info, newSecond.info];
});

const momentum = onlyNativeKernel<
  { variable: TensorInfo; gradient: TensorInfo; buffer: TensorInfo; scale: TensorInfo },
  MomentumSettings & NamedAttrMap
>(momentumKernelName, ({ inputs, attrs, backend }) => {
  const { variable, gradient, buffer, scale } = inputs;
  const [newVariable, newBuffer] = [backend.output(variable.shape), backend.output(variable.shape)];
  backend.addon.momentum(
    backend.floats(variable)!,
    backend.floats(gradient)!,
    backend.floats(buffer)!,
    newVariable.values,
    newBuffer.values,
    Float32Array.of(attrs.rate, attrs.momentum, attrs.weightDecay, backend.floats(scale)![0]!),
  );
  return [newVariable.info, newBuffer.info];
});

export const optimizerKernels: readonly KernelConfig[] = [adam, momentum];

/** Whether the active backend updates parameters in one kernel each; the optimiser composes them otherwise. */
export function fusedOptimizerUpdatesAvailable(): boolean {
  return activeBackendHas(adamKernelName);
}

/** Adam's new parameter and moments, as PyTorch's Adam (L2 weight decay added to the gradient) computes them. */
export function fusedAdamUpdate(
  variable: Tensor,
  gradient: Tensor,
  first: Tensor,
  second: Tensor,
  settings: AdamSettings,
): [Tensor, Tensor, Tensor] {
  return engine().runKernel(
    adamKernelName,
    { variable, gradient, first, second },
    { ...settings },
  ) as unknown as [Tensor, Tensor, Tensor];
}

/** SGD with momentum's new parameter and buffer; `scale` multiplies the decayed gradient (LARS's trust ratio). */
export function fusedMomentumUpdate(
  variable: Tensor,
  gradient: Tensor,
  buffer: Tensor,
  scale: Tensor,
  settings: MomentumSettings,
): [Tensor, Tensor] {
  return engine().runKernel(
    momentumKernelName,
    { variable, gradient, buffer, scale },
    { ...settings },
  ) as unknown as [Tensor, Tensor];
}
