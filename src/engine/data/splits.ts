import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { listDataset } from './datasets';
import { cacheSizeFor } from './decode';
import { describeSkipped, ImageCache } from './imageCache';
import type { ImageSet } from './loader';

export interface DatasetSplits {
  classes: string[];
  train: ImageSet;
  test: ImageSet;
}

export type SplitLog = (level: 'info' | 'warn', message: string) => void;

/**
 * Lists and decodes both splits of a run's dataset through the image cache, reporting what was skipped and
 * why. Training and evaluating a finished run read the data through here, so both see the same images.
 */
export async function loadSplits(
  data: ResolvedConfig['data'],
  cacheFolder: string,
  log: SplitLog,
): Promise<DatasetSplits> {
  const listing = await listDataset(data.root, data.layout);
  for (const warning of listing.warnings) {
    log('warn', warning.message);
  }
  if (listing.skipped.length > 0) {
    log('warn', `dataset listing: ${describeSkipped(listing.skipped)}`);
  }
  const cache = new ImageCache({ folder: cacheFolder, size: cacheSizeFor(data.imageSize) });
  const removed = await cache.removeAbandonedTemporaries();
  if (removed.length > 0) {
    log(
      'info',
      `image cache: removed ${removed.length} unfinished ${removed.length === 1 ? 'file' : 'files'} that killed runs left in ${cacheFolder}`,
    );
  }
  const load = async (samples: typeof listing.train, split: string): Promise<ImageSet> => {
    const loaded = await cache.loadAll(samples);
    if (loaded.skipped.length > 0) {
      log('warn', `${split}: ${describeSkipped(loaded.skipped)}`);
    }
    return {
      images: loaded.images,
      labels: Int32Array.from(loaded.samples, (sample) => sample.label),
      indices: loaded.indices,
    };
  };
  const train = await load(listing.train, 'train');
  const test = await load(listing.test, 'test');
  log(
    'info',
    `data: ${listing.classes.length} classes, ${train.images.length} train and ${test.images.length} test images ` +
      `(${cache.stats.decoded} decoded, ${cache.stats.diskHits} from the cache)`,
  );
  return { classes: listing.classes, train, test };
}
