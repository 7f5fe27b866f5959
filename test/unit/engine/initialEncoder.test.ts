import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { resolveExperiment } from '../../../src/engine/training/experiment';
import { buildTrainingModels } from '../../../src/engine/training/step';
import { readInitialEncoder, readInitialEncoderOf } from '../../../src/engine/weights/initialEncoder';
import {
  assertCliBuilt,
  logEvents,
  placeOf,
  runCli,
  tinyConfig,
  writeTinyExperiment,
} from '../../support/cli';
import { mergeConfig, resolvedConfig } from '../../support/config';

type Expected = Record<'resnet18', Record<string, { shape: number[]; offset: number; length: number }>>;

describe('model.init: an experiment whose encoder starts from given weights', function () {
  this.timeout(300_000);
  let folder: string;
  let expected: Expected;
  let expectedValues: Float32Array;
  const torchFile = () => path.join(folder, 'weights', 'resnet18.pth');

  before(async () => {
    assertCliBuilt();
    folder = mkdtempSync(path.join(os.tmpdir(), 'synthpair-init-'));
    // Written by PyTorch itself, independently of the code that reads them.
    const weights = path.join(folder, 'weights');
    mkdirSync(weights);
    const script = path.join(__dirname, '..', '..', 'reference', 'torch_weights.py');
    const made = spawnSync('/usr/bin/python3', [script, weights], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    expected = JSON.parse(readFileSync(path.join(weights, 'expected.json'), 'utf8')) as Expected;
    expectedValues = new Float32Array(
      new Uint8Array(readFileSync(path.join(weights, 'expected.bin'))).buffer,
    );
    await writeTinyExperiment(folder);
  });

  after(() => rmSync(folder, { recursive: true, force: true }));

  const torchValues = (name: string) => {
    const { offset, length } = expected.resnet18[name]!;
    return expectedValues.subarray(offset, offset + length);
  };

  it("starts MoCo v2's online and key encoders from a torchvision file: kernels turned to TF.js's layout, batch-norm statistics kept", async () => {
    const config = resolvedConfig(
      tinyConfig({
        model: { arch: 'resnet18', stem: 'imagenet', width: 1, init: torchFile() },
        ssl: { method: 'mocov2', mocov2: { queueSize: 60 } },
      }),
    );
    const initial = await readInitialEncoderOf(config.model);
    assert.deepEqual(
      initial.setAside.map(({ name }) => name).sort(),
      Object.keys(expected.resnet18)
        .filter((name) => name.startsWith('fc.') || name.endsWith('.num_batches_tracked'))
        .sort(),
    );
    const models = buildTrainingModels(config, initial);
    try {
      const state = new Map(models.state().map(([name, variable]) => [name, variable.dataSync()]));
      // conv1.weight is [out 64, in 3, 7, 7] in PyTorch and [7, 7, in 3, out 64] here.
      const torchKernel = torchValues('conv1.weight');
      for (const network of ['online', 'momentum']) {
        const kernel = state.get(`${network}.stem.conv.weight`)!;
        for (const [o, i, y, x] of [
          [0, 0, 0, 0],
          [63, 2, 6, 6],
          [17, 1, 3, 5],
        ] as const) {
          assert.equal(kernel[((y * 7 + x) * 3 + i) * 64 + o], torchKernel[((o * 3 + i) * 7 + y) * 7 + x]);
        }
        assert.deepEqual(
          state.get(`${network}.layer3.1.conv2.bn.runningMean`),
          torchValues('layer3.1.bn2.running_mean'),
        );
        assert.deepEqual(
          state.get(`${network}.layer4.0.shortcut.bn.runningVariance`),
          torchValues('layer4.0.downsample.1.running_var'),
        );
      }
    } finally {
      models.dispose();
    }
  });

  it("starts a new experiment from an earlier run's encoder, its folder or one checkpoint, and says so", async () => {
    const first = runCli(folder, 'run', 'tiny.synthpair.json', '--out', 'first');
    assert.equal(first.code, 0, first.stderr);
    const runDir = path.join(folder, 'first');
    const config = resolvedConfig(tinyConfig());
    const { arch, width, stem, padding } = config.model;
    const spec = { arch, width, stem, padding };
    const saved = await loadCheckpoint(path.join(runDir, 'checkpoints'), 'epoch-0001');
    try {
      for (const source of [runDir, path.join(runDir, 'checkpoints', 'epoch-0001')]) {
        const initial = await readInitialEncoder(source, spec);
        const encoderNames = [...saved.tensors.keys()].filter(
          (name) => name.startsWith('online.') && !/^online\.(projector|predictor)\./.test(name),
        );
        assert.ok(encoderNames.length > 0);
        assert.deepEqual(
          [...initial.values.keys()].sort(),
          encoderNames.map((name) => name.slice('online.'.length)).sort(),
        );
        for (const name of encoderNames) {
          assert.deepEqual(
            initial.values.get(name.slice('online.'.length)),
            saved.tensors.get(name)!.dataSync(),
          );
        }
      }
    } finally {
      for (const tensor of saved.tensors.values()) tensor.dispose();
    }
    const second = runCli(
      folder,
      'run',
      'tiny.synthpair.json',
      '--set',
      'model.init=first',
      '--out',
      'second',
    );
    assert.equal(second.code, 0, second.stderr);
    assert.ok(
      logEvents(second.stdout).some((event) =>
        event.message.startsWith(`the encoder starts from ${runDir};`),
      ),
      second.stdout,
    );
    const savedConfig = JSON.parse(readFileSync(path.join(folder, 'second', 'config.json'), 'utf8'));
    assert.equal(savedConfig.model.init, runDir, 'the run records the absolute source it started from');
    assert.equal(
      savedConfig.model.inputNorm,
      'none',
      "the earlier run's normalisation, which had no model.init",
    );
  });

  it("normalises with ImageNet's statistics for a weights file, and records the choice with the absolute path", async () => {
    const text = JSON.stringify(
      tinyConfig({ model: { arch: 'resnet18', stem: 'imagenet', init: 'weights/resnet18.pth' } }),
    );
    const start = {
      kind: 'new' as const,
      configFile: path.join(folder, 'pretrained.synthpair.json'),
      text,
      overrides: [],
      overridesBase: os.tmpdir(),
      runsFolder: path.join(folder, 'runs'),
    };
    const { model } = (await resolveExperiment(start)).config;
    assert.equal(model.init, torchFile());
    assert.equal(model.inputNorm, 'imagenet');
    const chosen = await resolveExperiment({
      ...start,
      text: JSON.stringify(mergeConfig(JSON.parse(text), { model: { inputNorm: 'none' } })),
    });
    assert.equal(chosen.config.model.inputNorm, 'none', 'a normalisation written in the file is kept');
  });

  it('refuses weights that do not fit before anything is written: exit 2 at model.init, the tensor named with both shapes', async () => {
    const cases: { init: string; model: Record<string, unknown>; says: string }[] = [
      {
        init: 'weights/resnet18.pth',
        model: { arch: 'resnet18', stem: 'imagenet', width: 0.5 },
        says: `model.init: ${torchFile()}: does not fit the model: conv1.weight is 64×3×7×7 in the file but 32×3×7×7 in this model`,
      },
      {
        init: 'weights/resnet18.pth',
        model: { arch: 'smallcnn' },
        says: `model.init: ${torchFile()}: weights in torchvision's layout fit a ResNet, and model.arch is "smallcnn"`,
      },
      {
        init: 'weights/absent.pth',
        model: { arch: 'resnet18', stem: 'imagenet' },
        says: `model.init: ${path.join(folder, 'weights', 'absent.pth')}: no such file or folder`,
      },
      {
        init: 'weights/evil.pth',
        model: { arch: 'resnet18', stem: 'imagenet' },
        says: `model.init: ${path.join(folder, 'weights', 'evil.pth')}: `,
      },
    ];
    for (const { init, model, says } of cases) {
      const text = JSON.stringify(tinyConfig({ model: { ...model, init } }), null, 2);
      await writeFile(path.join(folder, 'init.synthpair.json'), text);
      const result = runCli(folder, 'run', 'init.synthpair.json', '--out', 'refused');
      assert.equal(result.code, 2, result.stderr);
      const [first, last] = [result.stderr.split('\n')[0]!, result.stderr.split('\n').at(-2)];
      assert.ok(
        first.startsWith(`init.synthpair.json:${placeOf(text, JSON.stringify(init))}: error: ${says}`),
        first,
      );
      assert.equal(last, 'synthpair: init.synthpair.json: has errors; nothing was run');
      assert.equal(existsSync(path.join(folder, 'refused')), false);
    }
    assert.equal(existsSync(path.join(folder, 'weights', 'ran')), false, 'the pickle ran nothing');
  });
});
