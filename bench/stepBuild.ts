// The training steps the benches time, built once on the current TF.js backend: bench/backendStep.ts times
// them on one backend and bench/gpu-check/children.ts on webgpu. Apart from either, since both run
// their own main() on import.
import { reconstructionLoss } from '../src/engine/losses/reconstruction';
import { createMethodFor } from '../src/engine/methods/registry';
import { buildDecoder, type Perturbation } from '../src/engine/synthesis/pairLoss';
import { tf } from '../src/engine/tf';
import { SslOptimizer } from '../src/engine/training/optimizer';
import { buildTrainingModels, optimizerSettings } from '../src/engine/training/step';
import { benchConfig, learningRate, maskShare, type StepKind, stepConfig } from './stepBench';
import type { KernelCall } from './stepFlops';

/** The optimiser's rates: the bench's schedule is constant, without warm-up. */
const learningRates = { scheduled: learningRate, fixed: learningRate };

export interface BuiltStep {
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
export function buildStep(kind: StepKind): BuiltStep {
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

export interface ProfiledStep {
  stepMs: number;
  calls: KernelCall[];
}

/** One step under tf.profile(), with the kernels it ran. */
export async function profileStep(built: BuiltStep, step: number): Promise<ProfiledStep> {
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
