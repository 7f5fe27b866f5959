import { simSiamLoss } from '../losses/negativeCosine';
import type { Mode } from '../models/layers';
import type { tf } from '../tf';
import type { NetworkOptions, SslMethod } from './method';
import { buildBranch, buildPredictor, singleBranchMethod } from './networks';

/**
 * SimSiam (Chen & He 2021): a predictor on one branch, a stop-gradient on the other, no negatives. Its one
 * option, the predictor's fixed learning rate, is the trainer's to apply (the spec's `fixedRateScopes`).
 */
export function createSimSiam(network: NetworkOptions): SslMethod {
  const branch = buildBranch('online', network);
  const predictor = buildPredictor(branch, network);
  const lossFromFeatureMaps = (
    [map1, map2]: [tf.Tensor4D, tf.Tensor4D],
    _views: [tf.Tensor4D, tf.Tensor4D],
    mode: Mode,
  ) => {
    const z1 = branch.projectFeatureMap(map1, mode);
    const z2 = branch.projectFeatureMap(map2, mode);
    return simSiamLoss(predictor.apply(z1, mode), predictor.apply(z2, mode), z1, z2);
  };
  return singleBranchMethod('simsiam', branch, lossFromFeatureMaps);
}
