import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createMethodFor } from '../../../src/engine/methods/registry';
import { readInitialEncoderOf } from '../../../src/engine/weights/initialEncoder';
import { parseExperimentConfig } from '../../../src/shared/config/experiment/parse';
import { writeTinyDataset } from '../../support/cli';
import { repoRoot } from '../../support/paths';

const script = path.join(repoRoot, 'scripts', 'pretrain-supervised.py');

/** Debian's python3 with torch, as test/reference's scripts run. */
function pretrain(...args: string[]) {
  return spawnSync('/usr/bin/python3', [script, ...args], { encoding: 'utf8' });
}

describe('scripts/pretrain-supervised.py', function () {
  this.timeout(300_000);
  let folder: string;
  let data: string;

  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'synthpair-pretrain-'));
    data = path.join(folder, 'data');
    // Classes a, b and c, 6 training and 3 test images each.
    await writeTinyDataset(data);
  });

  after(() => rm(folder, { recursive: true, force: true }));

  it('trains on the chosen classes and writes weights that model.init starts SynthPair’s encoder from', async () => {
    const weights = path.join(folder, 'a-b.pth');
    const trained = pretrain(
      ...['--data', data, '--classes', '0-1', '--epochs', '1', '--image-size', '32'],
      ...['--batch-size', '4', '--threads', '1', '--out', weights],
    );
    assert.equal(trained.status, 0, trained.stderr);
    assert.match(trained.stdout, /: 2 classes \(a to b\), 12 training and 6 test images;/);
    assert.match(trained.stdout, /^epoch 1\/1: loss \d+\.\d+, train top-1 \d+\.\d %, test top-1 \d+\.\d %/m);
    assert.match(trained.stdout, /^wall time \d+ s$/m);

    const { config, diagnostics } = parseExperimentConfig(
      JSON.stringify({
        name: 'from-pretrained',
        data: { root: 'data', imageSize: 32 },
        model: { arch: 'resnet18', width: 0.5, stem: 'cifar', init: weights },
      }),
    );
    assert.deepEqual(diagnostics, []);
    const initial = await readInitialEncoderOf(config!.model);
    assert.deepEqual(
      initial.setAside.map(({ name }) => name).filter((name) => name.startsWith('fc.')),
      ['fc.weight', 'fc.bias'],
    );
    const method = createMethodFor(config!, initial);
    try {
      assert.equal(method.encoder.featureDim, 256);
    } finally {
      method.dispose();
    }
  });

  it('links the chosen classes into a dataset of their own, leaves it as it is again, and refuses other classes there', async () => {
    const split = path.join(folder, 'b-c');
    const linked = pretrain('--data', data, '--classes', '1-2', '--link-split', split);
    assert.equal(linked.status, 0, linked.stderr);
    for (const part of ['train', 'test']) {
      assert.deepEqual((await readdir(path.join(split, part))).sort(), ['b', 'c']);
      assert.equal(await readlink(path.join(split, part, 'c')), path.join(data, part, 'c'));
    }
    const again = pretrain('--data', data, '--classes', '1-2', '--link-split', split);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /already links these 2 classes/);
    const other = pretrain('--data', data, '--classes', '0-1', '--link-split', split);
    assert.equal(other.status, 1);
    assert.match(other.stderr, /b-c already holds other files or classes/);
    assert.deepEqual((await readdir(path.join(split, 'train'))).sort(), ['b', 'c']);
  });

  it('refuses classes the dataset does not have', () => {
    const beyond = pretrain('--data', data, '--classes', '2-3', '--link-split', path.join(folder, 'none'));
    assert.equal(beyond.status, 1);
    assert.match(beyond.stderr, /--classes 2-3: .*\/train has 3 classes \(0-2\)/);
  });
});
