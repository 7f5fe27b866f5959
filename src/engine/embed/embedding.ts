import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { listImageTree } from '../data/datasets';
import { cacheSizeFor } from '../data/decode';
import { describeSkipped, ImageCache } from '../data/imageCache';
import type { ImageSet } from '../data/loader';
import { loadSplits, type SplitLog } from '../data/splits';
import type { Encoder } from '../models/encoder';
import { extractFeatures } from '../training/evaluate';
import { encodeNpy } from './npyFile';

export const embeddingSplits = ['train', 'validation', 'test', 'all'] as const;
export type EmbeddingSplit = (typeof embeddingSplits)[number];

/** What to embed: a split of the config's dataset (`all`: train, validation, then test), or every image under a folder. */
export type EmbeddingImages = { split: EmbeddingSplit } | { folder: string };

export interface Embedding {
  /** h, one row of `featureDim` per image, row-major. */
  features: Float32Array;
  featureDim: number;
  /** Each row's class in `classes`; -1 for an image of a folder that is in no sub-folder. */
  labels: Int32Array;
  /** Each row's image file, relative to `root`, with `/` between folders whatever the system. */
  files: string[];
  classes: string[];
  /** The dataset's root or the folder, absolute. */
  root: string;
  /** How many rows each split gave, in row order: `{ train: 18, test: 9 }`; `{ images: n }` for a folder. */
  rows: Record<string, number>;
}

/**
 * The features h of `images` as evaluation computes them: the encoder in eval mode on each image's centre
 * view at `data.imageSize`, decoded through the shared image cache, in the dataset's order.
 */
export async function embedImages(
  encoder: Encoder,
  config: ResolvedConfig,
  images: EmbeddingImages,
  cacheFolder: string,
  log: SplitLog,
): Promise<Embedding> {
  const { imageSize } = config.data;
  const parts: { name: string; set: ImageSet; files: string[] }[] = [];
  let classes: string[];
  let root: string;
  if ('folder' in images) {
    const tree = await listImageTree(images.folder);
    root = path.resolve(images.folder);
    classes = tree.classes;
    const cache = new ImageCache({ folder: cacheFolder, size: cacheSizeFor(imageSize) });
    const loaded = await cache.loadAll(tree.samples);
    const skipped = [...tree.skipped, ...loaded.skipped];
    if (skipped.length > 0) log('warn', `${root}: ${describeSkipped(skipped)}`);
    log(
      'info',
      `images: ${loaded.images.length} under ${root}, ${classes.length} sub-folders as classes (${cache.stats.decoded} decoded, ${cache.stats.diskHits} from the cache)`,
    );
    parts.push({
      name: 'images',
      set: {
        images: loaded.images,
        labels: Int32Array.from(loaded.samples, (sample) => sample.label),
        indices: loaded.indices,
      },
      files: loaded.samples.map((sample) => sample.path),
    });
  } else {
    const splits = await loadSplits(config.data, cacheFolder, log);
    root = path.resolve(config.data.root);
    classes = splits.classes;
    for (const name of images.split === 'all' ? (['train', 'validation', 'test'] as const) : [images.split]) {
      parts.push({ name, set: splits[name], files: splits.files[name] });
    }
  }

  const featureDim = encoder.featureDim;
  const total = parts.reduce((sum, part) => sum + part.set.images.length, 0);
  const features = new Float32Array(total * featureDim);
  const labels = new Int32Array(total);
  const files: string[] = [];
  const rows: Embedding['rows'] = {};
  let row = 0;
  for (const part of parts) {
    const count = part.set.images.length;
    let tenthsLogged = 0;
    const matrix = await extractFeatures(encoder, part.set, imageSize, config.train.batchSize, (done) => {
      // A tenth at a time: enough to see a long embedding move, few enough lines to read.
      const tenths = Math.floor((10 * done) / count);
      if (tenths > tenthsLogged) {
        tenthsLogged = tenths;
        log('info', `embedding ${part.name}: ${done}/${count} images`);
      }
    });
    features.set(matrix.values, row * featureDim);
    labels.set(Array.from(part.set.labels), row);
    files.push(...part.files.map((file) => path.relative(root, file).split(path.sep).join('/')));
    rows[part.name] = count;
    row += count;
  }
  return { features, featureDim, labels, files, classes, root, rows };
}

/** The files {@link writeEmbedding} writes into its folder. */
export const embeddingFileNames = {
  features: 'features.npy',
  labels: 'labels.npy',
  files: 'files.txt',
  classes: 'classes.json',
  about: 'embedding.json',
} as const;

/**
 * Writes an embedding as NumPy and text files: `features.npy` (float32, N × D), `labels.npy` (int64, N),
 * `files.txt` (one path per line, row order), `classes.json` (label k's name at k) and `embedding.json`
 * (`about`, with the root the paths are relative to and the rows of each split).
 */
export async function writeEmbedding(
  folder: string,
  embedding: Embedding,
  about: Record<string, unknown>,
): Promise<void> {
  const count = embedding.labels.length;
  await mkdir(folder, { recursive: true });
  await writeFile(
    path.join(folder, embeddingFileNames.features),
    encodeNpy(embedding.features, [count, embedding.featureDim]),
  );
  // int64, NumPy's default integer, so the labels index and compare without a cast in PyTorch too.
  const labels = BigInt64Array.from(embedding.labels, (label) => BigInt(label));
  await writeFile(path.join(folder, embeddingFileNames.labels), encodeNpy(labels, [count]));
  await writeFile(
    path.join(folder, embeddingFileNames.files),
    embedding.files.map((file) => `${file}\n`).join(''),
  );
  await writeFile(
    path.join(folder, embeddingFileNames.classes),
    `${JSON.stringify(embedding.classes, null, 2)}\n`,
  );
  const { root, rows, featureDim } = embedding;
  await writeFile(
    path.join(folder, embeddingFileNames.about),
    `${JSON.stringify({ ...about, root, rows, count, featureDim }, null, 2)}\n`,
  );
}
