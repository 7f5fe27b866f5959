import { MOCO_V2 } from '../experiment/citations';
import { group, integer, number } from '../experiment/keys';
import { methodSpec } from './spec';

export const mocov2 = methodSpec({
  description:
    'MoCo v2, *Improved Baselines with Momentum Contrastive Learning* (Chen, Fan, Girshick & He, arXiv 2003.04297, 2020): InfoNCE against a queue of keys from a momentum encoder.',
  options: group(`Parameters of ${MOCO_V2}.`, {
    temperature: number(0.01, 10, 0.2, `Temperature τ of the InfoNCE loss (0.2 in ${MOCO_V2}).`),
    queueSize: integer(
      2,
      1_048_576,
      65_536,
      `Number of negative keys kept in the queue (65536 in ${MOCO_V2}). A whole batch is enqueued at once, so it must be a multiple of \`train.batchSize\`; keep it below the training-set size on small data sets, or the queue holds stale copies of each image.`,
    ),
    momentum: number(
      0,
      1,
      0.999,
      `Momentum of the key encoder's exponential moving average (0.999 in ${MOCO_V2}).`,
    ),
  }),
  usesPredictor: false,
  problems: ({ queueSize }, { batchSize }) =>
    queueSize % batchSize === 0
      ? []
      : [
          {
            key: 'queueSize',
            message: `must be a multiple of train.batchSize (${batchSize}), since a whole batch of keys is enqueued at once; got ${queueSize}`,
            otherKey: 'train.batchSize',
          },
        ],
});
