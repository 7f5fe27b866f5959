import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { ntXentLoss } from '../losses/ntXent';
import { reconstructionLoss } from '../losses/reconstruction';
import { stopGradient, withoutGradient } from '../losses/tensorOps';
import type { LossTerms, SslMethod } from '../methods/method';
import { Decoder } from '../models/decoder';
import { ParameterStore, SeedSequence } from '../models/parameters';
import { tf } from '../tf';
import { perturbFeatures } from './perturb';

/** What perturbing h needs from the latest analysis step. */
export interface Perturbation {
  /** m ∈ {0, 1}^C. */
  mask: Uint8Array;
  /** σ_k, the standard deviation of each dimension of h over the training set. */
  sigma: Float32Array;
}

/**
 * Whether a run of this config is a run of the synthesis method. With α = ν = 0 nothing would train or use a
 * decoder, so none is built, and the run is the plain SSL baseline.
 */
export function usesDecoder(config: ResolvedConfig): boolean {
  return config.loss.alpha > 0 || config.loss.nu > 0;
}

export interface BuiltDecoder {
  decoder: Decoder;
  /** Its weights, named `decoder.*` in checkpoints. */
  parameters: ParameterStore;
}

/** The decoder of a run; its own seed stream, so adding it leaves the encoder's initial weights as they were. */
export function buildDecoder(config: ResolvedConfig, featureDim: number): BuiltDecoder {
  const parameters = ParameterStore.root('decoder');
  const decoder = new Decoder(parameters, new SeedSequence(config.seed ^ 0xdec0de), {
    featureDim,
    imageSize: config.data.imageSize,
    width: config.decoder.width,
    upsample: config.decoder.upsample,
  });
  return { decoder, parameters };
}

export interface SynthesisBatch {
  /** The batch's un-augmented centre views, [N, S, S, 3]. */
  centre: tf.Tensor4D;
  /** The latest mask and σ once L_Cp is due (`synthesis.startEpoch`); without it only L_R is computed. */
  perturbation?: Perturbation;
  /** The training step, which with the seed addresses the perturbation's draws. */
  step: number;
}

/**
 * α·L_R + ν·L_Cp of one training step, called inside the gradient tape beside the method's L_C. h comes from
 * the online encoder on the centre views in training mode, so L_R shapes the encoder as well as the decoder.
 *
 * L_Cp: for each of the S perturbed copies, NT-Xent between the projections g(f(d(h))) and g(f(d(h′))) of the
 * batch, each pair's positive its own partner and the other pairs its negatives; averaged over copies. With
 * `synthesis.detachDecoder` the synthesized images are constants to it, so L_Cp only teaches f and g to be
 * invariant to what the perturbation changed.
 */
export function synthesisLoss(
  method: SslMethod,
  decoder: Decoder,
  config: ResolvedConfig,
  batch: SynthesisBatch,
): LossTerms {
  const features = method.encoder.apply(batch.centre, 'train').features;
  const reconstructions = decoder.apply(features, 'train');
  const reconstruction = reconstructionLoss(reconstructions, batch.centre);
  const weightedReconstruction = tf.mul(reconstruction, config.loss.alpha) as tf.Scalar;
  if (!batch.perturbation || config.loss.nu === 0) {
    return { total: weightedReconstruction, terms: { reconstruction } };
  }
  const pairs = pairLoss(method, decoder, config, features, reconstructions, batch.perturbation, batch.step);
  return {
    total: tf.add(weightedReconstruction, tf.mul(pairs, config.loss.nu)) as tf.Scalar,
    terms: { reconstruction, pairs },
  };
}

function pairLoss(
  method: SslMethod,
  decoder: Decoder,
  config: ResolvedConfig,
  features: tf.Tensor2D,
  reconstructions: tf.Tensor4D,
  perturbation: Perturbation,
  step: number,
): tf.Scalar {
  const detach = config.synthesis.detachDecoder;
  const { samples } = config.perturb;
  const batchSize = features.shape[0];
  const decodeVariants = () =>
    decoder.apply(
      perturbFeatures(features, perturbation.mask, perturbation.sigma, {
        ...config.perturb,
        seed: config.seed,
        step,
      }),
      'train',
    );
  // Detached, the perturbed decoding is not recorded at all: its backward pass would only carry zeros.
  const variants = detach ? withoutGradient(decodeVariants) : decodeVariants();
  // One encoder pass over originals and copies together: batch norm then sees them as one batch, as it sees
  // the two views of L_C.
  const synthesized = tf.concat([detach ? stopGradient(reconstructions) : reconstructions, variants], 0);
  const projections = method.project(synthesized, 'train');
  const anchors = tf.slice(projections, [0, 0], [batchSize, -1]);
  const perCopy = Array.from({ length: samples }, (_, copy) =>
    ntXentLoss(
      anchors,
      tf.slice(projections, [(copy + 1) * batchSize, 0], [batchSize, -1]),
      config.synthesis.temperature,
    ),
  );
  return tf.div(tf.addN(perCopy), samples) as tf.Scalar;
}
