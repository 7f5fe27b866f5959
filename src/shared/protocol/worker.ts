import * as z from 'zod/mini';
import { importanceVariants, maskCombines, perturbModes } from '../config/experiment/choices';
import { backendPreference, backendReport } from './backend';
import { evalRecord, quantileCriterion } from './runFiles';
import './zodLocale';

/** A new run from an experiment file's text (saved or not, as in the editor), or the continuation of a run. */
export const experimentStart = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('new'),
    configFile: z.string(),
    text: z.string(),
    overrides: z.array(z.string()),
    /** Where a relative path given as an override (`data.root`, `model.init`) is resolved: the CLI's current folder. */
    overridesBase: z.string(),
    /** The run folder; by default a new `<name>-<time>` folder under `runsFolder`. */
    out: z.optional(z.string()),
    runsFolder: z.string(),
  }),
  z.object({ kind: z.literal('resume'), runDir: z.string() }),
]);
export type ExperimentStart = z.infer<typeof experimentStart>;

/** Where a training run stands after each step, for a status bar or a progress bar. */
export const trainingProgress = z.object({
  epoch: z.int().check(z.nonnegative()),
  epochs: z.int().check(z.positive()),
  step: z.int().check(z.nonnegative()),
  totalSteps: z.int().check(z.nonnegative()),
  losses: z.record(z.string(), z.number()),
  lr: z.number(),
  imagesPerSecond: z.number(),
});
export type TrainingProgressMessage = z.infer<typeof trainingProgress>;

/** How a training run ended. */
export const trainingOutcome = z.object({
  state: z.enum(['completed', 'stopped']),
  /** Epochs finished: a stopped run resumes after this many. */
  epoch: z.int().check(z.nonnegative()),
  step: z.int().check(z.nonnegative()),
  /** The last evaluation of a completed run. */
  evaluation: z.optional(evalRecord),
});
export type TrainingOutcome = z.infer<typeof trainingOutcome>;

/**
 * RGB bytes as a plain `Uint8Array`. Pixels cross both borders as bytes, never as text: the worker's IPC
 * channel uses Node's structured-clone ("advanced") serialization, and VS Code hands standard typed arrays to
 * a webview as binary. A Node `Buffer` is refused: VS Code would write one into the webview message as JSON
 * numbers (`asPlainBytes` turns one into a plain view of the same memory).
 */
const rgbBytes = z.custom<Uint8Array>(
  (value) => value instanceof Uint8Array && Object.getPrototypeOf(value) === Uint8Array.prototype,
  { error: 'expected the pixels as a plain Uint8Array' },
);

/** The same bytes as a plain `Uint8Array`, e.g. of a `Buffer` read from a file; no copy. */
export function asPlainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** What a pair grid was drawn from and with, without its pixels. */
const synthesisFigures = z.object({
  cancelled: z.literal(false),
  runDir: z.string(),
  checkpoint: z.string(),
  epoch: z.int().check(z.nonnegative()),
  /** The analysis the mask's variances and importances come from. */
  analysisEpoch: z.int().check(z.nonnegative()),
  probes: z.int().check(z.positive()),
  imageSize: z.int().check(z.positive()),
  samples: z.int().check(z.positive()),
  dimensions: z.int().check(z.positive()),
  masked: z.int().check(z.nonnegative()),
  variance: quantileCriterion,
  gradcam: z.extend(quantileCriterion, { variant: z.enum(importanceVariants) }),
  combine: z.enum(maskCombines),
  perturb: z.object({
    mode: z.enum(perturbModes),
    strength: z.number(),
    fraction: z.number(),
  }),
  /** From the request's arrival to the pixels, loading the run included when it was not loaded yet. */
  elapsedMs: z.number().check(z.nonnegative()),
});

type GridPixels = Partial<Record<'originals' | 'reconstructions' | 'perturbed', Uint8Array>>;

/** Each array a grid carries holds whole tiles of the stated size: a short one would paint a torn grid. */
const wholeTiles = z.superRefine((result: z.infer<typeof synthesisFigures> & GridPixels, context) => {
  const tile = result.imageSize * result.imageSize * 3;
  const tiles = {
    originals: result.probes,
    reconstructions: result.probes,
    perturbed: result.probes * result.samples,
  };
  for (const [field, count] of Object.entries(tiles) as [keyof typeof tiles, number][]) {
    const bytes = result[field];
    if (bytes !== undefined && bytes.length !== count * tile) {
      context.addIssue({
        code: 'custom',
        path: [field],
        input: bytes,
        message: `holds ${bytes.length} bytes, not the ${count * tile} of ${count} tiles of ${result.imageSize} × ${result.imageSize} × 3`,
      });
    }
  }
});

