import {
  engine,
  type GradConfig,
  type KernelConfig,
  type Tensor,
  type Tensor4D,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { activeBackendHas, onlyNativeKernel } from './nativeKernel';

/**
 * Nearest-neighbour ×2 of an NHWC map as one kernel each way. The decoder composes it of two concatenations,
 * whose gradients are two splits and two additions: six passes over the largest maps of its step where these
 * make two.
 */
const upsampleKernelName = 'SynthPairUpsampleNearest2x';
const upsampleGradKernelName = 'SynthPairUpsampleNearest2xGrad';

const upsample = onlyNativeKernel<{ x: TensorInfo }>(upsampleKernelName, ({ inputs, backend }) => {
  const [batch, height, width, channels] = inputs.x.shape as [number, number, number, number];
  const y = backend.output([batch, 2 * height, 2 * width, channels]);
  backend.addon.upsampleNearest2x(
    backend.floats(inputs.x)!,
    y.values,
    Int32Array.of(batch, height, width, channels),
  );
  return y.info;
});

const upsampleGrad = onlyNativeKernel<{ dy: TensorInfo }>(upsampleGradKernelName, ({ inputs, backend }) => {
  const [batch, height, width, channels] = inputs.dy.shape as [number, number, number, number];
  const dx = backend.output([batch, height / 2, width / 2, channels]);
  backend.addon.upsampleNearest2xGrad(
    backend.floats(inputs.dy)!,
    dx.values,
    Int32Array.of(batch, height / 2, width / 2, channels),
  );
  return dx.info;
});

export const upsampleKernels: readonly KernelConfig[] = [upsample, upsampleGrad];

export const upsampleGradient: GradConfig = {
  kernelName: upsampleKernelName,
  gradFunc: (dy) => ({
    x: () => engine().runKernel(upsampleGradKernelName, { dy: dy as Tensor }) as Tensor,
  }),
};

/** Whether the active backend upsamples float32 maps in one kernel; the decoder composes it otherwise. */
export function nativeUpsampleAvailable(x: Tensor): boolean {
  return x.dtype === 'float32' && activeBackendHas(upsampleKernelName);
}

export function nativeUpsampleNearest2x(x: Tensor4D): Tensor4D {
  return engine().runKernel(upsampleKernelName, { x }) as Tensor4D;
}
