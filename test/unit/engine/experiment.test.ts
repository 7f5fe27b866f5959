import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { initWasmBackend } from '../../../src/engine/backends/wasm/loadWasm';
import { RunLock, RunLockedError } from '../../../src/engine/runFolder/runLock';
import { tf } from '../../../src/engine/tf';
import {
  type ExperimentHooks,
  ExperimentInputError,
  resolveExperiment,
  runExperiment,
} from '../../../src/engine/training/experiment';
import type { ExperimentStart } from '../../../src/shared/protocol/worker';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { makeTempDir } from '../../fixtures/makeImages';
import { snapshotFiles, tinyConfig, writeTinyDataset } from '../../support/cli';

describe('experiment runs and their run folder', function () {
  this.timeout(300_000);
  let folder: string;
  const environment = () => ({
    backend: 'wasm' as const,
    versions: { synthpair: 'test', tfjs: tf.version_core },
    cacheFolder: path.join(folder, 'cache'),
  });
  const quiet: ExperimentHooks = {
    started: () => undefined,
    log: () => undefined,
    progress: () => undefined,
    shouldStop: () => false,
  };

  before(async () => {
    folder = await makeTempDir('experiment');
    await writeTinyDataset(path.join(folder, 'data'));
    await initWasmBackend(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')));
  });

  after(async () => {
    await tf.setBackend('cpu');
    await rm(folder, { recursive: true, force: true });
  });

  function newStart(out: string, patch = {}): ExperimentStart {
    const configFile = path.join(folder, 'tiny.synthpair.json');
    return {
      kind: 'new',
      configFile,
      text: JSON.stringify(tinyConfig(patch)),
      overrides: [],
      overridesBase: folder,
      out: path.join(folder, out),
      runsFolder: path.join(folder, 'runs'),
    };
  }

  it('gives a run folder one writer: a second lock is refused naming the holder, and freed by release', async () => {
    const run = await runExperiment(await resolveExperiment(newStart('locked')), environment(), quiet);
    const lock = await RunLock.acquire(run.run.dir);
    await assert.rejects(RunLock.acquire(run.run.dir), (error: Error) => {
      assert.ok(error instanceof RunLockedError);
      assert.equal(error.holder?.pid, process.pid);
      assert.match(error.message, new RegExp(`being trained by process ${process.pid} on `));
      return true;
    });
    await lock.release();
    await (await RunLock.acquire(run.run.dir)).release();
  });

  it('lets go of the lock when its holder is killed, however it dies', async () => {
    const dir = path.join(folder, 'held-by-child');
    await RunDirectory.create(
      dir,
      {},
      {
        name: 'x',
        pid: process.pid,
        seed: 0,
        startedAt: new Date().toISOString(),
        versions: { synthpair: 'test', tfjs: 'test', node: 'test' },
      },
    );
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs'); const { tryLock } = require('fs-native-extensions');
         const fd = fs.openSync(process.argv[1], 'a+');
         process.stdout.write(String(tryLock(fd)));
         setInterval(() => {}, 1000);`,
        path.join(dir, 'run.lock'),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const locked = await new Promise<string>((resolve) =>
      holder.stdout.once('data', (chunk) => resolve(String(chunk))),
    );
    assert.equal(locked, 'true');
    await assert.rejects(RunLock.acquire(dir), RunLockedError);
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
    await (await RunLock.acquire(dir)).release();
  });

  it('refuses to resume a run another process holds, writing nothing', async () => {
    const stopped = await runExperiment(
      await resolveExperiment(newStart('held', { train: { epochs: 2 } })),
      environment(),
      { ...quiet, shouldStop: () => true },
    );
    assert.equal(stopped.outcome.state, 'stopped');
    const lock = await RunLock.acquire(stopped.run.dir);
    try {
      const before = await snapshotFiles(stopped.run.dir);
      const resume = await resolveExperiment({ kind: 'resume', runDir: stopped.run.dir });
      await assert.rejects(runExperiment(resume, environment(), quiet), (error: Error) => {
        assert.ok(error instanceof ExperimentInputError);
        assert.match(error.message, new RegExp(`being trained by process ${process.pid}`));
        return true;
      });
      assert.deepEqual(await snapshotFiles(stopped.run.dir), before);
    } finally {
      await lock.release();
    }
    const resumed = await runExperiment(
      await resolveExperiment({ kind: 'resume', runDir: stopped.run.dir }),
      environment(),
      quiet,
    );
    assert.equal(resumed.outcome.state, 'completed');
  });

  it('on a full disk names the file it could not write, marks the run failed and lets go of it', async () => {
    const experiment = await resolveExperiment(newStart('full-disk'));
    let dir = '';
    await assert.rejects(
      runExperiment(experiment, environment(), {
        ...quiet,
        // /dev/full answers every write with ENOSPC, as a full disk does; the log is its first write.
        started: (run) => {
          dir = run.dir;
          symlinkSync('/dev/full', run.file('metrics'));
        },
      }),
      (error: Error) => {
        assert.equal(
          error.message,
          `${path.join(dir, 'metrics.jsonl')}: could not be written (no space left on device)`,
        );
        return true;
      },
    );
    const status = JSON.parse(await readFile(path.join(dir, 'run.json'), 'utf8'));
    assert.equal(status.state, 'failed');
    assert.equal(
      status.error,
      `${path.join(dir, 'metrics.jsonl')}: could not be written (no space left on device)`,
    );
    await (await RunLock.acquire(dir)).release();
  });
});
