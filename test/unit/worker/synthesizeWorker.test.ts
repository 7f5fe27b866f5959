import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { SelectedBackend } from '../../../src/engine/backends/selectBackend';
import { initWasmBackend } from '../../../src/engine/backends/wasm/loadWasm';
import { WorkerProcess } from '../../../src/host/workers/workerProcess';
import { RemoteError } from '../../../src/shared/protocol/errors';
import type { WorkerResult } from '../../../src/shared/protocol/worker';
import { createHandlers } from '../../../src/worker/handlers';
import { makeTempDir } from '../../fixtures/makeImages';
import { snapshotFiles, tinyConfig, writeTinyExperiment } from '../../support/cli';
import { repoRoot as root } from '../../support/paths';

const workerScript = path.join(root, 'dist', 'worker.js');

type Synthesized = Extract<WorkerResult<'synthesize'>, { cancelled: false }>;

function pixels(result: WorkerResult<'synthesize'>): Synthesized {
  assert.equal(result.cancelled, false);
  return result as Synthesized;
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

  it('sends the pixels over the process border as bytes, and the same ones for the same request', async () => {
    const overrides = { 'perturb.strength': 2.5 };
    const first = pixels(await worker.request('synthesize', { runDir: run, overrides }));
    for (const name of ['originals', 'reconstructions', 'perturbed'] as const) {
      assert.equal(Object.getPrototypeOf(first[name]), Uint8Array.prototype, `${name} as a Uint8Array`);
    }
    assert.equal(first.perturbed.length, first.samples * first.probes * first.imageSize ** 2 * 3);
    // The second answer reuses the copies the first decoded.
    const again = pixels(await worker.request('synthesize', { runDir: run, overrides }));
    assert.deepEqual(again.perturbed, first.perturbed);
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
    assert.deepEqual(Buffer.from(result.originals), await readFile(path.join(analysis, 'probes.centre.bin')));
    for (const name of ['reconstructions', 'perturbed'] as const) {
      const expected = await readFile(path.join(analysis, `${name}.bin`));
      const actual = result[name];
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
    // The worker's own handlers, in this process, so the test decides the order: each older request is held
    // where it starts loading the run until the newest one has been answered, as when a slider is dragged
    // faster than the worker draws. Through the process, that order would depend on when messages arrive.
    await initWasmBackend(path.join(root, 'dist', 'wasm'));
    const handlers = createHandlers({ version: 'test', nativeModulePaths: [] });
    const context = {
      backend: async () => ({}) as SelectedBackend,
      log: () => undefined,
      progress: () => undefined,
    };
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Called when a request waits in `backend()`: past its check that no newer request came first.
    let reached: () => void = () => undefined;
    const holding = {
      ...context,
      backend: async () => {
        reached();
        await released;
        return {} as SelectedBackend;
      },
    };
    const older: Promise<WorkerResult<'synthesize'>>[] = [];
    for (const strength of [0, 2]) {
      const waiting = new Promise<void>((resolve) => {
        reached = resolve;
      });
      older.push(handlers.synthesize({ runDir: run, overrides: { 'perturb.strength': strength } }, holding));
      await waiting;
    }
    const newest = pixels(
      await handlers.synthesize({ runDir: run, overrides: { 'perturb.strength': 4 } }, context),
    );
    assert.equal(newest.perturb.strength, 4);
    release();
    assert.deepEqual(
      (await Promise.all(older)).map((answer) => answer.cancelled),
      [true, true],
    );
    const still = pixels(
      await worker.request('synthesize', { runDir: run, overrides: { 'perturb.strength': 0 } }),
    );
    assert.deepEqual(
      Buffer.from(still.perturbed),
      Buffer.concat(Array(still.samples).fill(still.reconstructions)),
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
