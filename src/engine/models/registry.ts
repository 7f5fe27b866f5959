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
}

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
  return { encoder, parameters };
}
