import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { NativeBackendLookup } from '../../../src/engine/backends/nativeBackends';
import { diagnoseExperimentText } from '../../../src/engine/diagnostics/semanticDiagnostics';
import { WorkerProcess } from '../../../src/host/workers/workerProcess';
import type { ConfigDiagnosticMessage } from '../../../src/shared/protocol/worker';
import { makeImageFolder, makeTempDir } from '../../fixtures/makeImages';
import { type Config, mergeConfig } from '../../support/config';
import { repoRoot as root } from '../../support/paths';

/** Eight training and four test images in two classes, so the defaults' batch of 256 and 16 probes do not fit. */
const twoClasses = { a: { train: 4, test: 2 }, b: { train: 4, test: 2 } };

/** Fits the two-class set: every check passes. */
const clean: Config = {
  name: 'diagnosed',
  data: { root: 'data' },
  train: { batchSize: 4 },
  analysis: { probes: { count: 4 } },
};

type Range = NonNullable<ConfigDiagnosticMessage['range']>;

/** Where `needle`, which must occur once, lies in `text`, counted independently of the code under test. */
function rangeOf(text: string, needle: string, within = needle): Range {
  const at = text.indexOf(needle);
  assert.ok(at >= 0 && text.lastIndexOf(needle) === at, `${needle} must occur once in ${text}`);
  const start = at + needle.indexOf(within);
  const position = (offset: number) => {
    const lines = text.slice(0, offset).split(/\r\n|\r|\n/);
    return { line: lines.length - 1, character: lines.at(-1)!.length };
  };
  return { start: position(start), end: position(start + within.length) };
}

/** The range of `"key": value` written in the text, covering the value. */
function valueRange(text: string, key: string, value: unknown): Range {
  const written = JSON.stringify(value);
  return rangeOf(text, `"${key}": ${written}`, written);
}

