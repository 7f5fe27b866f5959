import { stat } from 'node:fs/promises';
import path from 'node:path';
import { selectBackend } from '../engine/backends/selectBackend';
import { DatasetError } from '../engine/data/datasets';
import {
  type EmbeddingImages,
  type EmbeddingSplit,
  embeddingFileNames,
  embedImages,
  writeEmbedding,
} from '../engine/embed/embedding';
import type { SslMethod } from '../engine/methods/method';
import { createMethodFor } from '../engine/methods/registry';
import { restoreCheckpoint } from '../engine/training/evaluateCheckpoint';
import { ExperimentInputError, resolveExperimentConfig } from '../engine/training/experiment';
import { WeightsFileError } from '../engine/weights/importedTensors';
import { readInitialEncoderOf } from '../engine/weights/initialEncoder';
import { experimentFileSuffix } from '../shared/config/experiment/choices';
import type { ResolvedConfig } from '../shared/config/experiment/definitions';
import type { BackendPreference } from '../shared/protocol/backend';
import { RunDirectory, RunDirectoryError } from '../shared/runFolder/runDirectory';
import { formatDiagnostic } from './diagnostics';
import { savedConfigWithOverrides } from './evalCommand';
import { commandLog, isMachineReadable } from './output';
import { readConfigFile, UsageError } from './runCommand';

export interface EmbedCommandOptions {
  split?: EmbeddingSplit;
  images?: string;
  checkpoint?: string;
  out?: string;
  set: string[];
  backend?: BackendPreference;
  json?: boolean;
  wasmDir: string;
  version: string;
}

type Log = ReturnType<typeof commandLog>;

/** The encoder's weights and what to call them: a run's checkpoint, or an experiment's `model.init`. */
interface Source {
  config: ResolvedConfig;
  /** Builds the method holding the encoder; the caller disposes it. */
  method(log: Log): Promise<{ method: SslMethod; about: Record<string, unknown>; label: string }>;
}

/**
 * `synthpair embed`: writes the features h of a dataset split, or of every image under a folder, computed by
 * a run's checkpoint or by the encoder an experiment file starts from; returns the exit code.
 */
export async function embedCommand(source: string, options: EmbedCommandOptions): Promise<number> {
  if (options.split !== undefined && options.images !== undefined) {
    throw new UsageError('--split and --images: give one; --images embeds a folder instead of a split');
  }
  const images: EmbeddingImages =
    options.images === undefined ? { split: options.split ?? 'test' } : { folder: options.images };
  const machineReadable = isMachineReadable(options.json);
  const log = commandLog(machineReadable);
  const { config, method: buildMethod } = await sourceOf(source, options);

  const { report } = await selectBackend({
    preference: options.backend ?? config.backend,
    wasmDir: options.wasmDir,
    nativeModulePaths: [],
    synthpairVersion: options.version,
  });
  log('info', `backend: ${report.selected}`);
  const { method, about, label } = await buildMethod(log);
  try {
    const what = 'folder' in images ? path.basename(path.resolve(images.folder)) : images.split;
    const out = path.resolve(options.out ?? path.join('embeddings', `${label}-${what}`));
    for (const name of Object.values(embeddingFileNames)) {
      const file = path.join(out, name);
      if (await stat(file).catch(() => undefined)) {
        throw new UsageError(`${file}: already exists; give another --out, or remove the earlier embedding`);
      }
    }
    const embedding = await embedImages(
      method.encoder,
      config,
      images,
      path.join(process.cwd(), '.synthpair', 'cache'),
      log,
    ).catch((error: unknown) => {
      if (!(error instanceof DatasetError)) throw error;
      throw new UsageError('folder' in images ? `--images: ${error.message}` : error.message);
    });
    await writeEmbedding(out, embedding, {
      ...about,
      ...('folder' in images ? { images: embedding.root } : { split: images.split }),
      imageSize: config.data.imageSize,
      synthpair: options.version,
    });
    const count = embedding.labels.length;
    if (machineReadable) {
      process.stdout.write(
        `${JSON.stringify({ event: 'result', out, count, featureDim: embedding.featureDim, ...about })}\n`,
      );
    } else {
      process.stdout.write(`${out}: h of ${count} images, ${embedding.featureDim} features each\n`);
    }
    return 0;
  } finally {
    method.dispose();
  }
}

async function sourceOf(source: string, options: EmbedCommandOptions): Promise<Source> {
  const info = await stat(source).catch(() => undefined);
  if (info?.isDirectory()) return runSource(source, options);
  if (info?.isFile() && source.endsWith(experimentFileSuffix)) return experimentSource(source, options);
  throw new UsageError(
    info
      ? `${source}: neither a run folder nor an experiment file (*${experimentFileSuffix})`
      : `${source}: no such file or folder; give a run folder or an experiment file (*${experimentFileSuffix})`,
  );
}

async function runSource(runDir: string, options: EmbedCommandOptions): Promise<Source> {
  const run = await RunDirectory.open(runDir).catch((error: unknown) => {
    throw error instanceof RunDirectoryError ? new UsageError(error.message) : error;
  });
  const config = await savedConfigWithOverrides(run, options.set, 'embedding with');
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

async function experimentSource(file: string, options: EmbedCommandOptions): Promise<Source> {
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
