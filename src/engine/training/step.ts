import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { selectedMethod } from '../../shared/config/methods/registry';
import type { SslMethod } from '../methods/method';
import { createMethodFor } from '../methods/registry';
import {
  type BuiltDecoder,
  buildDecoder,
  type Perturbation,
  synthesisLoss,
  usesDecoder,
} from '../synthesis/pairLoss';
import { tf } from '../tf';
import type { InitialEncoder } from '../weights/initialEncoder';
import { type LearningRates, type OptimizerSettings, type ParameterGroup, SslOptimizer } from './optimizer';

/** The tensors and mask one step's loss reads. */
export interface StepInputs {
  views: [tf.Tensor4D, tf.Tensor4D];
  /** The un-augmented views the decoder reconstructs; a run with a decoder needs them. */
  centre?: tf.Tensor4D;
  /** The mask and σ of L_Cp, once it is due (`synthesis.startEpoch`). */
  perturbation?: Perturbation;
}

export interface StepPlace {
  /** Steps taken before this one: with the seed, it addresses the perturbation's draws. */
  step: number;
  totalSteps: number;
  learningRates: LearningRates;
}

/** What a run trains: the method's networks, the decoder of a synthesis run, and the optimiser of both. */
export interface TrainingModels {
  method: SslMethod;
  /** Present when the run is one of the synthesis method (`loss.alpha` or `loss.nu` above 0). */
  decoder: BuiltDecoder | undefined;
  optimizer: SslOptimizer;
  /**
   * One optimiser step of L_C, plus α·L_R + ν·L_Cp with a decoder, then what the method updates outside the
   * optimiser (momentum encoders, the MoCo queue); returns the loss terms. `inputs` runs inside the step's
   * tidy scope, so the tensors it makes there are freed with the step's and those made before are left alone.
   */
  step(inputs: () => StepInputs, place: StepPlace): Promise<Record<string, number>>;
  /** Every weight and buffer a checkpoint must hold to continue exactly. */
  state(): [string, tf.Variable][];
  dispose(): void;
}

/** The models and optimiser of a run of `config`, as training and the backend bench build them. */
export function buildTrainingModels(config: ResolvedConfig, initialEncoder?: InitialEncoder): TrainingModels {
  const method = createMethodFor(config, initialEncoder);
  const decoder = usesDecoder(config) ? buildDecoder(config, method.encoder.featureDim) : undefined;
  const optimizer = new SslOptimizer(optimizerSettings(config), parameterGroups(config, method, decoder));
  return {
    method,
    decoder,
    optimizer,
    async step(inputs, { step, totalSteps, learningRates }) {
      const losses = await optimizer.step(() => {
        const { views, centre, perturbation } = inputs();
        const contrastive = method.loss(...views);
        if (!decoder) {
          return contrastive;
        }
        const synthesis = synthesisLoss(method, decoder.decoder, config, {
          centre: centre!,
          ...(perturbation ? { perturbation } : {}),
          step,
        });
        const total = tf.add(contrastive.total, synthesis.total) as tf.Scalar;
        return { total, terms: { ...contrastive.terms, ...synthesis.terms, total } };
      }, learningRates);
      await method.afterStep({ step: step + 1, totalSteps });
      return losses;
    },
    state: () => [...method.state(), ...(decoder?.parameters.all() ?? []), ...optimizer.state.all()],
    dispose() {
      method.dispose();
      decoder?.parameters.dispose();
      optimizer.dispose();
    },
  };
}

export function optimizerSettings(config: ResolvedConfig): OptimizerSettings {
  const { name, momentum, weightDecay, lars } = config.optim;
  return { name, momentum, weightDecay, trustCoefficient: lars.trustCoefficient };
}

/** The scheduled group, and the parameters the method's spec keeps at the base rate (SimSiam's predictor). */
function parameterGroups(
  config: ResolvedConfig,
  method: SslMethod,
  decoder: BuiltDecoder | undefined,
): ParameterGroup[] {
  const variables = [...method.trainableVariables(), ...(decoder?.parameters.trainable() ?? [])];
  const { spec, options } = selectedMethod(config.ssl);
  const fixedScopes = spec.fixedRateScopes?.(options) ?? [];
  if (fixedScopes.length === 0) {
    return [{ variables, scheduled: true }];
  }
  const keepsBaseRate = (variable: tf.Variable) =>
    fixedScopes.some((scope) => variable.name.includes(`.${scope}.`));
  return [
    { variables: variables.filter((variable) => !keepsBaseRate(variable)), scheduled: true },
    { variables: variables.filter(keepsBaseRate), scheduled: false },
  ];
}
