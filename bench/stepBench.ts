// What bench/backends.ts, its per-process child bench/backendStep.ts and bench/gpu-check share: the experiment
// whose steps are timed, and the line the child answers with. Free of tensor code, so the parent loads no
// TF.js backend.
import type { ResolvedConfig } from '../src/shared/config/experiment/definitions';
import { parseExperimentConfig } from '../src/shared/config/experiment/parse';
import type { BackendName, BackendReport } from '../src/shared/protocol/backend';
import type { KernelTotals, StepFlops } from './stepFlops';

/**
 * - encoder: a SimCLR step of the encoder and projector, the plain SSL baseline (α = ν = 0).
 * - decoder: the decoder alone learning to reconstruct the centre views from the features of the encoder
 *   frozen in evaluation mode (its forward pass is part of the step, its weights are not trained).
 * - full: the synthesized-pair method's step as the trainer runs it once L_Cp is due: L_C + α·L_R + ν·L_Cp.
 * - resnet50-224: the encoder step at the paper's size: full-width ResNet-50, ImageNet stem, 224×224, batch 32;
 *   it answers whether that trains on this machine's memory at all, and at what cost per step.
 */
export const stepKinds = ['encoder', 'decoder', 'full', 'resnet50-224'] as const;
export type StepKind = (typeof stepKinds)[number];

/**
 * The experiment every step is cut from. The keys the PyTorch mirror implements only one way of
 * (bench/pytorch/ssl_step.py) are pinned here rather than left to the defaults, so that a change of default
 * cannot make the two sides train different things.
 */
const experiment = {
  name: 'bench-backends',
  seed: 0,
  backend: 'auto',
  // Never read: the steps train on random tensors made once, so the step alone is timed.
  data: { root: '.', layout: 'imagefolder', imageSize: 64 },
  model: { arch: 'resnet18', width: 0.5, stem: 'imagenet', projector: { hiddenDim: 512, outDim: 128 } },
  ssl: { method: 'simclr', simclr: { temperature: 0.5 } },
  train: { batchSize: 64 },
  // lr is scaled by batchSize/256, so 0.004 is Adam's 1e-3 at batch 64.
  optim: { name: 'adam', lr: 0.004, weightDecay: 0, warmupEpochs: 0, schedule: 'constant' },
  decoder: { width: 0.5, upsample: 'resize' },
  perturb: { mode: 'gaussian', strength: 1, fraction: 1, samples: 1 },
  synthesis: { detachDecoder: true, temperature: 0.2 },
  loss: { alpha: 1, nu: 1 },
};

type Experiment = typeof experiment;

/** The paper's encoder and image size, full-width ResNet-50 at 224×224, at batch 32; else as the experiment above. */
const paperExperiment: Experiment = {
  ...experiment,
  name: 'bench-backends-resnet50-224',
  data: { ...experiment.data, imageSize: 224 },
  model: { ...experiment.model, arch: 'resnet50', width: 1 },
  train: { batchSize: 32 },
  // Adam's 1e-3 at batch 32, as the other steps train with it.
  optim: { ...experiment.optim, lr: 0.008 },
};

/** Settings of the experiment that bench/pytorch/ssl_step.py does not mirror, in words. */
function beyondPytorchMirror(config: ResolvedConfig): string[] {
  const { model, ssl, optim, decoder, perturb, synthesis } = config;
  const checks: [boolean, string][] = [
    [
      (model.arch === 'resnet18' || model.arch === 'resnet50') && model.stem === 'imagenet',
      `model ${model.arch} (${model.stem} stem)`,
    ],
    [model.projector.hiddenDim === 512 && model.projector.outDim === 128, 'a projector other than 512→128'],
    [ssl.method === 'simclr', `ssl.method ${ssl.method}`],
    [
      optim.name === 'adam' && optim.weightDecay === 0,
      `optim ${optim.name}, weight decay ${optim.weightDecay}`,
    ],
    [decoder.upsample === 'resize', `decoder.upsample ${decoder.upsample}`],
    [
      perturb.mode === 'gaussian' && perturb.fraction === 1 && perturb.samples === 1,
      'perturb other than gaussian, fraction 1, 1 sample',
    ],
    [synthesis.detachDecoder, 'synthesis.detachDecoder false'],
  ];
  return checks.flatMap(([mirrored, setting]) => (mirrored ? [] : [setting]));
}

