// One training step of each case on the cpu backend and then on webgpu, from the same weights and batch; a
// child process of test/unit/engine/webgpuTraining.test.ts, since the Vulkan driver Dawn uses is chosen by
// the environment the process starts with (LD_LIBRARY_PATH is read once, by the dynamic linker). Prints one
// JSON line: each case's loss terms and gradients on both backends, compared.
//
//   node --import tsx test/support/webgpuStepParity.ts [case …]
import { tryWebGpu } from '../../src/engine/backends/webgpu/webgpuBackend';
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

export type ParityOutcome =
  | { status: 'ok'; adapter: string; cases: CaseComparison[] }
  | { status: 'no-adapter'; reason: string };

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

async function compareCase(name: string): Promise<CaseComparison> {
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

async function main(): Promise<void> {
  const attempt = await tryWebGpu({ forced: true });
  if (attempt.outcome !== 'selected') {
    const outcome: ParityOutcome = { status: 'no-adapter', reason: attempt.reason };
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
    return;
  }
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(parityCases);
  const cases: CaseComparison[] = [];
  for (const name of names) cases.push(await compareCase(name));
  const outcome: ParityOutcome = { status: 'ok', adapter: attempt.details?.webgpu?.adapter ?? '', cases };
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
