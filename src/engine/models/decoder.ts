import { nativeUpsampleAvailable, nativeUpsampleNearest2x } from '../backends/onednn/upsample';
import { tf } from '../tf';
import { BatchNorm, ConvBn, Dense, type Mode } from './layers';
import { heNormal, linearUniform, type ParameterStore, type SeedSequence } from './parameters';

/**
 * How each stage doubles the resolution. `resize` is nearest-neighbour ×2 followed by a 3×3 convolution,
 * which cannot produce the checkerboard artefacts of a transposed convolution (Odena et al., "Deconvolution
 * and Checkerboard Artifacts", Distill 2016); `transposed` is a 4×4 stride-2 transposed convolution, the
 * DCGAN generator's upsampling. The kernel is 4, a multiple of the stride, so every output pixel receives
 * the same number of taps.
 */
export type DecoderUpsample = 'resize' | 'transposed';

export interface DecoderOptions {
  /** Length of the feature h the decoder reads: the encoder's `featureDim`. */
  featureDim: number;
  /** Side of the square image it produces: `data.imageSize`. */
  imageSize: number;
  /** Multiplies every stage's channel count (256 at the low-resolution map, halving per stage, at width 1). Default 1. */
  width?: number;
  /** Default `resize`. */
  upsample?: DecoderUpsample;
}

/** Channels of the low-resolution map the dense layer produces, at width 1. */
export const DECODER_BASE_CHANNELS = 256;

export interface DecoderLayout {
  /** Side of the map the dense layer produces, in [4, 8]. */
  startSize: number;
  /** Number of ×2 upsampling stages. */
  stages: number;
  /** startSize · 2^stages ≥ imageSize; the excess is cropped from the centre. */
  decodedSize: number;
}

/**
 * The resolution plan for an image side S ≥ 4: k = floor(log2(S / 4)) stages from a start map of
 * ceil(S / 2^k) pixels, so the start lies in [4, 8] whatever S is. Every side that is 4–7 times a power of
 * two (32, 48, 64, 96, 128, 160, 192, 224...) is decoded exactly; any other side the config allows (e.g. 100)
 * is decoded up to the next multiple of 2^k and centre-cropped, which wastes fewer than 2^k border pixels
 * instead of starting from a large map or refusing the size.
 */
export function decoderLayout(imageSize: number): DecoderLayout {
  if (!Number.isInteger(imageSize) || imageSize < 4) {
    throw new Error(`the decoder needs an integer image size of at least 4, got ${imageSize}`);
  }
  const stages = Math.floor(Math.log2(imageSize / 4));
  const startSize = Math.ceil(imageSize / 2 ** stages);
  return { startSize, stages, decodedSize: startSize * 2 ** stages };
}

/** Channel count after each stage: halving from the base, with the encoders' floor of 8. */
function stageChannels(width: number, stages: number): number[] {
  return Array.from({ length: stages + 1 }, (_, index) =>
    Math.max(8, Math.round((DECODER_BASE_CHANNELS * width) / 2 ** index)),
  );
}

/**
 * A stage in evaluation mode as a 4×4 stride-2 transposed convolution (filter [4, 4, out, in]) with a bias,
 * followed by ReLU.
 */
interface FrozenStage {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
}

interface UpsampleStage {
  apply(x: tf.Tensor4D, mode: Mode): tf.Tensor4D;
  freeze(): FrozenStage;
}

/**
 * Which taps of a 3×3 kernel act on the input rows of a 4×4 stride-2 transposed kernel's taps, after
 * nearest-neighbour ×2 upsampling. Output row 2m reads upsampled rows 2m−1, 2m, 2m+1, which are input rows
 * m−1, m, m: TF.js's transposed tap 3 meets row m−1 and tap 1 row m. Output row 2m+1 reads input rows m, m, m+1
 * through taps 2 and 0. Hence tap 0 ← w2, tap 1 ← w1 + w2, tap 2 ← w0 + w1, tap 3 ← w0.
 */
const NEAREST_TAPS = [
  [0, 0, 1],
  [0, 1, 1],
  [1, 1, 0],
  [1, 0, 0],
];

/**
 * Nearest ×2 then a 3×3 convolution [3, 3, in, out] as the 4×4 stride-2 transposed filter [4, 4, out, in]
 * that computes the same: each output pixel then costs 2×2 taps instead of 3×3.
 */
export function nearestConvAsTransposed(filter: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, , inChannels, outChannels] = filter.shape;
    const taps = tf.tensor2d(NEAREST_TAPS);
    const rest = inChannels * outChannels;
    // [ky, kx, out, in], then mix rows: [4, 3·rest]; swap to put columns first and mix them: [4, 4·rest].
    const swapped = tf.reshape(tf.transpose(filter, [0, 1, 3, 2]), [3, 3 * rest]);
    const rowsMixed = tf.reshape(tf.matMul(taps, swapped), [4, 3, rest]);
    const columnsFirst = tf.reshape(tf.transpose(rowsMixed, [1, 0, 2]), [3, 4 * rest]);
    const mixed = tf.reshape(tf.matMul(taps, columnsFirst), [4, 4, rest]);
    return tf.reshape(tf.transpose(mixed, [1, 0, 2]), [4, 4, outChannels, inChannels]);
  });
}

