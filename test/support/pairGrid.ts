import type { SynthesisResultMessage } from '../../src/shared/protocol/worker';

/**
 * A pair grid as the worker answers it: `probes` tiles of `imageSize`² RGB pixels, `samples` copies of each,
 * every array zero but for what `overrides` says.
 */
export function pairGrid(
  shape: { probes: number; imageSize: number; samples: number },
  overrides: Partial<SynthesisResultMessage> = {},
): SynthesisResultMessage {
  const criterion = { quantile: 0.25, count: 1, threshold: 0.1 };
  const tiles = shape.probes * shape.imageSize * shape.imageSize * 3;
  return {
    cancelled: false,
    runDir: 'run',
    checkpoint: 'epoch-0001',
    epoch: 1,
    analysisEpoch: 1,
    ...shape,
    dimensions: 8,
    masked: 2,
    variance: criterion,
    gradcam: { ...criterion, variant: 'absolute' },
    combine: 'union',
    perturb: { mode: 'gaussian', strength: 1, fraction: 1 },
    originals: new Uint8Array(tiles),
    reconstructions: new Uint8Array(tiles),
    perturbed: new Uint8Array(shape.samples * tiles),
    elapsedMs: 12,
    ...overrides,
  };
}
