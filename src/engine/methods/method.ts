import type { Encoder } from '../models/encoder';
import type { EncoderSpec } from '../models/registry';
import type { tf } from '../tf';

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
  readonly name: string;
  /** The encoder f whose pooled features h are evaluated and analysed. */
  readonly encoder: Encoder;
  /** Called inside the gradient tape. */
  loss(view1: tf.Tensor4D, view2: tf.Tensor4D): LossTerms;
  trainableVariables(): tf.Variable[];
  /** Every weight and buffer a checkpoint must hold to continue exactly. */
  state(): [string, tf.Variable][];
  afterStep(position: StepPosition): void;
  dispose(): void;
}

export interface MethodOptions {
  seed: number;
  encoder: EncoderSpec;
  projector: { hiddenDim: number; outDim: number };
  predictor: { hiddenDim: number };
  simclr: { temperature: number };
  mocov2: { temperature: number; queueSize: number; momentum: number };
  byol: { momentumBase: number };
}
