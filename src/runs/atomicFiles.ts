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