/**
 * Nearest-neighbour ×2: one kernel each way where the backend has it (onednn), else copies and reshapes
 * rather than `tf.image.resizeNearestNeighbor`: the cpu backend's ResizeNearestNeighborGrad (tfjs-backend-cpu
 * 4.22) steps through dy with the strides of the smaller input image, so every image after the first in a
 * batch gets a wrong gradient. Concat's gradient is a split, which every backend has and gets right.
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  if (nativeUpsampleAvailable(x)) return nativeUpsampleNearest2x(x);
  const [batch, height, width, channels] = x.shape;
  // [N, H, W, 2C] read as [N, H, 2W, C] puts each pixel twice along the row; then each row twice.
  const wide = tf.reshape(tf.concat([x, x], 3), [batch, height, 2 * width, channels]);
  return tf.reshape(tf.concat([wide, wide], 2), [batch, 2 * height, 2 * width, channels]);
}

/** Nearest ×2 then a 3×3 conv–BN–ReLU. */
class ResizeStage implements UpsampleStage {
  private readonly conv: ConvBn;

  constructor(store: ParameterStore, seeds: SeedSequence, inChannels: number, outChannels: number) {
    this.conv = new ConvBn(store, seeds, { inChannels, outChannels, kernel: 3, stride: 1 });
  }

  apply(x: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    return tf.relu(this.conv.apply(upsampleNearest2x(x), mode));
  }

  freeze(): FrozenStage {
    const { filter, bias } = this.conv.folded();
    try {
      return { filter: nearestConvAsTransposed(filter), bias };
    } finally {
      filter.dispose();
    }
  }
}

const TRANSPOSED_KERNEL = 4;

/** A 4×4 stride-2 transposed convolution, bias-free because BN follows, then BN–ReLU. */
class TransposedStage implements UpsampleStage {
  private readonly weight: tf.Variable;
  private readonly norm: BatchNorm;

  constructor(
    store: ParameterStore,
    seeds: SeedSequence,
    inChannels: number,
    private readonly outChannels: number,
  ) {
    // TF.js lays a transposed filter out as [kh, kw, out, in], the filter of the convolution it transposes.
    this.weight = store.add(
      'conv.weight',
      heNormal(
        [TRANSPOSED_KERNEL, TRANSPOSED_KERNEL, outChannels, inChannels],
        TRANSPOSED_KERNEL * TRANSPOSED_KERNEL * outChannels,
        seeds.take(),
      ),
      { trainable: true },
    );
    this.norm = new BatchNorm(store.scope('bn'), outChannels);
  }

  apply(x: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    const [batch, height, width] = x.shape;
    const upsampled = tf.conv2dTranspose(
      x,
      this.weight as tf.Tensor4D,
      [batch, height * 2, width * 2, this.outChannels],
      2,
      'same',
    );
    return tf.relu(this.norm.apply(upsampled, mode)) as tf.Tensor4D;
  }

  freeze(): FrozenStage {
    return tf.tidy(() => {
      const { scale, shift } = this.norm.affine();
      // The output channels are the filter's third axis.
      return {
        filter: tf.mul(this.weight, tf.reshape(scale, [1, 1, this.outChannels, 1])) as tf.Tensor4D,
        bias: shift,
      };
    });
  }
}

/**
 * The decoder d: h → image of the synthesis method (dense → low-resolution map → ×2 upsampling stages →
 * 3×3 convolution to RGB → sigmoid), producing `[N, S, S, 3]` in [0, 1] to compare with the centre view.
 * Its weights live under the store it is given (by convention `decoder`), so checkpoints find them by name.
 */
export class Decoder {
  readonly layout: DecoderLayout;
  private readonly fc: Dense;
  private readonly fcNorm: BatchNorm;
  private readonly stages: UpsampleStage[] = [];
  private readonly headWeight: tf.Variable;
  private readonly headBias: tf.Variable;
  private readonly startChannels: number;

