import type { InputNorm } from '../../shared/config/experiment/choices';
import { tf } from '../tf';
import type { Encoder } from './encoder';
import { ParameterStore, SeedSequence } from './parameters';
import { ResNet, type ResNetPadding, type ResNetStem } from './resnet';
import { SmallCnn } from './smallCnn';

export type EncoderArch = 'resnet18' | 'resnet50' | 'smallcnn';

export interface EncoderSpec {
  arch: EncoderArch;
  width: number;
  stem: ResNetStem;
  /** A ResNet's; `torchvision` for weights trained in PyTorch. `same` when not given. */
  padding?: ResNetPadding;
  /** What the encoder does to its images first; `none` when not given. */
  inputNorm?: InputNorm;
  /** `frozen`: its batch norms use their running statistics in training too. `batch` when not given. */
  batchNorm?: 'batch' | 'frozen';
}

/** ImageNet's channel statistics, as torchvision's and timm's ImageNet weights were trained with. */
const imagenetMean = [0.485, 0.456, 0.406];
const imagenetStd = [0.229, 0.224, 0.225];

export interface BuiltEncoder {
  encoder: Encoder;
  parameters: ParameterStore;
}

/** Builds an encoder whose initial weights depend only on the spec and the seed. */
export function buildEncoder(spec: EncoderSpec, seed: number, name = 'encoder'): BuiltEncoder {
  const parameters = ParameterStore.root(name);
  const seeds = new SeedSequence(seed);
  const encoder =
    spec.arch === 'smallcnn'
      ? new SmallCnn(parameters, seeds, spec.width)
      : new ResNet(parameters, seeds, {
          depth: spec.arch === 'resnet18' ? 18 : 50,
          width: spec.width,
          stem: spec.stem,
          padding: spec.padding ?? 'same',
        });
  const normalised = spec.inputNorm === 'imagenet' ? imagenetNormalised(encoder) : encoder;
  return { encoder: spec.batchNorm === 'frozen' ? withFrozenBatchNorm(normalised) : normalised, parameters };
}

/** Every mode is 'eval' to the encoder's layers, which only batch norm tells apart. */
function withFrozenBatchNorm(encoder: Encoder): Encoder {
  return { featureDim: encoder.featureDim, apply: (images) => encoder.apply(images, 'eval') };
}

/** The encoder with its images normalised first: the rest of the engine keeps them in [0, 1]. */
function imagenetNormalised(encoder: Encoder): Encoder {
  return {
    featureDim: encoder.featureDim,
    apply: (images, mode) =>
      encoder.apply(
        tf.div(tf.sub(images, tf.tensor1d(imagenetMean)), tf.tensor1d(imagenetStd)) as tf.Tensor4D,
        mode,
      ),
  };
}
