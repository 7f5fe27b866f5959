import { BYOL } from '../experiment/citations';
import { group, number } from '../experiment/keys';
import { methodSpec } from './spec';

export const byol = methodSpec({
  description:
    'BYOL, *Bootstrap Your Own Latent* (Grill et al., NeurIPS 2020): a predictor regresses the projection of a momentum (target) encoder.',
  options: group(`Parameters of ${BYOL}.`, {
    momentumBase: number(
      0,
      1,
      0.996,
      `Base momentum τ_base of the target network's moving average, increased to 1 over training by a cosine schedule (0.996 in ${BYOL}).`,
    ),
  }),
  usesPredictor: true,
});
