import type { NetworkOptions } from '../../src/engine/methods/method';
import type { MethodName, MethodOptions } from '../../src/shared/config/methods/registry';

/** A small conv net with small heads: every method trains on it in seconds. */
export function tinyNetwork(seed: number, heads: Partial<NetworkOptions> = {}): NetworkOptions {
  return {
    seed,
    encoder: { arch: 'smallcnn', width: 0.25, stem: 'cifar' },
    projector: { hiddenDim: 64, outDim: 32 },
    predictor: { hiddenDim: 16 },
    ...heads,
  };
}

/** Each method's options for the tiny network: a short MoCo queue, momenta that let the copies move. */
export const tinyMethodOptions: { [Name in MethodName]: MethodOptions<Name> } = {
  simclr: { temperature: 0.5 },
  mocov2: { temperature: 0.2, queueSize: 64, momentum: 0.99 },
  simsiam: { fixPredictorLr: true },
  byol: { momentumBase: 0.99 },
};
