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