/**
 * The pairs of a run's probes redrawn with changed settings. Images are RGB bytes, row-major, channels last:
 * [P, S, S, 3] originals and reconstructions, [samples, P, S, S, 3] perturbed copies.
 */
export const synthesisResult = z
  .extend(synthesisFigures, { originals: rgbBytes, reconstructions: rgbBytes, perturbed: rgbBytes })
  .check(wholeTiles);

/**
 * A grid without the originals and reconstructions, for a receiver that holds those of the grid before: an
 * edit of perturb.* or of the mask leaves them as they were, and they are a third of a grid's bytes.
 */
export const perturbedSynthesis = z.extend(synthesisFigures, { perturbed: rgbBytes }).check(wholeTiles);
export type PerturbedSynthesis = z.infer<typeof perturbedSynthesis>;
export type SynthesisResultMessage = z.infer<typeof synthesisResult>;

/**
 * The Grad-CAM of one image of a run's data set, from the run's latest checkpoint. `pixels` are the centre
 * view the maps are of (S × S × 3 RGB bytes, row-major), each map S × S bytes (value × 255, divided by its
 * maximum as the analysis's `heatmap.*` arrays are), all base64-encoded.
 */
export const imageHeatmapResult = z.object({
  runDir: z.string(),
  imageFile: z.string(),
  checkpoint: z.string(),
  /** The epoch the checkpoint was saved after. */
  epoch: z.int().check(z.nonnegative()),
  /** The analysis whose probes the image was differentiated with. */
  analysisEpoch: z.int().check(z.nonnegative()),
  split: z.enum(['train', 'test']),
  /** The image's position in its split. */
  position: z.int().check(z.nonnegative()),
  /** Which of the analysis's probes the image is; null when it is none. */
  probe: z.nullable(z.int().check(z.nonnegative())),
  imageSize: z.int().check(z.positive()),
  pixels: z.base64(),
  gradCam: z.base64(),
  gradientTimesActivation: z.base64(),
  /** L_C of the batch the maps were differentiated in, and the images it held. */
  loss: z.number(),
  batchImages: z.int().check(z.positive()),
  /** From the request's arrival to the maps, loading the run included when it was not loaded yet. */
  elapsedMs: z.number().check(z.nonnegative()),
});
export type ImageHeatmapResultMessage = z.infer<typeof imageHeatmapResult>;

/** A place in a text as an editor counts it: zero-based line, UTF-16 code units into the line. */
const textPosition = z.object({
  line: z.int().check(z.nonnegative()),
  character: z.int().check(z.nonnegative()),
});

/** A problem in an experiment file, for the editor to underline. */
export const configDiagnostic = z.object({
  message: z.string(),
  severity: z.enum(['error', 'warning', 'information']),
  /** Dotted path of the key the problem is about, e.g. `data.root`; empty for the file as a whole. */
  keyPath: z.string(),
  /** Where in the text; absent when neither the key nor any block around it is written. */
  range: z.optional(z.object({ start: textPosition, end: textPosition })),
});
export type ConfigDiagnosticMessage = z.infer<typeof configDiagnostic>;

/**
 * Every request the host may send to the engine worker, with the shape of its parameters and of its
 * result. Both sides validate against these schemas, so adding a method here is the whole contract.
 */
/**
 * The keys a `synthesize` request may override: how h′ is drawn, which dimensions the mask holds and how many
 * copies the grid shows. Everything else was fixed when the run trained.
 */
export const synthesisOverrideKeys = [
  'perturb.mode',
  'perturb.strength',
  'perturb.fraction',
  'analysis.variance.quantile',
  'analysis.gradcam.quantile',
  'analysis.gradcam.variant',
  'analysis.combine',
  'analysis.probes.samples',
] as const;

