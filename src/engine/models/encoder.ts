import type { tf } from '../tf';
import type { Mode } from './layers';

/** What every encoder gives the method: the last conv feature map A and its pooled vector h. */
export interface EncoderOutput {
  /** A: [N, h, w, C], the map Grad-CAM weighs channel by channel. */
  featureMap: tf.Tensor4D;
  /** h: [N, C], the global average of A over its spatial positions. */
  features: tf.Tensor2D;
}

export interface Encoder {
  readonly featureDim: number;
  apply(images: tf.Tensor4D, mode: Mode): EncoderOutput;
}