  constructor(
    store: ParameterStore,
    seeds: SeedSequence,
    private readonly options: DecoderOptions,
  ) {
    if (!Number.isInteger(options.featureDim) || options.featureDim < 1) {
      throw new Error(`the decoder needs a positive integer feature dimension, got ${options.featureDim}`);
    }
    const width = options.width ?? 1;
    if (!(width > 0)) {
      throw new Error(`the decoder width must be positive, got ${width}`);
    }
    this.layout = decoderLayout(options.imageSize);
    const { startSize, stages } = this.layout;
    const channels = stageChannels(width, stages);
    this.startChannels = channels[0]!;
    // No bias: the batch norm on the reshaped map would cancel it.
    this.fc = new Dense(
      store.scope('fc'),
      seeds,
      options.featureDim,
      startSize * startSize * this.startChannels,
      false,
    );
    this.fcNorm = new BatchNorm(store.scope('fc.bn'), this.startChannels);
    const Stage = (options.upsample ?? 'resize') === 'resize' ? ResizeStage : TransposedStage;
    for (let index = 0; index < stages; index++) {
      this.stages.push(
        new Stage(store.scope(`up${index + 1}`), seeds, channels[index]!, channels[index + 1]!),
      );
    }
    // PyTorch's default Conv2d initialisation: no ReLU follows this layer, so He scaling has nothing to
    // preserve, and a small output keeps the sigmoid near 0.5 where its gradient is largest.
    const lastChannels = channels[stages]!;
    const fanIn = 3 * 3 * lastChannels;
    this.headWeight = store.add('head.weight', linearUniform([3, 3, lastChannels, 3], fanIn, seeds.take()), {
      trainable: true,
    });
    this.headBias = store.add('head.bias', linearUniform([3], fanIn, seeds.take()), { trainable: true });
  }

  /** h [N, featureDim] → images [N, S, S, 3] in [0, 1]. */
  apply(features: tf.Tensor2D, mode: Mode): tf.Tensor4D {
    const { startSize } = this.layout;
    const { imageSize } = this.options;
    const batch = features.shape[0];
    const projected = tf.reshape(this.fc.apply(features), [batch, startSize, startSize, this.startChannels]);
    let x = tf.relu(this.fcNorm.apply(projected, mode)) as tf.Tensor4D;
    for (const stage of this.stages) {
      x = stage.apply(x, mode);
    }
    const logits = tf.add(
      tf.conv2d(x, this.headWeight as tf.Tensor4D, 1, 'same'),
      this.headBias,
    ) as tf.Tensor4D;
    return cropToImage(tf.sigmoid(logits), this.layout, imageSize);
  }

  /**
   * A copy of the decoder in evaluation mode with every batch norm folded into the layer before it and each
   * upsampling stage a transposed convolution, for drawing images fast (a grid that follows a slider). It
   * holds its own tensors: later training of this decoder does not reach it.
   */
  freeze(): FrozenDecoder {
    const { startSize } = this.layout;
    const fc = tf.tidy(() => {
      const { scale, shift } = this.fcNorm.affine();
      // The dense output is read as [S, S, C]: channel = column mod C.
      const columnScale = tf.tile(scale, [startSize * startSize]);
      return {
        weight: tf.mul(this.fc.weightValue(), columnScale) as tf.Tensor2D,
        bias: tf.tile(shift, [startSize * startSize]) as tf.Tensor1D,
      };
    });
    const stages = this.stages.map((stage) => stage.freeze());
    const head = {
      filter: tf.clone(this.headWeight) as tf.Tensor4D,
      bias: tf.clone(this.headBias) as tf.Tensor1D,
    };
    return new FrozenDecoder(this.layout, this.options.imageSize, this.startChannels, fc, stages, head);
  }
}

function cropToImage(images: tf.Tensor4D, layout: DecoderLayout, imageSize: number): tf.Tensor4D {
  if (layout.decodedSize === imageSize) {
    return images;
  }
  const offset = Math.floor((layout.decodedSize - imageSize) / 2);
  return tf.slice(images, [0, offset, offset, 0], [images.shape[0], imageSize, imageSize, 3]);
}

/** The decoder as {@link Decoder.freeze} makes it: evaluation mode only, 2×2 taps per upsampled pixel. */
export class FrozenDecoder {
  constructor(
    private readonly layout: DecoderLayout,
    private readonly imageSize: number,
    private readonly startChannels: number,
    private readonly fc: { weight: tf.Tensor2D; bias: tf.Tensor1D },
    private readonly stages: FrozenStage[],
    private readonly head: { filter: tf.Tensor4D; bias: tf.Tensor1D },
  ) {}

  /** h [N, featureDim] → images [N, S, S, 3] in [0, 1], as `Decoder.apply(h, 'eval')`. */
  decode(features: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => {
      const batch = features.shape[0];
      const { startSize } = this.layout;
      const projected = tf.relu(tf.add(tf.matMul(features, this.fc.weight), this.fc.bias));
      let x: tf.Tensor4D = tf.reshape(projected, [batch, startSize, startSize, this.startChannels]);
      for (const { filter, bias } of this.stages) {
        const [, height, width] = x.shape;
        const upsampled = tf.conv2dTranspose(
          x,
          filter,
          [batch, height * 2, width * 2, filter.shape[2]],
          2,
          'same',
        );
        x = tf.relu(tf.add(upsampled, bias) as tf.Tensor4D);
      }
      const logits = tf.add(tf.conv2d(x, this.head.filter, 1, 'same'), this.head.bias) as tf.Tensor4D;
      return cropToImage(tf.sigmoid(logits), this.layout, this.imageSize);
    });
  }

  dispose(): void {
    tf.dispose([this.fc.weight, this.fc.bias, this.head.filter, this.head.bias]);
    for (const stage of this.stages) {
      tf.dispose([stage.filter, stage.bias]);
    }
  }
}
