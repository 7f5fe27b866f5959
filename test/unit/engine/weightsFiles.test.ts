import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMethodFor } from '../../../src/engine/methods/registry';
import { buildEncoder } from '../../../src/engine/models/registry';
import { tf } from '../../../src/engine/tf';
import type { ImportedTensors } from '../../../src/engine/weights/importedTensors';
import { readInitialEncoderOf } from '../../../src/engine/weights/initialEncoder';
import { readSafetensorsFile } from '../../../src/engine/weights/safetensorsFile';
import { readTorchFile } from '../../../src/engine/weights/torchFile';
import { matchTorchvisionResNet, type ParameterSlot } from '../../../src/engine/weights/torchvisionResNet';
import { inputNormOf } from '../../../src/shared/config/experiment/choices';
import { parseExperimentConfig } from '../../../src/shared/config/experiment/parse';

type Expected = Record<
  'resnet18' | 'kinds',
  Record<string, { shape: number[]; offset: number; length: number }>
>;

// Files written by PyTorch itself (Debian's python3-torch, as scripts/install-system-deps.sh installs it),
// independently of the TypeScript code that reads them.
describe('weights files from PyTorch', function () {
  this.timeout(300_000);
  let folder: string;
  let expected: Expected;
  let expectedValues: Float32Array;

  before(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'synthpair-weights-'));
    const script = path.join(__dirname, '..', '..', 'reference', 'torch_weights.py');
    const made = spawnSync('/usr/bin/python3', [script, folder], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    expected = JSON.parse(readFileSync(path.join(folder, 'expected.json'), 'utf8')) as Expected;
    const bytes = readFileSync(path.join(folder, 'expected.bin'));
    expectedValues = new Float32Array(new Uint8Array(bytes).buffer);
  });

  after(() => rmSync(folder, { recursive: true, force: true }));

  const read = (name: string) => {
    const file = path.join(folder, name);
    const bytes = readFileSync(file);
    return name.endsWith('.safetensors')
      ? Promise.resolve(readSafetensorsFile(file, bytes))
      : readTorchFile(file, bytes);
  };

  function assertSame(tensors: ImportedTensors, which: keyof Expected): void {
    assert.deepEqual([...tensors.keys()].sort(), Object.keys(expected[which]).sort());
    for (const [name, { shape, offset, length }] of Object.entries(expected[which])) {
      const tensor = tensors.get(name)!;
      assert.deepEqual(tensor.shape, shape, name);
      assert.deepEqual(tensor.values, expectedValues.subarray(offset, offset + length), name);
    }
  }

  it('reads a state dict torch.save wrote, every tensor with its shape and values', async () => {
    const tensors = await read('resnet18.pth');
    assertSame(tensors, 'resnet18');
    assert.equal(tensors.get('conv1.weight')?.storedAs, 'float32');
    assert.equal(tensors.get('bn1.num_batches_tracked')?.storedAs, 'int64');
  });

  it('finds the state dict of a checkpoint under state_dict and drops DataParallel’s module. prefix', async () => {
    assertSame(await read('checkpoint.pth'), 'resnet18');
  });

  it('reads half, bfloat16, double and int64 tensors, strided views, offsets into shared storage and parameters', async () => {
    assertSame(await read('kinds.pth'), 'kinds');
  });

  it('reads the same state dict from a safetensors file', async () => {
    assertSame(await read('resnet18.safetensors'), 'resnet18');
  });

  it('refuses a pickle that would run a command, naming the call, and runs nothing', async () => {
    await assert.rejects(read('evil.pth'), (error: Error) => {
      assert.equal(error.name, 'WeightsFileError');
      assert.match(error.message, /evil\.pth: refused to load: its pickle calls (posix|os)\.system/);
      return true;
    });
    assert.equal(existsSync(path.join(folder, 'ran')), false, 'the command ran');
  });

  it('says what is wrong with a file that is not what its name says', async () => {
    const file = path.join(folder, 'text.pth');
    writeFileSync(file, 'not a zip');
    await assert.rejects(
      readTorchFile(file, readFileSync(file)),
      /text\.pth: not a zip archive as torch\.save writes/,
    );
    const torn = path.join(folder, 'torn.safetensors');
    const whole = readFileSync(path.join(folder, 'resnet18.safetensors'));
    writeFileSync(torn, whole.subarray(0, whole.byteLength - 100));
    assert.throws(
      () => readSafetensorsFile(torn, readFileSync(torn)),
      /torn\.safetensors: fc\.bias \(1000, F32\) claims bytes \d+–\d+ of \d+; it needs 4000/,
    );
  });

  /** The parameters of SynthPair's ResNet-18 with torchvision's stem, at `width`. */
  function resnet18Slots(width: number): ParameterSlot[] {
    const { parameters } = buildEncoder({ arch: 'resnet18', width, stem: 'imagenet' }, 0);
    const slots = parameters.all().map(([name, variable]) => ({ name, shape: variable.shape }));
    parameters.dispose();
    return slots;
  }

  it('fills every parameter of SynthPair’s ResNet-18 from torchvision’s, kernels transposed, and sets fc aside', async () => {
    const file = path.join(folder, 'resnet18.pth');
    const imported = await read('resnet18.pth');
    const matched = matchTorchvisionResNet(file, imported, resnet18Slots(1));
    assert.equal(matched.values.size, 100);
    assert.deepEqual(
      new Set(
        matched.setAside.map(({ name }) => name.replace(/^.*\.num_batches_tracked$/, 'num_batches_tracked')),
      ),
      new Set(['num_batches_tracked', 'fc.weight', 'fc.bias']),
    );
    // One kernel element by hand: PyTorch's [out 5, in 2, y 1, x 0] of layer2.0.conv1 is TF.js's [1, 0, 2, 5].
    const torchKernel = imported.get('layer2.0.conv1.weight')!;
    const kernel = matched.values.get('encoder.layer2.0.conv1.conv.weight')!;
    assert.equal(
      kernel[((1 * 3 + 0) * 64 + 2) * 128 + 5],
      torchKernel.values[((5 * 64 + 2) * 3 + 1) * 3 + 0],
    );
    assert.deepEqual(
      matched.values.get('encoder.layer3.0.shortcut.bn.runningVariance'),
      imported.get('layer3.0.downsample.1.running_var')!.values,
    );
  });

  it('refuses weights that do not fit the model, naming each tensor and both shapes', async () => {
    const file = path.join(folder, 'resnet18.pth');
    const imported = await read('resnet18.pth');
    assert.throws(
      () => matchTorchvisionResNet(file, imported, resnet18Slots(0.5)),
      /resnet18\.pth: does not fit the model: conv1\.weight is 64×3×7×7 in the file but 32×3×7×7 in this model; .*; and \d+ more$/,
    );
    const lacking = new Map(imported);
    lacking.delete('layer4.1.bn2.running_var');
    lacking.set('layer5.0.conv1.weight', imported.get('layer4.0.conv1.weight')!);
    assert.throws(
      () => matchTorchvisionResNet(file, lacking, resnet18Slots(1)),
      (error: Error) => {
        assert.match(error.message, /layer5\.0\.conv1\.weight \(512×256×3×3\) has no place in this model/);
        assert.match(error.message, /the file lacks layer4\.1\.bn2\.running_var \(512\) that this model has/);
        return true;
      },
    );
  });
});

