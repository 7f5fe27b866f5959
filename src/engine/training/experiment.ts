import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import {
  type ConfigDiagnostic,
  overrideKey,
  parseExperimentConfig,
} from '../../shared/config/experiment/parse';
import type { BackendName } from '../../shared/protocol/backend';
import type { ExperimentStart, TrainingOutcome } from '../../shared/protocol/worker';
import { describeEvaluation } from '../../shared/runFolder/describe';
import { RunDirectory, RunDirectoryError, runFolderName } from '../../shared/runFolder/runDirectory';
import { chooseCheckpoint } from '../checkpoint';
import { DatasetError, type DatasetListing, listDataset } from '../data/datasets';
import { holdOutValidation } from '../data/splits';
import { RunLock } from '../runFolder/runLock';
import { isWeightsUrl } from '../weights/download';
import { WeightsFileError } from '../weights/importedTensors';
import { decideInputNorm, type InitialEncoder, readInitialEncoderOf } from '../weights/initialEncoder';
import { type TrainerHooks, train } from './trainer';

/**
 * What the user gave cannot run: a config with errors, a run folder that cannot be used, data that cannot be
 * listed. Found before anything is written; the CLI exits with 2, the extension shows the message.
 */
export class ExperimentInputError extends Error {
  override name = 'ExperimentInputError';
  constructor(
    message: string,
    /** The config's diagnostics, when the config is what is wrong. */
    readonly diagnostics: readonly ConfigDiagnostic[] = [],
  ) {
    super(message);
  }
}

export interface ResolvedExperiment {
  config: ResolvedConfig;
  /** Warnings about the config; errors are thrown as ExperimentInputError. */
  diagnostics: readonly ConfigDiagnostic[];
  target:
    | { kind: 'new'; configFile: string; out?: string; runsFolder: string }
    | { kind: 'resume'; run: RunDirectory };
  /** What was asked, which a refusal found only once the backend is up points into. */
  start: ExperimentStart;
}

/**
 * Checks everything a run needs before any file is written, so that a refused start leaves no failed run
 * folder behind and never touches an existing one.
 */
export async function resolveExperiment(start: ExperimentStart): Promise<ResolvedExperiment> {
  const resolved = start.kind === 'new' ? resolveNew(start) : await resolveResume(start);
  const listing = await listDataset(resolved.config.data.root, resolved.config.data.layout).catch(
    (error: unknown) => {
      if (!(error instanceof DatasetError)) throw error;
      throw dataInputError(start, [{ path: 'data.root', message: error.message }]);
    },
  );
  const conflicts = dataConflicts(resolved.config, listing);
  if (conflicts.length > 0) throw dataInputError(start, conflicts);
  if (resolved.target.kind === 'resume') return resolved;
  return { ...resolved, config: await withInputNormDecided(start, resolved.config) };
}

/**
 * A new experiment's config as its run would save it (paths absolute, `model.inputNorm` decided) without
 * listing its data: what builds the encoder that run would start from.
 */
export async function resolveExperimentConfig(
  start: Extract<ExperimentStart, { kind: 'new' }>,
): Promise<Pick<ResolvedExperiment, 'config' | 'diagnostics'>> {
  const { config, diagnostics } = resolveNew(start);
  return { config: await withInputNormDecided(start, config), diagnostics };
}

/** Decided once, in the run's saved config: whatever reads the run later builds the same encoder. */
async function withInputNormDecided(start: ExperimentStart, config: ResolvedConfig): Promise<ResolvedConfig> {
  const { model } = config;
  const inputNorm = await decideInputNorm(model).catch((error: unknown) => {
    if (!(error instanceof WeightsFileError)) throw error;
    throw dataInputError(start, [{ path: 'model.init', message: `model.init: ${error.message}` }]);
  });
  return { ...config, model: { ...model, inputNorm } };
}

/**
 * A new run's `model.init`, read and fitted to its encoder. Fitting builds the encoder, which needs the
 * backend the config may choose, so this is asked once the backend is up, and still before anything is written.
 */
async function initialEncoderOf(
  experiment: ResolvedExperiment,
  hooks: Pick<TrainerHooks, 'downloading'>,
): Promise<InitialEncoder | undefined> {
  const { model } = experiment.config;
  if (experiment.target.kind !== 'new' || model.init === '') return undefined;
  return readInitialEncoderOf(model, (progress) => hooks.downloading?.(model.init, progress)).catch(
    (error: unknown) => {
      if (!(error instanceof WeightsFileError)) throw error;
      throw dataInputError(experiment.start, [
        { path: 'model.init', message: `model.init: ${error.message}` },
      ]);
    },
  );
}

