import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/makeImages';
import { assertCliBuilt } from '../../support/cli';
import { provisionSlurm, type SlurmCluster } from '../../support/slurmCluster';
import { cli, evalNumbers, studyStatus, waitFor, writeTinyStudy } from '../../support/study';

/** Small enough that four tasks share this machine's cores and memory. */
const slurmExecutor = (cluster: SlurmCluster, extra: Record<string, unknown> = {}) => ({
  kind: 'slurm',
  slurm: { partition: cluster.partition, cpusPerTask: 1, mem: '700M', time: '00:20:00', ...extra },
});
const conditions = [
  { name: 'simclr', baseline: true, set: { 'ssl.method': 'simclr' } },
  { name: 'mocov2', set: { 'ssl.method': 'mocov2', 'ssl.mocov2.queueSize': 12 } },
];
/** One thread, the same on the nodes and here: onednn's sums are ordered by its thread count. */
const backend = ['--backend', 'wasm'];

function submissions(studyDir: string): { kind: string; jobId?: string; trials: string[] }[] {
  return readFileSync(path.join(studyDir, 'submissions.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

describe('synthpair study on a real single-node Slurm (bundled dist/cli.js)', function () {
  // Whole tiny studies through a scheduler: a limit for a hang, not a measure of this machine's speed.
  this.timeout(1_200_000);
  let cluster: SlurmCluster;
  let folder: string;
  let studyDir: string;
  const inCluster = (args: string[]) => cli(folder, args, cluster.env);

  before(async function () {
    assertCliBuilt();
    // A folder of its own, the same every time: a cluster left up by an aborted run is found and stopped.
    // Accounting on, so that both of Slurm's sources of task states, squeue and sacct, are read.
    const provisioned = await provisionSlurm({
      dir: path.join(os.tmpdir(), 'synthpair-slurm-study-test'),
      accounting: true,
    });
    if ('skip' in provisioned) {
      console.log(`      Slurm tests skipped: ${provisioned.skip}`);
      this.skip();
    }
    cluster = provisioned;
  });
  after(async () => {
    await cluster?.stop();
  });
  beforeEach(async () => {
    folder = await makeTempDir('cli-study-slurm');
    studyDir = path.join(folder, '.synthpair', 'studies', 'tiny');
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(cluster.logTail(20));
    // Nothing of a failed test may go on training into the next one's cores.
    spawnSync('scancel', ['--name=synthpair-tiny'], { env: cluster.env });
    await rm(folder, { recursive: true, force: true });
  });

  it('trains a study of four trials as one job array and tabulates it', async () => {
    await writeTinyStudy(folder, {
      seeds: [0, 1],
      conditions,
      metrics: ['knnTop1', 'mAP'],
      executor: slurmExecutor(cluster),
    });
    const result = await inCluster(['study', 'run', 'tiny.study.json', '--wait', ...backend]);
    assert.equal(result.code, 0, `${result.stderr}\n${cluster.logTail()}`);
    assert.match(result.stderr, /submitted job array \d+ \(4 tasks\)/);
    assert.match(result.stdout, /\| simclr \(baseline\) \| 2\/2 \|/);
    assert.match(result.stdout, /\| mocov2 \| 2\/2 \|/);
    const [submission, ...more] = submissions(studyDir);
    assert.equal(more.length, 0, 'one submission');
    assert.equal(submission!.kind, 'slurm');
    assert.deepEqual(submission!.trials, [
      'simclr.seed-0',
      'simclr.seed-1',
      'mocov2.seed-0',
      'mocov2.seed-1',
    ]);
    for (const [task, trial] of submission!.trials.entries()) {
      const log = readFileSync(path.join(studyDir, 'logs', `${trial}.log`), 'utf8');
      assert.match(
        log,
        new RegExp(`^== ${trial} on \\S+ \\(Slurm task ${submission!.jobId}_${task}, restart 0\\)`),
      );
    }
    const status = await studyStatus(folder, cluster.env);
    assert.deepEqual(
      status.trials.map((trial) => [trial.id, trial.state]),
      submission!.trials.map((trial) => [trial, 'completed']),
    );
    // A second run finds nothing to do and submits nothing.
    const again = await inCluster(['study', 'run', 'tiny.study.json', ...backend]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /4 completed earlier, 0 queued or training, 0 to train/);
    assert.equal(submissions(studyDir).length, 1);
  });

  it('resumes a requeued task from its checkpoint to the numbers of an uninterrupted run', async () => {
    const experiment = { train: { epochs: 6 }, eval: { everyEpochs: 1 }, checkpoint: { everyEpochs: 1 } };
    const study = { seeds: [2], conditions: [conditions[1]], metrics: ['knnTop1', 'mAP'] };
    await writeTinyStudy(folder, { ...study, out: 'reference', executor: { kind: 'local' } }, experiment);
    const reference = await inCluster(['study', 'run', 'tiny.study.json', ...backend]);
    assert.equal(reference.code, 0, reference.stderr);

    await writeTinyStudy(folder, { ...study, executor: slurmExecutor(cluster) }, experiment);
    const submitted = await inCluster(['study', 'run', 'tiny.study.json', ...backend]);
    assert.equal(submitted.code, 0, submitted.stderr);
    const jobId = submissions(studyDir)[0]!.jobId!;
    const trialDir = path.join(studyDir, 'mocov2.seed-2');
    await waitFor('the task to finish two epochs', async () => {
      const run = JSON.parse(await readFile(path.join(trialDir, 'run.json'), 'utf8'));
      return run.epoch >= 2 ? true : undefined;
    });
    const requeue = spawnSync('scontrol', ['requeue', `${jobId}_0`], { env: cluster.env, encoding: 'utf8' });
    assert.equal(requeue.status, 0, requeue.stderr);
    const final = await waitFor('the requeued task to complete the trial', async () => {
      const status = await studyStatus(folder, cluster.env);
      return status.trials[0]!.state === 'completed' ? status : undefined;
    });
    assert.equal(final.trials[0]!.state, 'completed');
    const log = readFileSync(path.join(studyDir, 'logs', 'mocov2.seed-2.log'), 'utf8');
    if (!/restart 1/.test(log)) {
      // The last epoch ended before Slurm's signal arrived: nothing was interrupted, nothing to compare.
      assert.equal(JSON.parse(readFileSync(path.join(trialDir, 'run.json'), 'utf8')).state, 'completed');
      return;
    }
    assert.match(log, new RegExp(`\\(Slurm task ${jobId}_0, restart 1\\)`));
    assert.match(log, /stopped \d+ of \d+ steps into epoch \d+ .*holds it for --resume/);
    assert.match(log, /resuming (\d+ of \d+ steps into epoch|after epoch) /);
    assert.deepEqual(
      await evalNumbers(trialDir),
      await evalNumbers(path.join(folder, 'reference', 'mocov2.seed-2')),
    );
  });

  it('cancels a study: scancel of its array, and its trials stop to be resumed later', async () => {
    await writeTinyStudy(
      folder,
      { seeds: [0, 1], conditions, metrics: ['knnTop1'], executor: slurmExecutor(cluster) },
      { train: { epochs: 200 }, checkpoint: { everyEpochs: 1 } },
    );
    const submitted = await inCluster(['study', 'run', 'tiny.study.json', ...backend]);
    assert.equal(submitted.code, 0, submitted.stderr);
    await waitFor('a trial to train', async () => {
      const status = await studyStatus(folder, cluster.env);
      return status.trials.some((trial) => trial.state === 'running' && (trial.epoch ?? 0) >= 1)
        ? true
        : undefined;
    });
    const cancelled = await inCluster(['study', 'cancel', 'tiny.study.json']);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stderr, /cancelled job array \d+/);
    const status = await waitFor('every task to leave the queue', async () => {
      const now = await studyStatus(folder, cluster.env);
      return now.trials.every((trial) => trial.state !== 'running' && trial.state !== 'queued')
        ? now
        : undefined;
    });
    for (const trial of status.trials)
      assert.ok(['cancelled', 'stopped'].includes(trial.state), `${trial.id}: ${trial.state}`);
    // The trials that trained stopped after a step, leaving a run folder a later `study run` resumes.
    const started = status.trials.filter((trial) => trial.epoch !== undefined);
    assert.ok(started.length > 0);
    const again = await inCluster(['study', 'cancel', 'tiny.study.json']);
    assert.match(again.stderr, /nothing queued or training/);
  });

  it('reports a task that fails, with its log, and one that fails before the trial starts', async () => {
    await writeTinyStudy(folder, {
      seeds: [0],
      conditions: [...conditions, { name: 'broken', set: { 'data.root': 'no-such-data' } }],
      metrics: ['knnTop1'],
      executor: slurmExecutor(cluster),
    });
    const result = await inCluster(['study', 'run', 'tiny.study.json', '--wait', ...backend]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /✗ broken\.seed-0 failed: .*no-such-data.*; log: .*broken\.seed-0\.log/);
    const text = await inCluster(['study', 'status', 'tiny.study.json']);
    assert.match(text.stdout, /broken\.seed-0 +failed +\[\d+_2\]: .*no-such-data/);
    assert.match(text.stdout, /\n +\| .*no-such-data/);

    // A node that cannot start the trial at all: the task's own output says why.
    await writeTinyStudy(folder, {
      name: 'tiny',
      seeds: [0],
      conditions: [conditions[0]],
      out: 'unstartable',
      metrics: ['knnTop1'],
      executor: slurmExecutor(cluster, { setup: ['echo "module nodejs/20 not found" >&2', 'exit 3'] }),
    });
    const unstartable = await inCluster(['study', 'run', 'tiny.study.json', '--wait', ...backend]);
    assert.equal(unstartable.code, 1, unstartable.stderr);
    const status = await studyStatus(folder, cluster.env);
    const trial = status.trials[0]!;
    assert.equal(trial.state, 'failed');
    assert.match(trial.reason!, /Slurm: FAILED/);
    assert.match(trial.logTail!, /module nodejs\/20 not found/);
  });

  it('says what is wrong when sbatch is missing or the partition does not exist, and submits nothing', async () => {
    await writeTinyStudy(folder, { conditions, executor: slurmExecutor(cluster, { partition: 'gpu-a100' }) });
    const noPartition = await inCluster(['study', 'run', 'tiny.study.json']);
    assert.equal(noPartition.code, 2);
    assert.match(noPartition.stderr, /no partition gpu-a100 on this cluster; it has debug/);
    const withoutSlurm = await cli(folder, ['study', 'run', 'tiny.study.json'], {
      ...cluster.env,
      // No folder holds sbatch: a machine that is not a login node of any cluster.
      PATH: '/nonexistent',
    });
    assert.equal(withoutSlurm.code, 2);
    assert.match(withoutSlurm.stderr, /not found on PATH.*login node.*--executor local/);
    assert.throws(() => readFileSync(path.join(studyDir, 'submissions.jsonl')));
  });
});
