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
import type { BackendPreference } from '../shared/protocol/backend';
import { encoderSourceOf } from './encoderSource';
import { commandLog, isMachineReadable } from './output';
import { UsageError } from './runCommand';

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
  const { config, method: buildMethod } = await encoderSourceOf(source, {
    ...options,
    doing: 'embedding with',
  });

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