describe('semantic diagnostics of experiment files', function () {
  this.timeout(30_000);
  let folder: string;
  let configFile: string;
  const noNativeLookup: NativeBackendLookup = { nativeModulePaths: [] };

  before(async () => {
    folder = await makeTempDir('diagnostics');
    await makeImageFolder(path.join(folder, 'data'), twoClasses, 8);
    configFile = path.join(folder, 'diag.synthpair.json');
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  function textOf(patch: Config = {}): string {
    return JSON.stringify(mergeConfig(clean, patch), null, 2);
  }

  async function diagnose(text: string, lookup = noNativeLookup, file = configFile) {
    return diagnoseExperimentText(file, text, lookup);
  }

  function only(diagnostics: ConfigDiagnosticMessage[], keyPath: string): ConfigDiagnosticMessage {
    const matching = diagnostics.filter((diagnostic) => diagnostic.keyPath === keyPath);
    assert.equal(matching.length, 1, JSON.stringify(diagnostics, null, 2));
    return matching[0]!;
  }

  it('finds nothing in a config its data set fits', async () => {
    assert.deepEqual(await diagnose(textOf()), []);
  });

  it('resolves data.root against the config file folder, not the current one', async () => {
    const nested = path.join(folder, 'experiments', 'nested.synthpair.json');
    assert.deepEqual(await diagnose(textOf({ data: { root: '../data' } }), noNativeLookup, nested), []);
    const [missing] = await diagnose(textOf({ data: { root: 'data' } }), noNativeLookup, nested);
    assert.match(missing!.message, new RegExp(`${path.join(folder, 'experiments', 'data')}: no such folder`));
  });

  it('reports a missing data set root at the data.root value', async () => {
    const text = textOf({ data: { root: 'nowhere' } });
    const diagnostic = only(await diagnose(text), 'data.root');
    assert.equal(diagnostic.severity, 'error');
    assert.equal(diagnostic.message, `${path.join(folder, 'nowhere')}: no such folder (data.root)`);
    assert.deepEqual(diagnostic.range, valueRange(text, 'root', 'nowhere'));
  });

  it('tells a data set root that is a file from a missing one', async () => {
    await writeFile(path.join(folder, 'notes.txt'), 'not a data set');
    const text = textOf({ data: { root: 'notes.txt' } });
    const diagnostic = only(await diagnose(text), 'data.root');
    assert.equal(
      diagnostic.message,
      `${path.join(folder, 'notes.txt')}: is a file, not a folder (data.root); data.root names the data set's folder, the one that holds train/ and test/`,
    );
    assert.deepEqual(diagnostic.range, valueRange(text, 'root', 'notes.txt'));
  });

  it('names each split without images', async () => {
    const empty = path.join(folder, 'empty');
    await mkdir(path.join(empty, 'train'), { recursive: true });
    await mkdir(path.join(empty, 'test'), { recursive: true });
    const bothEmpty = only(await diagnose(textOf({ data: { root: 'empty' } })), 'data.root');
    assert.equal(bothEmpty.message, `${empty}: no training images and no test images`);

    await makeImageFolder(path.join(folder, 'untested'), { a: { train: 4, test: 0 } }, 8);
    const noTest = only(await diagnose(textOf({ data: { root: 'untested' } })), 'data.root');
    assert.equal(noTest.severity, 'error');
    assert.equal(noTest.message, `${path.join(folder, 'untested', 'test')}: no test images`);
  });

  it('names the classes the splits disagree on, a few of them', async () => {
    const strays = ['c', 'd', 'e', 'f', 'g', 'h', 'i'];
    await makeImageFolder(path.join(folder, 'strays'), twoClasses, 8);
    for (const name of strays) await mkdir(path.join(folder, 'strays', 'test', name), { recursive: true });
    const stray = only(await diagnose(textOf({ data: { root: 'strays' } })), 'data.root');
    assert.equal(stray.severity, 'error');
    assert.match(stray.message, /7 classes have no folder in .*'c', 'd', 'e', 'f', 'g' and 2 more$/);

    const unevaluated = path.join(folder, 'unevaluated');
    await makeImageFolder(unevaluated, { ...twoClasses, z: { train: 4, test: 0 } }, 8);
    const text = textOf({ data: { root: 'unevaluated' } });
    const missing = only(await diagnose(text), 'data.root');
    assert.equal(missing.severity, 'warning');
    assert.match(missing.message, /1 class has training images but no test image .*: 'z'$/);
    assert.deepEqual(missing.range, valueRange(text, 'root', 'unevaluated'));
  });

  it('refuses a batch larger than the training split, where the batch size is written or its block is', async () => {
    const written = textOf({ train: { batchSize: 16 } });
    const tooLarge = only(await diagnose(written), 'train.batchSize');
    assert.equal(tooLarge.severity, 'error');
    assert.match(
      tooLarge.message,
      /^train\.batchSize: 16 is larger than the 4 training images under .* \(4 more are held out by data\.validation\)/,
    );
    assert.deepEqual(tooLarge.range, valueRange(written, 'batchSize', 16));

    // The default batch of 256: the block the key belongs in is what is underlined.
    const defaulted = JSON.stringify({ ...mergeConfig(clean, {}), train: { epochs: 3 } }, null, 2);
    const byDefault = only(await diagnose(defaulted), 'train.batchSize');
    assert.match(byDefault.message, /^train\.batchSize: 256 is larger than the 4 training images/);
    assert.deepEqual(byDefault.range, rangeOf(defaulted, '"train"'));

    const { train: _train, ...withoutBlock } = mergeConfig(clean, {});
    const nowhere = only(await diagnose(JSON.stringify(withoutBlock)), 'train.batchSize');
    assert.equal(nowhere.range, undefined);

    // The 4 images left to train on fill a batch of 4 exactly; without validation, all 8 fill one of 8.
    assert.deepEqual(await diagnose(textOf({ train: { batchSize: 4 } })), []);
    assert.deepEqual(
      await diagnose(
        textOf({ data: { root: 'data', validation: { fraction: 0 } }, train: { batchSize: 8 } }),
      ),
      [],
    );
  });

  it('refuses more probes than test images', async () => {
    const text = textOf({ analysis: { probes: { count: 5 } } });
    const probes = only(await diagnose(text), 'analysis.probes.count');
    assert.equal(probes.severity, 'error');
    assert.equal(
      probes.message,
      `analysis.probes.count: 5 probes asked for, but the test split of ${path.join(folder, 'data')} has 4 images`,
    );
    assert.deepEqual(probes.range, valueRange(text, 'count', 5));
  });

  describe('mask settings', () => {
    it('warns when a zero quantile empties the intersection, at that quantile', async () => {
      const text = textOf({ analysis: { combine: 'intersection', gradcam: { quantile: 0 } } });
      const empty = only(await diagnose(text), 'analysis.gradcam.quantile');
      assert.equal(empty.severity, 'warning');
      assert.match(
        empty.message,
        /^analysis\.gradcam\.quantile: 0 picks no dimension .*"intersection".*mask is empty/,
      );
      assert.deepEqual(empty.range, valueRange(text, 'quantile', 0));
    });

    it('warns when both quantiles of a union are zero, and not when one is not', async () => {
      const both = await diagnose(
        textOf({ analysis: { variance: { quantile: 0 }, gradcam: { quantile: 0 } } }),
      );
      assert.match(
        only(both, 'analysis.variance.quantile').message,
        /: 0 picks no dimension, nor does analysis\.gradcam\.quantile: the mask is empty/,
      );
      assert.deepEqual(await diagnose(textOf({ analysis: { variance: { quantile: 0 } } })), []);
    });

    it('suggests the other criterion when a lone criterion picks nothing but the other would', async () => {
      const diagnostics = await diagnose(
        textOf({ analysis: { combine: 'variance', variance: { quantile: 0 }, gradcam: { quantile: 0.5 } } }),
      );
      assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics));
      assert.match(
        only(diagnostics, 'analysis.variance.quantile').message,
        /"variance" reads this criterion alone: the mask is empty .*; did you mean analysis\.combine "gradcam"\?$/,
      );
    });

    it('says nothing of an empty mask when no synthesized pair is trained on', async () => {
      const patch = { analysis: { combine: 'intersection', gradcam: { quantile: 0 } }, loss: { nu: 0 } };
      assert.deepEqual(await diagnose(textOf(patch)), []);
    });

    it('tells that a quantile written for the criterion the mask ignores changes nothing', async () => {
      const text = textOf({ analysis: { combine: 'gradcam', variance: { quantile: 0.4 } } });
      const unread = only(await diagnose(text), 'analysis.variance.quantile');
      assert.equal(unread.severity, 'information');
      assert.match(unread.message, /does not change the mask, since analysis\.combine "gradcam" reads /);
      assert.deepEqual(unread.range, valueRange(text, 'quantile', 0.4));
      // Its default is not something the user chose.
      assert.deepEqual(await diagnose(textOf({ analysis: { combine: 'gradcam' } })), []);
    });

    it('warns of a perturbation without strength, except for shuffling which ignores it', async () => {
      const text = textOf({ perturb: { strength: 0 } });
      const still = only(await diagnose(text), 'perturb.strength');
      assert.equal(still.severity, 'warning');
      assert.match(still.message, /"gaussian" no step to take: h′ = h/);
      assert.deepEqual(still.range, valueRange(text, 'strength', 0));
      assert.deepEqual(await diagnose(textOf({ perturb: { strength: 0, mode: 'shuffle' } })), []);
    });
  });

  describe('a forced backend', () => {
    let installs: string;

    before(async () => {
      // Entries that throw: loading one, which the check must not do, would fail the test.
      installs = await makeTempDir('diagnostics-native');
      for (const name of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
        const packageFolder = path.join(installs, 'node_modules', ...name.split('/'));
        await mkdir(packageFolder, { recursive: true });
        await writeFile(path.join(packageFolder, 'package.json'), JSON.stringify({ name, main: 'index.js' }));
        await writeFile(path.join(packageFolder, 'index.js'), 'throw new Error("loaded");');
      }
    });

    after(async () => {
      await rm(installs, { recursive: true, force: true });
    });

    it('is an error when its package is not installed', async () => {
      const text = textOf({ backend: 'node' });
      const backend = only(await diagnose(text), 'backend');
      assert.equal(backend.severity, 'error');
      assert.match(
        backend.message,
        /^backend: "node" cannot run on this machine: @tensorflow\/tfjs-node is not installed/,
      );
      assert.deepEqual(backend.range, valueRange(text, 'backend', 'node'));
    });

    it('is found without being loaded, and node-gpu also needs a driver', async () => {
      const lookup = { nativeModulePaths: [installs], nvidiaDeviceFiles: [path.join(installs, 'nvidiactl')] };
      assert.deepEqual(await diagnose(textOf({ backend: 'node' }), lookup), []);
      const gpu = only(await diagnose(textOf({ backend: 'node-gpu' }), lookup), 'backend');
      assert.match(gpu.message, /no NVIDIA GPU driver found/);
      await writeFile(path.join(installs, 'nvidiactl'), '');
      assert.deepEqual(await diagnose(textOf({ backend: 'node-gpu' }), lookup), []);
    });

    it('is not checked when it always works', async () => {
      assert.deepEqual(await diagnose(textOf({ backend: 'cpu' })), []);
    });
  });

  describe("the config reader's own diagnostics", () => {
    it('are returned with their ranges, and hold back the checks that need every value', async () => {
      const text = textOf({ data: { root: 'nowhere' }, train: { batchSize: 'big' } });
      const diagnostics = await diagnose(text);
      assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics));
      const [reader] = diagnostics;
      assert.equal(reader!.keyPath, 'train.batchSize');
      assert.equal(reader!.severity, 'error');
      assert.deepEqual(reader!.range, valueRange(text, 'batchSize', 'big'));
    });

    it('come before the checks against the data when they are warnings', async () => {
      const text = textOf({ train: { epochs: 5, batchSize: 16 }, optim: { warmupEpochs: 5 } });
      const diagnostics = await diagnose(text);
      assert.deepEqual(
        diagnostics.map(({ keyPath, severity }) => [keyPath, severity]),
        [
          ['optim.warmupEpochs', 'warning'],
          ['train.batchSize', 'error'],
        ],
      );
      assert.deepEqual(diagnostics[0]!.range, valueRange(text, 'warmupEpochs', 5));
    });

    it('include a key written twice, read a byte-order mark, and refuse a text nested too deep', async () => {
      const text = textOf({ train: { batchSize: 4 } }).replace(
        '"batchSize": 4',
        '"batchSize": 4, "batchSize": 8',
      );
      const twice = only(await diagnose(text), 'train.batchSize');
      assert.equal(twice.message, 'train.batchSize: written more than once in its block; keep one');
      assert.deepEqual(twice.range, rangeOf(text, '"batchSize": 8', '"batchSize"'));

      assert.deepEqual(await diagnose(`\uFEFF${textOf()}`), []);

      const depth = 100_000;
      const deep = textOf({ data: { root: 'DEEP' } }).replace(
        '"DEEP"',
        `${'['.repeat(depth)}${']'.repeat(depth)}`,
      );
      const nested = only(await diagnose(deep), '');
      assert.equal(nested.severity, 'error');
      assert.match(nested.message, /^objects and arrays nested more than 64 levels deep/);
    });

    it('point at the right line in a file with CRLF and lone CR line breaks', async () => {
      const text =
        '{\r\n  "name": "crlf",\r  "data": { "root": "data" },\r\n  "train": { "batchSize": 64 }\r\n}\r\n';
      const batch = only(await diagnose(text), 'train.batchSize');
      assert.deepEqual(batch.range, {
        start: { line: 3, character: 26 },
        end: { line: 3, character: 28 },
      });
    });
  });
});

