import { simSiamLoss } from '../losses/negativeCosine';
import type { tf } from '../tf';
import type { MethodOptions, SslMethod } from './method';
import { buildBranch, buildPredictor } from './networks';

/** SimSiam (Chen & He 2021): a predictor on one branch, a stop-gradient on the other, no negatives. */
export function createSimSiam(options: MethodOptions): SslMethod {
  const branch = buildBranch('online', options.encoder, options.projector, options.seed);
  const predictor = buildPredictor(branch, options);
  return {
    name: 'simsiam',
    encoder: branch.encoder,
    loss(view1: tf.Tensor4D, view2: tf.Tensor4D) {
      const z1 = branch.apply(view1, 'train').projection;
      const z2 = branch.apply(view2, 'train').projection;
      const contrastive = simSiamLoss(predictor.apply(z1, 'train'), predictor.apply(z2, 'train'), z1, z2);
      return { total: contrastive, terms: { contrastive } };
    },
    trainableVariables: () => branch.parameters.trainable(),
    state: () => branch.parameters.all(),
    afterStep: () => undefined,
    dispose: () => branch.parameters.dispose(),
  };
}
