// One training step on the cpu backend and on webgpu from the same weights and batch, compared: what
// test/support/webgpuStepParity.ts (the unit test's child) and the GPU check (bench/gpu-check) both run.
import { mulberry32 } from '../../src/engine/eval/linearProbe';
import type { Perturbation } from '../../src/engine/synthesis/pairLoss';
import { tf } from '../../src/engine/tf';
import { buildTrainingModels } from '../../src/engine/training/step';
import { type Config, mergeConfig, resolvedConfig } from './config';

/**
 * Small enough that a software adapter finishes every case in minutes, large enough that every layer kind
 * runs: strided and 1×1 convolutions, batch norm, pooling, the decoder's upsampling.
 */
const base: Config = {
  name: 'webgpu-parity',
  seed: 5,
  data: { root: '.', imageSize: 32 },
  model: { arch: 'smallcnn', width: 0.25, projector: { hiddenDim: 32, outDim: 16 } },
  ssl: { method: 'simclr' },
  train: { batchSize: 8 },
  // After one step from zero, SGD's momentum buffer is the gradient itself, so it can be read back.
  optim: { name: 'sgd', lr: 0.4, momentum: 0.9, weightDecay: 0, warmupEpochs: 0 },
  decoder: { width: 0.25 },
  perturb: { mode: 'gaussian', strength: 1, fraction: 1, samples: 1 },
  loss: { alpha: 0, nu: 0 },
};

export const parityCases: Record<string, { patch: Config; perturb?: boolean }> = {
  'smallcnn simclr': { patch: {} },
  'resnet18 mocov2': {
    patch: {
      model: { arch: 'resnet18', stem: 'cifar' },
      ssl: { method: 'mocov2', mocov2: { queueSize: 16 } },
    },
  },
  'resnet50 byol': { patch: { model: { arch: 'resnet50', stem: 'imagenet' }, ssl: { method: 'byol' } } },
  'smallcnn simsiam': { patch: { ssl: { method: 'simsiam' } } },
  'decoder (resize), L_R': { patch: { loss: { alpha: 1, nu: 0 }, decoder: { upsample: 'resize' } } },
  'decoder (transposed), L_R': { patch: { loss: { alpha: 1, nu: 0 }, decoder: { upsample: 'transposed' } } },
  'full method step': { patch: { loss: { alpha: 1, nu: 1 } }, perturb: true },
};

export interface TensorComparison {
  name: string;
  /** max |cpu| over the tensor. */
  largest: number;
  /** max |webgpu − cpu| over the tensor. */
  difference: number;
}

export interface CaseComparison {
  name: string;
  losses: Record<string, { cpu: number; webgpu: number; relative: number }>;
  gradients: TensorComparison[];
  /** The variables the step's loss reached: the count must match on both backends. */
  gradientCount: { cpu: number; webgpu: number };
}

interface StepResult {
  losses: Record<string, number>;
  gradients: Map<string, Float32Array>;
}

/** Pixels in [0, 1] from a seeded generator in JavaScript, the same whatever the backend. */
function seededImages(batch: number, size: number, seed: number): tf.Tensor4D {
  const random = mulberry32(seed);
  return tf.tensor4d(Float32Array.from({ length: batch * size * size * 3 }, random), [batch, size, size, 3]);
}

async function stepOn(
  config: ReturnType<typeof resolvedConfig>,
  perturb: boolean,
  weights: Map<string, Float32Array> | undefined,
): Promise<{ result: StepResult; weights: Map<string, Float32Array> }> {
  const models = buildTrainingModels(config);
  try {
    const state = models.state();
    if (weights) {
      for (const [name, variable] of state) variable.assign(tf.tensor(weights.get(name)!, variable.shape));
    }
    const initial = new Map(
      await Promise.all(
        state.map(async ([name, variable]) => [name, (await variable.data()) as Float32Array] as const),
      ),
    );
    const size = config.data.imageSize;
    const batch = config.train.batchSize;
    const channels = models.method.encoder.featureDim;
    const perturbation: Perturbation | undefined = perturb
      ? {
          mask: Uint8Array.from({ length: channels }, (_, k) => (k % 4 === 0 ? 1 : 0)),
          sigma: new Float32Array(channels).fill(1),
        }
      : undefined;
    const losses = await models.step(
      () => ({
        views: [seededImages(batch, size, 1), seededImages(batch, size, 2)],
        centre: seededImages(batch, size, 3),
        ...(perturbation ? { perturbation } : {}),
      }),
      { step: 0, totalSteps: 10, learningRates: { scheduled: 0.1, fixed: 0.1 } },
    );
    const buffers = models.optimizer.state.all().filter(([name]) => name.endsWith('.momentum'));
    const gradients = new Map(
      (
        await Promise.all(
          buffers.map(async ([name, buffer]) => [name, (await buffer.data()) as Float32Array] as const),
        )
      )
        // A variable the loss did not reach keeps a zero buffer on both backends and says nothing.
        .filter(([, values]) => values.some((value) => value !== 0)),
    );
    return { result: { losses, gradients }, weights: initial };
  } finally {
    models.dispose();
  }
}

