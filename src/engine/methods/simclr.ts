import type { MethodOptions } from '../../shared/config/methods/registry';
import { ntXentLoss } from '../losses/ntXent';
import type { Mode } from '../models/layers';
import type { tf } from '../tf';
import type { NetworkOptions, SslMethod } from './method';
import { buildBranch, singleBranchMethod } from './networks';

/** SimCLR (Chen et al. 2020): both views through one network, NT-Xent between their projections. */
export function createSimClr(network: NetworkOptions, { temperature }: MethodOptions<'simclr'>): SslMethod {
  const branch = buildBranch('online', network);
  const lossFromFeatureMaps = (
    [map1, map2]: [tf.Tensor4D, tf.Tensor4D],
    _views: [tf.Tensor4D, tf.Tensor4D],
    mode: Mode,
  ) => ntXentLoss(branch.projectFeatureMap(map1, mode), branch.projectFeatureMap(map2, mode), temperature);
  return singleBranchMethod('simclr', branch, lossFromFeatureMaps);
}
