import path from 'node:path';
import type { ImportanceVariant } from '../../shared/config/experiment/choices';
import { keyPaths, type ResolvedConfig } from '../../shared/config/experiment/definitions';
import { overrideKey, parseExperimentConfig } from '../../shared/config/experiment/parse';
import type { NonDiscriminativeMask } from '../../shared/mask';
import { synthesisOverrideKeys } from '../../shared/protocol/worker';
import { maskOf, sigmaOf } from '../analysis/analysisStep';
import { readAnalysisArray, readMaskCriteria } from '../analysis/artefacts';
import { loadCheckpoint, restoreVariables } from '../checkpoint';
import { createMethodFor } from '../methods/registry';
import type { FrozenDecoder } from '../models/decoder';
import { LoadedRunCache, type LoadedRunKind, locateRunSources, type RunSources } from '../savedRun';
import { readAndDispose, tf } from '../tf';
import { ExperimentInputError } from '../training/experiment';
import { imageBytes } from './grid';
import { type BuiltDecoder, buildDecoder, usesDecoder } from './pairLoss';
import { type SynthesizedPairs, synthesizePairs } from './pairs';

/** Keys a person plausibly reaches for that mean something else here. */
const refusalHints: Record<string, string> = {
  'perturb.samples': 'it sets the copies training draws; the grid draws analysis.probes.samples copies',
};

/** The settings one synthesis drew its pairs with, after overrides. */
export interface SynthesisSettings {
  perturb: Pick<ResolvedConfig['perturb'], 'mode' | 'strength' | 'fraction'>;
  /** Perturbed copies per probe: `analysis.probes.samples`. */
  samples: number;
  variance: { quantile: number };
  gradcam: { quantile: number; variant: ImportanceVariant };
  combine: ResolvedConfig['analysis']['combine'];
}

export interface Synthesis {
  pairs: SynthesizedPairs;
  mask: NonDiscriminativeMask;
  settings: SynthesisSettings;
  timings: { maskMs: number; pairsMs: number };
}

/**
 * What a synthesis was drawn from and with, as the CLI prints it and the worker answers it: the sources, and
 * the mask with each criterion's cut.
 */
export function describeSynthesis(synthesizer: RunSynthesizer, { mask, settings }: Synthesis) {
  return {
    checkpoint: synthesizer.sources.checkpoint,
    epoch: synthesizer.checkpointEpoch,
    analysisEpoch: synthesizer.analysisEpoch,
    dimensions: synthesizer.dimensions,
    masked: mask.count,
    variance: { ...settings.variance, count: mask.variance.count, threshold: mask.variance.threshold },
    gradcam: { ...settings.gradcam, count: mask.gradcam.count, threshold: mask.gradcam.threshold },
    combine: settings.combine,
    perturb: settings.perturb,
  };
}

export type { RunSources } from '../savedRun';

/**
 * Finds the checkpoint and analysis a synthesis of the run uses, refusing a run that cannot be synthesized:
 * one still being trained, one without a decoder, one without a checkpoint or an analysis yet.
 */
export function locateSources(runDir: string): Promise<RunSources> {
  return locateRunSources(runDir, {
    purpose: 'synthesize',
    whileTraining: 'refuse',
    refuse: (config) =>
      usesDecoder(config)
        ? undefined
        : 'was trained without a decoder (loss.alpha = loss.nu = 0), so it has nothing to synthesize with',
  });
}

/** The perturbed copies one synthesis decoded, and everything besides its index that decides a copy's pixels. */
interface DecodedCopies {
  drawnWith: string;
  samples: number;
  perturbed: Float32Array;
}

/**
 * A trained run held ready to redraw its probes' pairs: the decoder with the checkpoint's weights, h of the
 * probes and their reconstructions d(h) computed once, and the analysis's variances and importances the mask
 * is rebuilt from. Each {@link synthesize} then decodes only the perturbed copies, with the decoder frozen
 * (batch norms folded, upsampling as transposed convolutions), so a grid follows a slider; and only the copies
 * the previous synthesis did not already decode with the same mask and perturbation (an edit of the number of
 * copies, or of a quantile that leaves the mask as it was, decodes nothing it had). Callers read the pixels
 * a synthesis returns and never write them, since the next one may reuse them.
 *
 * The probes are the analysis's own `probes.centre` images rather than the test split read again: the
 * grids show exactly those pixels, and a run stays synthesizable after its data has moved. They are stored
 * as bytes, so h differs from the analysis's by that rounding; the reconstructions still agree with the
 * saved ones to 1/255.
 */
