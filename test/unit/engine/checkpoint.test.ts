import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  chooseCheckpoint,
  type EpochProgress,
  loadLatestCheckpoint,
  pointBestAt,
  restoreVariables,
  saveCheckpoint,
} from '../../../src/engine/checkpoint';
import { buildEncoder } from '../../../src/engine/models/registry';
import { tf } from '../../../src/engine/tf';
import { metricsRecord } from '../../../src/shared/protocol/runFiles';
import { appendJsonLine, readJsonLines, rewriteJsonLines } from '../../../src/shared/runFolder/jsonLines';

describe('checkpoints and run files', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(async () => {
    await tf.setBackend('cpu');
    dir = await mkdtemp(path.join(os.tmpdir(), 'synthpair-checkpoint-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function trainer(seed: number, name: string) {
    const { encoder, parameters } = buildEncoder(
      { arch: 'smallcnn', width: 0.25, stem: 'cifar' },
      seed,
      name,
    );
    const optimizer = tf.train.adam(0.01);
    const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const step = () =>
      tf.tidy(() => {
        optimizer.minimize(
          () => tf.mean(tf.square(tf.sub(encoder.apply(x, 'train').features, 0.3))) as tf.Scalar,
          false,
          parameters.trainable(),
        );
      });
    const snapshot = () => parameters.all().map(([, variable]) => Array.from(variable.dataSync()));
    const dispose = () => {
      parameters.dispose();
      optimizer.dispose();
      x.dispose();
    };
    return { parameters, optimizer, step, snapshot, dispose };
  }

  it('resumes training: weights, batch-norm statistics and Adam moments', async () => {
    const original = trainer(1, 'original');
    original.step();
    original.step();
    const optimizerWeights = await original.optimizer.getWeights();
    const tensors = [
      ...original.parameters
        .all()
        .map(([name, tensor]) => ({ name: name.replace(/^original/, 'model'), tensor })),
      ...optimizerWeights.map(({ name, tensor }) => ({
        name: `optimizer/${name.replace(/^original/, 'model')}`,
        tensor,
      })),
    ];
    await saveCheckpoint(dir, { epoch: 2, step: 2, state: { rng: [1, 2, 3] }, tensors }, { keep: 2 });
    const saved = original.snapshot();
    original.step();
    const continued = original.snapshot();

    const resumed = trainer(99, 'resumed');
    const loaded = await loadLatestCheckpoint(dir);
    assert.ok(loaded);
    assert.equal(loaded.name, 'epoch-0002');
    assert.deepEqual(loaded.manifest.state, { rng: [1, 2, 3] });
    const renamed = new Map(
      [...loaded.tensors].map(([name, tensor]) => [name.replace('model', 'resumed'), tensor]),
    );
    restoreVariables(resumed.parameters.all(), renamed);
    assert.deepEqual(resumed.snapshot(), saved);
    await resumed.optimizer.setWeights(
      [...renamed]
        .filter(([name]) => name.startsWith('optimizer/'))
        .map(([name, tensor]) => ({ name: name.slice(10), tensor })),
    );
    resumed.step();
    // tfjs's Adam rebuilds its β powers with pow() on restore where training multiplies them step by step,
    // so the step after a resume agrees to float rounding rather than bit for bit.
    const after = resumed.snapshot();
    continued.forEach((expected, index) => {
      const worst = Math.max(
        ...expected.map((value, position) => Math.abs(value - after[index]![position]!)),
      );
      assert.ok(worst < 1e-5, `parameter ${index} differs by ${worst} after resuming`);
    });
    tf.dispose([...loaded.tensors.values()]);
    original.dispose();
    resumed.dispose();
  });

  it('points at the newest complete checkpoint, keeps the newest N and clears abandoned staging', async () => {
    const values = tf.tensor1d([1, 2, 3]);
    await mkdir(path.join(dir, '.staging-epoch-0009-1'));
    for (const epoch of [1, 2, 3]) {
      await saveCheckpoint(
        dir,
        { epoch, step: epoch * 10, state: {}, tensors: [{ name: 'v', tensor: values }] },
        { keep: 2 },
      );
    }
    assert.deepEqual((await readdir(dir)).sort(), ['epoch-0002', 'epoch-0003', 'latest.json']);
    const latest = await loadLatestCheckpoint(dir);
    assert.equal(latest?.manifest.step, 30);
    assert.deepEqual(Array.from(latest!.tensors.get('v')!.dataSync()), [1, 2, 3]);
    tf.dispose([values, ...latest!.tensors.values()]);
  });

  it('keeps a stop checkpoint beside the epoch checkpoints keep promises, until a later checkpoint supersedes it', async () => {
    const values = tf.tensor1d([1, 2, 3]);
    const save = (epoch: number, step: number, extra: { epochProgress?: EpochProgress } = {}) =>
      saveCheckpoint(
        dir,
        { epoch, step, state: {}, ...extra, tensors: [{ name: 'v', tensor: values }] },
        { keep: 2 },
      );
    for (const epoch of [1, 2]) await save(epoch, epoch * 4);
    await pointBestAt(dir, { checkpoint: 'epoch-0001', epoch: 1, by: 'mAP', value: 0.5 });
    const epochProgress = { steps: 3, lossSums: { contrastive: 12.5, total: 13.25 } };
    assert.equal(await save(2, 11, { epochProgress }), 'epoch-0002-step-000011');
    assert.deepEqual((await readdir(dir)).sort(), [
      'best.json',
      'epoch-0001',
      'epoch-0002',
      'epoch-0002-step-000011',
      'latest.json',
    ]);
    const stopped = await loadLatestCheckpoint(dir);
    assert.equal(stopped?.name, 'epoch-0002-step-000011');
    assert.deepEqual(stopped?.manifest.epochProgress, epochProgress);
    tf.dispose([...stopped!.tensors.values()]);

    // A second stop in the same epoch supersedes the first; so does the next epoch checkpoint.
    await save(2, 12, { epochProgress: { steps: 4, lossSums: {} } });
    assert.deepEqual(
      (await readdir(dir)).filter((entry) => entry.startsWith('epoch-')),
      ['epoch-0001', 'epoch-0002', 'epoch-0002-step-000012'],
    );
    await save(3, 12);
    assert.deepEqual((await readdir(dir)).sort(), [
      'best.json',
      'epoch-0001',
      'epoch-0002',
      'epoch-0003',
      'latest.json',
    ]);
    assert.equal((await loadLatestCheckpoint(dir))?.manifest.epochProgress, undefined);

    // Without latest.json, the newest intact checkpoint is found by name: a stop checkpoint sorts between epochs.
    await save(3, 14, { epochProgress: { steps: 2, lossSums: {} } });
    await rm(path.join(dir, 'latest.json'));
    assert.equal((await chooseCheckpoint(dir))?.name, 'epoch-0003-step-000014');
    tf.dispose(values);
  });

  it('refuses a truncated weights file and a model it does not fit', async () => {
    const values = tf.tensor2d([[1, 2]]);
    await saveCheckpoint(
      dir,
      { epoch: 1, step: 1, state: {}, tensors: [{ name: 'w', tensor: values }] },
      { keep: 1 },
    );
    const loaded = await loadLatestCheckpoint(dir);
    const other = tf.variable(tf.zeros([2, 1]), true, 'checkpointTestOther');
    assert.throws(
      () => restoreVariables([['w', other]], loaded!.tensors),
      /shape 1×2 in the checkpoint but 2×1/,
    );
    assert.throws(() => restoreVariables([['missing', other]], loaded!.tensors), /has no missing/);
    await truncate(path.join(dir, 'epoch-0001', 'weights.bin'), 4);
    await assert.rejects(loadLatestCheckpoint(dir), /holds 4 bytes, the manifest describes 8/);
    tf.dispose([values, other, ...loaded!.tensors.values()]);
  });

  it('reads JSON Lines past a torn last line and rewrites them atomically', async () => {
    const file = path.join(dir, 'metrics.jsonl');
    const record = (step: number) => ({
      kind: 'step',
      epoch: 0,
      step,
      time: 't',
      losses: { total: 1 / step },
      lr: 0.1,
    });
    await appendJsonLine(file, record(1));
    await appendJsonLine(file, record(2));
    await appendFile(file, '{"kind":"step","epo');
    const read = await readJsonLines(file, metricsRecord);
    assert.deepEqual(
      read.records.map((entry) => entry.step),
      [1, 2],
    );
    assert.deepEqual(read.rejected, [{ line: 3, reason: 'not JSON (a torn write?)' }]);
    await rewriteJsonLines(file, read.records.slice(0, 1));
    assert.deepEqual((await readJsonLines(file, metricsRecord)).records, [record(1)]);
    await writeFile(file, '{"kind":"step"}\n');
    assert.match((await readJsonLines(file, metricsRecord)).rejected[0]!.reason, /epoch/);
    assert.deepEqual(await readJsonLines(path.join(dir, 'absent.jsonl'), metricsRecord), {
      records: [],
      rejected: [],
    });
  });
});
