import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../../shared/runFolder/liveness';
import type { Sample, SkippedFile } from './datasets';
import { DECODER_VERSION, type DecodedImage, decodeImage } from './decode';

export type Decoder = (input: Buffer, size: number) => Promise<DecodedImage>;

export interface ImageCacheOptions {
  /** Folder for decoded pixels that outlive the run (e.g. `<workspace>/.synthpair/cache`); none keeps them in memory only. */
  folder?: string;
  /** Side of the square images kept, see `cacheSizeFor`. */
  size: number;
  /** Replaceable so tests can count decodes. */
  decode?: Decoder;
}

/** `<sha256>.rgb.<pid>.<random>.tmp`: an entry being written by process `pid`, renamed into place when whole. */
const temporaryEntryPattern = /^[0-9a-f]{64}\.rgb\.(\d+)\.[0-9a-f]{8}\.tmp$/;

function temporaryEntryOf(entry: string): string {
  return `${entry}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

export interface CacheStats {
  decoded: number;
  diskHits: number;
  memoryHits: number;
  /** Writes that failed (full or read-only disk): the run goes on from memory, only the next run pays. */
  failedWrites: number;
  firstWriteError?: string;
}

export interface LoadedSamples {
  /** The samples that decoded, in their original order. */
  samples: Sample[];
  /** Dataset positions of `samples`, which stay the same whichever files fail, so random streams stay put. */
  indices: Int32Array;
  images: DecodedImage[];
  skipped: SkippedFile[];
}

export interface LoadProgress {
  done: number;
  total: number;
}

/**
 * Decoded images in memory for this run and on disk for later runs. A disk entry's name is a hash of the
 * file's bytes, the cached size and the decoder version, so an edited file, a new image size or a new
 * decoder each miss the cache instead of reading stale pixels. The file is read and hashed on every run
 * rather than trusted by size and mtime: for the 3k-image bird set that takes about 0.5–1 s against
 * about 5 s to decode it, and it cannot be fooled by a copy that keeps timestamps.
 */
export class ImageCache {
  readonly stats: CacheStats = { decoded: 0, diskHits: 0, memoryHits: 0, failedWrites: 0 };
  private readonly memory = new Map<string, DecodedImage>();
  private readonly decode: Decoder;

  constructor(private readonly options: ImageCacheOptions) {
    this.decode = options.decode ?? decodeImage;
  }

  get size(): number {
    return this.options.size;
  }

  /** Throws when the file cannot be read or decoded; `loadAll` turns that into a skipped entry. */
  async load(file: string): Promise<DecodedImage> {
    const remembered = this.memory.get(file);
    if (remembered) {
      this.stats.memoryHits++;
      return remembered;
    }
    const bytes = await fs.readFile(file);
    const entry = this.entryPath(bytes);
    let image = entry === undefined ? undefined : await this.readEntry(entry);
    if (image) {
      this.stats.diskHits++;
    } else {
      image = await this.decode(bytes, this.size);
      this.stats.decoded++;
      if (entry !== undefined) await this.writeEntry(entry, image.pixels);
    }
    this.memory.set(file, image);
    return image;
  }

  /**
   * Deletes the temporary entries of processes that were killed while writing them, which would otherwise stay
   * forever; a temporary whose process is alive is still being written and is left. Returns the paths removed.
   */
  async removeAbandonedTemporaries(): Promise<string[]> {
    const folder = this.options.folder;
    if (folder === undefined) return [];
    const entries = await fs.readdir(folder, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const abandoned = entries.filter((entry) => {
      const writer = temporaryEntryPattern.exec(path.basename(entry))?.[1];
      return writer !== undefined && !isAlive(Number(writer));
    });
    const removed = abandoned.map((entry) => path.join(folder, entry));
    await Promise.all(removed.map((file) => fs.rm(file, { force: true })));
    return removed;
  }

  /** Loads many files a few at a time (sharp decodes on libuv's thread pool); bad files are skipped, never thrown. */
  async loadAll(
    samples: readonly Sample[],
    onProgress?: (progress: LoadProgress) => void,
    concurrency = Math.max(2, os.availableParallelism() * 2),
  ): Promise<LoadedSamples> {
    const results = new Array<DecodedImage | SkippedFile>(samples.length);
    let nextIndex = 0;
    let done = 0;
    const work = async (): Promise<void> => {
      while (nextIndex < samples.length) {
        const index = nextIndex++;
        const file = samples[index]!.path;
        results[index] = await this.load(file).catch((error: unknown) => ({
          path: file,
          reason: describeFailure(error),
        }));
        onProgress?.({ done: ++done, total: samples.length });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, samples.length) }, work));

    const loaded: LoadedSamples = { samples: [], indices: new Int32Array(0), images: [], skipped: [] };
    const indices: number[] = [];
    results.forEach((result, index) => {
      if ('pixels' in result) {
        loaded.samples.push(samples[index]!);
        loaded.images.push(result);
        indices.push(index);
      } else {
        loaded.skipped.push(result);
      }
    });
    loaded.indices = Int32Array.from(indices);
    return loaded;
  }

  private entryPath(bytes: Buffer): string | undefined {
    if (this.options.folder === undefined) return undefined;
    const key = createHash('sha256')
      .update(`synthpair-decoded:v${DECODER_VERSION}:${this.size}:`)
      .update(bytes)
      .digest('hex');
    return path.join(
      this.options.folder,
      `decoded-v${DECODER_VERSION}`,
      String(this.size),
      key.slice(0, 2),
      `${key}.rgb`,
    );
  }

  private async readEntry(entry: string): Promise<DecodedImage | undefined> {
    const pixels = await fs.readFile(entry).catch(() => undefined);
    // A wrong length can only come from outside tampering (writes are atomic): decode again.
    if (!pixels || pixels.length !== this.size * this.size * 3) return undefined;
    return { size: this.size, pixels: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length) };
  }

  /** Temporary file + rename, so a killed run or a concurrent one never leaves a torn entry behind. */
  private async writeEntry(entry: string, pixels: Uint8Array): Promise<void> {
    const temporary = temporaryEntryOf(entry);
    try {
      await fs.mkdir(path.dirname(entry), { recursive: true });
      await fs.writeFile(temporary, pixels);
      await fs.rename(temporary, entry);
    } catch (error) {
      await fs.rm(temporary, { force: true }).catch(() => undefined);
      this.stats.failedWrites++;
      this.stats.firstWriteError ??= describeFailure(error);
    }
  }
}

/**
 * A one-line summary for the user: how many files were skipped, and their paths with reasons. With
 * `listedIn`, a file that names every one of them, the line names the first few and says where the rest
 * are; without one it names them all, since nothing else will.
 */
export function describeSkipped(skipped: readonly SkippedFile[], listedIn?: string, shown = 3): string {
  if (skipped.length === 0) return 'no files skipped';
  const named = listedIn === undefined ? skipped : skipped.slice(0, shown);
  const lines = named.map((entry) => `${entry.path} (${entry.reason})`);
  const more = skipped.length > named.length ? `; and ${skipped.length - named.length} more` : '';
  const where = listedIn === undefined ? '' : ` (listed in ${listedIn})`;
  return `skipped ${skipped.length} ${skipped.length === 1 ? 'file' : 'files'}${where}: ${lines.join('; ')}${more}`;
}

function describeFailure(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
