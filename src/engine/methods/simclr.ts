import { ntXentLoss } from '../losses/ntXent';
import type { tf } from '../tf';
import type { MethodOptions, SslMethod } from './method';
import { buildBranch } from './networks';

/** SimCLR (Chen et al. 2020): both views through one network, NT-Xent between their projections. */
export function createSimClr(options: MethodOptions): SslMethod {
  const branch = buildBranch('online', options.encoder, options.projector, options.seed);
  return {
    name: 'simclr',
    encoder: branch.encoder,
    loss(view1: tf.Tensor4D, view2: tf.Tensor4D) {
      const contrastive = ntXentLoss(
        branch.apply(view1, 'train').projection,
        branch.apply(view2, 'train').projection,
        options.simclr.temperature,
      );
      return { total: contrastive, terms: { contrastive } };
    },
    trainableVariables: () => branch.parameters.trainable(),
    state: () => branch.parameters.all(),
    afterStep: () => undefined,
    dispose: () => branch.parameters.dispose(),
  };
}
