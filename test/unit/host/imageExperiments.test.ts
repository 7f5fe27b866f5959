import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  dataRootOf,
  experimentsHoldingImage,
  isInside,
  latestTrainedRun,
} from '../../../src/host/heatmapEditor/imageExperiments';
import type { RunSummary } from '../../../src/shared/runFolder/runSummary';
import { makeTempDir } from '../../fixtures/makeImages';

/** Which experiment a heat-map editor draws an image with: the files whose data set holds it, and their runs. */
describe('experiments that hold an image', () => {
  let folder: string;

  before(async () => {
    folder = await makeTempDir('image-experiments');
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('reads data.root as a run resolves it, from text with comments and trailing commas', () => {
    const configFile = path.join(folder, 'birds', 'birds.synthpair.json');
    const text = '{\n  // the CUB subset\n  "data": { "root": "../cub", "imageSize": 96, },\n}';
    assert.equal(dataRootOf(configFile, text), path.join(folder, 'cub'));
    assert.equal(dataRootOf(configFile, '{ "data": { "root": "/srv/data" } }'), path.resolve('/srv/data'));
    assert.equal(dataRootOf(configFile, '{ "data": { "imageSize": 96 } }'), undefined);
    assert.equal(dataRootOf(configFile, '{ "data": { "root": "  " } }'), undefined);
    assert.equal(dataRootOf(configFile, '{ "data": '), undefined);
    // Half-typed: whatever parses is read.
    assert.equal(
      dataRootOf(configFile, '{ "data": { "root": "images", "layout": '),
      path.join(folder, 'birds', 'images'),
    );
  });

  it('counts a file as inside a folder at any depth, and never a sibling whose name starts alike', () => {
    const root = path.join(folder, 'data');
    assert.ok(isInside(root, path.join(root, 'train', 'a', 'x.png')));
    assert.ok(isInside(root, path.join(root, '..data', 'x.png')), 'a folder named ..data inside the root');
    assert.ok(!isInside(root, path.join(folder, 'data-old', 'x.png')));
    assert.ok(!isInside(root, path.join(folder, 'x.png')));
    assert.ok(!isInside(root, root));
  });

  it('lists the experiments whose data set holds the image, passing over unreadable files', async () => {
    const write = async (name: string, text: string) => {
      const file = path.join(folder, name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
      return file;
    };
    const near = await write('a/a.synthpair.json', '{ "data": { "root": "../data" } }');
    const far = await write('b/b.synthpair.json', '{ "data": { "root": "data" } }');
    const broad = await write('c.synthpair.json', '{ "data": { "root": "." } }');
    const missing = path.join(folder, 'gone.synthpair.json');
    const image = path.join(folder, 'data', 'train', 'wren', '001.jpg');
    const found = await experimentsHoldingImage(image, [near, far, missing, broad]);
    assert.deepEqual(found, [
      { configFile: near, dataRoot: path.join(folder, 'data') },
      { configFile: broad, dataRoot: folder },
    ]);
    assert.deepEqual(await experimentsHoldingImage(path.join(folder, 'elsewhere.png'), [near, far]), []);
  });

  it('takes the newest run of the experiment that has a checkpoint', async () => {
    const configFile = path.join(folder, 'x.synthpair.json');
    const makeRun = async (name: string, checkpoint?: string): Promise<RunSummary> => {
      const dir = path.join(folder, 'runs', name);
      await mkdir(path.join(dir, 'checkpoints'), { recursive: true });
      if (checkpoint) {
        await writeFile(path.join(dir, 'checkpoints', 'latest.json'), JSON.stringify({ checkpoint }));
      }
      return { dir, status: { configFile } } as RunSummary;
    };
    const starting = await makeRun('starting');
    const trained = await makeRun('trained', 'epoch-0004');
    const older = await makeRun('older', 'epoch-0010');
    const otherExperiment = {
      ...(await makeRun('other', 'epoch-0001')),
      status: { configFile: 'y' },
    } as RunSummary;
    // Newest first, as the catalog lists them.
    assert.deepEqual(await latestTrainedRun([otherExperiment, starting, trained, older], configFile), {
      run: trained,
      checkpoint: 'epoch-0004',
    });
    assert.equal(await latestTrainedRun([otherExperiment, starting], configFile), undefined);
  });
});
