import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/**
 * Every file of a run directory that is replaced rather than appended goes through here: the new content is
 * written to a temporary file, flushed and renamed over the old one, so a reader or a crash sees the old
 * file or the new one, never half of either.
 */
export async function writeFileAtomically(file: string, data: string | Buffer): Promise<void> {
  await writeFileAtomic(file, data, { fsync: true });
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
  await fill(staging);
  const target = path.join(parent, name);
  await rm(target, { recursive: true, force: true });
  await rename(staging, target);
  return target;
}
