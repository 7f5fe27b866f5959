import { SIMCLR } from '../experiment/citations';
import { group, number } from '../experiment/keys';
import { methodSpec } from './spec';

export const simclr = methodSpec({
  description:
    'SimCLR, *A Simple Framework for Contrastive Learning of Visual Representations* (Chen et al., ICML 2020): NT-Xent loss over the other views of the batch.',
  options: group(`Parameters of ${SIMCLR}.`, {
    temperature: number(
      0.01,
      10,
      0.5,
      `Temperature τ of the NT-Xent loss. ${SIMCLR}: 0.5 for CIFAR-10 and small batches; 0.1 for ImageNet with batch 4096.`,
    ),
  }),
  usesPredictor: false,
});
