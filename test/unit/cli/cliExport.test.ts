import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { tf } from '../../../src/engine/tf';
import { loadSavedConfig } from '../../../src/engine/training/experiment';
import { restoreCheckpoint } from '../../../src/engine/training/runCheckpoint';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { makeTempDir } from '../../fixtures/makeImages';
import { assertCliBuilt, resultEvent, runCli, writeTinyExperiment } from '../../support/cli';
import type { Config } from '../../support/config';

const reference = (name: string) => path.join(__dirname, '..', '..', 'reference', name);

// Import → train → export → PyTorch's load_state_dict(strict=True): PyTorch then computes SynthPair's h.
describe('synthpair export (bundled dist/cli.js)', function () {
  this.timeout(600_000);
  const size = 32;
  const count = 4;
  let folder: string;
  let images: string;

  before(async () => {
    assertCliBuilt();
    // This process builds models to compare with the CLI's output: on the cpu backend, whichever one an
    // earlier test file left registered but not initialised.
    await tf.setBackend('cpu');
    folder = await makeTempDir('cli-export');
    const made = spawnSync('/usr/bin/python3', [reference('torch_weights.py'), folder], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    images = path.join(folder, 'images.bin');
    writeFileSync(
      images,
      Float32Array.from(
        { length: count * size * size * 3 },
        (_, index) => (Math.sin(index * 12.9898) + 1) / 2,
      ),
    );
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  /** Trains `model` one tiny epoch into runs/<name>. */
  async function trainRun(name: string, model: Config): Promise<string> {
    const experiment = path.join(folder, name);
    await writeTinyExperiment(experiment, { model, data: { imageSize: size } });
    const run = path.join(experiment, 'run');
    const trained = runCli(experiment, 'run', 'tiny.synthpair.json', '--out', run, '--backend', 'wasm');
    assert.equal(trained.code, 0, trained.stderr);
    return run;
  }

  /** h of the images by the run's latest checkpoint, in SynthPair. */
  async function hOf(run: string): Promise<Float32Array> {
    const directory = await RunDirectory.open(run);
    const { method } = await restoreCheckpoint(await loadSavedConfig(directory), directory, undefined);
    try {
      const pixels = new Float32Array(new Uint8Array(readFileSync(images)).buffer);
      return tf.tidy(() =>
        method.encoder.apply(tf.tensor4d(pixels, [count, size, size, 3]), 'eval').features.dataSync(),
      ) as Float32Array;
    } finally {
      method.dispose();
    }
  }

  function assertPyTorchComputes(
    file: string,
    ours: Float32Array,
    options: string[],
  ): Record<string, string> {
    const out = `${file}.h`;
    const loaded = spawnSync(
      '/usr/bin/python3',
      [
        reference('torch_exported.py'),
        'features',
        file,
        images,
        String(count),
        String(size),
        out,
        ...options,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(loaded.status, 0, loaded.stderr);
    const theirs = new Float32Array(new Uint8Array(readFileSync(out)).buffer);
    assert.equal(theirs.length, ours.length);
    const scale = Math.max(...ours.map(Math.abs));
    const error = Math.max(...theirs.map((value, index) => Math.abs(value - ours[index]!)));
    assert.ok(error <= 1e-4 * scale, `${file}: PyTorch's h differs by ${error} (largest value ${scale})`);
    return JSON.parse(loaded.stdout) as Record<string, string>;
  }

  it('a run started from torchvision’s ResNet-18 loads back into it strictly, as .safetensors and .pth, and computes the same h', async () => {
    const run = await trainRun('imported', {
      arch: 'resnet18',
      width: 1,
      stem: 'imagenet',
      init: path.join(folder, 'resnet18.pth'),
    });
    const exported = runCli(folder, 'export', run, '--pth', '--out', 'encoder.safetensors');
    assert.equal(exported.code, 0, exported.stderr);
    const files = [path.join(folder, 'encoder.safetensors'), path.join(folder, 'encoder.pth')];
    assert.deepEqual(resultEvent(exported.stdout).files, files);
    const ours = await hOf(run);
    const metadata = assertPyTorchComputes(files[0]!, ours, ['--imagenet-norm']);
    assert.deepEqual(
      [metadata.arch, metadata.stem, metadata.width, metadata.checkpoint, metadata.source],
      ['resnet18', 'imagenet', '1', 'epoch-0001', run],
    );
    assert.match(metadata.inputNorm!, /^imagenet/);
    assertPyTorchComputes(files[1]!, ours, ['--imagenet-norm']);

    const again = runCli(folder, 'export', run, '--out', 'encoder.safetensors');
    assert.equal(again.code, 2);
    assert.match(again.stderr, /encoder\.safetensors: already exists/);
  });

  it('a 3×3-stem, half-width ResNet-18 loads into torchvision’s ResNet built so', async () => {
    const run = await trainRun('cifar', { arch: 'resnet18', width: 0.5, stem: 'cifar' });
    const exported = runCli(folder, 'export', run, '--out', 'cifar.safetensors');
    assert.equal(exported.code, 0, exported.stderr);
    const metadata = assertPyTorchComputes(path.join(folder, 'cifar.safetensors'), await hOf(run), [
      '--stem',
      'cifar',
      '--width',
      '0.5',
    ]);
    assert.deepEqual(
      [metadata.stem, metadata.width, metadata.inputNorm],
      ['cifar', '0.5', 'none: images in [0, 1]'],
    );
  });

  it('exits 2 for a SmallCNN, a checkpoint that is not there and an --out that is no .safetensors', async () => {
    const run = await trainRun('small', {});
    const cases: [string[], RegExp][] = [
      [[], /its model\.arch is "smallcnn", which torchvision has no network for/],
      [['--checkpoint', 'epoch-0042'], /has no checkpoint epoch-0042/],
      [['--out', 'encoder.bin'], /--out: .*encoder\.bin should end in \.safetensors/],
    ];
    for (const [args, message] of cases) {
      const refused = runCli(folder, 'export', run, ...args);
      assert.equal(refused.code, 2, args.join(' '));
      assert.match(refused.stderr, message);
    }
  });
});
