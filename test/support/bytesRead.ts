import { existsSync, readFileSync } from 'node:fs';

/**
 * Linux counts the bytes each process reads (`rchar` in /proc/self/io, every thread of it, libuv's file reads
 * included), which lets a test see what code read through the real file system without standing in for it.
 */
const ioFile = '/proc/self/io';

/** Whether {@link bytesReadDuring} can count here; elsewhere a test that needs it skips. */
export const canCountBytesRead = existsSync(ioFile);

function bytesReadSoFar(): number {
  const count = /^rchar: (\d+)$/m.exec(readFileSync(ioFile, 'utf8'))?.[1];
  if (count === undefined) throw new Error(`${ioFile} has no rchar line`);
  return Number(count);
}

/** The bytes this process read while `action` ran: files, and any pipe or socket it read as well. */
export async function bytesReadDuring(action: () => Promise<void>): Promise<number> {
  const before = bytesReadSoFar();
  await action();
  return bytesReadSoFar() - before;
}
