import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/makeImages';
import { assertCliBuilt } from '../../support/cli';
import { cli, evalNumbers, studyStatus, waitFor, writeTinyStudy } from '../../support/study';

const conditions = [
  { name: 'simclr', label: 'SimCLR', baseline: true, set: { 'ssl.method': 'simclr' } },
  { name: 'mocov2', label: 'MoCo v2', set: { 'ssl.method': 'mocov2', 'ssl.mocov2.queueSize': 12 } },
];

function runState(runDir: string): string {
  return JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8')).state;
}

describe('synthpair study on the local executor (bundled dist/cli.js)', function () {
  // Whole tiny studies: a limit for a hung CLI, not a measure of this machine's speed.
  this.timeout(900_000);
  let folder: string;

  before(() => assertCliBuilt());
  beforeEach(async () => {
    folder = await makeTempDir('cli-study');
  });
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('trains conditions × seeds into run folders, tabulates them, and reuses completed trials', async () => {
    await writeTinyStudy(folder, { seeds: [0, 1], conditions, metrics: ['knnTop1', 'mAP'] });
    const first = await cli(folder, ['study', 'run', 'tiny.study.json']);
    assert.equal(first.code, 0, first.stderr);
    const studyDir = path.join(folder, '.synthpair', 'studies', 'tiny');
    for (const trial of ['simclr.seed-0', 'simclr.seed-1', 'mocov2.seed-0', 'mocov2.seed-1']) {
      assert.equal(runState(path.join(studyDir, trial)), 'completed', trial);
      assert.match(
        readFileSync(path.join(studyDir, 'logs', `${trial}.log`), 'utf8'),
        new RegExp(`^== ${trial} on `),
      );
    }
    // The seed given by the study reaches the run; the condition's overrides reach its config.
    const config = JSON.parse(readFileSync(path.join(studyDir, 'mocov2.seed-1', 'config.json'), 'utf8'));
    assert.equal(config.seed, 1);
    assert.equal(config.ssl.method, 'mocov2');
    assert.equal(config.ssl.mocov2.queueSize, 12);
    assert.match(first.stdout, /\| SimCLR \(baseline\) \| 2\/2 \|/);
    assert.match(first.stdout, /\| Δ to SimCLR, points \[95 % CI\] \(Holm p\) \| kNN top-1 \| mAP \|/);
    const table = JSON.parse(await readFile(path.join(studyDir, 'table.json'), 'utf8'));
    assert.deepEqual(
      table.conditions.map((condition: { id: string; completed: number }) => [
        condition.id,
        condition.completed,
      ]),
      [
        ['simclr', 2],
        ['mocov2', 2],
      ],
    );
    // The figures are those of the run folders' last evaluations, in percent.
    const lastEval = (await evalNumbers(path.join(studyDir, 'mocov2.seed-1'))).at(-1) as { mAP: number };
    const mocoMap = table.conditions[1].metrics.mAP.values.find(
      (point: { seed: number }) => point.seed === 1,
    ).value;
    assert.ok(Math.abs(mocoMap - 100 * lastEval.mAP) < 1e-6, `${mocoMap} vs ${lastEval.mAP}`);
    assert.ok(existsSync(path.join(studyDir, 'table.md')) && existsSync(path.join(studyDir, 'table.csv')));

    const runJson = readFileSync(path.join(studyDir, 'simclr.seed-0', 'run.json'), 'utf8');
    const attempts = readFileSync(path.join(studyDir, 'attempts.jsonl'), 'utf8');
    const again = await cli(folder, ['study', 'run', 'tiny.study.json']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /4 completed earlier, 0 queued or training, 0 to train/);
    assert.equal(
      readFileSync(path.join(studyDir, 'simclr.seed-0', 'run.json'), 'utf8'),
      runJson,
      'a completed trial is not touched',
    );
    assert.equal(
      readFileSync(path.join(studyDir, 'attempts.jsonl'), 'utf8'),
      attempts,
      'no trial was started',
    );

    // A new label changes no trial: the table takes it at once, and nothing trains.
    const relabelled = conditions.map((condition) => ({
      ...condition,
      label: `${condition.label}, relabelled`,
    }));
    await writeTinyStudy(folder, { seeds: [0, 1], conditions: relabelled, metrics: ['knnTop1', 'mAP'] });
    const relabelledTable = await cli(folder, ['study', 'table', 'tiny.study.json']);
    assert.equal(relabelledTable.code, 0, relabelledTable.stderr);
    assert.match(relabelledTable.stdout, /\| SimCLR, relabelled \(baseline\) \| 2\/2 \|/);
    assert.equal(
      readFileSync(path.join(studyDir, 'attempts.jsonl'), 'utf8'),
      attempts,
      'no trial was started',
    );

    // A changed condition would splice two experiments into one row: it is refused, naming the trials.
    const changed = conditions.map((condition) =>
      condition.name === 'mocov2'
        ? { ...condition, set: { ...condition.set, 'ssl.mocov2.queueSize': 6 } }
        : condition,
    );
    await writeTinyStudy(folder, { seeds: [0, 1], conditions: changed, metrics: ['knnTop1', 'mAP'] });
    const refused = await cli(folder, ['study', 'run', 'tiny.study.json']);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /changed what these trials train since they ran: mocov2\.seed-0, mocov2\.seed-1/,
    );
  });

  it('reports a failed trial with its log, completes the others, and retries it on the next run', async () => {
    const broken = { name: 'broken', set: { 'data.root': 'no-such-data' } };
    await writeTinyStudy(folder, { seeds: [0], conditions: [...conditions, broken], metrics: ['knnTop1'] });
    const result = await cli(folder, ['study', 'run', 'tiny.study.json']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /✗ broken\.seed-0 failed: .*no-such-data.*; log: .*broken\.seed-0\.log/);
    assert.match(result.stdout, /\| broken \| 0\/1 \| – \|/);

    const status = await studyStatus(folder);
    const states = Object.fromEntries(status.trials.map((trial) => [trial.id, trial.state]));
    assert.deepEqual(states, {
      'simclr.seed-0': 'completed',
      'mocov2.seed-0': 'completed',
      'broken.seed-0': 'failed',
    });
    const failed = status.trials.find((trial) => trial.id === 'broken.seed-0')!;
    assert.match(failed.reason!, /no-such-data/);
    assert.match(failed.logTail!, /no-such-data/);
    const text = await cli(folder, ['study', 'status', 'tiny.study.json']);
    assert.match(text.stdout, /broken\.seed-0 +failed.*no-such-data/);
    assert.match(text.stdout, /\n +\| .*no-such-data/);

    // Mended, the failed trial is retried and the completed ones are kept.
    await writeFile(
      path.join(folder, 'tiny.study.json'),
      JSON.stringify({
        name: 'tiny',
        experiment: 'tiny.synthpair.json',
        seeds: [0],
        conditions: [...conditions, { name: 'broken' }],
        metrics: ['knnTop1'],
      }),
    );
    await rm(path.join(folder, '.synthpair', 'studies', 'tiny', 'study.json'));
    const retried = await cli(folder, ['study', 'run', 'tiny.study.json']);
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stderr, /2 completed earlier, 0 queued or training, 1 to train/);
  });

  it('cancels a study whose trials then resume to the numbers of an uninterrupted study', async () => {
    const epochs = 4;
    const study = { seeds: [3], conditions: [conditions[1]], metrics: ['knnTop1', 'mAP'] };
    const experiment = { train: { epochs }, eval: { everyEpochs: 1 }, checkpoint: { everyEpochs: 1 } };
    await writeTinyStudy(folder, { ...study, out: 'reference' }, experiment);
    const reference = await cli(folder, ['study', 'run', 'tiny.study.json']);
    assert.equal(reference.code, 0, reference.stderr);

    await writeTinyStudy(folder, study, experiment);
    const studyDir = path.join(folder, '.synthpair', 'studies', 'tiny');
    const trialDir = path.join(studyDir, 'mocov2.seed-3');
    const running = cli(folder, ['study', 'run', 'tiny.study.json']);
    await waitFor('the trial to finish an epoch', async () => {
      const status = JSON.parse(await readFile(path.join(trialDir, 'run.json'), 'utf8'));
      return status.epoch >= 1 ? true : undefined;
    });
    const cancelled = await cli(folder, ['study', 'cancel', 'tiny.study.json']);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stderr, /stopped the local queue/);
    const stopped = await running;
    if (stopped.code === 0) {
      // The last epoch ended before the stop was seen: nothing was left to cancel, and nothing to compare.
      assert.equal(runState(trialDir), 'completed');
      return;
    }
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.equal(runState(trialDir), 'stopped');
    assert.equal((await studyStatus(folder)).trials[0]!.state, 'stopped');

    const resumed = await cli(folder, ['study', 'run', 'tiny.study.json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      readFileSync(path.join(studyDir, 'logs', 'mocov2.seed-3.log'), 'utf8'),
      /resuming (\d+ of \d+ steps into epoch|after epoch) /,
    );
    assert.deepEqual(
      await evalNumbers(trialDir),
      await evalNumbers(path.join(folder, 'reference', 'mocov2.seed-3')),
    );
  });

  it('points at the line of a mistake in the study file and trains nothing', async () => {
    await writeTinyStudy(folder, { conditions: [{ name: 'a', set: { 'loss.alpah': 0 } }] });
    const result = await cli(folder, ['study', 'run', 'tiny.study.json']);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /tiny\.study\.json:\d+:\d+: error: loss\.alpah: not a key of the experiment; did you mean loss\.alpha\?/,
    );
    assert.equal(existsSync(path.join(folder, '.synthpair', 'studies')), false);
    const status = await cli(folder, ['study', 'status', 'tiny.study.json']);
    assert.equal(status.code, 2);
  });
});
