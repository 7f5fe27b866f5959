import type { MethodOptions } from '../../shared/config/methods/registry';
import { byolLoss } from '../losses/byol';
import type { Mode } from '../models/layers';
import type { tf } from '../tf';
import type { NetworkOptions, SslMethod } from './method';
import { buildBranch, buildPredictor, copyWeights, momentumUpdate, singleTermLoss } from './networks';

/**
 * BYOL (Grill et al. 2020): the online network with a predictor regresses the projections of a target
 * network that follows it by an exponential moving average whose momentum rises from τ_base to 1 along a
 * cosine: τ = 1 − (1 − τ_base)·(cos(πk/K) + 1)/2.
 */
export function createByol(network: NetworkOptions, { momentumBase }: MethodOptions<'byol'>): SslMethod {
  const online = buildBranch('online', network);
  const target = buildBranch('target', network);
  const predictor = buildPredictor(online, network);
  // The predictor is the online network's last weights; the target has no counterpart to follow it.
  const followed = () => online.parameters.all().filter(([name]) => !name.startsWith('online.predictor.'));
  copyWeights(target.parameters.all(), followed());
  const lossFromFeatureMaps = (
    [map1, map2]: [tf.Tensor4D, tf.Tensor4D],
    [view1, view2]: [tf.Tensor4D, tf.Tensor4D],
    mode: Mode,
  ) => {
    const p1 = predictor.apply(online.projectFeatureMap(map1, mode), mode);
    const p2 = predictor.apply(online.projectFeatureMap(map2, mode), mode);
    const z1 = target.apply(view1, mode).projection;
    const z2 = target.apply(view2, mode).projection;
    return byolLoss(p1, p2, z1, z2);
  };
  return {
    name: 'byol',
    encoder: online.encoder,
    loss: singleTermLoss(online, lossFromFeatureMaps),
    lossFromFeatureMaps,
    project: (images, mode) => online.apply(images, mode).projection,
    trainableVariables: () => online.parameters.trainable(),
    state: () => [...online.parameters.all(), ...target.parameters.all()],
    async afterStep({ step, totalSteps }) {
      const tau = 1 - (1 - momentumBase) * ((Math.cos((Math.PI * step) / Math.max(1, totalSteps)) + 1) / 2);
      momentumUpdate(target.parameters.all(), followed(), tau);
    },
    dispose() {
      online.parameters.dispose();
      target.parameters.dispose();
    },
  };
}
