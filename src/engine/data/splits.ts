import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import type { SkippedFiles } from '../../shared/protocol/runFiles';
import { writeJsonAtomically } from '../../shared/runFolder/atomicFiles';
import { listDataset } from './datasets';
import { cacheSizeFor } from './decode';
import { describeSkipped, ImageCache } from './imageCache';
import type { ImageSet } from './loader';

export interface DatasetSplits {
  classes: string[];
  train: ImageSet;
  test: ImageSet;
  /** Each set's image files, absolute, in the set's order. */
  files: { train: string[]; test: string[] };
}

export type SplitLog = (level: 'info' | 'warn', message: string) => void;

export interface SplitOptions {
  /**
   * Where to write every file left out (a run's `skipped.json`); the log then names a few and points there.
   * Without it the log names them all.
   */
  skippedList?: string;
}

/**
 * Lists and decodes both splits of a run's dataset through the image cache, reporting what was skipped and
 * why. Training and evaluating a finished run read the data through here, so both see the same images.
 */
export async function loadSplits(
  data: ResolvedConfig['data'],
  cacheFolder: string,
  log: SplitLog,
  options: SplitOptions = {},
): Promise<DatasetSplits> {
  const listing = await listDataset(data.root, data.layout);
  for (const warning of listing.warnings) {
    log('warn', warning.message);
  }
  const cache = new ImageCache({ folder: cacheFolder, size: cacheSizeFor(data.imageSize) });
  const removed = await cache.removeAbandonedTemporaries();
  if (removed.length > 0) {
    log(
      'info',
      `image cache: removed ${removed.length} unfinished ${removed.length === 1 ? 'file' : 'files'} that killed runs left in ${cacheFolder}`,
    );
  }
  const skipped: SkippedFiles['files'] = listing.skipped.map((file) => ({ ...file, stage: 'listing' }));
  const files: DatasetSplits['files'] = { train: [], test: [] };
  const load = async (samples: typeof listing.train, split: 'train' | 'test'): Promise<ImageSet> => {
    const loaded = await cache.loadAll(samples);
    skipped.push(...loaded.skipped.map((file) => ({ ...file, stage: split })));
    files[split] = loaded.samples.map((sample) => sample.path);
    return {
      images: loaded.images,
      labels: Int32Array.from(loaded.samples, (sample) => sample.label),
      indices: loaded.indices,
    };
  };
  const train = await load(listing.train, 'train');
  const test = await load(listing.test, 'test');
  const { skippedList } = options;
  if (skippedList !== undefined) {
    await writeJsonAtomically(skippedList, {
      time: new Date().toISOString(),
      files: skipped,
    } satisfies SkippedFiles);
  }
  const stageLabels = { listing: 'dataset listing', train: 'train', test: 'test' } as const;
  for (const [stage, label] of Object.entries(stageLabels)) {
    const files = skipped.filter((file) => file.stage === stage);
    if (files.length > 0) log('warn', `${label}: ${describeSkipped(files, skippedList)}`);
  }
  log(
    'info',
    `data: ${listing.classes.length} classes, ${train.images.length} train and ${test.images.length} test images ` +
      `(${cache.stats.decoded} decoded, ${cache.stats.diskHits} from the cache)`,
  );
  return { classes: listing.classes, train, test, files };
}
