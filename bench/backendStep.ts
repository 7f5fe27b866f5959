// Times one training step on one TF.js backend in a process of its own, for bench/backends.ts: a backend's
// memory and threads cannot then sway another's times, nor can one that crashes take the bench with it.
// Run: node --import tsx bench/backendStep.ts --backend wasm --step encoder --warmup 1 --min-timed 3
// --max-timed 8 --timed-seconds 8 [--kernel-profile] [--all]: after the warm-up, timed steps run until both
// the minimum count and the seconds are reached, or the maximum count is. Prints one JSON line (a
// StepOutcome) as the last line of its stdout.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type SelectedBackend, selectBackend } from '../src/engine/backends/selectBackend';
import { reconstructionLoss } from '../src/engine/losses/reconstruction';
import { createMethodFor } from '../src/engine/methods/registry';
import { buildDecoder, type Perturbation } from '../src/engine/synthesis/pairLoss';
import { tf } from '../src/engine/tf';
import { SslOptimizer } from '../src/engine/training/optimizer';
import { buildTrainingModels, optimizerSettings } from '../src/engine/training/step';
import { type BackendName, backendNames } from '../src/shared/protocol/backend';
import {
  benchConfig,
  learningRate,
  maskShare,
  type StepKind,
  type StepMeasurement,
  type StepOutcome,
  stepConfig,
  stepKinds,
} from './stepBench';
import { type KernelCall, kernelTotals, stepFlops } from './stepFlops';

const { values: flags } = parseArgs({
  options: {
    backend: { type: 'string' },
    step: { type: 'string' },
    warmup: { type: 'string' },
    'min-timed': { type: 'string' },
    'max-timed': { type: 'string' },
    'timed-seconds': { type: 'string' },
    'kernel-profile': { type: 'boolean', default: false },
    all: { type: 'boolean', default: false },
  },
});

/** The optimiser's rates: the bench's schedule is constant, without warm-up. */
const learningRates = { scheduled: learningRate, fixed: learningRate };

interface BuiltStep {
  /** Runs one optimiser step and resolves to its loss terms. */
  run(step: number): Promise<Record<string, number>>;
  /** The trainable variables, in the order the optimiser updates them. */
  variables: tf.Variable[];
  dispose(): void;
}

/**
 * One kind of step on inputs made once (two augmented views and the centre view in [0, 1]), so the step
 * alone is timed. The encoder and full steps are the trainer's own, of the plain SSL baseline and of the
 * synthesis method once L_Cp is due, and resnet50-224 is the encoder step at the paper's size; the decoder
 * step has no counterpart in training.
 */
