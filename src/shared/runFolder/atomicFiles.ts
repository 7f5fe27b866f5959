import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/**
 * Every file of a run directory that is replaced rather than appended goes through here: the new content is
 * written to a temporary file, flushed and renamed over the old one, so a reader or a crash sees the old
 * file or the new one, never half of either.
 */
export async function writeFileAtomically(file: string, data: string | Buffer): Promise<void> {
  await writingFile(file, () => writeFileAtomic(file, data, { fsync: true }));
}

/**
 * A file of a run that could not be written, named: the system's own message for a full disk,
 * `ENOSPC: no space left on device, write`, does not say which file.
 */
export class FileWriteError extends Error {
  override name = 'FileWriteError';
  constructor(
    readonly file: string,
    override readonly cause: unknown,
  ) {
    super(`${file}: could not be written (${describeWriteFailure(cause)})`, { cause });
  }

  get outOfSpace(): boolean {
    const code = (this.cause as NodeJS.ErrnoException | undefined)?.code;
    return code === 'ENOSPC' || code === 'EDQUOT';
  }
}

function describeWriteFailure(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  if (code === 'ENOSPC') return 'no space left on device';
  if (code === 'EDQUOT') return 'disk quota exceeded';
  return message ?? String(error);
}

/** Runs `write`, turning its failure into a {@link FileWriteError} that names `file`. */
export async function writingFile<T>(file: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    throw error instanceof FileWriteError ? error : new FileWriteError(file, error);
  }
}

/** `fs.writeFile` for a file inside a folder that {@link replaceFolderAtomically} assembles. */
export async function writeStagedFile(file: string, data: string | Uint8Array): Promise<void> {
  await writingFile(file, () => writeFile(file, data));
}

export async function writeJsonAtomically(file: string, value: unknown): Promise<void> {
  await writeFileAtomically(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Writes the folder `parent/name` whole or not at all: `fill` writes its files into
 * `parent/.staging-<name>-<pid>/`, which is then renamed over any older `name`. A process killed midway
 * leaves only the staging folder, which `RunDirectory.removeAbandonedWrites` clears.
 */
export async function replaceFolderAtomically(
  parent: string,
  name: string,
  fill: (staging: string) => Promise<void>,
): Promise<string> {
  const staging = path.join(parent, `.staging-${name}-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    await fill(staging);
  } catch (error) {
    // What it holds is useless now, and on a full disk it is the space a status saying so needs.
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  const target = path.join(parent, name);
  await rm(target, { recursive: true, force: true });
  await rename(staging, target);
  return target;
}
