import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../shared/config/experiment/definitions';
import type { AnalysisStep } from '../shared/runFolder/analysisSteps';
import {
  analysisManifestFile,
  checkpointFileNames,
  RunDirectory,
  RunDirectoryError,
} from '../shared/runFolder/runDirectory';
import { latestAnalysis } from './analysis/artefacts';
import { chooseCheckpoint } from './checkpoint';
import { ExperimentInputError, loadSavedConfig } from './training/experiment';

/**
 * What a trained run is reopened from: its config, the checkpoint `latest.json` names and the newest analysis
 * at or before that checkpoint. The key changes whenever the run is trained further (a new checkpoint or
 * analysis, or one rewritten by a resume), which is when a model loaded from it is stale.
 */
export interface RunSources {
  runDir: string;
  config: ResolvedConfig;
  checkpoint: string;
  /** The epoch the checkpoint was saved after. */
  checkpointEpoch: number;
  analysis: AnalysisStep;
  key: string;
}

export interface LocateOptions {
  /** What the caller does with the run, for messages: "synthesize", "draw heat maps of". */
  purpose: string;
  /**
   * Whether a run another process is training may be read. Checkpoints and analysis steps appear whole (they
   * are renamed into place), so reading one is safe; refusing keeps a command's answer from depending on when
   * it was asked.
   */
  whileTraining: 'refuse' | 'read';
  /** A further refusal the purpose needs, given the run's config; returns the reason, if any. */
  refuse?: (config: ResolvedConfig) => string | undefined;
}

/**
 * Finds the checkpoint and analysis a run is reopened from, refusing a run that cannot serve `purpose`: one
 * without a checkpoint or an analysis yet, and whatever `options` refuse. Reads a few small files only, so it
 * is cheap enough to repeat before every request.
 */
export async function locateRunSources(runDir: string, options: LocateOptions): Promise<RunSources> {
  const run = await RunDirectory.open(runDir).catch((error: unknown) => {
    throw error instanceof RunDirectoryError ? new ExperimentInputError(error.message) : error;
  });
  if (options.whileTraining === 'refuse' && run.livePid !== undefined) {
    throw new ExperimentInputError(
      `${runDir}: being trained by process ${run.livePid}; ${options.purpose} it once it has stopped`,
    );
  }
  const config = await loadSavedConfig(run);
  const refusal = options.refuse?.(config);
  if (refusal !== undefined) {
    throw new ExperimentInputError(`${runDir}: ${refusal}`);
  }
  const checkpoints = run.file('checkpoints');
  const chosen = await chooseCheckpoint(checkpoints).catch((error: unknown) => {
    throw error instanceof RunDirectoryError ? new ExperimentInputError(error.message) : error;
  });
  if (chosen === undefined) {
    throw new ExperimentInputError(
      `${runDir}: has no checkpoint yet (one is saved every checkpoint.everyEpochs epochs and at the end)`,
    );
  }
  const {
    name: checkpoint,
    manifest: { epoch: checkpointEpoch },
  } = chosen;
  const checkpointManifest = path.join(checkpoints, checkpoint, checkpointFileNames.manifest);
  // The analysis the run itself would perturb with from this checkpoint on, as a resume picks it.
  const analysis = await latestAnalysis(runDir, checkpointEpoch);
  if (!analysis) {
    throw new ExperimentInputError(
      `${runDir}: has no analysis at or before its checkpoint ${checkpoint} yet (one is written every analysis.everyEpochs epochs and at the end)`,
    );
  }
  const modified = async (file: string) => (await stat(file)).mtimeMs;
  const key = [
    checkpoint,
    await modified(checkpointManifest),
    analysis.folder,
    await modified(path.join(analysis.folder, analysisManifestFile)),
  ].join('|');
  return { runDir, config, checkpoint, checkpointEpoch, analysis, key };
}

/** Something loaded from a run that holds tensors until it is disposed. */
export interface LoadedRun {
  readonly sources: Pick<RunSources, 'key'>;
  dispose(): void;
}

/** How a kind of {@link LoadedRun} is found and opened. */
export interface LoadedRunKind<T extends LoadedRun> {
  /** The cache keeps one of each kind. */
  name: string;
  locate(runDir: string): Promise<RunSources>;
  open(sources: RunSources): Promise<T>;
  /**
   * Whether a loaded one keeps tf.Variables of the names training gives them. Opening any kind builds such
   * variables, and TF.js refuses two variables of one name, so one that keeps them is closed before anything
   * else opens.
   */
  keepsVariables: boolean;
}

/**
 * The runs a worker keeps loaded between requests, one per kind, each reopened when its run was trained
 * further or another run is asked for. Opening, closing and every use are serialised: two models of the same
 * variable names may not live at once, and a loaded run is never disposed while a use holds it.
 */
export class LoadedRunCache {
  private readonly loaded = new Map<string, { kind: LoadedRunKind<LoadedRun>; value: LoadedRun }>();
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * Runs `use` on the loaded run of `kind` for `runDir`, opening it first when needed; refuses the run as
   * `kind.locate` does. Nothing else opens or closes a run of the cache until `use` has settled.
   */
  use<T extends LoadedRun, R>(
    kind: LoadedRunKind<T>,
    runDir: string,
    use: (loaded: T) => R | Promise<R>,
  ): Promise<R> {
    return this.serially(async () => use(await this.open(kind, runDir)));
  }

  /** Frees every loaded run, e.g. before the process trains a model of the same names. */
  close(): Promise<void> {
    return this.serially(async () => {
      for (const { value } of this.loaded.values()) value.dispose();
      this.loaded.clear();
    });
  }

  private async open<T extends LoadedRun>(kind: LoadedRunKind<T>, runDir: string): Promise<T> {
    const sources = await kind.locate(runDir);
    const current = this.loaded.get(kind.name);
    if (current?.value.sources.key === sources.key) {
      return current.value as T;
    }
    current?.value.dispose();
    this.loaded.delete(kind.name);
    for (const [name, other] of this.loaded) {
      if (other.kind.keepsVariables) {
        other.value.dispose();
        this.loaded.delete(name);
      }
    }
    const value = await kind.open(sources);
    this.loaded.set(kind.name, { kind: kind as LoadedRunKind<LoadedRun>, value });
    return value;
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
