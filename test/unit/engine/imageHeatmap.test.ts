import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  heatmapperKind,
  type ImageHeatmap,
  locateHeatmapSources,
} from '../../../src/engine/analysis/imageHeatmap';
import { listDataset } from '../../../src/engine/data/datasets';
import { LoadedRunCache } from '../../../src/engine/savedRun';
import { SynthesizerCache } from '../../../src/engine/synthesis/synthesizer';
import { tf } from '../../../src/engine/tf';
import { analysisManifest } from '../../../src/shared/protocol/runFiles';
import { makeTempDir } from '../../fixtures/makeImages';
import { trainedFixtureRun } from '../../support/fixtureRun';

/**
 * A copy of the fixture run beside a copy of its data, since a test here adds an unreadable image to the data
 * set. A run records its data root as an absolute path, so the copy's config is pointed at the copy.
 */
async function relocatedFixtureRun(): Promise<{ folder: string; runDir: string; dataRoot: string }> {
  const fixture = await trainedFixtureRun();
  const folder = await makeTempDir('image-heatmap');
  const runDir = path.join(folder, 'run');
  const dataRoot = path.join(folder, 'data');
  await cp(fixture.runDir, runDir, { recursive: true });
  await cp(path.join(fixture.workspace, 'data'), dataRoot, { recursive: true });
  const configFile = path.join(runDir, 'config.json');
  const config = JSON.parse(await readFile(configFile, 'utf8'));
  await writeFile(configFile, JSON.stringify({ ...config, data: { ...config.data, root: dataRoot } }));
  return { folder, runDir, dataRoot };
}

function largestDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let largest = 0;
  for (let index = 0; index < a.length; index++) largest = Math.max(largest, Math.abs(a[index]! - b[index]!));
  return largest;
}

