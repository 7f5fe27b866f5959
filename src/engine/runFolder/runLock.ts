import { type FileHandle, open, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { tryLock } from 'fs-native-extensions';
import * as z from 'zod/mini';
import { validateMessage } from '../../shared/protocol/validate';
import { RunDirectoryError, runFileNames } from '../../shared/runFolder/runDirectory';

const holderSchema = z.object({ pid: z.int(), host: z.string(), since: z.string() });
export type RunLockHolder = z.infer<typeof holderSchema>;

/** The run is trained by another process right now; the CLI exits with 2 and names it. */
export class RunLockedError extends RunDirectoryError {
  override name = 'RunLockedError';
  constructor(
    readonly dir: string,
    readonly holder: RunLockHolder | undefined,
  ) {
    super(
      holder
        ? `${dir}: being trained by process ${holder.pid} on ${holder.host} (since ${holder.since}); stop it first, or wait for it to end`
        : `${dir}: being trained by another process; stop it first, or wait for it to end`,
    );
  }
}

/**
 * The one writer of a run folder. An open-file-description lock on `run.lock` (fcntl F_OFD_SETLK) belongs to
 * the open file, not to a pid that is written down later: taking it is atomic, so of two processes started
 * together exactly one trains, and the kernel drops it when its holder exits, however it dies, so a run
 * killed with SIGKILL can be resumed at once. The file is never deleted: a process that opened it just before
 * a deletion would lock a file nobody else can see.
 */
export class RunLock {
  private constructor(
    readonly dir: string,
    private readonly handle: FileHandle,
  ) {}

  /** Takes the lock of the run folder `dir`, or throws {@link RunLockedError} naming the holder. */
  static async acquire(dir: string): Promise<RunLock> {
    const file = path.join(dir, runFileNames.lock);
    const handle = await open(file, 'a+');
    let locked: boolean;
    try {
      locked = tryLock(handle.fd);
    } catch (error) {
      await handle.close();
      throw new RunDirectoryError(`${file}: cannot be locked (${(error as Error).message})`);
    }
    if (!locked) {
      await handle.close();
      throw new RunLockedError(dir, await readHolder(file));
    }
    const holder: RunLockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
    await handle.truncate(0);
    await handle.write(`${JSON.stringify(holder)}\n`, 0);
    await handle.sync();
    return new RunLock(dir, handle);
  }

  /** Closing the file is what releases the lock. */
  async release(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * Who holds the lock. A holder that has just taken it writes itself down a moment later, so an empty or torn
 * record is read again for a while before the refusal names no one.
 */
async function readHolder(file: string): Promise<RunLockHolder | undefined> {
  for (let attempt = 0; attempt < holderReadAttempts; attempt++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    try {
      const holder = validateMessage(holderSchema, JSON.parse(text));
      if (holder.ok) return holder.value;
    } catch {
      // Its holder is between truncating and writing it.
    }
    await setTimeout(holderReadPauseMs);
  }
  return undefined;
}

const holderReadAttempts = 20;
const holderReadPauseMs = 25;