export class RunSynthesizer {
  private disposed = false;
  private previous: DecodedCopies | undefined;
  /** d(h) as the bytes a grid shows. */
  readonly reconstructionBytes: Uint8Array;

  private constructor(
    readonly sources: RunSources,
    readonly checkpointEpoch: number,
    /** The probe images as saved, [P, S, S, 3] bytes, and as the encoder saw them, in [0, 1]. */
    readonly probeBytes: Uint8Array,
    readonly probeImages: Float32Array,
    private readonly decoder: FrozenDecoder,
    private readonly features: tf.Tensor2D,
    private readonly reconstructions: Float32Array,
    private readonly variance: Float32Array,
    private readonly sigma: Float32Array,
    private readonly importance: Record<ImportanceVariant, Float32Array>,
  ) {
    this.reconstructionBytes = imageBytes(reconstructions);
  }

  /**
   * Loads what {@link locateSources} found. Builds tf.Variables named as training names them, so no other
   * model of the same names (another synthesizer, a trainer) may live in the process at the same time.
   */
  static async fromSources(sources: RunSources): Promise<RunSynthesizer> {
    const { config, runDir, analysis } = sources;
    const { variance, importance } = await readMaskCriteria(analysis);
    const probeBytes = (await readAnalysisArray(analysis, 'probes.centre')) as Uint8Array;
    const probeImages = Float32Array.from(probeBytes, (value) => value / 255);
    const probes = analysis.manifest.probes.testPositions.length;
    const size = analysis.manifest.imageSize;

    const loaded = await loadCheckpoint(path.join(runDir, 'checkpoints'), sources.checkpoint);
    let decoder: BuiltDecoder | undefined;
    try {
      if (![...loaded.tensors.keys()].some((name) => name.startsWith('decoder.'))) {
        throw new ExperimentInputError(
          `${runDir}: checkpoint ${sources.checkpoint} holds no decoder weights, so it has nothing to synthesize with`,
        );
      }
      const method = createMethodFor(config);
      try {
        restoreVariables(method.state(), loaded.tensors);
        decoder = buildDecoder(config, method.encoder.featureDim);
        restoreVariables(decoder.parameters.all(), loaded.tensors);
        const frozen = decoder.decoder.freeze();
        // h and d(h) of the probes never change for a checkpoint: compute them once, and neither the encoder
        // nor the trainable decoder is needed any more.
        const features = tf.tidy(
          () => method.encoder.apply(tf.tensor4d(probeImages, [probes, size, size, 3]), 'eval').features,
        );
        const reconstructions = await readAndDispose(frozen.decode(features));
        return new RunSynthesizer(
          sources,
          loaded.manifest.epoch,
          probeBytes,
          probeImages,
          frozen,
          features,
          reconstructions,
          variance,
          sigmaOf(variance),
          importance,
        );
      } finally {
        method.dispose();
      }
    } finally {
      decoder?.parameters.dispose();
      tf.dispose([...loaded.tensors.values()]);
    }
  }

  get analysisEpoch(): number {
    return this.sources.analysis.manifest.epoch;
  }

  get probes(): number {
    return this.features.shape[0];
  }

  get dimensions(): number {
    return this.features.shape[1];
  }

  get imageSize(): number {
    return this.sources.config.data.imageSize;
  }

