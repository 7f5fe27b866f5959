import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import { listDataset } from '../../../src/engine/data/datasets';
import { expectedDigestPrefix } from '../../../src/engine/weights/download';
import {
  EXAMPLE_DATASET_VERSION,
  type ExampleDatasetSummary,
  writeExampleDataset,
} from '../../../src/host/newExperiment/exampleDataset';
import {
  experimentNameProblem,
  NewExperimentError,
  planNewExperiment,
  writeNewExperiment,
} from '../../../src/host/newExperiment/newExperiment';
import { experimentTemplate, torchvisionImagenetWeights } from '../../../src/host/newExperiment/template';
import { parseExperimentConfig } from '../../../src/shared/config/experiment/parse';
import { makeImageFolder, makeTempDir } from '../../fixtures/makeImages';
import {
  assertCliBuilt,
  assertTrainedWithPairs,
  runCli,
  snapshotFiles,
  writeTinyDataset,
} from '../../support/cli';
import { repoRoot } from '../../support/paths';

/** Every image of a split's class folder, decoded to raw RGB. */
async function decodeClass(root: string, split: 'train' | 'test', name: string): Promise<Buffer[]> {
  const folder = path.join(root, split, name);
  const images: Buffer[] = [];
  for (const file of (await readdir(folder)).sort()) {
    const { data, info } = await sharp(path.join(folder, file)).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [64, 64, 3], file);
    images.push(data);
  }
  return images;
}

function meanColour(pixels: Buffer): number[] {
  const sums = [0, 0, 0];
  for (let i = 0; i < pixels.length; i++) sums[i % 3]! += pixels[i]!;
  return sums.map((sum) => sum / (pixels.length / 3));
}

function squaredDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return sum;
}

/** Share of test items whose nearest training item (squared distance) has their class. */
function nearestNeighbourAccuracy(train: number[][][], test: number[][][]): number {
  let correct = 0;
  let total = 0;
  for (const [label, items] of test.entries()) {
    for (const item of items) {
      let best = Number.POSITIVE_INFINITY;
      let predicted = -1;
      for (const [candidate, examples] of train.entries()) {
        for (const example of examples) {
          const distance = squaredDistance(item, example);
          if (distance < best) [best, predicted] = [distance, candidate];
        }
      }
      correct += predicted === label ? 1 : 0;
      total++;
    }
  }
  return correct / total;
}

