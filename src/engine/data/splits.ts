import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { heldOutOfClass } from '../../shared/config/experiment/validationSplit';
import type { SkippedFiles } from '../../shared/protocol/runFiles';
import { writeJsonAtomically } from '../../shared/runFolder/atomicFiles';
import { listDataset, type Sample } from './datasets';
import { cacheSizeFor } from './decode';
import { describeSkipped, ImageCache } from './imageCache';
import type { ImageSet } from './loader';
import { RandomStream, StreamPurpose } from './random';

export interface DatasetSplits {
  classes: string[];
  /** The training split without the validation images. */
  train: ImageSet;
  /** Held out of the training split by `data.validation`; empty when its fraction is 0. */
  validation: ImageSet;
  test: ImageSet;
  /** Each set's image files, absolute, in the set's order. */
  files: { train: string[]; validation: string[]; test: string[] };
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
  /** Decodes a split; the images of `samples` that `keep` accepts, each with its position in the whole split. */
  const load = async (samples: readonly Sample[], split: 'train' | 'test') => {
    const loaded = await cache.loadAll(samples);
    skipped.push(...loaded.skipped.map((file) => ({ ...file, stage: split })));
    return (keep: (sample: Sample) => boolean): { set: ImageSet; files: string[] } => {
      const positions = loaded.samples.flatMap((sample, position) => (keep(sample) ? [position] : []));
      return {
        set: {
          images: positions.map((position) => loaded.images[position]!),
          labels: Int32Array.from(positions, (position) => loaded.samples[position]!.label),
          indices: Int32Array.from(positions, (position) => loaded.indices[position]!),
        },
        files: positions.map((position) => loaded.samples[position]!.path),
      };
    };
  };
  const heldOut = new Set(holdOutValidation(listing.train, data.validation).validation);
  const trainSplit = await load(listing.train, 'train');
  const train = trainSplit((sample) => !heldOut.has(sample));
  const validation = trainSplit((sample) => heldOut.has(sample));
  const test = (await load(listing.test, 'test'))(() => true);
  const files = { train: train.files, validation: validation.files, test: test.files };
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
  const held = validation.files.length > 0 ? `, ${validation.files.length} validation` : '';
  log(
    'info',
    `data: ${listing.classes.length} classes, ${train.files.length} train${held} and ${test.files.length} test images ` +
      `(${cache.stats.decoded} decoded, ${cache.stats.diskHits} from the cache)`,
  );
  return { classes: listing.classes, train: train.set, validation: validation.set, test: test.set, files };
}

/**
 * Splits the training samples into those trained on and those held out for choosing a checkpoint: from each
 * class, {@link heldOutOfClass} images drawn by the validation seed. Both keep the listing's order.
 */
export function holdOutValidation(
  samples: readonly Sample[],
  options: ResolvedConfig['data']['validation'],
): { train: Sample[]; validation: Sample[] } {
  const byClass = new Map<number, number[]>();
  samples.forEach((sample, position) => {
    const positions = byClass.get(sample.label) ?? [];
    positions.push(position);
    byClass.set(sample.label, positions);
  });
  const heldOut = new Set<number>();
  for (const [label, positions] of byClass) {
    const count = heldOutOfClass(positions.length, options.fraction);
    if (count === 0) continue;
    const drawn = new RandomStream(options.seed, StreamPurpose.validation, label).shuffleInPlace([
      ...positions,
    ]);
    for (const position of drawn.slice(0, count)) heldOut.add(position);
  }
  return {
    train: samples.filter((_, position) => !heldOut.has(position)),
    validation: samples.filter((_, position) => heldOut.has(position)),
  };
}
