import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { metricsRecord } from '../../../src/shared/protocol/runFiles';
import { compareRunsMarkdown } from '../../../src/shared/runFolder/compareRuns';
import { describeDuration, describeEvaluation } from '../../../src/shared/runFolder/describe';
import { readLastJsonLine } from '../../../src/shared/runFolder/jsonLines';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { listRuns, readRunSummary } from '../../../src/shared/runFolder/runSummary';
import { makeTempDir } from '../../fixtures/makeImages';

const versions = { synthpair: '0.0.0', tfjs: '4.22.0', node: process.versions.node };

function step(step: number, total: number) {
  return { kind: 'step', epoch: 1, step, time: new Date().toISOString(), losses: { total }, lr: 0.1 };
}

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

describe('run summaries for the Runs view', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await makeTempDir('run-summary');
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  async function makeRun(name: string, startedAt: string, config: unknown, pid = process.pid) {
    return RunDirectory.create(path.join(folder, name), config, {
      name,
      configFile: path.join(folder, `${name}.synthpair.json`),
      pid,
      seed: 0,
      startedAt,
      versions,
    });
  }

  it('reads the last valid record of a log from its end, passing over a torn last line', async () => {
    const file = path.join(folder, 'metrics.jsonl');
    assert.equal(await readLastJsonLine(file, metricsRecord), undefined, 'a missing log has no record');
    // Long enough that the start of the file is not in the tail that is read.
    for (let index = 1; index <= 2000; index++) {
      await appendFile(file, `${JSON.stringify(step(index, 1 / index))}\n`);
    }
    assert.equal((await readLastJsonLine(file, metricsRecord))?.step, 2000);
    await appendFile(file, '{"kind":"step","epoch":1,"st');
    assert.equal((await readLastJsonLine(file, metricsRecord))?.step, 2000);
    await appendFile(file, `\n${JSON.stringify({ kind: 'other' })}\n`);
    assert.equal(
      (await readLastJsonLine(file, metricsRecord))?.step,
      2000,
      'a record of another shape is skipped',
    );
  });

  it('summarises runs newest first, with epochs, last metrics and evaluation, and dead runs as stopped', async () => {
    const old = await makeRun('old', '2026-01-01T00:00:00.000Z', { train: { epochs: 5 } });
    await old.appendMetrics(step(3, 0.5) as never);
    await old.appendEval({ epoch: 2, time: new Date().toISOString(), knnTop1: 0.25 });
    await old.update({ state: 'completed', epoch: 5 });
    const killed = await makeRun('killed', '2026-02-01T00:00:00.000Z', { train: { epochs: 7 } }, deadPid());
    await killed.update({ epoch: 2 });
    await makeRun('live', '2026-03-01T00:00:00.000Z', {});
    await mkdir(path.join(folder, 'not-a-run'));
    await writeFile(path.join(folder, 'stray.txt'), 'x');

    const runs = await listRuns(folder);
    assert.deepEqual(
      runs.map((run) => path.basename(run.dir)),
      ['live', 'killed', 'old'],
    );
    const [liveSummary, killedSummary, oldSummary] = runs;
    assert.equal(liveSummary!.state, 'running');
    assert.equal(liveSummary!.livePid, process.pid);
    assert.equal(liveSummary!.epochs, undefined);
    assert.equal(killedSummary!.status.state, 'running');
    assert.equal(killedSummary!.state, 'stopped', 'a running run whose process is gone reads as stopped');
    assert.equal(killedSummary!.livePid, undefined);
    assert.equal(killedSummary!.epochs, 7);
    assert.equal(oldSummary!.state, 'completed');
    assert.equal(oldSummary!.lastMetrics?.step, 3);
    assert.equal(oldSummary!.lastEval?.knnTop1, 0.25);
    assert.equal(oldSummary!.status.configFile, path.join(folder, 'old.synthpair.json'));
    assert.deepEqual(await listRuns(path.join(folder, 'absent')), []);
    assert.equal((await readRunSummary(old.dir)).dir, old.dir);
  });

  it('compares runs: figures side by side and only the config keys that differ', async () => {
    const base = { name: 'a', seed: 0, train: { epochs: 3, batchSize: 8 }, loss: { nu: 1 } };
    const a = await makeRun('a', '2026-01-01T00:00:00.000Z', base);
    await a.appendEval({ epoch: 3, time: new Date().toISOString(), knnTop1: 0.1234, mAP: 0.05 });
    await a.update({ state: 'completed', epoch: 3, endedAt: '2026-01-01T00:01:05.000Z' });
    const bConfig = { ...base, loss: { nu: 0 } };
    const b = await makeRun('b', '2026-01-02T00:00:00.000Z', bConfig);
    await b.update({ state: 'failed', epoch: 1, error: 'out of memory' });
    const runs = await listRuns(folder);
    const report = compareRunsMarkdown([
      { summary: runs.find((run) => run.dir === a.dir)!, config: base },
      { summary: runs.find((run) => run.dir === b.dir)!, config: bConfig },
    ]);
    assert.match(report, /\| kNN top-1 % \| 12\.34 \| — \|/);
    assert.match(report, /\| state \| completed \| failed \|/);
    assert.match(report, /\| wall time \| 65 s \| — \|/);
    assert.match(report, /\| `loss\.nu` \| 1 \| 0 \|/);
    assert.doesNotMatch(report, /train\.batchSize/, 'keys the runs agree on are left out');
    const same = compareRunsMarkdown([
      { summary: runs[0]!, config: base },
      { summary: runs[1]!, config: base },
    ]);
    assert.match(same, /None: the runs trained the same config/);
  });

  it('compares the best checkpoint by validation beside the last when a run chose one', async () => {
    const config = { name: 'v', seed: 0 };
    const chose = await makeRun('chose', '2026-04-01T00:00:00.000Z', config);
    const validation = { rank1: 0.5, rank5: 0.75, mAP: 0.4 };
    await chose.appendEval({
      epoch: 9,
      time: new Date().toISOString(),
      knnTop1: 0.3,
      validation: { rank1: 0.45, rank5: 0.7, mAP: 0.35 },
      best: { epoch: 6, checkpoint: 'epoch-0006', by: 'mAP', validation, knnTop1: 0.3125 },
    });
    const none = await makeRun('none', '2026-04-02T00:00:00.000Z', config);
    await none.appendEval({ epoch: 9, time: new Date().toISOString(), knnTop1: 0.2 });
    const runs = await listRuns(folder);
    const report = compareRunsMarkdown(
      [chose, none].map((run) => ({ summary: runs.find((summary) => summary.dir === run.dir)!, config })),
    );
    assert.match(report, /\| kNN top-1 %, last \| 30\.00 \| 20\.00 \|/);
    assert.match(report, /\| best epoch, by validation \| 6 \(mAP 40\.00\) \| — \|/);
    assert.match(report, /\| kNN top-1 %, best \| 31\.25 \| — \|/);
    assert.equal(
      describeEvaluation(runs.find((summary) => summary.dir === chose.dir)!.lastEval!),
      'kNN 30.0%; validation rank-1 45.0%, mAP 35.0%; best by validation mAP: epoch 6, kNN 31.3%',
    );
  });

  it('says durations as a person reads them', () => {
    assert.equal(describeDuration(45_000), '45 s');
    assert.equal(describeDuration(12 * 60_000), '12 min');
    assert.equal(describeDuration(125 * 60_000), '2 h 05 min');
  });
});
