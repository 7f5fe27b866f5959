import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeNpy } from '../../../src/engine/embed/npyFile';
import { buildEncoder } from '../../../src/engine/models/registry';
import type { ExportedTensors, ImportedTensors } from '../../../src/engine/weights/importedTensors';
import { encodeSafetensorsFile, readSafetensorsFile } from '../../../src/engine/weights/safetensorsFile';
import { readTorchFile } from '../../../src/engine/weights/torchFile';
import { encodeTorchFile } from '../../../src/engine/weights/torchSave';
import { matchTorchvisionResNet, torchvisionStateDict } from '../../../src/engine/weights/torchvisionResNet';
import { readNpy } from '../../support/npy';

const reference = (name: string) => path.join(__dirname, '..', '..', 'reference', name);

describe('.npy files', () => {
  let folder: string;
  before(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'synthpair-npy-'));
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  it('NumPy reads float32 matrices, int32 and int64 vectors back exactly, in C order', () => {
    const features = Float32Array.from({ length: 3 * 5 }, (_, index) => Math.fround(Math.sin(index) * 1e3));
    features[4] = -0;
    features[7] = 3.4e38;
    features[8] = 1.4e-45;
    const cases = [
      { name: 'features.npy', values: features, shape: [3, 5], dtype: '<f4' },
      { name: 'int32.npy', values: Int32Array.of(-1, 0, 2 ** 31 - 1), shape: [3], dtype: '<i4' },
      { name: 'labels.npy', values: BigInt64Array.of(-1n, 0n, 7n, 41n), shape: [4], dtype: '<i8' },
      { name: 'empty.npy', values: new Float32Array(0), shape: [0, 512], dtype: '<f4' },
    ];
    for (const { name, values, shape, dtype } of cases) {
      const file = path.join(folder, name);
      const bytes = encodeNpy(values, shape);
      // The format's promise to readers that map the data: it starts at a multiple of 64 bytes.
      assert.equal((10 + bytes.readUInt16LE(8)) % 64, 0, name);
      writeFileSync(file, bytes);
      const read = readNpy(file);
      assert.deepEqual(
        { dtype: read.dtype, shape: read.shape, fortranOrder: read.fortranOrder },
        { dtype, shape, fortranOrder: false },
        name,
      );
      assert.deepEqual(read.values, Array.from(values, Number), name);
    }
  });

  it('refuses values that do not fill the shape', () => {
    assert.throws(() => encodeNpy(new Float32Array(5), [2, 3]), /a 2×3 array holds 6 elements, not 5/);
  });
});

// The export is the import read backwards: a torchvision file imported and exported again is the file itself.
describe('an encoder exported in torchvision’s layout', function () {
  this.timeout(300_000);
  let folder: string;
  let original: ImportedTensors;
  let exported: ExportedTensors;

  before(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'synthpair-export-'));
    const made = spawnSync('/usr/bin/python3', [reference('torch_weights.py'), folder], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const file = path.join(folder, 'resnet18.pth');
    original = await readTorchFile(file, readFileSync(file));
    const { parameters } = buildEncoder({ arch: 'resnet18', width: 1, stem: 'imagenet' }, 0);
    const slots = parameters.all().map(([name, variable]) => ({ name, shape: variable.shape }));
    parameters.dispose();
    const matched = matchTorchvisionResNet(file, original, slots);
    // torch_weights.py sets every num_batches_tracked to 7.
    exported = torchvisionStateDict(slots, matched.values, 7n);
  });

  after(() => rmSync(folder, { recursive: true, force: true }));

  it('holds every tensor of the imported file but fc, under its name, with its shape and values', () => {
    const expected = [...original.keys()].filter((name) => !name.startsWith('fc.'));
    assert.deepEqual([...exported.keys()].sort(), expected.sort());
    for (const name of expected) {
      const tensor = exported.get(name)!;
      const { shape, values } = original.get(name)!;
      assert.deepEqual(tensor.shape, shape, name);
      if (name.endsWith('num_batches_tracked')) {
        assert.deepEqual(tensor.values, BigInt64Array.of(7n), name);
      } else {
        assert.deepEqual(tensor.values, values, name);
      }
    }
  });

  it('as .safetensors and .pth, PyTorch reads the original state dict’s tensors exactly, dtypes included', async () => {
    const safetensors = path.join(folder, 'exported.safetensors');
    const pth = path.join(folder, 'exported.pth');
    writeFileSync(safetensors, encodeSafetensorsFile(exported, { arch: 'resnet18' }));
    writeFileSync(pth, encodeTorchFile(exported));
    for (const file of [safetensors, pth]) {
      const checked = spawnSync(
        '/usr/bin/python3',
        [reference('torch_exported.py'), 'same', file, path.join(folder, 'resnet18.pth')],
        { encoding: 'utf8' },
      );
      assert.equal(checked.status, 0, checked.stderr);
      assert.equal(checked.stdout.trim(), 'same');
    }
    // SynthPair's own readers, the .pth one with its allow-list, read them back as well.
    const again = await readTorchFile(pth, readFileSync(pth));
    assert.deepEqual(readSafetensorsFile(safetensors, readFileSync(safetensors)), again);
    assert.deepEqual(again.get('layer3.0.downsample.0.weight'), original.get('layer3.0.downsample.0.weight'));
  });
});