function resolveExperiment(experiment: Experiment): ResolvedConfig {
  const { config, diagnostics } = parseExperimentConfig(JSON.stringify(experiment));
  if (!config) {
    throw new Error(
      `the bench experiment ${experiment.name} is invalid: ${diagnostics.map((d) => `${d.path}: ${d.message}`).join('; ')}`,
    );
  }
  const unmirrored = beyondPytorchMirror(config);
  if (unmirrored.length > 0) {
    throw new Error(
      `bench/pytorch/ssl_step.py does not mirror ${experiment.name}'s ${unmirrored.join(', ')}`,
    );
  }
  return config;
}

export const benchConfig = resolveExperiment(experiment);
const paperConfig = resolveExperiment(paperExperiment);

/** The experiment a kind of step is cut from. */
export function stepConfig(kind: StepKind): ResolvedConfig {
  return kind === 'resnet50-224' ? paperConfig : benchConfig;
}

/** Adam's step size as the trainer hands it to the optimiser: optim.lr scaled by batchSize/256. */
export const learningRate = (benchConfig.optim.lr * benchConfig.train.batchSize) / 256;

/**
 * Share of h's dimensions the full step's mask marks non-discriminative: the first ⌊share·C⌋, each with
 * σ = 1. With perturb.fraction 1 every masked dimension moves whichever they are, so which ones does not
 * change the work; 0.25 is one criterion's default quantile (`analysis.variance.quantile`).
 */
export const maskShare = 0.25;

/**
 * The arguments of bench/pytorch/ssl_step.py that make its step the same as this kind of step here; the
 * caller adds the counts of steps, the threads and the device.
 */
export function pytorchStepArgs(kind: StepKind): string[] {
  const config = stepConfig(kind);
  return [
    ...['--step', kind === 'resnet50-224' ? 'encoder' : kind, '--arch', config.model.arch],
    ...['--batch', `${config.train.batchSize}`, '--size', `${config.data.imageSize}`],
    ...['--width', `${config.model.width}`, '--temperature', `${config.ssl.simclr.temperature}`],
    ...['--decoder-width', `${config.decoder.width}`, '--alpha', `${config.loss.alpha}`],
    ...['--nu', `${config.loss.nu}`, '--pair-temperature', `${config.synthesis.temperature}`],
    ...['--strength', `${config.perturb.strength}`, '--mask-share', `${maskShare}`],
  ];
}

/** What a child found when it ran a step, one JSON line on its stdout. */
export type StepOutcome = StepMeasurement | StepUnavailable;

export interface StepUnavailable {
  status: 'unavailable';
  backend: BackendName;
  step: StepKind;
  reason: string;
}

export interface StepMeasurement {
  status: 'ok';
  backend: BackendName;
  step: StepKind;
  /** The backend as selectBackend reported it. */
  report: Pick<BackendReport, 'selected' | 'tfjsBackend' | 'wasm' | 'onednn' | 'webgpu' | 'versions'> & {
    reason: string;
  };
  parameters: number;
  warmup: number;
  stepTimesMs: number[];
  /** The loss terms of the last timed step, all finite. */
  losses: Record<string, number>;
  /**
   * Of one step run under tf.profile(): a further one after the timed ones when `afterWarmup`, else the
   * first warm-up step, whose kernel times include the backend's one-time work and say little.
   */
  profile: { afterWarmup: boolean; stepMs: number; flops: StepFlops; kernels: KernelTotals[] };
  /** process.resourceUsage().maxRSS of the child, in KiB. */
  maxRssKiB: number;
}