export const workerMethods = {
  ping: {
    params: z.object({ payload: z.string() }),
    result: z.object({ payload: z.string(), pid: z.int() }),
  },
  backendInfo: {
    params: z.object({}),
    result: backendReport,
  },
  /** Trains into a run folder, reporting progress with `training` filled in; one run per worker at a time. */
  train: {
    params: z.object({ start: experimentStart, cacheFolder: z.string() }),
    result: z.object({ runDir: z.string(), ...trainingOutcome.shape }),
  },
  /** Ends the current run after its current step, as `stopped` with its last checkpoint to resume from. */
  stopTraining: {
    params: z.object({}),
    result: z.object({ stopping: z.boolean() }),
  },
  /**
   * Redraws a trained run's probe pairs from its latest checkpoint and analysis with `overrides` (config key
   * → value, keys of {@link synthesisOverrideKeys} only). The run stays loaded for the next request. A request
   * still running when a newer synthesize (or a train) request arrives answers `{cancelled: true}`, never
   * pixels older than what was asked for since.
   */
  synthesize: {
    params: z.object({
      runDir: z.string(),
      overrides: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
    }),
    result: z.union([z.object({ cancelled: z.literal(true) }), synthesisResult]),
  },
  /**
   * The Grad-CAM and gradient × activation maps of `imageFile`, an image of the data set of the run in
   * `runDir`, from its latest checkpoint: the image is differentiated in a batch with the latest analysis's
   * probes, as the analysis draws theirs. A run being trained is read at its latest checkpoint. The run stays
   * loaded for the next request.
   */
  imageHeatmap: {
    params: z.object({ runDir: z.string(), imageFile: z.string() }),
    result: imageHeatmapResult,
  },
  /**
   * The problems of an experiment file's text as the editor holds it: those the config reader finds, then
   * those only this machine can tell (the data set under data.root, the backend) and mask settings that
   * defeat the method. `configFile` is the file's path, which a relative data.root is resolved against.
   */
  diagnoseConfig: {
    params: z.object({ configFile: z.string(), text: z.string() }),
    result: z.array(configDiagnostic),
  },
} as const;

export type WorkerMethod = keyof typeof workerMethods;
export type WorkerParams<M extends WorkerMethod> = z.infer<(typeof workerMethods)[M]['params']>;
export type WorkerResult<M extends WorkerMethod> = z.infer<(typeof workerMethods)[M]['result']>;

/** Request ids are the host's counter: non-negative integers. */
const requestId = z.int().check(z.nonnegative());

const withRequestId = z.object({ id: requestId });

/**
 * The id of a message that failed validation, when it has one a reply can carry: the only way to tell the
 * sender which of its requests (or, on the host, which pending request) was refused.
 */
export function usableRequestId(message: unknown): number | undefined {
  const parsed = withRequestId.safeParse(message);
  return parsed.success ? parsed.data.id : undefined;
}

const methodName = z.enum(Object.keys(workerMethods) as [WorkerMethod, ...WorkerMethod[]]);

export const workerRequest = z.object({
  kind: z.literal('request'),
  id: requestId,
  method: methodName,
  params: z.unknown(),
});
export type WorkerRequest = z.infer<typeof workerRequest>;

/** An error as it crosses the process border: a message a user can read and the chain of causes. */
export const wireError = z.object({
  message: z.string(),
  name: z.optional(z.string()),
  causes: z.optional(z.array(z.string())),
  stack: z.optional(z.string()),
});
export type WireError = z.infer<typeof wireError>;

const successResponse = z.object({
  kind: z.literal('response'),
  id: requestId,
  ok: z.literal(true),
  result: z.unknown(),
});
const errorResponse = z.object({
  kind: z.literal('response'),
  id: requestId,
  ok: z.literal(false),
  error: wireError,
});

export const logLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof logLevel>;

/** What a progress event may carry besides its message. */
const progressDetails = z.object({
  /** Fraction done in [0, 1] when known. */
  fraction: z.optional(z.number().check(z.gte(0), z.lte(1))),
  training: z.optional(trainingProgress),
  /** The run folder a train request writes, announced as soon as it exists. */
  runDir: z.optional(z.string()),
});
export type ProgressDetails = z.infer<typeof progressDetails>;

export const workerEvent = z.discriminatedUnion('event', [
  z.object({ kind: z.literal('event'), event: z.literal('ready'), pid: z.int() }),
  z.object({ kind: z.literal('event'), event: z.literal('log'), level: logLevel, message: z.string() }),
  z.object({
    kind: z.literal('event'),
    event: z.literal('progress'),
    requestId,
    message: z.string(),
    ...progressDetails.shape,
  }),
]);

export const workerToHost = z.union([successResponse, errorResponse, workerEvent]);
export type WorkerToHost = z.infer<typeof workerToHost>;

/** Options the host passes when it forks the worker, through the environment. */
export const workerLaunchOptions = z.object({
  backend: backendPreference,
  /** Folder holding the tfjs-backend-wasm binaries. */
  wasmDir: z.string(),
  /** Extra folders searched for the optional native TF.js packages. */
  nativeModulePaths: z.array(z.string()),
});
export type WorkerLaunchOptions = z.infer<typeof workerLaunchOptions>;
export const workerLaunchEnvVar = 'SYNTHPAIR_WORKER_OPTIONS';
