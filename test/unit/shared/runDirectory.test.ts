import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  hashConfig,
  RunDirectory,
  RunDirectoryError,
  runFolderName,
} from '../../../src/shared/runFolder/runDirectory';

const identity = {
  name: 'birds',
  pid: 123,
  seed: 7,
  startedAt: '2026-01-02T03:04:05.000Z',
  versions: { synthpair: '0.1.0', tfjs: '4.22.0', node: '20' },
};

describe('run directory', () => {
  let parent: string;

  beforeEach(async () => {
    parent = await mkdtemp(path.join(os.tmpdir(), 'synthpair-runs-'));
  });

  afterEach(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('names runs so they sort by start time and are safe as folder names', () => {
    assert.equal(
      runFolderName('cub / simclr', new Date('2026-11-25T01:02:03Z')),
      'cub-simclr-20261125-010203',
    );
    assert.equal(runFolderName('***', new Date('2026-11-25T01:02:03Z')), 'run-20261125-010203');
  });

  it('fingerprints a config regardless of key order', () => {
    assert.equal(
      hashConfig({ a: 1, b: { c: [1, 2], d: 'x' } }),
      hashConfig({ b: { d: 'x', c: [1, 2] }, a: 1 }),
    );
    assert.notEqual(hashConfig({ a: 1 }), hashConfig({ a: 2 }));
    assert.notEqual(hashConfig({ a: [1, 2] }), hashConfig({ a: [2, 1] }));
  });

  it('creates the layout, updates the status atomically and reads it back', async () => {
    const dir = path.join(parent, 'run');
    const run = await RunDirectory.create(dir, { seed: 7 }, identity);
    assert.deepEqual((await readdir(dir)).sort(), ['checkpoints', 'config.json', 'run.json']);
    assert.deepEqual(JSON.parse(await readFile(run.file('config'), 'utf8')), { seed: 7 });
    await run.update({ state: 'completed', epoch: 3, endedAt: '2026-01-02T04:00:00.000Z' });
    await run.appendMetrics({
      kind: 'epoch',
      epoch: 3,
      step: 30,
      time: 't',
      losses: { total: 0.5 },
      lr: 0.1,
    });
    await run.appendEval({ epoch: 3, time: 't', knnTop1: 0.4, rank1: 0.5, rank5: 0.7, mAP: 0.2 });
    const reopened = await RunDirectory.open(dir);
    assert.equal(reopened.current.state, 'completed');
    assert.equal(reopened.current.epoch, 3);
    assert.equal(reopened.current.configHash, hashConfig({ seed: 7 }));
    assert.equal((await reopened.readMetrics()).records.length, 1);
    assert.equal((await reopened.readEvals()).records[0]?.knnTop1, 0.4);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.includes('.tmp')),
      [],
    );
  });

  it('never writes into a folder that holds another run, and says which', async () => {
    const dir = path.join(parent, 'run');
    await RunDirectory.create(dir, { seed: 7 }, identity);
    const before = await readFile(path.join(dir, 'run.json'), 'utf8');
    await assert.rejects(
      RunDirectory.create(dir, { seed: 8 }, identity),
      (error: unknown) =>
        error instanceof RunDirectoryError &&
        /holds the run "birds" \(running, another config\)/.test(error.message),
    );
    await assert.rejects(
      RunDirectory.create(dir, { seed: 7 }, identity),
      /same config\); resume it with --resume/,
    );
    assert.equal(await readFile(path.join(dir, 'run.json'), 'utf8'), before);
  });

  it('refuses a non-empty folder that is not a run, and a folder without run.json when opening', async () => {
    const dir = path.join(parent, 'notes');
    await mkdir(dir);
    await writeFile(path.join(dir, 'thesis.tex'), 'precious');
    await assert.rejects(RunDirectory.create(dir, {}, identity), /not empty and holds no SynthPair run/);
    assert.equal(await readFile(path.join(dir, 'thesis.tex'), 'utf8'), 'precious');
    await assert.rejects(RunDirectory.open(dir), /is not a SynthPair run: it has no run.json/);
    await writeFile(path.join(dir, 'run.json'), '{"format":1}');
    await assert.rejects(RunDirectory.open(dir), /is not a SynthPair run status: name:/);
  });
});