function buildStep(kind: StepKind): BuiltStep {
  const { batchSize } = stepConfig(kind).train;
  const size = stepConfig(kind).data.imageSize;
  const view1 = tf.randomNormal([batchSize, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const view2 = tf.randomNormal([batchSize, size, size, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const centre = tf.randomUniform([batchSize, size, size, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const built =
    kind === 'decoder' ? buildDecoderStep(centre) : buildTrainerStep(kind, [view1, view2], centre);
  return {
    variables: built.variables,
    async run(step) {
      const losses = await built.run(step);
      // The last variable is updated last: reading it waits for a backend that queues work (webgpu) to
      // finish the step, so that the next step's clock does not start while this one still runs.
      await built.variables.at(-1)!.data();
      return losses;
    },
    dispose() {
      built.dispose();
      tf.dispose([view1, view2, centre]);
    },
  };
}

function buildTrainerStep(
  kind: Exclude<StepKind, 'decoder'>,
  views: [tf.Tensor4D, tf.Tensor4D],
  centre: tf.Tensor4D,
): BuiltStep {
  const config = kind === 'full' ? benchConfig : { ...stepConfig(kind), loss: { alpha: 0, nu: 0 } };
  const models = buildTrainingModels(config);
  const channels = models.method.encoder.featureDim;
  const perturbation: Perturbation = {
    mask: Uint8Array.from({ length: channels }, (_, k) => (k < Math.floor(maskShare * channels) ? 1 : 0)),
    sigma: new Float32Array(channels).fill(1),
  };
  return {
    variables: [...models.method.trainableVariables(), ...(models.decoder?.parameters.trainable() ?? [])],
    run: (step) =>
      models.step(() => ({ views, centre, perturbation }), {
        step,
        totalSteps: Number.MAX_SAFE_INTEGER,
        learningRates,
      }),
    dispose: () => models.dispose(),
  };
}

/** The decoder learning to reconstruct from the features of the encoder, frozen in evaluation mode. */
function buildDecoderStep(centre: tf.Tensor4D): BuiltStep {
  const method = createMethodFor(benchConfig);
  const decoder = buildDecoder(benchConfig, method.encoder.featureDim);
  const variables = decoder.parameters.trainable();
  const optimizer = new SslOptimizer(optimizerSettings(benchConfig), [{ variables, scheduled: true }]);
  return {
    variables,
    async run() {
      const features = tf.tidy(() => method.encoder.apply(centre, 'eval').features);
      try {
        return await optimizer.step(() => {
          const reconstruction = reconstructionLoss(decoder.decoder.apply(features, 'train'), centre);
          return { total: reconstruction, terms: { reconstruction } };
        }, learningRates);
      } finally {
        features.dispose();
      }
    },
    dispose() {
      optimizer.dispose();
      decoder.parameters.dispose();
      method.dispose();
    },
  };
}

function wholeNumber(flag: keyof typeof flags, minimum: number): number {
  const value = flags[flag];
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < minimum) {
    throw new Error(`--${flag} must be a whole number of at least ${minimum}, not ${value}`);
  }
  return parsed;
}

interface ProfiledStep {
  stepMs: number;
  calls: KernelCall[];
}

async function profileStep(built: BuiltStep, step: number): Promise<ProfiledStep> {
  const started = performance.now();
  const profile = await tf.profile(async () => {
    await built.run(step);
  });
  return {
    stepMs: performance.now() - started,
    calls: profile.kernels.map((kernel) => ({
      name: kernel.name,
      inputShapes: kernel.inputShapes,
      outputShapes: kernel.outputShapes,
      kernelTimeMs: typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : Number.NaN,
    })),
  };
}

async function measure(backend: BackendName, kind: StepKind): Promise<StepOutcome> {
  const repoRoot = path.resolve(__dirname, '..');
  let selected: SelectedBackend;
  try {
    selected = await selectBackend({
      preference: backend,
      wasmDir: path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')),
      nativeModulePaths: [],
      synthpairVersion: JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version,
    });
  } catch (error) {
    return { status: 'unavailable', backend, step: kind, reason: (error as Error).message };
  }
  const { report } = selected;
  // A native package may bring its own copy of tfjs-core; the engine's models run on the engine's copy.
  if (tf.getBackend() !== report.tfjsBackend) {
    return {
      status: 'unavailable',
      backend,
      step: kind,
      reason: `selectBackend started '${report.tfjsBackend}', but the engine's tfjs-core runs '${tf.getBackend()}'`,
    };
  }
  if (report.webgpu?.software && !flags.all) {
    return {
      status: 'unavailable',
      backend,
      step: kind,
      reason: `only a software adapter (${report.webgpu.adapter}), which runs the GPU's work on the CPU: far too slow (--all times it)`,
    };
  }
  const warmup = wholeNumber('warmup', 1);
  const minTimed = wholeNumber('min-timed', 1);
  const maxTimed = Math.max(minTimed, wholeNumber('max-timed', 1));
  const timedSeconds = wholeNumber('timed-seconds', 0);
  const built = buildStep(kind);
  const parameters = built.variables.reduce((total, variable) => total + variable.size, 0);
  const checkLosses = (losses: Record<string, number>, step: number) => {
    const bad = Object.entries(losses).find(([, value]) => !Number.isFinite(value));
    if (bad) {
      throw new Error(`the ${kind} step's loss ${bad[0]} is ${bad[1]} at step ${step} on ${backend}`);
    }
  };
  let step = 0;
  // Without a kernel table to show, the first warm-up step is the profiled one: its FLOPs are those of any
  // step, and no extra step is paid for. The kernel table needs a step after warm-up, run apart from the
  // timed ones since recording each kernel slows the step.
  let profiled: ProfiledStep | undefined = flags['kernel-profile']
    ? undefined
    : await profileStep(built, step++);
  for (; step < warmup; step++) {
    checkLosses(await built.run(step), step);
  }
  const stepTimesMs: number[] = [];
  let losses: Record<string, number> = {};
  const timedStarted = performance.now();
  while (
    stepTimesMs.length < maxTimed &&
    (stepTimesMs.length < minTimed || performance.now() - timedStarted < timedSeconds * 1000)
  ) {
    const started = performance.now();
    losses = await built.run(step);
    stepTimesMs.push(performance.now() - started);
    checkLosses(losses, step++);
  }
  profiled ??= await profileStep(built, step);
  built.dispose();
  const attempt = report.attempts.find((entry) => entry.name === backend);
  const measurement: StepMeasurement = {
    status: 'ok',
    backend,
    step: kind,
    report: {
      selected: report.selected,
      tfjsBackend: report.tfjsBackend,
      reason: attempt?.reason ?? '',
      versions: report.versions,
      ...(report.wasm ? { wasm: report.wasm } : {}),
      ...(report.onednn ? { onednn: report.onednn } : {}),
      ...(report.webgpu ? { webgpu: report.webgpu } : {}),
    },
    parameters,
    warmup,
    stepTimesMs,
    losses,
    profile: {
      afterWarmup: flags['kernel-profile'] === true,
      stepMs: profiled.stepMs,
      flops: stepFlops(profiled.calls),
      kernels: kernelTotals(profiled.calls),
    },
    maxRssKiB: process.resourceUsage().maxRSS,
  };
  return measurement;
}

async function main(): Promise<void> {
  const backend = backendNames.find((name) => name === flags.backend);
  const kind = stepKinds.find((name) => name === flags.step);
  if (!backend || !kind) {
    throw new Error(`usage: --backend <${backendNames.join('|')}> --step <${stepKinds.join('|')}>`);
  }
  const outcome = await measure(backend, kind);
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