function resolveNew(start: Extract<ExperimentStart, { kind: 'new' }>): ResolvedExperiment {
  const { config, diagnostics } = parseExperimentConfig(start.text, { overrides: start.overrides });
  if (!config) {
    throw new ExperimentInputError(`${start.configFile}: has errors; nothing was run`, diagnostics);
  }
  // The saved config must not depend on where a later resume is started from. A path written in the file
  // is relative to the file; one given as an override, like any path on a command line, to overridesBase.
  const absolute = (key: string, value: string) => {
    const overridden = start.overrides.some((assignment) => overrideKey(assignment) === key);
    return path.resolve(overridden ? start.overridesBase : path.dirname(start.configFile), value);
  };
  const { data, model } = config;
  return {
    config: {
      ...config,
      data: { ...data, root: absolute('data.root', data.root) },
      model: {
        ...model,
        init: model.init === '' || isWeightsUrl(model.init) ? model.init : absolute('model.init', model.init),
      },
    },
    diagnostics,
    target: {
      kind: 'new',
      configFile: path.resolve(start.configFile),
      runsFolder: start.runsFolder,
      ...(start.out === undefined ? {} : { out: start.out }),
    },
    start,
  };
}

/**
 * Whether the run can be resumed, read without its lock: a refusal here writes nothing. Whether another
 * process trains it is only known by taking the lock, which {@link runExperiment} does before anything is
 * written, and then asks this again of the run as it is under the lock.
 */
async function resolveResume(
  start: Extract<ExperimentStart, { kind: 'resume' }>,
): Promise<ResolvedExperiment> {
  const { run, config } = await openResumable(start.runDir);
  return { config, diagnostics: [], target: { kind: 'resume', run }, start };
}

/** Whether a stopped, killed or failed run can be resumed; a study restarts one that cannot from scratch. */
export async function isResumable(runDir: string): Promise<boolean> {
  return openResumable(runDir).then(
    () => true,
    (error: unknown) => {
      if (error instanceof ExperimentInputError) return false;
      throw error;
    },
  );
}

async function openResumable(runDir: string): Promise<{ run: RunDirectory; config: ResolvedConfig }> {
  const run = await asInputError(RunDirectory.open(runDir));
  if (run.current.state === 'completed') {
    throw new ExperimentInputError(`${runDir}: has completed; nothing to resume`);
  }
  const config = await loadSavedConfig(run);
  await checkResumable(run, config);
  return { run, config };
}

/** A run folder that cannot be used is the user's to mend: the CLI exits with 2 and names the file. */
async function asInputError<T>(promise: Promise<T>): Promise<T> {
  return promise.catch((error: unknown) => {
    throw error instanceof RunDirectoryError ? new ExperimentInputError(error.message) : error;
  });
}

/** The config a run folder was trained with, as this version of SynthPair reads it. */
export async function loadSavedConfig(
  run: RunDirectory,
  overrides: readonly string[] = [],
): Promise<ResolvedConfig> {
  const { config, diagnostics } = parseExperimentConfig(
    JSON.stringify(await asInputError(run.readConfig())),
    {
      overrides,
    },
  );
  if (!config) {
    throw new ExperimentInputError(
      `${run.file('config')}: not a valid config for this SynthPair version: ${diagnostics.map((diagnostic) => diagnostic.message).join('; ')}`,
      diagnostics,
    );
  }
  return config;
}

/**
 * Without its checkpoints a run would start over and drop the history it logged, so resuming one whose
 * checkpoints are gone is refused rather than done.
 */
async function checkResumable(run: RunDirectory, config: ResolvedConfig): Promise<void> {
  const folder = run.file('checkpoints');
  if (!(await stat(folder).catch(() => undefined))?.isDirectory()) {
    throw new ExperimentInputError(`${folder}: no such folder, so the run cannot be resumed`);
  }
  const checkpoint = await asInputError(chooseCheckpoint(folder));
  if (!checkpoint && run.current.epoch >= config.checkpoint.everyEpochs) {
    throw new ExperimentInputError(
      `${folder}: holds no checkpoint although the run reached epoch ${run.current.epoch}, so it cannot be resumed`,
    );
  }
}

export interface ExperimentEnvironment {
  backend: BackendName;
  versions: { synthpair: string; tfjs: string };
  /** Decoded images shared by every run of a workspace, e.g. `.synthpair/cache`. */
  cacheFolder: string;
}

export interface ExperimentHooks extends TrainerHooks {
  /** The run folder, once it exists and says `running`. */
  started(run: RunDirectory): void;
}

/**
 * Trains a resolved experiment into its run folder — a new one, or the resumed one — and records how it
 * ended in run.json: `completed`, `stopped` (resume it) or `failed` with the error.
 */