function compareTensor(
  name: string,
  actual: Float32Array | undefined,
  expected: Float32Array,
): TensorComparison {
  let largest = 0;
  let difference = actual ? 0 : Number.POSITIVE_INFINITY;
  for (let i = 0; i < expected.length; i++) {
    largest = Math.max(largest, Math.abs(expected[i]!));
    if (actual) difference = Math.max(difference, Math.abs(actual[i]! - expected[i]!));
  }
  return { name, largest, difference };
}

/** One step of a case on the cpu backend, then on webgpu (which must be registered) from the same weights. */
export async function compareCase(name: string): Promise<CaseComparison> {
  const { patch, perturb = false } = parityCases[name]!;
  const config = resolvedConfig(mergeConfig(base, patch));
  await tf.setBackend('cpu');
  const onCpu = await stepOn(config, perturb, undefined);
  await tf.setBackend('webgpu');
  const onGpu = (await stepOn(config, perturb, onCpu.weights)).result;
  const cpu = onCpu.result;
  return {
    name,
    losses: Object.fromEntries(
      Object.entries(cpu.losses).map(([term, value]) => [
        term,
        {
          cpu: value,
          webgpu: onGpu.losses[term]!,
          relative: Math.abs(onGpu.losses[term]! - value) / Math.abs(value),
        },
      ]),
    ),
    gradients: [...cpu.gradients].map(([tensor, expected]) =>
      compareTensor(tensor, onGpu.gradients.get(tensor), expected),
    ),
    gradientCount: { cpu: cpu.gradients.size, webgpu: onGpu.gradients.size },
  };
}

/**
 * The tolerance of the issue that brought webgpu training: losses and gradients within 1e-3 of the cpu
 * backend's, relative. A gradient that is zero in exact arithmetic (the bias of a layer a batch norm
 * follows, which the normalisation cancels) is float32 rounding on both backends, about 1e-8 where the
 * step's gradients are about 0.1; each tensor is therefore judged at its own scale or at a thousandth of
 * the step's largest gradient, whichever is larger.
 */
export const parityTolerance = 1e-3;
const noiseFloorOfStep = 1e-3;

/** The scale each gradient's difference is judged at: its own, or the step's noise floor where that is larger. */
function judgedScales(comparison: CaseComparison): number[] {
  const stepScale = Math.max(...comparison.gradients.map((gradient) => gradient.largest));
  return comparison.gradients.map((gradient) => Math.max(gradient.largest, noiseFloorOfStep * stepScale));
}

/** The worst relative loss difference and the worst gradient difference over its scale: each must be ≤ the tolerance. */
export function parityMargins(comparison: CaseComparison): { loss: number; gradient: number } {
  const scales = judgedScales(comparison);
  return {
    loss: Math.max(0, ...Object.values(comparison.losses).map((loss) => loss.relative)),
    gradient: Math.max(0, ...comparison.gradients.map((gradient, k) => gradient.difference / scales[k]!)),
  };
}

/** Where a case's webgpu step leaves the tolerance, in words; empty when it matches the cpu backend's. */
export function parityProblems(comparison: CaseComparison): string[] {
  const problems: string[] = [];
  if (Object.keys(comparison.losses).length === 0) problems.push('the step gave no loss terms');
  for (const [term, { cpu, webgpu, relative }] of Object.entries(comparison.losses)) {
    if (!(relative <= parityTolerance)) problems.push(`${term} is ${webgpu} on webgpu, ${cpu} on cpu`);
  }
  const { cpu, webgpu } = comparison.gradientCount;
  if (cpu !== webgpu) problems.push(`the loss reached ${webgpu} variables on webgpu, ${cpu} on cpu`);
  if (comparison.gradients.length === 0) problems.push('the step gave no gradients');
  const scales = judgedScales(comparison);
  for (const [k, gradient] of comparison.gradients.entries()) {
    if (!(gradient.difference <= parityTolerance * scales[k]!)) {
      problems.push(`${gradient.name} differs by ${gradient.difference} at a scale of ${scales[k]}`);
    }
  }
  return problems;
}
