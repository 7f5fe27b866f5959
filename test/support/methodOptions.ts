import type { MethodOptions } from '../../src/engine/methods/method';

/** A small conv net with small heads: every method trains on it in seconds. */
export function tinyMethodOptions(seed: number, heads: Partial<MethodOptions> = {}): MethodOptions {
  return {
    seed,
    encoder: { arch: 'smallcnn', width: 0.25, stem: 'cifar' },
    projector: { hiddenDim: 64, outDim: 32 },
    predictor: { hiddenDim: 16 },
    simclr: { temperature: 0.5 },
    mocov2: { temperature: 0.2, queueSize: 64, momentum: 0.99 },
    byol: { momentumBase: 0.99 },
    ...heads,
  };
}
