import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/makeImages';
import { assertCliBuilt, resultEvent, runCli, snapshotFiles, writeTinyExperiment } from '../../support/cli';

describe('synthpair eval (bundled dist/cli.js)', function () {
  this.timeout(300_000);
  let folder: string;
  let run: string;

  before(async () => {
    assertCliBuilt();
    folder = await makeTempDir('cli-eval');
    await writeTinyExperiment(folder, {
      train: { epochs: 2 },
      eval: { everyEpochs: 1 },
      checkpoint: { everyEpochs: 1, keep: 0 },
    });
    run = path.join(folder, 'runs', 'tiny');
    const trained = runCli(folder, 'run', 'tiny.synthpair.json', '--out', run, '--backend', 'wasm');
    assert.equal(trained.code, 0, trained.stderr);
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('reproduces every metric training logged, for the latest and an earlier checkpoint, writing nothing', async () => {
    const logged = (await readFile(path.join(run, 'eval.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const before = await snapshotFiles(run);
    for (const [args, expected] of [
      [[], logged[1]!],
      [['--checkpoint', 'epoch-0001'], logged[0]!],
    ] as const) {
      const evaluated = runCli(folder, 'eval', run, '--backend', 'wasm', ...args);
      assert.equal(evaluated.code, 0, evaluated.stderr);
      const { event, checkpoint, source, ...figures } = resultEvent(evaluated.stdout);
      assert.equal(event, 'result');
      assert.equal(source, run);
      assert.equal(checkpoint, `epoch-000${expected.epoch}`);
      const { time: _loggedAt, validation: _validation, best: _best, ...expectedFigures } = expected;
      assert.deepEqual(figures, expectedFigures);
    }
    // The best checkpoint by validation, as the run reported it on the test split when it ended.
    const {
      epoch: bestEpoch,
      checkpoint: bestCheckpoint,
      by: _by,
      validation: _v,
      ...bestFigures
    } = logged[1]!.best as Record<string, unknown>;
    const best = runCli(folder, 'eval', run, '--backend', 'wasm', '--checkpoint', 'best');
    assert.equal(best.code, 0, best.stderr);
    const { event: _event, source: _source, checkpoint, epoch, ...figures } = resultEvent(best.stdout);
    assert.deepEqual([checkpoint, epoch], [bestCheckpoint, bestEpoch]);
    assert.deepEqual(figures, bestFigures);
    assert.deepEqual(await snapshotFiles(run), before);
  });

  it('measures with changed eval settings and refuses to change the model', async () => {
    const onlyKnn = runCli(
      folder,
      'eval',
      run,
      '--set',
      'eval.knn.k=1',
      'eval.linear.enabled=false',
      'eval.retrieval.enabled=false',
    );
    assert.equal(onlyKnn.code, 0, onlyKnn.stderr);
    assert.deepEqual(Object.keys(resultEvent(onlyKnn.stdout)).sort(), [
      'checkpoint',
      'epoch',
      'event',
      'knnTop1',
      'source',
    ]);

    const model = runCli(folder, 'eval', run, '--set', 'model.width=0.5');
    assert.equal(model.code, 2);
    assert.match(model.stderr, /model\.width: cannot be changed when evaluating a run/);
    const badKey = runCli(folder, 'eval', run, '--set', 'eval.knn.kk=3');
    assert.equal(badKey.code, 2);
    assert.match(badKey.stderr, /eval\.knn\.kk: unknown key; did you mean eval\.knn\.k\?/);
  });

  it('measures the encoder an experiment file starts from, before any training', () => {
    const untrained = runCli(folder, 'eval', 'tiny.synthpair.json', '--backend', 'wasm');
    assert.equal(untrained.code, 0, untrained.stderr);
    const { event, source, init, seed, ...figures } = resultEvent(untrained.stdout);
    assert.deepEqual(
      [event, source, init, seed],
      ['result', path.join(folder, 'tiny.synthpair.json'), '', 0],
    );
    assert.deepEqual(Object.keys(figures).sort(), ['knnTop1', 'linearTop1', 'mAP', 'rank1', 'rank5']);
    const withCheckpoint = runCli(folder, 'eval', 'tiny.synthpair.json', '--checkpoint', 'best');
    assert.equal(withCheckpoint.code, 2);
    assert.match(withCheckpoint.stderr, /is an experiment file, which has no checkpoints/);
  });

  it('exits 2 naming the folder or checkpoint that is not there', () => {
    const notARun = runCli(folder, 'eval', path.join(folder, 'data'));
    assert.equal(notARun.code, 2);
    assert.match(notARun.stderr, /is not a SynthPair run: it has no run\.json/);
    const noCheckpoint = runCli(folder, 'eval', run, '--checkpoint', 'epoch-0042');
    assert.equal(noCheckpoint.code, 2);
    assert.match(noCheckpoint.stderr, /has no checkpoint epoch-0042/);
    const unvalidated = path.join(folder, 'runs', 'unvalidated');
    const trained = runCli(
      folder,
      'run',
      'tiny.synthpair.json',
      '--set',
      'train.epochs=1',
      'data.validation.fraction=0',
      '--out',
      unvalidated,
    );
    assert.equal(trained.code, 0, trained.stderr);
    const noBest = runCli(folder, 'eval', unvalidated, '--checkpoint', 'best');
    assert.equal(noBest.code, 2);
    assert.match(
      noBest.stderr,
      /has no best checkpoint: the run chose none \(data\.validation\.fraction is 0/,
    );
    const movedData = runCli(folder, 'eval', run, '--set', 'data.root=nowhere');
    assert.equal(movedData.code, 2);
    assert.match(movedData.stderr, /nowhere/);
  });
});
