import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { cp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WorkerProcess } from '../../../src/host/workers/workerProcess';
import { RemoteError } from '../../../src/shared/protocol/errors';
import type { WorkerResult } from '../../../src/shared/protocol/worker';
import { makeTempDir } from '../../fixtures/makeImages';
import { snapshotFiles, tinyConfig, writeTinyExperiment } from '../../support/cli';
import { repoRoot as root } from '../../support/paths';

const workerScript = path.join(root, 'dist', 'worker.js');

type Synthesized = Extract<WorkerResult<'synthesize'>, { cancelled: false }>;

function pixels(result: WorkerResult<'synthesize'>): Synthesized {
  assert.equal(result.cancelled, false);
  return result as Synthesized;
}

function bytes(base64: string): Buffer {
  return Buffer.from(base64, 'base64');
}

/**
 * A copy of a run whose config.json is a FIFO, so that a worker loading it waits in its read until
 * `release` writes the config. `release` also puts a plain file in the FIFO's place, for a reader that has not
 * opened it yet; opening the FIFO read-write never waits, whether or not a reader has it open.
 */
async function heldCopyOf(run: string, name: string): Promise<{ dir: string; release(): Promise<void> }> {
  const dir = path.join(path.dirname(run), name);
  await cp(run, dir, { recursive: true });
  const config = path.join(dir, 'config.json');
  const text = await readFile(config);
  await rm(config);
  execFileSync('mkfifo', [config]);
  return {
    dir,
    release: async () => {
      const fifo = await open(config, constants.O_RDWR | constants.O_NONBLOCK);
      await fifo.write(text);
      await writeFile(`${config}.plain`, text);
      await rename(`${config}.plain`, config);
      await fifo.close();
    },
  };
}

/** The extension's way to redraw pairs: the engine worker, with a run kept loaded between requests. */
describe('synthesizing through the engine worker (bundled dist/worker.js)', function () {
  this.timeout(120_000);
  let folder: string;
  let run: string;
  let worker: WorkerProcess;

  before(async () => {
    if (!existsSync(workerScript)) {
      throw new Error('dist/worker.js is missing: run `npm run build` first');
    }
    folder = await makeTempDir('worker-synthesize');
    const patch = { train: { epochs: 2, batchSize: 8 } };
    await writeTinyExperiment(folder, patch);
    worker = new WorkerProcess({
      script: workerScript,
      launch: { backend: 'wasm', wasmDir: path.join(root, 'dist', 'wasm'), nativeModulePaths: [] },
      log: () => undefined,
    });
    // Trained by the same worker that synthesizes: the trainer's models must be gone before the synthesizer's.
    const trained = await worker.request('train', {
      start: {
        kind: 'new',
        configFile: path.join(folder, 'tiny.synthpair.json'),
        text: JSON.stringify(tinyConfig(patch)),
        overrides: [],
        overridesBase: folder,
        out: path.join(folder, 'runs', 'tiny'),
        runsFolder: path.join(folder, 'runs'),
      },
      cacheFolder: path.join(folder, 'cache'),
    });
    assert.equal(trained.state, 'completed');
    run = trained.runDir;
  });

  after(async () => {
    await worker.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('redraws the saved analysis pairs when nothing is overridden, reading the run only', async () => {
    const untouched = await snapshotFiles(run);
    const result = pixels(await worker.request('synthesize', { runDir: run, overrides: {} }));
    const analysis = path.join(run, 'analysis', 'epoch-0002');
    const saved = JSON.parse(await readFile(path.join(analysis, 'analysis.json'), 'utf8'));
    assert.equal(result.checkpoint, 'epoch-0002');
    assert.equal(result.analysisEpoch, 2);
    assert.equal(result.probes, saved.probes.testPositions.length);
    assert.equal(result.samples, saved.perturb.samples);
    assert.equal(result.masked, saved.masked);
    assert.deepEqual(
      [result.variance.threshold, result.gradcam.threshold],
      [saved.variance.threshold, saved.gradcam.threshold],
    );
    assert.deepEqual(bytes(result.originals), await readFile(path.join(analysis, 'probes.centre.bin')));
    for (const name of ['reconstructions', 'perturbed'] as const) {
      const expected = await readFile(path.join(analysis, `${name}.bin`));
      const actual = bytes(result[name]);
      assert.equal(actual.length, expected.length);
      const worst = actual.reduce(
        (most, value, index) => Math.max(most, Math.abs(value - expected[index]!)),
        0,
      );
      assert.ok(worst <= 1, `${name} differ from the saved ones by up to ${worst}/255`);
    }
    assert.deepEqual(await snapshotFiles(run), untouched);
  });

  it('answers a request superseded by a newer one with cancelled, and only the newest with pixels', async () => {
    // The two older requests go to copies of the run whose config is a FIFO: the worker reads it while
    // loading them and waits there until this test releases it, so the newest request has arrived by then on
    // any machine.
    const held = await Promise.all(['held-1', 'held-2'].map((name) => heldCopyOf(run, name)));
    const older = held.map((copy, index) =>
      worker.request('synthesize', { runDir: copy.dir, overrides: { 'perturb.strength': index * 2 } }),
    );
    const newest = pixels(
      await worker.request('synthesize', { runDir: run, overrides: { 'perturb.strength': 4 } }),
    );
    assert.equal(newest.perturb.strength, 4);
    await Promise.all(held.map((copy) => copy.release()));
    assert.deepEqual(
      (await Promise.all(older)).map((answer) => answer.cancelled),
      [true, true],
    );
    const still = pixels(
      await worker.request('synthesize', { runDir: run, overrides: { 'perturb.strength': 0 } }),
    );
    assert.deepEqual(
      bytes(still.perturbed),
      Buffer.concat(Array(still.samples).fill(bytes(still.reconstructions))),
    );
  });

  it('reopens a run whose latest analysis changed', async () => {
    const copy = path.join(folder, 'runs', 'copy');
    await cp(run, copy, { recursive: true });
    assert.equal(
      pixels(await worker.request('synthesize', { runDir: copy, overrides: {} })).analysisEpoch,
      2,
    );
    await rename(path.join(copy, 'analysis', 'epoch-0002'), path.join(copy, 'analysis', 'moved'));
    assert.equal(
      pixels(await worker.request('synthesize', { runDir: copy, overrides: {} })).analysisEpoch,
      1,
    );
  });

  it('refuses keys that would change the model, naming them', async () => {
    await assert.rejects(
      worker.request('synthesize', {
        runDir: run,
        overrides: { 'model.width': 0.5, 'analysis.combine': 'both' },
      }),
      (error: unknown) => {
        assert.ok(error instanceof RemoteError);
        assert.match(error.message, /^model\.width: cannot be changed when synthesizing a run/);
        return true;
      },
    );
    await assert.rejects(
      worker.request('synthesize', { runDir: run, overrides: { 'analysis.combine': 'both' } }),
      /analysis\.combine: must be one of "union", "intersection", "variance", "gradcam", got "both"/,
    );
  });
});
