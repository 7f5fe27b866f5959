import { SIMSIAM } from '../experiment/citations';
import { flag, group } from '../experiment/keys';
import { methodSpec } from './spec';

export const simsiam = methodSpec({
  description:
    'SimSiam, *Exploring Simple Siamese Representation Learning* (Chen & He, CVPR 2021): negative cosine similarity with a predictor and stop-gradient, no negatives.',
  options: group(`Parameters of ${SIMSIAM}.`, {
    fixPredictorLr: flag(
      true,
      `Keep the predictor's learning rate at the base value instead of following the schedule (${SIMSIAM} found this works better).`,
    ),
  }),
  usesPredictor: true,
  fixedRateScopes: ({ fixPredictorLr }) => (fixPredictorLr ? ['predictor'] : []),
});