  /**
   * The probes' pairs with the run's settings changed by `overrides` (`key=value`, as `--set` takes them;
   * only {@link synthesisOverrideKeys}), drawn as the analysis draws them: the run's seed, step 0, evaluation
   * mode. With no overrides the reconstructions are the saved analysis's.
   */
  async synthesize(overrides: readonly string[] = []): Promise<Synthesis> {
    if (this.disposed) {
      throw new Error(`the synthesizer of ${this.sources.runDir} has been disposed`);
    }
    const config = synthesisConfig(this.sources.config, overrides);
    const maskStarted = performance.now();
    const mask = maskOf(config, this.variance, this.importance);
    const pairsStarted = performance.now();
    const perturbOptions = { ...config.perturb, samples: config.analysis.probes.samples, seed: config.seed };
    const drawnWith = JSON.stringify([
      mask.mask.join(''),
      perturbOptions.mode,
      perturbOptions.strength,
      perturbOptions.fraction,
      perturbOptions.seed,
    ]);
    let pairs: SynthesizedPairs;
    try {
      pairs = await synthesizePairs(
        (h) => this.decoder.decode(h),
        this.features,
        { mask: mask.mask, sigma: this.sigma },
        perturbOptions,
        { reconstructions: this.reconstructions, copies: this.copiesDrawnWith(drawnWith) },
      );
    } catch (error) {
      // The config allows every mode, but shuffle and interpolate need a partner among the probes.
      throw error instanceof RangeError
        ? new ExperimentInputError(`${this.sources.runDir}: ${error.message}`)
        : error;
    }
    this.previous = { drawnWith, samples: pairs.samples, perturbed: pairs.perturbed };
    const finished = performance.now();
    return {
      pairs,
      mask,
      settings: {
        perturb: {
          mode: config.perturb.mode,
          strength: config.perturb.strength,
          fraction: config.perturb.fraction,
        },
        samples: config.analysis.probes.samples,
        variance: { quantile: config.analysis.variance.quantile },
        gradcam: { quantile: config.analysis.gradcam.quantile, variant: config.analysis.gradcam.variant },
        combine: config.analysis.combine,
      },
      timings: { maskMs: pairsStarted - maskStarted, pairsMs: finished - pairsStarted },
    };
  }

  /** The copies the previous synthesis decoded, when it drew them as `drawnWith` says: copy → pixels. */
  private copiesDrawnWith(drawnWith: string): Map<number, Float32Array> {
    const copies = new Map<number, Float32Array>();
    const previous = this.previous;
    if (previous?.drawnWith !== drawnWith) return copies;
    const copyLength = this.reconstructions.length;
    for (let copy = 0; copy < previous.samples; copy++) {
      copies.set(copy, previous.perturbed.subarray(copy * copyLength, (copy + 1) * copyLength));
    }
    return copies;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.previous = undefined;
    this.features.dispose();
    this.decoder.dispose();
  }
}

/**
 * The run's config with a synthesis's overrides applied, validated as `--set` values are. Keys that would
 * change the trained model are refused by name; unknown keys and bad values get the config's own messages.
 */
export function synthesisConfig(saved: ResolvedConfig, overrides: readonly string[]): ResolvedConfig {
  const allowed: readonly string[] = synthesisOverrideKeys;
  const known = keyPaths();
  const refused = overrides
    .map((assignment) => overrideKey(assignment))
    .filter((key): key is string => key !== undefined && known.has(key) && !allowed.includes(key))
    .map(
      (key) =>
        `${key}: cannot be changed when synthesizing a run${refusalHints[key] ? ` (${refusalHints[key]})` : ''}; only ${allowed.join(', ')} can`,
    );
  if (refused.length > 0) {
    throw new ExperimentInputError(refused.join('; '));
  }
  const { config, diagnostics } = parseExperimentConfig(JSON.stringify(saved), { overrides });
  if (!config) {
    throw new ExperimentInputError(
      diagnostics
        .filter((diagnostic) => diagnostic.severity === 'error')
        .map((diagnostic) => diagnostic.message)
        .join('; '),
      diagnostics,
    );
  }
  return config;
}

/** How the worker's {@link LoadedRunCache} finds and opens a synthesizer. */
export const synthesizerKind: LoadedRunKind<RunSynthesizer> = {
  name: 'synthesizer',
  locate: locateSources,
  open: (sources) => RunSynthesizer.fromSources(sources),
  // The method and decoder it builds are disposed once h and d(h) of the probes are computed.
  keepsVariables: false,
};

/**
 * One run's synthesizer kept loaded between requests, and reopened when the run was trained further or
 * another run is asked for, in a cache it may share with other kinds of loaded runs.
 */
export class SynthesizerCache {
  constructor(private readonly runs = new LoadedRunCache()) {}

  /**
   * Runs `use` on the synthesizer of `runDir`, refusing the run as {@link locateSources} does. A synthesis
   * awaits its reads from the backend, so it runs inside `use`: no other request may reopen or close the
   * run's synthesizer while one is under way.
   */
  use<R>(runDir: string, use: (synthesizer: RunSynthesizer) => Promise<R>): Promise<R> {
    return this.runs.use(synthesizerKind, runDir, use);
  }

  /** Frees every run the cache holds, e.g. before the process trains a model of the same names. */
  close(): Promise<void> {
    return this.runs.close();
  }
}
