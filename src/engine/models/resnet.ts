import { tf } from '../tf';
import type { Encoder, EncoderOutput } from './encoder';
import { ConvBn, type Mode } from './layers';
import type { ParameterStore, SeedSequence } from './parameters';

export type ResNetDepth = 18 | 50;

/**
 * How the network first reduces the image. `imagenet` is torchvision's 7×7 stride-2 convolution and 3×3
 * max-pool; `cifar` is the 3×3 stride-1 convolution without pooling that SSL work uses for small images,
 * which keeps the last feature map large enough for Grad-CAM to localise anything.
 */
export type ResNetStem = 'imagenet' | 'cifar';

/**
 * How stride-2 layers pad. `same` is TF's, which on an even input pads one pixel more after than before;
 * `torchvision` pads symmetrically as PyTorch's layers do, so weights trained there compute the same features
 * here. Output sizes are equal either way.
 */
export type ResNetPadding = 'same' | 'torchvision';

type ConvPadding = 'same' | 'symmetric';

export interface ResNetSpec {
  depth: ResNetDepth;
  /** Multiplies every stage's channel count (64, 128, 256, 512 at width 1). */
  width: number;
  stem: ResNetStem;
  padding: ResNetPadding;
}

const stageBlocks: Record<ResNetDepth, number[]> = { 18: [2, 2, 2, 2], 50: [3, 4, 6, 3] };

interface Block {
  apply(x: tf.Tensor4D, mode: Mode): tf.Tensor4D;
}

/**
 * The block's input, projected by a 1×1 convolution when the block changes resolution or width (the
 * "option B" shortcut of He et al. 2016), else passed through as it is.
 */
function projectionShortcut(
  store: ParameterStore,
  seeds: SeedSequence,
  inChannels: number,
  outChannels: number,
  stride: number,
  padding: ConvPadding,
): ConvBn | undefined {
  return stride !== 1 || inChannels !== outChannels
    ? new ConvBn(store.scope('shortcut'), seeds, { inChannels, outChannels, kernel: 1, stride, padding })
    : undefined;
}

function addShortcut(
  residual: tf.Tensor4D,
  x: tf.Tensor4D,
  shortcut: ConvBn | undefined,
  mode: Mode,
): tf.Tensor4D {
  const identity = shortcut ? shortcut.apply(x, mode) : x;
  return tf.relu(tf.add(residual, identity)) as tf.Tensor4D;
}

/** The two-convolution block of ResNet-18/34. */
class BasicBlock implements Block {
  static readonly expansion = 1;
  private readonly conv1: ConvBn;
  private readonly conv2: ConvBn;
  private readonly shortcut: ConvBn | undefined;

  constructor(
    store: ParameterStore,
    seeds: SeedSequence,
    inChannels: number,
    channels: number,
    stride: number,
    padding: ConvPadding,
  ) {
    this.conv1 = new ConvBn(store.scope('conv1'), seeds, {
      inChannels,
      outChannels: channels,
      kernel: 3,
      stride,
      padding,
    });
    // A zero-initialised last scale makes each block start as the identity (Goyal et al. 2017).
    this.conv2 = new ConvBn(store.scope('conv2'), seeds, {
      inChannels: channels,
      outChannels: channels,
      kernel: 3,
      stride: 1,
      padding,
      zeroInitScale: true,
    });
    this.shortcut = projectionShortcut(store, seeds, inChannels, channels, stride, padding);
  }

  apply(x: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    // In a scope of its own: what the gradient does not keep (each batch norm's output) is freed at the
    // block's end, as PyTorch frees it, instead of when the whole forward pass returns.
    return tf.tidy(() => {
      const residual = this.conv2.apply(tf.relu(this.conv1.apply(x, mode)), mode);
      return addShortcut(residual, x, this.shortcut, mode);
    });
  }
}

/** The 1×1 → 3×3 → 1×1 block of ResNet-50, widening its output fourfold. */
class Bottleneck implements Block {
  static readonly expansion = 4;
  private readonly conv1: ConvBn;
  private readonly conv2: ConvBn;
  private readonly conv3: ConvBn;
  private readonly shortcut: ConvBn | undefined;

  constructor(
    store: ParameterStore,
    seeds: SeedSequence,
    inChannels: number,
    channels: number,
    stride: number,
    padding: ConvPadding,
  ) {
    const outChannels = channels * Bottleneck.expansion;
    this.conv1 = new ConvBn(store.scope('conv1'), seeds, {
      inChannels,
      outChannels: channels,
      kernel: 1,
      stride: 1,
      padding,
    });
    // The stride sits on the 3×3 convolution, as in torchvision's "ResNet v1.5".
    this.conv2 = new ConvBn(store.scope('conv2'), seeds, {
      inChannels: channels,
      outChannels: channels,
      kernel: 3,
      stride,
      padding,
    });
    this.conv3 = new ConvBn(store.scope('conv3'), seeds, {
      inChannels: channels,
      outChannels,
      kernel: 1,
      stride: 1,
      padding,
      zeroInitScale: true,
    });
    this.shortcut = projectionShortcut(store, seeds, inChannels, outChannels, stride, padding);
  }

  apply(x: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    // A scope of its own, as BasicBlock's.
    return tf.tidy(() => {
      const hidden = tf.relu(this.conv2.apply(tf.relu(this.conv1.apply(x, mode)), mode));
      const residual = this.conv3.apply(hidden, mode);
      return addShortcut(residual, x, this.shortcut, mode);
    });
  }
}

export class ResNet implements Encoder {
  readonly featureDim: number;
  private readonly stem: ConvBn;
  private readonly blocks: Block[] = [];

  constructor(
    store: ParameterStore,
    seeds: SeedSequence,
    private readonly spec: ResNetSpec,
  ) {
    const Kind = spec.depth === 18 ? BasicBlock : Bottleneck;
    const stageChannels = [64, 128, 256, 512].map((channels) =>
      Math.max(8, Math.round(channels * spec.width)),
    );
    const stemChannels = stageChannels[0]!;
    const padding: ConvPadding = spec.padding === 'torchvision' ? 'symmetric' : 'same';
    this.stem =
      spec.stem === 'imagenet'
        ? new ConvBn(store.scope('stem'), seeds, {
            inChannels: 3,
            outChannels: stemChannels,
            kernel: 7,
            stride: 2,
            padding,
          })
        : new ConvBn(store.scope('stem'), seeds, {
            inChannels: 3,
            outChannels: stemChannels,
            kernel: 3,
            stride: 1,
            padding,
          });
    let inChannels = stemChannels;
    stageBlocks[spec.depth].forEach((count, stage) => {
      const channels = stageChannels[stage]!;
      for (let index = 0; index < count; index++) {
        const stride = index === 0 && stage > 0 ? 2 : 1;
        this.blocks.push(
          new Kind(store.scope(`layer${stage + 1}.${index}`), seeds, inChannels, channels, stride, padding),
        );
        inChannels = channels * Kind.expansion;
      }
    });
    this.featureDim = inChannels;
  }

  apply(images: tf.Tensor4D, mode: Mode): EncoderOutput {
    let x = tf.relu(this.stem.apply(images, mode));
    if (this.spec.stem === 'imagenet') {
      x = tf.maxPool(x, 3, 2, this.spec.padding === 'torchvision' ? 1 : 'same');
    }
    for (const block of this.blocks) {
      x = block.apply(x, mode);
    }
    return { featureMap: x, features: tf.mean(x, [1, 2]) as tf.Tensor2D };
  }
}
