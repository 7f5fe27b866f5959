import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeExampleDataset } from '../../../src/host/newExperiment/exampleDataset';
import { WorkerProcess } from '../../../src/host/workers/workerProcess';
import { RemoteError } from '../../../src/shared/protocol/errors';
import { analysisManifest } from '../../../src/shared/protocol/runFiles';
import type { WorkerParams } from '../../../src/shared/protocol/worker';
import { makeTempDir } from '../../fixtures/makeImages';
import { snapshotFiles, tinyConfig } from '../../support/cli';
import { repoRoot as root } from '../../support/paths';

const workerScript = path.join(root, 'dist', 'worker.js');

function bytes(base64: string): Buffer {
  return Buffer.from(base64, 'base64');
}

/** The heat-map editor's way to draw an image: the engine worker, with the run kept loaded between requests. */
describe('heat maps of a data set image through the engine worker (bundled dist/worker.js)', function () {
  this.timeout(120_000);
  let folder: string;
  let worker: WorkerProcess;
  // A checkpoint after each epoch, so there is an older one to go back to.
  const patch = { train: { epochs: 2, batchSize: 8 }, checkpoint: { everyEpochs: 1 } };
  const configText = JSON.stringify(tinyConfig(patch));

  function trainRequest(out: string): WorkerParams<'train'> {
    return {
      start: {
        kind: 'new',
        configFile: path.join(folder, 'tiny.synthpair.json'),
        text: configText,
        overrides: [],
        overridesBase: folder,
        out: path.join(folder, 'runs', out),
        runsFolder: path.join(folder, 'runs'),
      },
      cacheFolder: path.join(folder, 'cache'),
    };
  }

  /** The tiny data set's images of one split, in the order the engine lists them. */
  async function splitImages(split: 'train' | 'test'): Promise<string[]> {
    const classes = (await readdir(path.join(folder, 'data', split))).sort();
    const files: string[] = [];
    for (const name of classes) {
      const folderOfClass = path.join(folder, 'data', split, name);
      files.push(...(await readdir(folderOfClass)).sort().map((file) => path.join(folderOfClass, file)));
    }
    return files;
  }

  before(async () => {
    if (!existsSync(workerScript)) {
      throw new Error('dist/worker.js is missing: run `npm run build` first');
    }
    folder = await makeTempDir('worker-heatmap');
    // Drawn insects rather than the tiny solid colours, whose feature maps are flat enough to be all 0.
    await writeExampleDataset(path.join(folder, 'data'), { trainPerClass: 4, testPerClass: 2 });
    await writeFile(path.join(folder, 'tiny.synthpair.json'), configText);
    worker = new WorkerProcess({
      script: workerScript,
      launch: { backend: 'wasm', wasmDir: path.join(root, 'dist', 'wasm'), nativeModulePaths: [] },
      log: () => undefined,
    });
  });

  after(async () => {
    await worker?.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('draws a probe as its analysis did and any other image of the data set, reading the run only', async () => {
    const trained = await worker.request('train', trainRequest('first'));
    const run = trained.runDir;
    const untouched = await snapshotFiles(run);
    const step = path.join(run, 'analysis', 'epoch-0002');
    const manifest = analysisManifest.parse(
      JSON.parse(await readFile(path.join(step, 'analysis.json'), 'utf8')),
    );
    const size = manifest.imageSize;
    const tile = size * size;
    const probe = 1;
    const probeFile = (await splitImages('test'))[manifest.probes.testPositions[probe]!]!;

    const drawn = await worker.request('imageHeatmap', { runDir: run, imageFile: probeFile });
    assert.deepEqual(
      [drawn.checkpoint, drawn.epoch, drawn.analysisEpoch, drawn.split, drawn.probe, drawn.imageSize],
      ['epoch-0002', 2, 2, 'test', probe, size],
    );
    assert.deepEqual(
      bytes(drawn.pixels),
      (await readFile(path.join(step, 'probes.centre.bin'))).subarray(
        probe * tile * 3,
        (probe + 1) * tile * 3,
      ),
    );
    const saved = await readFile(path.join(step, 'heatmap.gradCam.bin'));
    const map = bytes(drawn.gradCam);
    assert.equal(map.length, tile);
    const worst = map.reduce(
      (most, value, index) => Math.max(most, Math.abs(value - saved[probe * tile + index]!)),
      0,
    );
    // Same backend as the training worker: only the other probes' rounding to bytes separates the two.
    assert.ok(worst <= 2, `the probe's map differs from the saved one by up to ${worst}/255`);

    const trainImage = (await splitImages('train'))[2]!;
    const other = await worker.request('imageHeatmap', { runDir: run, imageFile: trainImage });
    assert.deepEqual([other.split, other.position, other.probe], ['train', 2, null]);
    assert.equal(other.batchImages, manifest.probes.testPositions.length + 1);
    for (const variant of ['gradCam', 'gradientTimesActivation'] as const) {
      const values = bytes(other[variant]);
      assert.equal(values.length, tile);
      assert.equal(Math.max(...values), 255, `${variant}: normalised to its maximum, not all zero`);
    }
    assert.deepEqual(await snapshotFiles(run), untouched);
  });

  it('takes turns with synthesize and training in one worker, whose models share variable names', async () => {
    const first = path.join(folder, 'runs', 'first');
    const image = (await splitImages('train'))[0]!;
    const heatmap = () => worker.request('imageHeatmap', { runDir: first, imageFile: image });
    const synthesize = () => worker.request('synthesize', { runDir: first, overrides: {} });
    const { elapsedMs: _, ...drawn } = await heatmap();
    assert.equal((await synthesize()).cancelled, false);
    const { elapsedMs: __, ...again } = await heatmap();
    assert.deepEqual(again, drawn);
    // Training builds the same names again; the loaded heat-map model gives them up first.
    const second = await worker.request('train', trainRequest('second'));
    assert.equal(second.state, 'completed');
    const fromSecond = await worker.request('imageHeatmap', { runDir: second.runDir, imageFile: image });
    assert.equal(fromSecond.runDir, second.runDir);
  });

  it('reopens a run whose latest checkpoint changed', async () => {
    const copy = path.join(folder, 'runs', 'copy');
    await cp(path.join(folder, 'runs', 'first'), copy, { recursive: true });
    const image = (await splitImages('test'))[0]!;
    const newest = await worker.request('imageHeatmap', { runDir: copy, imageFile: image });
    assert.deepEqual([newest.checkpoint, newest.analysisEpoch], ['epoch-0002', 2]);
    await writeFile(
      path.join(copy, 'checkpoints', 'latest.json'),
      JSON.stringify({ checkpoint: 'epoch-0001' }),
    );
    const older = await worker.request('imageHeatmap', { runDir: copy, imageFile: image });
    // The analysis at or before the checkpoint: the probes the run had at that epoch.
    assert.deepEqual([older.checkpoint, older.epoch, older.analysisEpoch], ['epoch-0001', 1, 1]);
    assert.notDeepEqual(bytes(older.gradCam), bytes(newest.gradCam));
  });

  it('refuses an image outside the run’s data set and a run without a checkpoint, naming them', async () => {
    const first = path.join(folder, 'runs', 'first');
    await assert.rejects(
      worker.request('imageHeatmap', { runDir: first, imageFile: path.join(root, 'media', 'icon.png') }),
      (error: unknown) => {
        assert.ok(error instanceof RemoteError);
        assert.match(error.message, /icon\.png: not an image of the data set .*first was trained on/);
        return true;
      },
    );
    const bare = path.join(folder, 'runs', 'bare');
    await cp(first, bare, { recursive: true });
    await rm(path.join(bare, 'checkpoints'), { recursive: true });
    await assert.rejects(
      worker.request('imageHeatmap', { runDir: bare, imageFile: (await splitImages('test'))[0]! }),
      /bare: has no checkpoint yet/,
    );
  });
});