describe('diagnoseConfig through the engine worker (bundled dist/worker.js)', function () {
  this.timeout(60_000);
  const workerScript = path.join(root, 'dist', 'worker.js');
  let folder: string;
  let worker: WorkerProcess | undefined;

  before(async () => {
    if (!existsSync(workerScript)) {
      throw new Error('dist/worker.js is missing: run `npm run build` first');
    }
    folder = await makeTempDir('diagnostics-worker');
    await makeImageFolder(path.join(folder, 'data'), twoClasses, 8);
  });

  after(async () => {
    await worker?.stop();
    await rm(folder, { recursive: true, force: true });
  });

  it('answers with the diagnostics of the text as sent, ranges included', async () => {
    worker = new WorkerProcess({
      script: workerScript,
      launch: { backend: 'cpu', wasmDir: path.join(root, 'dist', 'wasm'), nativeModulePaths: [] },
      log: () => undefined,
    });
    const configFile = path.join(folder, 'sent.synthpair.json');
    const text = JSON.stringify(mergeConfig(clean, { train: { batchSize: 9 } }), null, 2);
    const diagnostics = await worker.request('diagnoseConfig', { configFile, text });
    assert.deepEqual(diagnostics, [
      {
        keyPath: 'train.batchSize',
        severity: 'error',
        message: `train.batchSize: 9 is larger than the 4 training images under ${path.join(folder, 'data')} (4 more are held out by data.validation), so there is not one full batch to train on`,
        range: valueRange(text, 'batchSize', 9),
      },
    ]);
    assert.deepEqual(await worker.request('diagnoseConfig', { configFile, text: JSON.stringify(clean) }), []);
  });

  it('tells at model.init why the weights cannot start the model, and nothing once they can', async function () {
    this.timeout(300_000);
    worker ??= new WorkerProcess({
      script: workerScript,
      launch: { backend: 'cpu', wasmDir: path.join(root, 'dist', 'wasm'), nativeModulePaths: [] },
      log: () => undefined,
    });
    // A torchvision ResNet-18 as PyTorch writes it.
    const weights = path.join(folder, 'weights');
    await mkdir(weights);
    const script = path.join(root, 'test', 'reference', 'torch_weights.py');
    const made = spawnSync('/usr/bin/python3', [script, weights], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const configFile = path.join(folder, 'init.synthpair.json');
    const textOf = (width: number) =>
      JSON.stringify(
        mergeConfig(clean, {
          model: { arch: 'resnet18', stem: 'imagenet', width, init: 'weights/resnet18.pth' },
        }),
        null,
        2,
      );
    const half = textOf(0.5);
    const [diagnostic, ...others] = await worker.request('diagnoseConfig', { configFile, text: half });
    assert.deepEqual(others, []);
    assert.equal(diagnostic?.keyPath, 'model.init');
    assert.equal(diagnostic.severity, 'error');
    assert.deepEqual(diagnostic.range, valueRange(half, 'init', 'weights/resnet18.pth'));
    assert.ok(
      diagnostic.message.startsWith(
        `model.init: ${path.join(weights, 'resnet18.pth')}: does not fit the model: conv1.weight is 64×3×7×7 in the file but 32×3×7×7 in this model;`,
      ),
      diagnostic.message,
    );
    assert.deepEqual(await worker.request('diagnoseConfig', { configFile, text: textOf(1) }), []);
  });
});