describe('heat maps of any image of a run’s data set', function () {
  this.timeout(180_000);
  let folder: string;
  let runDir: string;
  let dataRoot: string;
  /** As the worker keeps it: loaded once, between requests. */
  const cache = new LoadedRunCache();
  const heatmapOf = (imageFile: string): Promise<ImageHeatmap> =>
    cache.use(heatmapperKind, runDir, (heatmapper) => heatmapper.heatmapOf(imageFile));
  const probeCount = 8;

  before(async () => {
    await tf.setBackend('cpu');
    ({ folder, runDir, dataRoot } = await relocatedFixtureRun());
  });

  after(async () => {
    await cache.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('gives a probe the maps its analysis saved, from the image file alone', async () => {
    const step = path.join(runDir, 'analysis', 'epoch-0003');
    const manifest = analysisManifest.parse(
      JSON.parse(await readFile(path.join(step, 'analysis.json'), 'utf8')),
    );
    const sources = await locateHeatmapSources(runDir);
    assert.equal(sources.checkpoint, 'epoch-0003');
    assert.equal(sources.analysis.folder, step);
    assert.equal(manifest.probes.testPositions.length, probeCount);
    const size = manifest.imageSize;
    const tile = size * size;
    const savedPixels = await readFile(path.join(step, 'probes.centre.bin'));
    const savedMaps = {
      gradCam: await readFile(path.join(step, 'heatmap.gradCam.bin')),
      gradientTimesActivation: await readFile(path.join(step, 'heatmap.gradientTimesActivation.bin')),
    };
    // No test image of the fixture fails to decode, so the probes' positions are positions in the listing.
    const { test } = await listDataset(dataRoot, 'imagefolder');
    for (const [probe, position] of manifest.probes.testPositions.entries()) {
      const heatmap = await heatmapOf(test[position]!.path);
      assert.equal(heatmap.probe, probe);
      assert.deepEqual([heatmap.split, heatmap.position], ['test', position]);
      assert.equal(heatmap.batchImages, manifest.probes.testPositions.length, 'the batch is the analysis’s');
      assert.deepEqual(
        Buffer.from(heatmap.pixels),
        savedPixels.subarray(probe * tile * 3, (probe + 1) * tile * 3),
      );
      for (const variant of ['gradCam', 'gradientTimesActivation'] as const) {
        // View 1 of the saved [2, P, S, S] maps. The other probes enter the batch as saved bytes, and the run
        // trained on another backend: a few 1/255 steps apart. A wrong crop or augmented view is ~100 apart.
        const saved = savedMaps[variant].subarray(probe * tile, (probe + 1) * tile);
        const difference = largestDifference(
          Array.from(heatmap.maps[variant], (value) => value * 255),
          saved,
        );
        assert.ok(
          difference <= 4,
          `probe ${probe} ${variant}: up to ${difference.toFixed(2)}/255 from the saved map`,
        );
      }
      assert.ok(
        Math.abs(heatmap.loss - manifest.probes.loss) < 1e-2,
        `${heatmap.loss} vs ${manifest.probes.loss}`,
      );
    }
  });

  it('draws an image that is no probe, of either split, against the probes as negatives', async () => {
    const { train, test } = await listDataset(dataRoot, 'imagefolder');
    const probePositions = new Set(
      (await locateHeatmapSources(runDir)).analysis.manifest.probes.testPositions,
    );
    const otherTest = test.findIndex((_, position) => !probePositions.has(position));
    for (const [split, position, file] of [
      ['train', 5, train[5]!.path],
      ['test', otherTest, test[otherTest]!.path],
    ] as const) {
      const heatmap = await heatmapOf(file);
      assert.deepEqual([heatmap.split, heatmap.position, heatmap.probe], [split, position, undefined]);
      assert.equal(heatmap.batchImages, probeCount + 1);
      assert.equal(heatmap.pixels.length, 32 * 32 * 3);
      for (const map of Object.values(heatmap.maps)) {
        assert.equal(map.length, 32 * 32);
        assert.ok(map.every((value) => value >= 0 && value <= 1));
        // Divided by its maximum: a map with any positive evidence peaks at exactly 1.
        assert.equal(Math.max(...map), 1, `${split} ${position}: an all-zero map`);
      }
    }
  });

  it('refuses an image outside the data set and a file that is no image', async () => {
    const firstTrain = (await listDataset(dataRoot, 'imagefolder')).train[0]!.path;
    const stray = path.join(folder, 'stray.png');
    await cp(firstTrain, stray);
    await assert.rejects(heatmapOf(stray), (error: Error) => {
      assert.equal(error.name, 'ExperimentInputError');
      assert.match(error.message, /stray\.png: not an image of the data set .* was trained on/);
      return true;
    });
    const broken = path.join(path.dirname(firstTrain), 'broken.png');
    await writeFile(broken, 'not a png');
    try {
      // The listing takes any .png by its name; the decoder is what refuses it.
      await assert.rejects(heatmapOf(broken), /broken\.png: cannot be decoded/);
    } finally {
      await rm(broken);
    }
  });

  it('refuses a run without a checkpoint, saying when one is saved', async () => {
    const bare = path.join(folder, 'no-checkpoint');
    await cp(runDir, bare, { recursive: true });
    await rm(path.join(bare, 'checkpoints'), { recursive: true });
    await assert.rejects(
      locateHeatmapSources(bare),
      /no-checkpoint: has no checkpoint yet \(one is saved every checkpoint\.everyEpochs epochs and at the end\)/,
    );
  });

  it('shares one cache with the synthesizer, whose models use the same variable names', async () => {
    const synthesizers = new SynthesizerCache(cache);
    const image = (await listDataset(dataRoot, 'imagefolder')).train[0]!.path;
    const first = await heatmapOf(image);
    const synthesized = () =>
      synthesizers.use(runDir, async (synthesizer) => ({
        synthesizer,
        images: (await synthesizer.synthesize()).pairs.images,
      }));
    // Opening the synthesizer builds the method's variables again: the heat-map model must be gone by then.
    const drawn = await synthesized();
    assert.equal(drawn.images, probeCount);
    const again = await heatmapOf(image);
    assert.deepEqual(again.maps, first.maps);
    // The synthesizer keeps no variables, so opening the heat-map model again left it loaded and usable.
    const redrawn = await synthesized();
    assert.equal(redrawn.synthesizer, drawn.synthesizer);
    assert.equal(redrawn.images, probeCount);
  });
});
