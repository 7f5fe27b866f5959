import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { provisionSlurm, type SlurmCluster } from '../../support/slurmCluster';

// One fixed folder for both suites: a cluster left behind by an aborted run holds Slurm's ports, and only a
// run in the same folder recognises it as its own and stops it.
const clusterDir = path.join(os.tmpdir(), 'synthpair-slurm-test');

/** Provisions in `before`, or skips the suite, saying why, where this machine cannot run Slurm. */
function provisionedCluster(accounting: boolean): () => SlurmCluster {
  let cluster: SlurmCluster | undefined;
  before(async function () {
    const provisioned = await provisionSlurm({ dir: clusterDir, accounting });
    if ('skip' in provisioned) {
      console.log(`      (skipped: no Slurm cluster: ${provisioned.skip})`);
      this.skip();
    }
    cluster = provisioned;
  });
  after(async () => {
    await cluster?.stop();
  });
  return () => cluster!;
}

function slurm(cluster: SlurmCluster, command: string, ...args: string[]): string {
  const result = spawnSync(command, args, { env: cluster.env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(
    result.status,
    0,
    `${command} ${args.join(' ')}: ${result.stderr}${result.error ?? ''}\n${cluster.logTail()}`,
  );
  return result.stdout.trim();
}

function submit(cluster: SlurmCluster, ...args: string[]): string {
  // --parsable prints "<job id>" or "<job id>;<cluster>".
  return slurm(cluster, 'sbatch', '--parsable', `--partition=${cluster.partition}`, ...args).split(';')[0]!;
}

async function eventually(
  cluster: SlurmCluster,
  what: string,
  condition: () => boolean,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `${what} within ${timeoutMs / 1000} s\n${cluster.logTail()}`);
    await sleep(250);
  }
}

/** squeue lists a job, array tasks included, until it has finished. */
async function finished(cluster: SlurmCluster, jobId: string): Promise<void> {
  await eventually(
    cluster,
    `job ${jobId} finishes`,
    () => slurm(cluster, 'squeue', '-h', '-j', jobId) === '',
  );
}

function linesOf(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

describe('the single-node Slurm cluster the tests provision', () => {
  const cluster = provisionedCluster(false);
  let outputs: string;

  before(() => {
    outputs = mkdtempSync(path.join(cluster().dir, 'jobs-'));
  });

  after(() => {
    if (outputs) rmSync(outputs, { recursive: true, force: true });
  });

  it('offers its partition, with the node idle', () => {
    assert.equal(slurm(cluster(), 'sinfo', '-h', '-o', '%P %t'), `${cluster().partition}* idle`);
  });

  it('runs every task of a job array, each with its own task id', async () => {
    const jobId = submit(
      cluster(),
      '--array=0-3',
      `--output=${outputs}/array-%A_%a.out`,
      '--wrap',
      'echo task $SLURM_ARRAY_TASK_ID',
    );
    await finished(cluster(), jobId);
    for (const task of [0, 1, 2, 3]) {
      assert.deepEqual(linesOf(path.join(outputs, `array-${jobId}_${task}.out`)), [`task ${task}`]);
    }
  });

  it('runs a requeued job again from the start', async () => {
    const output = path.join(outputs, 'requeue.out');
    const jobId = submit(
      cluster(),
      '--requeue',
      '--open-mode=append',
      `--output=${output}`,
      '--wrap',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the job's shell expands it
      'echo start ${SLURM_RESTART_COUNT:-0}; sleep 300',
    );
    // Slurm appends its own "CANCELLED ... DUE TO JOB REQUEUE" line between the two runs' lines.
    const starts = () => linesOf(output).filter((line) => line.startsWith('start'));
    await eventually(cluster(), 'the job starts', () => starts().length === 1);
    slurm(cluster(), 'scontrol', 'requeue', jobId);
    await eventually(cluster(), 'the requeued job starts again', () => starts().length === 2);
    assert.deepEqual(starts(), ['start 0', 'start 1']);
    slurm(cluster(), 'scancel', jobId);
    await finished(cluster(), jobId);
  });

  it('ends a running job that scancel cancels', async () => {
    const output = path.join(outputs, 'cancel.out');
    const jobId = submit(cluster(), `--output=${output}`, '--wrap', 'echo running; sleep 300');
    await eventually(cluster(), 'the job starts', () => linesOf(output).length === 1);
    slurm(cluster(), 'scancel', jobId);
    await finished(cluster(), jobId);
    assert.match(slurm(cluster(), 'scontrol', 'show', 'job', jobId), /\bJobState=CANCELLED\b/);
  });
});

describe('the single-node Slurm cluster with accounting', () => {
  const cluster = provisionedCluster(true);

  it('reports a finished job to sacct', async () => {
    const jobId = submit(cluster(), '--output=/dev/null', '--wrap', 'true');
    const state = () => slurm(cluster(), 'sacct', '-n', '-X', '-P', '-j', jobId, '-o', 'State');
    // sacct learns of a job's end after squeue does.
    await eventually(cluster(), 'sacct reports the job completed', () => state() === 'COMPLETED');
  });
});
