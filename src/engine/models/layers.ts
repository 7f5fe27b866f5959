import { fusedBatchNormTraining, fusedBatchNormTrainingAvailable } from '../backends/onednn/batchNorm';
import { tf } from '../tf';
import { heNormal, linearUniform, type ParameterStore, type SeedSequence } from './parameters';

export type Mode = 'train' | 'eval';

/**
 * Batch normalisation with running statistics. In training it normalises with the batch's moments and
 * moves the running ones towards them; momentum 0.1 and epsilon 1e-5 follow PyTorch, which the reference
 * implementation uses.
 */
export class BatchNorm {
  private readonly gamma: tf.Variable;
  private readonly beta: tf.Variable;
  private readonly runningMean: tf.Variable;
  private readonly runningVariance: tf.Variable;

  constructor(
    store: ParameterStore,
    channels: number,
    private readonly options: { momentum?: number; epsilon?: number; zeroInitScale?: boolean } = {},
  ) {
    this.gamma = store.add('weight', options.zeroInitScale ? tf.zeros([channels]) : tf.ones([channels]), {
      trainable: true,
    });
    this.beta = store.add('bias', tf.zeros([channels]), { trainable: true });
    this.runningMean = store.add('runningMean', tf.zeros([channels]), { trainable: false });
    this.runningVariance = store.add('runningVariance', tf.ones([channels]), { trainable: false });
  }

  apply(x: tf.Tensor, mode: Mode): tf.Tensor {
    const epsilon = this.options.epsilon ?? 1e-5;
    if (mode === 'eval') {
      return tf.batchNorm(x, this.runningMean, this.runningVariance, this.beta, this.gamma, epsilon);
    }
    const fused = fusedBatchNormTrainingAvailable()
      ? fusedBatchNormTraining(x, this.gamma, this.beta, epsilon)
      : undefined;
    const { mean, variance } = fused ?? tf.moments(x, x.rank === 4 ? [0, 1, 2] : [0]);
    const momentum = this.options.momentum ?? 0.1;
    const count = x.size / x.shape[x.rank - 1]!;
    // PyTorch keeps the unbiased variance in its running estimate while normalising with the biased one.
    const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance;
    this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - momentum), tf.mul(mean, momentum)));
    this.runningVariance.assign(
      tf.add(tf.mul(this.runningVariance, 1 - momentum), tf.mul(unbiased, momentum)),
    );
    return fused?.y ?? tf.batchNorm(x, mean, variance, this.beta, this.gamma, epsilon);
  }

  /**
   * Evaluation mode as the per-channel affine map x·scale + shift, so an inference copy of the network can
   * fold it into the layer before it.
   */
  affine(): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
    return tf.tidy(() => {
      const epsilon = this.options.epsilon ?? 1e-5;
      const scale = tf.div(this.gamma, tf.sqrt(tf.add(this.runningVariance, epsilon))) as tf.Tensor1D;
      const shift = tf.sub(this.beta, tf.mul(this.runningMean, scale)) as tf.Tensor1D;
      return { scale, shift };
    });
  }
}

/** A bias-free convolution followed by batch norm, the unit every ResNet is built from. */
export class ConvBn {
  private readonly weight: tf.Variable;
  private readonly norm: BatchNorm;

  constructor(
    store: ParameterStore,
    seeds: SeedSequence,
    readonly spec: {
      inChannels: number;
      outChannels: number;
      kernel: number;
      stride: number;
      zeroInitScale?: boolean;
      /**
       * `same`: TF's, which pads a stride-2 layer on an even input more after than before. `symmetric`: (k − 1) / 2
       * on every side, as PyTorch's layers are built; the output has the same size either way.
       */
      padding?: 'same' | 'symmetric';
    },
  ) {
    const { inChannels, outChannels, kernel } = spec;
    this.weight = store.add(
      'conv.weight',
      heNormal([kernel, kernel, inChannels, outChannels], kernel * kernel * outChannels, seeds.take()),
      { trainable: true },
    );
    this.norm = new BatchNorm(store.scope('bn'), outChannels, { zeroInitScale: spec.zeroInitScale ?? false });
  }

  apply(x: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    const padding = this.spec.padding === 'symmetric' ? (this.spec.kernel - 1) / 2 : 'same';
    const convolved = tf.conv2d(x, this.weight as tf.Tensor4D, this.spec.stride, padding);
    return this.norm.apply(convolved, mode) as tf.Tensor4D;
  }

  /** Evaluation mode as one convolution with a bias: the filter [k, k, in, out] scaled by the norm. */
  folded(): { filter: tf.Tensor4D; bias: tf.Tensor1D } {
    return tf.tidy(() => {
      const { scale, shift } = this.norm.affine();
      return { filter: tf.mul(this.weight, scale) as tf.Tensor4D, bias: shift };
    });
  }
}

/** A fully connected layer with PyTorch's default initialisation. */
export class Dense {
  private readonly weight: tf.Variable;
  private readonly bias: tf.Variable | undefined;

  constructor(
    store: ParameterStore,
    seeds: SeedSequence,
    inFeatures: number,
    outFeatures: number,
    withBias = true,
  ) {
    this.weight = store.add('weight', linearUniform([inFeatures, outFeatures], inFeatures, seeds.take()), {
      trainable: true,
    });
    this.bias = withBias
      ? store.add('bias', linearUniform([outFeatures], inFeatures, seeds.take()), { trainable: true })
      : undefined;
  }

  /** The weight [in, out] as it is now. */
  weightValue(): tf.Tensor2D {
    return this.weight as tf.Tensor2D;
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    const product = tf.matMul(x, this.weight as tf.Tensor2D) as tf.Tensor2D;
    return this.bias ? (tf.add(product, this.bias) as tf.Tensor2D) : product;
  }
}
