import { tf } from '../tf';
import type { Encoder, EncoderOutput } from './encoder';
import { ConvBn, type Mode } from './layers';
import type { ParameterStore, SeedSequence } from './parameters';

/** Four conv–BN–ReLU stages that halve the resolution from the second on: seconds per epoch, for trying things. */
export class SmallCnn implements Encoder {
  readonly featureDim: number;
  private readonly stages: ConvBn[] = [];

  constructor(store: ParameterStore, seeds: SeedSequence, width: number) {
    const channels = [32, 64, 128, 256].map((count) => Math.max(8, Math.round(count * width)));
    let inChannels = 3;
    channels.forEach((outChannels, index) => {
      this.stages.push(
        new ConvBn(store.scope(`stage${index + 1}`), seeds, {
          inChannels,
          outChannels,
          kernel: 3,
          stride: index === 0 ? 1 : 2,
        }),
      );
      inChannels = outChannels;
    });
    this.featureDim = inChannels;
  }

  apply(images: tf.Tensor4D, mode: Mode): EncoderOutput {
    let x = images;
    for (const stage of this.stages) {
      x = tf.relu(stage.apply(x, mode));
    }
    return { featureMap: x, features: tf.mean(x, [1, 2]) as tf.Tensor2D };
  }
}