// h of SynthPair's ResNet with torchvision's weights equals PyTorch's, in eval mode, for the same input.
describe('an imported torchvision ResNet computes what PyTorch computes', function () {
  this.timeout(600_000);
  const size = 64;
  const count = 4;
  let folder: string;
  let images: tf.Tensor4D;

  before(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'synthpair-features-'));
    const script = path.join(__dirname, '..', '..', 'reference', 'torch_features.py');
    const made = spawnSync('/usr/bin/python3', [script, folder, String(size), String(count)], {
      encoding: 'utf8',
    });
    assert.equal(made.status, 0, made.stderr);
    images = tf.tensor4d(floats(path.join(folder, 'images.bin')), [count, size, size, 3]);
  });

  after(() => {
    images?.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  function floats(file: string): Float32Array {
    return new Float32Array(new Uint8Array(readFileSync(file)).buffer);
  }

  // torch_features.py's nets: torchvision's own, and half-width ResNet-18s in its layout with either stem.
  const nets = [
    { name: 'resnet18', arch: 'resnet18', width: 1, stem: 'imagenet' },
    { name: 'resnet50', arch: 'resnet50', width: 1, stem: 'imagenet' },
    { name: 'resnet18-half-imagenet', arch: 'resnet18', width: 0.5, stem: 'imagenet' },
    { name: 'resnet18-half-cifar', arch: 'resnet18', width: 0.5, stem: 'cifar' },
  ] as const;

  for (const { name, arch, width, stem } of nets) {
    it(`${name}: h matches PyTorch's to 1e-4 of its largest value`, async () => {
      const file = path.join(folder, `${name}.pth`);
      // As a new experiment builds it from model.init: torchvision's padding, ImageNet's normalisation.
      const { config } = parseExperimentConfig(
        JSON.stringify({
          name: 'import',
          data: { root: 'data' },
          model: { arch, width, stem, init: file },
        }),
      );
      assert.equal(config?.model.padding, 'torchvision');
      assert.equal(inputNormOf(config.model), 'imagenet');
      const method = createMethodFor(config, await readInitialEncoderOf(config.model));
      try {
        const { encoder } = method;
        const h = tf.tidy(() => encoder.apply(images, 'eval').features);
        const ours = h.dataSync();
        h.dispose();
        const theirs = floats(path.join(folder, `${name}-h.bin`));
        assert.equal(ours.length, theirs.length);
        const scale = Math.max(...theirs.map(Math.abs));
        const error = Math.max(...ours.map((value, index) => Math.abs(value - theirs[index]!)));
        assert.ok(error <= 1e-4 * scale, `h differs from PyTorch's by ${error} (largest value ${scale})`);
      } finally {
        method.dispose();
      }
    });
  }
});
