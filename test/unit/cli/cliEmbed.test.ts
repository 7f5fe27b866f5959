import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { evalBatches } from '../../../src/engine/data/loader';
import { type DatasetSplits, loadSplits } from '../../../src/engine/data/splits';
import { tf } from '../../../src/engine/tf';
import { extractFeatures } from '../../../src/engine/training/evaluate';
import { loadSavedConfig } from '../../../src/engine/training/experiment';
import { restoreCheckpoint } from '../../../src/engine/training/runCheckpoint';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { makeTempDir } from '../../fixtures/makeImages';
import {
  assertCliBuilt,
  resultEvent,
  runCli,
  snapshotFiles,
  tinyConfig,
  writeTinyExperiment,
} from '../../support/cli';
import { resolvedConfig } from '../../support/config';
import { readNpy } from '../../support/npy';

function floats(file: string): Float32Array {
  return new Float32Array(new Uint8Array(readFileSync(file)).buffer);
}

describe('synthpair embed (bundled dist/cli.js)', function () {
  this.timeout(300_000);
  let folder: string;
  let run: string;

  before(async () => {
    assertCliBuilt();
    // This process builds models to compare with the CLI's output: on the cpu backend, whichever one an
    // earlier test file left registered but not initialised.
    await tf.setBackend('cpu');
    folder = await makeTempDir('cli-embed');
    await writeTinyExperiment(folder, { checkpoint: { everyEpochs: 1, keep: 0 }, train: { epochs: 2 } });
    run = path.join(folder, 'runs', 'tiny');
    const trained = runCli(folder, 'run', 'tiny.synthpair.json', '--out', run, '--backend', 'cpu');
    assert.equal(trained.code, 0, trained.stderr);
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  function readEmbedding(out: string) {
    const features = readNpy(path.join(out, 'features.npy'));
    const labels = readNpy(path.join(out, 'labels.npy'));
    assert.equal(features.dtype, '<f4');
    assert.equal(labels.dtype, '<i8');
    const files = readFileSync(path.join(out, 'files.txt'), 'utf8').split('\n').slice(0, -1);
    const classes = JSON.parse(readFileSync(path.join(out, 'classes.json'), 'utf8')) as string[];
    return { features, labels: labels.values, files, classes };
  }

  it('writes h of a checkpoint as evaluation computes it, with labels and files in dataset order, reading the run only', async () => {
    const before = await snapshotFiles(run);
    const out = path.join(folder, 'all');
    const embedded = runCli(
      folder,
      'embed',
      run,
      '--split',
      'all',
      '--checkpoint',
      'epoch-0001',
      '--out',
      out,
      '--backend',
      'cpu',
    );
    assert.equal(embedded.code, 0, embedded.stderr);
    assert.deepEqual(await snapshotFiles(run), before);
    const { checkpoint, count, featureDim } = resultEvent(embedded.stdout);
    assert.equal(checkpoint, 'epoch-0001');

    const config = await loadSavedConfig(await RunDirectory.open(run));
    const { method } = await restoreCheckpoint(config, await RunDirectory.open(run), 'epoch-0001');
    let splits: DatasetSplits;
    const expected: number[] = [];
    try {
      splits = await loadSplits(config.data, path.join(folder, '.synthpair', 'cache'), () => {});
      for (const set of [splits.train, splits.validation, splits.test]) {
        const { values } = await extractFeatures(method.encoder, set, config.data.imageSize, 6);
        expected.push(...values);
      }
    } finally {
      method.dispose();
    }
    const { features, labels, files, classes } = readEmbedding(out);
    assert.equal(count, 27);
    assert.deepEqual(features.shape, [27, featureDim]);
    assert.equal(features.values.length, expected.length);
    const error = Math.max(...features.values.map((value, index) => Math.abs(value - expected[index]!)));
    assert.ok(error <= 1e-5, `h differs from extractFeatures' by ${error}`);
    assert.deepEqual(labels, [
      ...Array.from(splits.train.labels),
      ...Array.from(splits.validation.labels),
      ...Array.from(splits.test.labels),
    ]);
    assert.deepEqual(
      files,
      [...splits.files.train, ...splits.files.validation, ...splits.files.test].map((file) =>
        path.relative(config.data.root, file),
      ),
    );
    assert.equal(files[0], 'train/a/img0.png');
    assert.deepEqual(classes, ['a', 'b', 'c']);
    const about = JSON.parse(readFileSync(path.join(out, 'embedding.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.deepEqual(about.rows, { train: 12, validation: 6, test: 9 });

    const again = runCli(folder, 'embed', run, '--split', 'all', '--checkpoint', 'epoch-0001', '--out', out);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /all\/features\.npy: already exists/);
  });

  it('embeds every image under a folder, labelled by its sub-folder, -1 directly in it', () => {
    const tree = path.join(folder, 'tree');
    cpSync(path.join(folder, 'data', 'test'), tree, { recursive: true });
    cpSync(path.join(tree, 'b', 'img0.png'), path.join(tree, 'loose.png'));
    writeFileSync(path.join(tree, 'notes.txt'), 'not an image');
    const split = runCli(folder, 'embed', run, '--out', 'test-split', '--backend', 'cpu');
    assert.equal(split.code, 0, split.stderr);
    const images = runCli(folder, 'embed', run, '--images', 'tree', '--out', 'tree-out', '--backend', 'cpu');
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, /skipped 1 file: .*notes\.txt \(not a \.jpg, \.jpeg or \.png file\)/);
    const ofSplit = readEmbedding(path.join(folder, 'test-split'));
    const ofTree = readEmbedding(path.join(folder, 'tree-out'));
    assert.deepEqual(ofTree.files, [
      'loose.png',
      ...ofSplit.files.map((file) => file.replace(/^test\//, '')),
    ]);
    assert.deepEqual(ofTree.labels, [-1, ...ofSplit.labels]);
    assert.deepEqual(ofTree.classes, ['a', 'b', 'c']);
    const dim = ofSplit.features.shape[1]!;
    assert.deepEqual(ofTree.features.values.slice(dim), ofSplit.features.values);
    assert.deepEqual(ofTree.features.values.slice(0, dim), ofSplit.features.values.slice(3 * dim, 4 * dim));
  });

  it('exits 2 naming what is wrong', () => {
    const cases: [string[], RegExp][] = [
      [['--split', 'val'], /argument 'val' is invalid/],
      [['--split', 'test', '--images', 'data'], /--split and --images: give one/],
      [['--checkpoint', 'epoch-0042'], /has no checkpoint epoch-0042/],
      [['--set', 'model.width=0.5'], /model\.width: cannot be changed when embedding with a run/],
      [['--images', 'nowhere'], /--images: .*nowhere: no such folder/],
    ];
    for (const [args, message] of cases) {
      const refused = runCli(folder, 'embed', run, ...args);
      assert.equal(refused.code, 2, args.join(' '));
      assert.match(refused.stderr, message);
    }
    const notASource = runCli(folder, 'embed', path.join(folder, 'data', 'train', 'a', 'img0.png'));
    assert.equal(notASource.code, 2);
    assert.match(notASource.stderr, /img0\.png: neither a run folder nor an experiment file/);
  });
});

// The encoder an experiment starts from, untrained: PyTorch's features of the same pixels, from the same file.
describe('synthpair embed of an experiment file with torchvision weights', function () {
  this.timeout(300_000);
  let folder: string;

  before(async () => {
    assertCliBuilt();
    folder = await makeTempDir('cli-embed-init');
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("gives PyTorch's h of the split's centre views to 1e-4 of its largest value", async () => {
    const weights = path.join(folder, 'weights');
    const model = { arch: 'resnet18', width: 1, stem: 'imagenet', init: 'weights/resnet18.pth' };
    await writeTinyExperiment(folder, { model });
    // The pixels SynthPair feeds the encoder, so PyTorch sees exactly the same ones.
    const config = resolvedConfig(tinyConfig({ data: { root: path.join(folder, 'data') } }));
    const { test } = await loadSplits(config.data, path.join(folder, '.synthpair', 'cache'), () => {});
    const size = config.data.imageSize;
    const pixels = [...evalBatches(test, 64, size)].flatMap((batch) => [...batch.images]);
    const images = path.join(folder, 'images.bin');
    writeFileSync(images, Float32Array.from(pixels));
    mkdirSync(weights);
    const made = spawnSync(
      '/usr/bin/python3',
      [
        path.join(__dirname, '..', '..', 'reference', 'torch_features.py'),
        weights,
        String(size),
        String(test.images.length),
        images,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);

    const embedded = runCli(folder, 'embed', 'tiny.synthpair.json', '--out', 'h', '--backend', 'cpu');
    assert.equal(embedded.code, 0, embedded.stderr);
    assert.equal(resultEvent(embedded.stdout).init, path.join(folder, 'weights', 'resnet18.pth'));
    const ours = readNpy(path.join(folder, 'h', 'features.npy'));
    const theirs = floats(path.join(weights, 'resnet18-h.bin'));
    assert.deepEqual(ours.shape, [test.images.length, 512]);
    const scale = Math.max(...theirs.map(Math.abs));
    const error = Math.max(...ours.values.map((value, index) => Math.abs(value - theirs[index]!)));
    assert.ok(error <= 1e-4 * scale, `h differs from PyTorch's by ${error} (largest value ${scale})`);
    assert.equal(JSON.parse(await readFile(path.join(folder, 'h', 'embedding.json'), 'utf8')).split, 'test');
  });
});
