import type { Stats } from 'node:fs';
import { appendFile, type FileHandle, open, readFile } from 'node:fs/promises';
import type * as z from 'zod/mini';
import { validateMessage } from '../protocol/validate';
import { writeFileAtomically, writingFile } from './atomicFiles';

export interface JsonLinesContent<T> {
  records: T[];
  /** Lines that did not parse or validate, e.g. the last one of a process killed mid-write. */
  rejected: { line: number; reason: string }[];
}

/** Appends one record as one line; a single write keeps concurrent readers from seeing half a line, mostly. */
export async function appendJsonLine(file: string, record: unknown): Promise<void> {
  await writingFile(file, () => appendFile(file, `${JSON.stringify(record)}\n`, 'utf8'));
}

/**
 * Reads a JSON Lines file leniently: a torn or foreign line is reported, not fatal, because a killed
 * process can leave half a line and the rest of the file is still good.
 */
export async function readJsonLines<S extends z.ZodMiniType>(
  file: string,
  schema: S,
): Promise<JsonLinesContent<z.output<S>>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { records: [], rejected: [] };
    }
    throw error;
  }
  const content: JsonLinesContent<z.output<S>> = { records: [], rejected: [] };
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') {
      return;
    }
    const checked = parseLine(line, schema);
    if (checked.ok) {
      content.records.push(checked.value);
    } else {
      content.rejected.push({ line: index + 1, reason: checked.reason });
    }
  });
  return content;
}

function parseLine<S extends z.ZodMiniType>(
  line: string,
  schema: S,
): { ok: true; value: z.output<S> } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not JSON (a torn write?)' };
  }
  return validateMessage(schema, parsed);
}

/**
 * Rewrites the file with only the records to keep — used on resume to drop what was logged after the
 * checkpoint, so the resumed run's history reads like an uninterrupted one.
 */
export async function rewriteJsonLines(file: string, records: readonly unknown[]): Promise<void> {
  await writeFileAtomically(file, records.map((record) => `${JSON.stringify(record)}\n`).join(''));
}

/** How much of a log's end {@link readLastJsonLine} reads: far more than one record. */
const tailBytes = 64 * 1024;

/**
 * The last valid record of a JSON Lines file, reading only its end: the Runs view asks for it on every change
 * of a log that grows by a line per step.
 */
export async function readLastJsonLine<S extends z.ZodMiniType>(
  file: string,
  schema: S,
): Promise<z.output<S> | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, tailBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    // A cut first line (mid-file start) or a torn last line just fails to parse and is passed over.
    const lines = buffer.toString('utf8').split('\n').reverse();
    for (const line of lines) {
      if (line.trim() === '') continue;
      const checked = parseLine(line, schema);
      if (checked.ok) return checked.value;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/** What one {@link JsonLinesTail.read} found. */
export interface JsonLinesTailRead<T> {
  /**
   * The records begin at the file's start: this is the first read, or the file was replaced, cut short or
   * deleted since the last one, so the records the earlier reads returned no longer describe it.
   */
  restarted: boolean;
  records: T[];
}

/** Where a tail stands in a file, and the file as it was when the tail got there. */
interface TailPosition {
  file: Pick<Stats, 'dev' | 'ino' | 'size' | 'mtimeMs'>;
  /** Bytes consumed: up to and including the newline of the last whole line. */
  offset: number;
  /** The end of the last line consumed, which still stands right before `offset` while the file is the same. */
  lastLine: Buffer;
}

/** How much of the last consumed line a tail compares to recognise its file: enough to hold a record's time. */
const recognisedBytes = 1024;

/**
 * Follows a JSON Lines log that is only appended to, reading on each call only the bytes added since the
 * previous one: a view polling a run that logs a line per step does the same small work at epoch 100 as at
 * epoch 1. A line still being written is left for a later read rather than parsed half. A log that was
 * replaced (a resume rewrites it), cut short or deleted is read again from its start, and the read says so.
 * Reads queue one behind the other, since each continues where the previous stopped.
 */
export class JsonLinesTail<S extends z.ZodMiniType> {
  private position: TailPosition | undefined;
  private readBefore = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly schema: S,
  ) {}

  /** The records appended since the previous read; all of them the first time. */
  read(): Promise<JsonLinesTailRead<z.output<S>>> {
    return this.enqueue(() => this.readNow());
  }

  /** Every record of the file, whatever was read before. */
  readFromStart(): Promise<JsonLinesTailRead<z.output<S>>> {
    return this.enqueue(() => {
      this.position = undefined;
      this.readBefore = false;
      return this.readNow();
    });
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const done = this.queue.then(work);
    this.queue = done.catch(() => undefined);
    return done;
  }

  private async readNow(): Promise<JsonLinesTailRead<z.output<S>>> {
    const firstRead = !this.readBefore;
    this.readBefore = true;
    const known = this.position;
    const hadRecords = known !== undefined && known.offset > 0;
    let handle: FileHandle;
    try {
      handle = await open(this.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.position = undefined;
      return { restarted: firstRead || hadRecords, records: [] };
    }
    try {
      const file = await handle.stat();
      if (
        known &&
        sameFile(known.file, file) &&
        known.file.size === file.size &&
        known.file.mtimeMs === file.mtimeMs
      ) {
        return { restarted: firstRead, records: [] };
      }
      const continued =
        known && sameFile(known.file, file) && file.size >= known.offset
          ? await this.consume(handle, file, known)
          : undefined;
      if (continued) return { restarted: firstRead, records: continued };
      return { restarted: firstRead || hadRecords, records: (await this.consume(handle, file, undefined))! };
    } finally {
      await handle.close();
    }
  }

  /**
   * Parses the whole lines after `from` (the file's start when undefined) and moves the tail past them; undefined
   * when the line `from` ended with is no longer there, so the file was rewritten in place.
   */
  private async consume(
    handle: FileHandle,
    file: Stats,
    from: TailPosition | undefined,
  ): Promise<z.output<S>[] | undefined> {
    const offset = from?.offset ?? 0;
    const lastLine = from?.lastLine ?? Buffer.alloc(0);
    const start = offset - lastLine.length;
    const buffer = Buffer.alloc(file.size - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    const bytes = buffer.subarray(0, bytesRead);
    if (!bytes.subarray(0, lastLine.length).equals(lastLine)) return undefined;
    const fresh = bytes.subarray(lastLine.length);
    const wholeLength = fresh.lastIndexOf(0x0a) + 1;
    const whole = fresh.subarray(0, wholeLength);
    const newestLineStart = whole.subarray(0, Math.max(wholeLength - 1, 0)).lastIndexOf(0x0a) + 1;
    this.position = {
      file: { dev: file.dev, ino: file.ino, size: file.size, mtimeMs: file.mtimeMs },
      offset: offset + wholeLength,
      lastLine:
        wholeLength > 0
          ? Buffer.from(whole.subarray(Math.max(newestLineStart, wholeLength - recognisedBytes)))
          : lastLine,
    };
    return whole
      .toString('utf8')
      .split('\n')
      .flatMap((line) => {
        if (line.trim() === '') return [];
        const checked = parseLine(line, this.schema);
        return checked.ok ? [checked.value] : [];
      });
  }
}

function sameFile(a: Pick<Stats, 'dev' | 'ino'>, b: Pick<Stats, 'dev' | 'ino'>): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}
