import { tf } from '../tf';
import { BatchNorm, Dense, type Mode } from './layers';
import type { ParameterStore, SeedSequence } from './parameters';

/**
 * Linear → BN → ReLU → Linear: the projector g of SimCLR v2 / MoCo v2 and the predictor of SimSiam and BYOL.
 * The hidden layer has no bias because batch norm would cancel it.
 */
export class MlpHead {
  private readonly hidden: Dense;
  private readonly norm: BatchNorm;
  private readonly output: Dense;

  constructor(store: ParameterStore, seeds: SeedSequence, dims: { in: number; hidden: number; out: number }) {
    this.hidden = new Dense(store.scope('fc1'), seeds, dims.in, dims.hidden, false);
    this.norm = new BatchNorm(store.scope('bn1'), dims.hidden);
    this.output = new Dense(store.scope('fc2'), seeds, dims.hidden, dims.out);
  }

  apply(x: tf.Tensor2D, mode: Mode): tf.Tensor2D {
    return this.output.apply(tf.relu(this.norm.apply(this.hidden.apply(x), mode)) as tf.Tensor2D);
  }
}
