import type { MethodName } from '../../shared/config/methods/registry';
import type { Encoder } from '../models/encoder';
import type { Mode } from '../models/layers';
import type { EncoderSpec } from '../models/registry';
import type { tf } from '../tf';
import type { InitialEncoder } from '../weights/initialEncoder';

/** Where training stands, for schedules that depend on it (BYOL's target momentum). */
export interface StepPosition {
  step: number;
  totalSteps: number;
}

export interface LossTerms {
  /** What the optimiser minimises. */
  total: tf.Scalar;
  /** Each named term, logged to metrics.jsonl. */
  terms: Record<string, tf.Scalar>;
}

/**
 * A self-supervised method, in the manner of solo-learn: the networks it owns, the loss of two augmented
 * views, and what it updates outside the optimiser after each step (momentum encoders, the MoCo queue).
 */
export interface SslMethod {
  readonly name: MethodName;
  /** The encoder f whose pooled features h are evaluated and analysed. */
  readonly encoder: Encoder;
  /** Called inside the gradient tape. */
  loss(view1: tf.Tensor4D, view2: tf.Tensor4D): LossTerms;
  /**
   * The SSL loss L_C from the online encoder's feature maps A of the two views, so that Grad-CAM can take
   * ∂L_C/∂A. `loss` runs through the same code with the maps of `encoder.apply(view, 'train')`, so the two
   * agree exactly. `views` feed only the networks A does not come from: MoCo's key encoder, BYOL's target.
   *
   * `mode` is the batch-norm mode of the heads and of those networks. Training uses 'train', where a
   * projection depends on the whole batch through its moments; 'train' gives the gradient training follows,
   * 'eval' one that does not depend on the batch. In 'train' every batch norm on the way moves its running
   * statistics, as in a training step: a caller that only observes must restore them. Nothing else changes:
   * unlike `loss`, no MoCo keys are queued for `afterStep`.
   */
  lossFromFeatureMaps(
    featureMaps: [tf.Tensor4D, tf.Tensor4D],
    views: [tf.Tensor4D, tf.Tensor4D],
    mode: Mode,
  ): tf.Scalar;
  /**
   * z = g(f(x)) of the online encoder and projector: what the synthesized-pair loss L_Cp compares, so the
   * images the decoder makes are seen through the same networks as the real views.
   */
  project(images: tf.Tensor4D, mode: Mode): tf.Tensor2D;
  trainableVariables(): tf.Variable[];
  /** Every weight and buffer a checkpoint must hold to continue exactly. */
  state(): [string, tf.Variable][];
  /**
   * What the method updates outside the optimiser after a step (momentum encoders, the MoCo queue).
   * Asynchronous because a GPU backend can read a value back only asynchronously.
   */
  afterStep(position: StepPosition): Promise<void>;
  dispose(): void;
}

/** What every method builds its networks from; its own options come apart, from its `ssl.<name>` block. */
export interface NetworkOptions {
  seed: number;
  encoder: EncoderSpec;
  projector: { hiddenDim: number; outDim: number };
  /** Read only by the methods whose spec says `usesPredictor`. */
  predictor: { hiddenDim: number };
  /** Weights every encoder of the method starts from (`model.init`); random from `seed` without. */
  initialEncoder?: InitialEncoder;
}
