import assert from 'node:assert/strict';
import { appendFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod/mini';
import { JsonLinesTail, rewriteJsonLines } from '../../../src/shared/runFolder/jsonLines';
import { makeTempDir } from '../../fixtures/makeImages';
import { bytesReadDuring, canCountBytesRead } from '../../support/bytesRead';

const entry = z.object({ n: z.number(), note: z.string() });
const line = (n: number, note = `entry ${n}`) => `${JSON.stringify({ n, note })}\n`;
const lines = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, index) => line(from + index)).join('');

describe('run folder: following a JSON Lines log', () => {
  let folder: string;
  let file: string;
  let tail: JsonLinesTail<typeof entry>;

  beforeEach(async () => {
    folder = await makeTempDir('json-lines');
    file = path.join(folder, 'metrics.jsonl');
    tail = new JsonLinesTail(file, entry);
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  const numbers = (read: { records: { n: number }[] }) => read.records.map((record) => record.n);

  it('returns every record first, then only those appended since, then none', async () => {
    await writeFile(file, lines(1, 3));
    assert.deepEqual(await tail.read(), {
      restarted: true,
      records: [1, 2, 3].map((n) => JSON.parse(line(n))),
    });
    await appendFile(file, lines(4, 5));
    const appended = await tail.read();
    assert.equal(appended.restarted, false);
    assert.deepEqual(numbers(appended), [4, 5]);
    assert.deepEqual(await tail.read(), { restarted: false, records: [] });
  });

  it('reads only the bytes appended since the previous read, however long the log', async function () {
    if (!canCountBytesRead) this.skip();
    await writeFile(file, lines(1, 20_000));
    assert.equal((await tail.read()).records.length, 20_000);
    // The count covers the whole process, pipes included, so what an earlier test left running can add to one
    // read; the fewest of three reads is the tail's own.
    const appendedReads: number[] = [];
    let appended = '';
    let read: Awaited<ReturnType<typeof tail.read>> | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const first = 20_001 + 50 * attempt;
      appended = lines(first, first + 49);
      await appendFile(file, appended);
      appendedReads.push(
        await bytesReadDuring(async () => {
          read = await tail.read();
        }),
      );
      assert.deepEqual(
        numbers(read!),
        Array.from({ length: 50 }, (_, index) => first + index),
      );
    }
    const bytes = Math.min(...appendedReads);
    // The new lines, the last line read before (to recognise the file) and the kernel's own counters.
    assert.ok(bytes < appended.length + 4096, `read ${bytes} bytes for ${appended.length} new ones`);
    const unchangedReads: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      unchangedReads.push(
        await bytesReadDuring(async () => {
          read = await tail.read();
        }),
      );
      assert.deepEqual(read, { restarted: false, records: [] });
    }
    const unchanged = Math.min(...unchangedReads);
    assert.ok(unchanged < 4096, `read ${unchanged} bytes of a log that did not change`);
  });

  it('keeps a line being written for a later read, even when the write stops inside a character', async () => {
    await writeFile(file, line(1));
    await tail.read();
    const whole = Buffer.from(line(2, 'grün'));
    const cut = whole.indexOf('ü') + 1;
    await appendFile(file, whole.subarray(0, cut));
    assert.deepEqual(await tail.read(), { restarted: false, records: [] });
    await appendFile(file, Buffer.concat([whole.subarray(cut), Buffer.from(line(3))]));
    const completed = await tail.read();
    assert.equal(completed.restarted, false);
    assert.deepEqual(completed.records, [
      { n: 2, note: 'grün' },
      { n: 3, note: 'entry 3' },
    ]);
  });

  it('passes over a torn line a killed process left and carries on after it', async () => {
    await writeFile(file, `${line(1)}{"n": 2, "no`);
    await tail.read();
    await appendFile(file, `\n${line(3)}`);
    assert.deepEqual(numbers(await tail.read()), [3]);
  });

  it('starts over when the log was replaced, as a resume rewrites it', async () => {
    await writeFile(file, lines(1, 4));
    await tail.read();
    await rewriteJsonLines(file, [JSON.parse(line(1)), JSON.parse(line(2, 'resumed'))]);
    const replaced = await tail.read();
    assert.equal(replaced.restarted, true);
    assert.deepEqual(replaced.records, [
      { n: 1, note: 'entry 1' },
      { n: 2, note: 'resumed' },
    ]);
    await appendFile(file, line(3));
    assert.deepEqual(await tail.read(), { restarted: false, records: [{ n: 3, note: 'entry 3' }] });
  });

  it('starts over when the log was rewritten in place longer than before, or cut short', async () => {
    await writeFile(file, lines(1, 4));
    await tail.read();
    await writeFile(file, `${line(1)}${line(2, 'another history')}${lines(3, 9)}`);
    const rewritten = await tail.read();
    assert.equal(rewritten.restarted, true);
    assert.deepEqual(numbers(rewritten), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await truncate(file, line(1).length);
    const cut = await tail.read();
    assert.equal(cut.restarted, true);
    assert.deepEqual(numbers(cut), [1]);
  });

  it('says so when the log is deleted, and reads one that appears as new records', async () => {
    assert.deepEqual(await tail.read(), { restarted: true, records: [] });
    assert.deepEqual(await tail.read(), { restarted: false, records: [] });
    await writeFile(file, lines(1, 2));
    assert.deepEqual(numbers(await tail.read()), [1, 2]);
    await rm(file);
    assert.deepEqual(await tail.read(), { restarted: true, records: [] });
    await writeFile(file, line(7));
    assert.deepEqual(await tail.read(), { restarted: false, records: [{ n: 7, note: 'entry 7' }] });
  });

  it('returns each record once to reads that overlap, and all of them to a read from the start', async () => {
    await writeFile(file, lines(1, 3));
    const first = tail.read();
    await appendFile(file, lines(4, 6));
    const [a, b, c] = await Promise.all([first, tail.read(), tail.read()]);
    assert.deepEqual([...numbers(a), ...numbers(b), ...numbers(c)], [1, 2, 3, 4, 5, 6]);
    const again = await tail.readFromStart();
    assert.equal(again.restarted, true);
    assert.deepEqual(numbers(again), [1, 2, 3, 4, 5, 6]);
  });
});