export async function runExperiment(
  experiment: ResolvedExperiment,
  environment: ExperimentEnvironment,
  hooks: ExperimentHooks,
): Promise<{ run: RunDirectory; outcome: TrainingOutcome }> {
  const { config, target } = experiment;
  let lock: RunLock | undefined;
  let run: RunDirectory;
  let initialEncoder: InitialEncoder | undefined;
  if (target.kind === 'resume') {
    lock = await asInputError(RunLock.acquire(target.run.dir));
    try {
      ({ run } = await openResumable(target.run.dir));
      const removed = await run.removeAbandonedWrites();
      if (removed.length > 0) {
        hooks.log('info', `removed what an interrupted write left: ${removed.join(', ')}`);
      }
      await run.update({ state: 'running', pid: process.pid, backend: environment.backend });
    } catch (error) {
      await lock.release();
      throw error;
    }
  } else {
    initialEncoder = await initialEncoderOf(experiment, hooks);
    const startedAt = new Date();
    const dir = target.out ?? path.join(target.runsFolder, runFolderName(config.name, startedAt));
    const status = {
      name: config.name,
      configFile: target.configFile,
      pid: process.pid,
      seed: config.seed,
      startedAt: startedAt.toISOString(),
      backend: environment.backend,
      versions: { ...environment.versions, node: process.versions.node },
    };
    run = await asInputError(
      RunDirectory.create(dir, config, status, {
        beforeAppearing: async (folder) => {
          lock = await RunLock.acquire(folder);
        },
      }),
    ).catch(async (error: unknown) => {
      await lock?.release();
      throw error;
    });
  }
  hooks.started(run);
  try {
    const outcome = await train(
      config,
      {
        run,
        cacheFolder: environment.cacheFolder,
        resume: target.kind === 'resume',
        ...(initialEncoder ? { initialEncoder } : {}),
      },
      hooks,
    );
    await run.update({ state: outcome.state, endedAt: new Date().toISOString() });
    if (outcome.evaluation) {
      hooks.log('info', `final: ${describeEvaluation(outcome.evaluation)}`);
    }
    return { run, outcome };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await run
      .update({ state: 'failed', error: message, endedAt: new Date().toISOString() })
      .catch((cause: unknown) => {
        hooks.log('warn', `${run.file('status')} still says running: ${(cause as Error).message}`);
      });
    throw error instanceof DatasetError ? new ExperimentInputError(message) : error;
  } finally {
    await lock?.release();
  }
}

/** A setting the data cannot satisfy, named by its key path so an editor can point at it. */
export interface DataConflict {
  path: string;
  message: string;
}

/**
 * A start the data or the initial weights refuse. A new start's problems point into its experiment file as the config reader's
 * do, so the CLI prints `file:line:column`; a resumed run's config is the engine's own file, so its problems
 * are told in words alone.
 */
function dataInputError(start: ExperimentStart, conflicts: readonly DataConflict[]): ExperimentInputError {
  if (start.kind === 'resume') {
    return new ExperimentInputError(conflicts.map((conflict) => conflict.message).join('; '));
  }
  const { locate } = parseExperimentConfig(start.text, { overrides: start.overrides });
  return new ExperimentInputError(
    `${start.configFile}: has errors; nothing was run`,
    conflicts.map(({ path: keyPath, message }) => ({
      path: keyPath,
      message,
      severity: 'error',
      ...locate(keyPath),
    })),
  );
}

/** What the config asks of the data that only the listing can tell. */
export function dataConflicts(
  config: ResolvedConfig,
  listing: Pick<DatasetListing, 'train' | 'test'>,
): DataConflict[] {
  const conflicts: DataConflict[] = [];
  const { batchSize } = config.train;
  const { train: trained, validation } = holdOutValidation(listing.train, config.data.validation);
  if (batchSize > trained.length) {
    const heldOut =
      validation.length > 0 ? ` (${validation.length} more are held out by data.validation)` : '';
    conflicts.push({
      path: 'train.batchSize',
      // The trainer keeps full batches only, so an epoch would have no step.
      message: `train.batchSize: ${batchSize} is larger than the ${trained.length} training images under ${config.data.root}${heldOut}, so there is not one full batch to train on`,
    });
  }
  const key = 'analysis.probes.count';
  const { count } = config.analysis.probes;
  const testImages = listing.test.length;
  if (count > testImages) {
    conflicts.push({
      path: key,
      message: `${key}: ${count} probes asked for, but the test split of ${config.data.root} has ${testImages} images`,
    });
  }
  if (config.perturb.mode !== 'gaussian' && count < 2 && (config.loss.alpha > 0 || config.loss.nu > 0)) {
    conflicts.push({
      path: key,
      message: `${key}: perturb.mode '${config.perturb.mode}' borrows dimensions from another probe, which needs at least 2 probes, got ${count}`,
    });
  }
  return conflicts;
}
