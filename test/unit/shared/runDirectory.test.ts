import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileWriteError } from '../../../src/shared/runFolder/atomicFiles';
import {
  hashConfig,
  RunDirectory,
  RunDirectoryError,
  runFolderName,
} from '../../../src/shared/runFolder/runDirectory';
import { listRuns } from '../../../src/shared/runFolder/runSummary';

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

  it('reads a config saved before model.padding or data.validation existed as its run computed', async () => {
    const older = await RunDirectory.create(
      path.join(parent, 'older'),
      { seed: 7, model: { arch: 'resnet18', stem: 'imagenet', width: 1 } },
      identity,
    );
    assert.deepEqual(await older.readConfig(), {
      seed: 7,
      model: { arch: 'resnet18', stem: 'imagenet', width: 1, padding: 'same' },
    });
    const newer = await RunDirectory.create(
      path.join(parent, 'newer'),
      { seed: 7, model: { arch: 'resnet18', padding: 'torchvision' } },
      identity,
    );
    assert.deepEqual(await newer.readConfig(), {
      seed: 7,
      model: { arch: 'resnet18', padding: 'torchvision' },
    });
    const beforeValidation = await RunDirectory.create(
      path.join(parent, 'before-validation'),
      { seed: 7, data: { root: '/data', imageSize: 64 } },
      identity,
    );
    assert.deepEqual(
      await beforeValidation.readConfig(),
      { seed: 7, data: { root: '/data', imageSize: 64, validation: { fraction: 0, seed: 0 } } },
      'a run older than data.validation trained on the whole training split',
    );
    // What is not a config is left for the parser to name.
    const odd = await RunDirectory.create(path.join(parent, 'odd'), { seed: 7, model: 3 }, identity);
    assert.deepEqual(await odd.readConfig(), { seed: 7, model: 3 });
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

  it('makes a run whole or not at all, with the hook run before it appears under its name', async () => {
    const dir = path.join(parent, 'run');
    let seen: { folder: string; visible: boolean } | undefined;
    await RunDirectory.create(dir, { seed: 7 }, identity, {
      beforeAppearing: async (folder) => {
        seen = { folder, visible: existsSync(dir) };
      },
    });
    assert.deepEqual(seen, {
      folder: path.join(parent, `.run.creating-${process.pid}`),
      visible: false,
    });
    assert.deepEqual(await readdir(parent), ['run']);

    // A failure midway (here the hook's) leaves neither the run nor its hidden folder.
    const failed = path.join(parent, 'failed');
    await assert.rejects(
      RunDirectory.create(failed, { seed: 7 }, identity, {
        beforeAppearing: async () => {
          throw new Error('disk gone');
        },
      }),
      /disk gone/,
    );
    assert.deepEqual(await readdir(parent), ['run']);
  });

  it('clears what a process killed while making a run left, and lists none of it', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const abandoned = path.join(parent, `.old.creating-${dead.stdout}`);
    await mkdir(path.join(abandoned, 'checkpoints'), { recursive: true });
    await writeFile(path.join(abandoned, 'config.json'), '{}');
    // One a live process is making right now stays.
    const live = path.join(parent, `.busy.creating-${process.ppid}`);
    await mkdir(live);
    assert.deepEqual(await listRuns(parent), []);
    await RunDirectory.create(path.join(parent, 'old'), { seed: 7 }, identity);
    assert.deepEqual((await readdir(parent)).sort(), [path.basename(live), 'old']);
    assert.deepEqual(
      (await listRuns(parent)).map((run) => run.dir),
      [path.join(parent, 'old')],
    );
  });

  it('never makes a run inside another run, at any depth', async () => {
    const outer = path.join(parent, 'outer');
    await RunDirectory.create(outer, { seed: 7 }, identity);
    for (const inside of [path.join(outer, 'sub'), path.join(outer, 'checkpoints', 'a', 'b')]) {
      await assert.rejects(
        RunDirectory.create(inside, { seed: 7 }, identity),
        (error: Error) =>
          error instanceof RunDirectoryError &&
          error.message ===
            `${inside}: inside the run folder ${outer}; a new run is never written into another run, choose a folder outside it`,
      );
      assert.equal(existsSync(inside), false);
    }
  });

  it('names the file a full disk kept it from writing', async () => {
    const run = await RunDirectory.create(path.join(parent, 'run'), { seed: 7 }, identity);
    // /dev/full answers every write with ENOSPC, as a full disk does.
    await symlink('/dev/full', run.file('metrics'));
    const record = { kind: 'epoch', epoch: 1, step: 3, time: 't', losses: { total: 1 }, lr: 0.1 } as const;
    await assert.rejects(run.appendMetrics(record), (error: Error) => {
      assert.ok(error instanceof FileWriteError);
      assert.equal(error.message, `${run.file('metrics')}: could not be written (no space left on device)`);
      return true;
    });
  });
});
