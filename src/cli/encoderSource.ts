import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { SslMethod } from '../engine/methods/method';
import { createMethodFor } from '../engine/methods/registry';
import {
  ExperimentInputError,
  loadSavedConfig,
  resolveExperimentConfig,
} from '../engine/training/experiment';
import { restoreCheckpoint } from '../engine/training/runCheckpoint';
import { WeightsFileError } from '../engine/weights/importedTensors';
import { readInitialEncoderOf } from '../engine/weights/initialEncoder';
import { experimentFileSuffix } from '../shared/config/experiment/choices';
import type { ResolvedConfig } from '../shared/config/experiment/definitions';
import { overrideKey } from '../shared/config/experiment/parse';
import { RunDirectory, RunDirectoryError } from '../shared/runFolder/runDirectory';
import { formatDiagnostic } from './diagnostics';
import type { commandLog } from './output';
import { readConfigFile, UsageError } from './runCommand';

type Log = ReturnType<typeof commandLog>;

/**
 * The config a run was saved with, `overrides` applied. The checkpoint fixes the model and what it was
 * trained on; only where the data now lives may change, and the keys under `alsoPrefixes` (`eval.`).
 */
export async function savedConfigWithOverrides(
  run: RunDirectory,
  overrides: readonly string[],
  doing: string,
  alsoPrefixes: readonly string[] = [],
): Promise<ResolvedConfig> {
  for (const assignment of overrides) {
    const key = overrideKey(assignment) ?? assignment;
    if (
      !alsoPrefixes.some((prefix) => key.startsWith(prefix)) &&
      key !== 'data.root' &&
      key !== 'data.layout'
    ) {
      const allowed = [...alsoPrefixes.map((prefix) => `${prefix}*`), 'data.root'];
      throw new UsageError(
        `${key}: cannot be changed when ${doing} a run; only ${allowed.join(', ')} and data.layout can`,
      );
    }
  }
  const config = await loadSavedConfig(run, overrides).catch((error: unknown) => {
    throw error instanceof ExperimentInputError ? new UsageError(error.message) : error;
  });
  // A root given on the command line is relative to where the command runs; the saved one is absolute.
  return { ...config, data: { ...config.data, root: path.resolve(config.data.root) } };
}

/** The encoder's weights and what to call them: a run's checkpoint, or an experiment's `model.init`. */
export interface EncoderSource {
  config: ResolvedConfig;
  /** Builds the method holding the encoder; the caller disposes it. */
  method(log: Log): Promise<{ method: SslMethod; about: Record<string, unknown>; label: string }>;
}

/** What a command reads the encoder from, and how it may change the config (`eval.` keys, say). */
export interface SourceOptions {
  checkpoint?: string;
  set: string[];
  /** How the refusal of another key names what the command does: `evaluating`. */
  doing: string;
  alsoPrefixes?: readonly string[];
}

/**
 * A run folder (its latest checkpoint, or `options.checkpoint`) or an experiment file (the encoder it starts
 * from, untrained): what `eval` and `embed` read.
 */
export async function encoderSourceOf(source: string, options: SourceOptions): Promise<EncoderSource> {
  const info = await stat(source).catch(() => undefined);
  if (info?.isDirectory()) return runSource(source, options);
  if (info?.isFile() && source.endsWith(experimentFileSuffix)) return experimentSource(source, options);
  throw new UsageError(
    info
      ? `${source}: neither a run folder nor an experiment file (*${experimentFileSuffix})`
      : `${source}: no such file or folder; give a run folder or an experiment file (*${experimentFileSuffix})`,
  );
}

async function runSource(runDir: string, options: SourceOptions): Promise<EncoderSource> {
  const run = await RunDirectory.open(runDir).catch((error: unknown) => {
    throw error instanceof RunDirectoryError ? new UsageError(error.message) : error;
  });
  const config = await savedConfigWithOverrides(run, options.set, options.doing, options.alsoPrefixes);
  return {
    config,
    method: async () => {
      const restored = await restoreCheckpoint(config, run, options.checkpoint).catch((error: unknown) => {
        throw error instanceof RunDirectoryError ? new UsageError(error.message) : error;
      });
      return {
        method: restored.method,
        about: { source: path.resolve(run.dir), checkpoint: restored.checkpoint, epoch: restored.epoch },
        label: `${path.basename(run.dir)}-${restored.checkpoint}`,
      };
    },
  };
}

async function experimentSource(file: string, options: SourceOptions): Promise<EncoderSource> {
  if (options.checkpoint !== undefined) {
    throw new UsageError(
      `--checkpoint: ${file} is an experiment file, which has no checkpoints; give a run folder`,
    );
  }
  const text = await readConfigFile(file);
  const printDiagnostics = (diagnostics: ExperimentInputError['diagnostics']) => {
    for (const diagnostic of diagnostics)
      process.stderr.write(`${formatDiagnostic(file, text, diagnostic)}\n`);
  };
  const { config, diagnostics } = await resolveExperimentConfig({
    kind: 'new',
    configFile: file,
    text,
    overrides: options.set,
    overridesBase: process.cwd(),
    runsFolder: path.join(process.cwd(), '.synthpair', 'runs'),
  }).catch((error: unknown) => {
    if (!(error instanceof ExperimentInputError)) throw error;
    printDiagnostics(error.diagnostics);
    throw new UsageError(error.message);
  });
  printDiagnostics(diagnostics);
  const { init } = config.model;
  return {
    config,
    method: async (log) => {
      if (init === '') {
        log('info', `model.init is empty: the encoder's random initial weights of seed ${config.seed}`);
        return {
          method: createMethodFor(config),
          about: { source: path.resolve(file), init: '', seed: config.seed },
          label: `${config.name}-random`,
        };
      }
      const initial = await readInitialEncoderOf(config.model).catch((error: unknown) => {
        throw error instanceof WeightsFileError ? new UsageError(`model.init: ${error.message}`) : error;
      });
      return {
        method: createMethodFor(config, initial),
        about: { source: path.resolve(file), init },
        label: `${config.name}-init`,
      };
    },
  };
}
