import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WeightsFileError } from './importedTensors';

/** Whether `model.init` is an address to download rather than a path. */
export function isWeightsUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/**
 * Where downloaded weights are kept, shared by the CLI and the extension on one machine, as torch.hub keeps
 * them: `$SYNTHPAIR_CACHE`, else `$XDG_CACHE_HOME/synthpair`, else `~/.cache/synthpair`.
 */
export function weightsCacheFolder(environment: NodeJS.ProcessEnv = process.env): string {
  const root =
    environment['SYNTHPAIR_CACHE'] ??
    path.join(environment['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'synthpair');
  return path.join(root, 'weights');
}

/**
 * The file an address is kept as: its host and path under the cache, so two files of the same name from two
 * places stay apart and a user who downloads one by hand can tell where it goes.
 */
export function cachedWeightsFile(url: string, cacheFolder = weightsCacheFolder()): string {
  const { host, pathname } = new URL(url);
  const segments = pathname
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.' && segment !== '..')
    .map((segment) => decodeURIComponent(segment).replace(/[^\w.+=@-]/g, '_'));
  if (segments.length === 0) throw new WeightsFileError(`${url}: names no file to download`);
  return path.join(cacheFolder, host.replace(/[^\w.-]/g, '_'), ...segments);
}

/**
 * The sha256 prefix torchvision and torch.hub put in a file's name (`resnet50-0676ba61.pth`), which the
 * file's digest must begin with; undefined for a name without one.
 */
export function expectedDigestPrefix(file: string): string | undefined {
  return /-([a-f0-9]{6,64})\./.exec(path.basename(file))?.[1];
}

export interface DownloadProgress {
  /** Bytes of the file on disk so far, a resumed download's earlier part included. */
  received: number;
  /** The file's size, when the server says it. */
  total: number | undefined;
}

/**
 * The local file for `url`: the cached one, or downloaded into the cache first. A download goes to
 * `<file>.partial`, continues from what an interrupted one left (an HTTP range request), must have the size
 * the server announced and, where the name carries one, the sha256 prefix; only then is it renamed into place.
 */
export async function cachedDownload(
  url: string,
  options: { cacheFolder?: string; onProgress?: (progress: DownloadProgress) => void } = {},
): Promise<string> {
  const file = cachedWeightsFile(url, options.cacheFolder);
  if (await isFile(file)) return file;
  const partial = `${file}.partial`;
  await mkdir(path.dirname(file), { recursive: true });
  try {
    await download(url, partial, options.onProgress);
  } catch (error) {
    if (error instanceof WeightsFileError) throw error;
    const kept = ((await stat(partial).catch(() => undefined))?.size ?? 0) > 0;
    throw new WeightsFileError(
      `${url}: cannot be downloaded (${describeFailure(error)})${kept ? '; what arrived is kept, and the next start continues it' : ''}. Or download it yourself and put it at ${file}`,
    );
  }
  const prefix = expectedDigestPrefix(file);
  if (prefix !== undefined) {
    const digest = await sha256Of(partial);
    if (!digest.startsWith(prefix)) {
      await rm(partial, { force: true });
      throw new WeightsFileError(
        `${url}: the download's sha256 is ${digest.slice(0, prefix.length)}…, but its name says ${prefix}…; it was deleted: try again, or put a good copy at ${file}`,
      );
    }
  }
  await rename(partial, file);
  return file;
}

async function download(
  url: string,
  partial: string,
  onProgress: ((progress: DownloadProgress) => void) | undefined,
): Promise<void> {
  const have = (await stat(partial).catch(() => undefined))?.size ?? 0;
  const response = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
  if (response.status === 416 && have > 0) {
    // What an interrupted download left may already be all of it, or more than the file now is.
    await rm(partial, { force: true });
    return download(url, partial, onProgress);
  }
  if (!response.ok || !response.body) {
    throw new WeightsFileError(`${url}: the server answered ${response.status} ${response.statusText}`);
  }
  const resumed = response.status === 206;
  const start = resumed ? have : 0;
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  const total = Number.isFinite(length) ? start + length : undefined;
  let received = start;
  onProgress?.({ received, total });
  const counted = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  counted.on('data', (chunk: Buffer) => {
    received += chunk.length;
    onProgress?.({ received, total });
  });
  await pipeline(counted, createWriteStream(partial, { flags: resumed ? 'a' : 'w' }));
  if (total !== undefined && received !== total) {
    throw new WeightsFileError(
      `${url}: the download ended after ${received} of ${total} bytes; run again to continue it`,
    );
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}

/** fetch's own message is "fetch failed"; the reason is its cause's. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ? `${code}: ${cause.message}` : cause.message;
  }
  return error.message;
}