describe('new experiment', function () {
  this.timeout(180_000);
  const folders: string[] = [];
  const tempFolder = async (prefix: string) => {
    const folder = await makeTempDir(prefix);
    folders.push(folder);
    return folder;
  };

  after(async () => {
    await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
  });

  describe('template', () => {
    it('parses without an error or a warning, with a CPU-sized budget and the method on', () => {
      for (const options of [
        { name: 'birds.v2_try-1', dataRoot: 'data' },
        { name: 'odd', dataRoot: 'a "quoted" \\ folder/', layout: 'cub' as const, probes: 3 },
      ]) {
        const text = experimentTemplate(options);
        const { config, diagnostics } = parseExperimentConfig(text);
        assert.deepEqual(diagnostics, []);
        assert.ok(config);
        assert.equal(config.name, options.name);
        assert.equal(config.data.root, options.dataRoot);
        assert.equal(config.data.layout, options.layout ?? 'imagefolder');
        assert.equal(config.analysis.probes.count, options.probes ?? 8);
        assert.ok(config.data.imageSize >= 32 && config.data.imageSize <= 64);
        assert.ok(
          config.model.arch === 'smallcnn' || (config.model.arch === 'resnet18' && config.model.width <= 0.5),
        );
        assert.ok(config.train.epochs <= 20);
        assert.ok(config.loss.alpha > 0 && config.loss.nu > 0, 'the synthesized-pair method is on');
        assert.ok(config.synthesis.startEpoch >= 2 && config.synthesis.startEpoch < config.train.epochs);
        assert.equal(config.analysis.everyEpochs, 1);
        assert.match(text, /^\/\/ /);
        assert.match(text, /docs\/config\.md/);
      }
    });

    it("starts from torchvision's ImageNet weights as the paper does: ResNet-50, 224 px, ImageNet normalisation, MoCo v2", () => {
      const init = torchvisionImagenetWeights.resnet50;
      const text = experimentTemplate({
        name: 'paper',
        dataRoot: 'data',
        batchSize: 24,
        pretrained: { arch: 'resnet50', init },
      });
      const { config, diagnostics } = parseExperimentConfig(text);
      assert.deepEqual(diagnostics, []);
      assert.ok(config);
      assert.deepEqual(
        [
          config.model.arch,
          config.model.stem,
          config.model.padding,
          config.model.init,
          config.model.inputNorm,
        ],
        ['resnet50', 'imagenet', 'torchvision', init, 'imagenet'],
      );
      assert.equal(config.data.imageSize, 224);
      assert.equal(config.ssl.method, 'mocov2');
      assert.equal(config.ssl.mocov2.queueSize % config.train.batchSize, 0);
      assert.equal(config.train.epochs, 100);
      assert.ok(config.loss.alpha > 0 && config.loss.nu > 0, 'the synthesized-pair method is on');
      assert.match(text, /a day or more/, 'the file says what it costs on a CPU');
      assert.equal(expectedDigestPrefix(init), '0676ba61', 'the download is checked against the name');
    });

    it('refuses a probe count the config could not hold', () => {
      assert.throws(() => experimentTemplate({ name: 'x', dataRoot: 'data', probes: 0 }), /probes/);
    });
  });

  describe('example dataset', () => {
    let root: string;
    let summary: ExampleDatasetSummary;

    before(async () => {
      root = path.join(await tempFolder('example-data'), 'data');
      summary = await writeExampleDataset(root);
    });

    it('writes the stated classes and counts as an ImageFolder dataset SynthPair lists without warnings', async () => {
      assert.equal(summary.classes.length, 8);
      assert.deepEqual([summary.trainImages, summary.testImages, summary.imageSize], [160, 64, 64]);
      const listing = await listDataset(root, 'imagefolder');
      assert.deepEqual(listing.classes, summary.classes);
      assert.equal(listing.train.length, summary.trainImages);
      assert.equal(listing.test.length, summary.testImages);
      assert.deepEqual([listing.skipped, listing.warnings], [[], []]);
      for (const name of summary.classes) {
        assert.equal((await decodeClass(root, 'train', name)).length, 20);
        assert.equal((await decodeClass(root, 'test', name)).length, 8);
      }
    });

    it('says where the images come from and that they are CC0, and leaves no staging folder', async () => {
      const readme = await readFile(path.join(root, 'README.md'), 'utf8');
      assert.match(readme, /Generated by SynthPair/);
      assert.match(readme, new RegExp(`generator version ${EXAMPLE_DATASET_VERSION}, seed 0`));
      assert.match(readme, /CC0-1\.0/);
      assert.match(await readFile(path.join(root, 'LICENSE'), 'utf8'), /publicdomain\/zero\/1\.0/);
      assert.deepEqual(await readdir(path.dirname(root)), ['data']);
    });

    it('gives the same bytes for the same seed and other images for another seed', async () => {
      const same = path.join(await tempFolder('example-data'), 'data');
      const other = path.join(await tempFolder('example-data'), 'data');
      await writeExampleDataset(same);
      await writeExampleDataset(other, { seed: 7 });
      assert.deepEqual(await snapshotFiles(same), await snapshotFiles(root));
      const image = path.join('train', 'striola-trifasciata', 'striola-trifasciata-001.png');
      assert.notDeepEqual(await readFile(path.join(other, image)), await readFile(path.join(root, image)));
    });

    it('needs the pattern, not the mean colour, to tell species of a genus apart', async () => {
      for (const pair of [
        ['striola-trifasciata', 'striola-quadrifasciata'],
        ['ocellia-bioculata', 'ocellia-alta'],
      ]) {
        const load = (split: 'train' | 'test') =>
          Promise.all(pair.map((name) => decodeClass(root, split, name)));
        const [train, test] = [await load('train'), await load('test')];
        const colours = (split: Buffer[][]) => split.map((images) => images.map(meanColour));
        const pixels = (split: Buffer[][]) => split.map((images) => images.map((image) => [...image]));
        const byColour = nearestNeighbourAccuracy(colours(train), colours(test));
        const byPixels = nearestNeighbourAccuracy(pixels(train), pixels(test));
        assert.ok(byColour <= 0.7, `${pair.join(' vs ')}: mean colour tells them apart (${byColour})`);
        assert.ok(byPixels >= 0.8, `${pair.join(' vs ')}: pixels do not tell them apart (${byPixels})`);
      }
    });

    it('refuses a folder that exists and counts out of range', async () => {
      await assert.rejects(writeExampleDataset(root), /already exists/);
      const fresh = path.join(await tempFolder('example-data'), 'data');
      await assert.rejects(writeExampleDataset(fresh, { trainPerClass: 0 }), /trainPerClass/);
      await assert.rejects(writeExampleDataset(fresh, { seed: -1 }), /seed/);
    });
  });

  describe('plan', () => {
    it('refuses names that are not portable file names', async () => {
      const folder = await tempFolder('new-experiment');
      for (const name of [
        '',
        'a/b',
        '../up',
        '.hidden',
        'with space',
        'naïve',
        'x.synthpair.json',
        'a'.repeat(101),
      ]) {
        assert.ok(experimentNameProblem(name), `accepted ${JSON.stringify(name)}`);
        await assert.rejects(
          planNewExperiment(folder, name),
          (error) => error instanceof NewExperimentError && error.code === 'bad-name',
        );
      }
      for (const name of ['birds', 'cub_200.v2-b', '2024'])
        assert.equal(experimentNameProblem(name), undefined);
      assert.deepEqual(await readdir(folder), []);
    });

    it('refuses a config file that exists, before and at writing', async () => {
      const folder = await tempFolder('new-experiment');
      await writeFile(path.join(folder, 'taken.synthpair.json'), '{}');
      await assert.rejects(
        planNewExperiment(folder, 'taken'),
        (error) => error instanceof NewExperimentError && error.code === 'exists',
      );
      const plan = await planNewExperiment(folder, 'late');
      await writeFile(plan.configPath, 'mine');
      await assert.rejects(writeNewExperiment(plan), /already exists/);
      assert.equal(await readFile(plan.configPath, 'utf8'), 'mine');
      assert.deepEqual((await readdir(folder)).sort(), ['late.synthpair.json', 'taken.synthpair.json']);
    });

    it('generates the example dataset in data/ when the workspace has no data, or beside it when data/ is taken', async () => {
      const empty = await tempFolder('new-experiment');
      const plan = await planNewExperiment(empty, 'first');
      assert.deepEqual(plan.data, { kind: 'example', root: path.join(empty, 'data') });
      const result = await writeNewExperiment(plan);
      assert.deepEqual(result.written, [path.join(empty, 'first.synthpair.json'), path.join(empty, 'data')]);
      assert.equal(result.dataset?.trainImages, 160);
      const written = parseExperimentConfig(await readFile(result.configPath, 'utf8'));
      assert.deepEqual(written.diagnostics, []);
      assert.equal(written.config?.data.root, 'data');

      const taken = await tempFolder('new-experiment');
      await mkdir(path.join(taken, 'data'));
      const beside = await planNewExperiment(taken, 'second');
      assert.deepEqual(beside.data, { kind: 'example', root: path.join(taken, 'second-data') });
    });

    it("reuses the data of the workspace's configs, then a data/ folder with train/ and test/", async () => {
      const folder = await tempFolder('new-experiment');
      await writeTinyDataset(path.join(folder, 'data'));
      let plan = await planNewExperiment(folder, 'reuse');
      assert.deepEqual(plan.data, {
        kind: 'existing',
        root: path.join(folder, 'data'),
        layout: 'imagefolder',
        foundBy: path.join(folder, 'data'),
      });
      // The tiny dataset's test split has 9 images: room for the template's 8 probes; of its 18 training images
      // the 12 that data.validation leaves to train on would not fill the template's batch of 32.
      assert.equal(parseExperimentConfig(plan.configText).config?.analysis.probes.count, 8);
      assert.equal(parseExperimentConfig(plan.configText).config?.train.batchSize, 12);

      // A config that points nowhere is passed over; one whose data.root exists wins over data/.
      const nested = path.join(folder, 'experiments', 'cub');
      await makeImageFolder(path.join(nested, 'pictures'), {
        a: { train: 2, test: 2 },
        b: { train: 2, test: 1 },
      });
      await writeFile(path.join(folder, 'broken.synthpair.json'), '{ "data": { "root": "gone" } }');
      await writeFile(
        path.join(nested, 'cub.synthpair.json'),
        '// a comment\n{ "name": "cub", "data": { "root": "pictures", }, }',
      );
      plan = await planNewExperiment(folder, 'reuse');
      assert.deepEqual(plan.data, {
        kind: 'existing',
        root: path.join(nested, 'pictures'),
        layout: 'imagefolder',
        foundBy: path.join(nested, 'cub.synthpair.json'),
      });
      const { config, diagnostics } = parseExperimentConfig(plan.configText);
      assert.deepEqual(diagnostics, []);
      assert.equal(config?.data.root, 'experiments/cub/pictures');
      assert.equal(config?.analysis.probes.count, 3, 'one probe per test image when there are fewer than 8');
      assert.equal(config?.train.batchSize, 4, 'a batch no larger than the training split');
      const result = await writeNewExperiment(plan);
      assert.deepEqual(result, { configPath: plan.configPath, written: [plan.configPath] });
    });

    it('keeps the extension host free of TF.js, the engine and sharp', async () => {
      const result = await esbuild.build({
        entryPoints: [path.join(repoRoot, 'src', 'host', 'newExperiment', 'newExperiment.ts')],
        bundle: true,
        write: false,
        metafile: true,
        platform: 'node',
        logLevel: 'silent',
      });
      const inputs = Object.keys(result.metafile.inputs);
      const forbidden = inputs.filter(
        (input) =>
          input.includes('@tensorflow') || input.includes('sharp') || input.startsWith('src/engine/'),
      );
      assert.deepEqual(forbidden, []);
    });
  });

  it('writes an experiment whose config and generated data train the method through the CLI', async () => {
    assertCliBuilt();
    const folder = await tempFolder('new-experiment');
    const { configPath } = await writeNewExperiment(await planNewExperiment(folder, 'first-try'));
    // One epoch at 32 px with the synthesized pairs from the first epoch: every part of the method, quickly.
    const { code, stdout, stderr } = runCli(
      folder,
      'run',
      path.basename(configPath),
      '--out',
      'run',
      '--backend',
      'wasm',
      '--set',
      'train.epochs=1',
      'synthesis.startEpoch=1',
      'data.imageSize=32',
    );
    assert.equal(code, 0, stderr);
    assertTrainedWithPairs(stdout);
    assert.equal(
      (await readFile(path.join(folder, 'run', 'eval.jsonl'), 'utf8')).trim().split('\n').length,
      1,
    );
  });
});
