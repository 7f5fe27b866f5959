import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate, setTimeout } from 'node:timers/promises';
import { makeTempDir } from '../../fixtures/makeImages';
import {
  assertCliBuilt,
  cliPath,
  jsonEvents,
  logEvents,
  snapshotFiles,
  writeTinyExperiment,
} from '../../support/cli';

const epochs = 8;
/** The tiny data set's 18 training images less the 6 held out for validation, in batches of 6. */
const stepsPerEpoch = 2;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts the CLI and, while it runs, polls `ready` every few milliseconds; the first time it holds,
 * `interrupt` is called with the child. Resolves when the child has exited.
 */
function synthpair(
  cwd: string,
  args: string[],
  trigger?: { ready: () => boolean; interrupt: (child: ChildProcess) => void },
): Promise<Exit & { triggered: boolean }> {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let triggered = false;
  const poll = trigger
    ? setInterval(() => {
        if (!triggered && trigger.ready()) {
          triggered = true;
          trigger.interrupt(child);
        }
      }, 5)
    : undefined;
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, stdout, stderr, triggered });
    });
  });
}

/** The epochs finished by the checkpoint `latest.json` points at, 0 while there is none. */
function latestCheckpointEpoch(run: string): number {
  try {
    const { checkpoint } = JSON.parse(readFileSync(path.join(run, 'checkpoints', 'latest.json'), 'utf8'));
    return Number(/^epoch-(\d+)/.exec(checkpoint)![1]);
  } catch {
    return 0;
  }
}

async function status(run: string): Promise<{ state: string; epoch: number }> {
  return JSON.parse(await readFile(path.join(run, 'run.json'), 'utf8'));
}

/** Every line of a JSON Lines file, parsed: a torn line fails the test. */
async function jsonLines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8');
  assert.ok(text.endsWith('\n'), `${file} ends in a partial line`);
  return text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
}

/** What must be equal between runs: everything but wall-clock time and speed. */
function numbers(records: Record<string, unknown>[]): Record<string, unknown>[] {
  return records.map(({ time: _time, imagesPerSecond: _speed, ...rest }) => rest);
}

describe('synthpair run --resume after SIGKILL and Ctrl-C (bundled dist/cli.js)', function () {
  // Four whole runs of eight epochs: a limit for a hung CLI, not a measure of this machine's speed.
  this.timeout(900_000);
  let folder: string;

  before(async () => {
    assertCliBuilt();
    folder = await makeTempDir('cli-resume');
    await writeTinyExperiment(folder, {
      seed: 5,
      train: { epochs },
      eval: { everyEpochs: 1 },
      checkpoint: { everyEpochs: 1, keep: 2 },
    });
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('retraces an uninterrupted run exactly, leaving no temporary file or torn line', async () => {
    const whole = path.join(folder, 'runs', 'whole');
    const uninterrupted = await synthpair(folder, ['run', 'tiny.synthpair.json', '--out', whole]);
    assert.equal(uninterrupted.code, 0, uninterrupted.stderr);

    const broken = path.join(folder, 'runs', 'broken');
    const killed = await synthpair(folder, ['run', 'tiny.synthpair.json', '--out', broken], {
      ready: () => latestCheckpointEpoch(broken) >= 1,
      interrupt: (child) => child.kill('SIGKILL'),
    });
    assert.equal(killed.signal, 'SIGKILL', `the run ended before it was killed: ${killed.stderr}`);
    const afterKill = await status(broken);
    assert.equal(afterKill.state, 'running');
    const killedAt = latestCheckpointEpoch(broken);
    assert.ok(killedAt >= 1 && killedAt < epochs, `killed after epoch ${killedAt}`);

    // A kill can land in the middle of any write; these are the leftovers each kind of write would leave.
    const leftovers = [
      path.join(broken, 'run.json.2837465102'),
      path.join(broken, 'metrics.jsonl.917263'),
      path.join(broken, 'checkpoints', 'latest.json.44'),
      path.join(broken, 'checkpoints', 'best.json.3049754718'),
      path.join(broken, 'checkpoints', `.staging-epoch-${String(killedAt + 1).padStart(4, '0')}-999999`),
    ];
    await writeFile(leftovers[0]!, '{"format":1,"na');
    await writeFile(leftovers[1]!, '{"kind":"epoch"');
    await writeFile(leftovers[2]!, '');
    await writeFile(leftovers[3]!, '{"checkpoint":');
    await mkdir(leftovers[4]!);
    const analysisLeftover = path.join(
      broken,
      'analysis',
      `.staging-epoch-${String(killedAt + 1).padStart(4, '0')}-999999`,
    );
    await mkdir(analysisLeftover, { recursive: true });
    leftovers.push(analysisLeftover);
    await writeFile(path.join(leftovers[4]!, 'weights.bin'), Buffer.alloc(12));
    await writeFile(path.join(broken, 'metrics.jsonl'), '{"kind":"step","epoch":', { flag: 'a' });

    // Ctrl-C once, a checkpoint or two after the resume point: the run stops after its current step.
    const interrupted = await synthpair(folder, ['run', '--resume', broken], {
      ready: () => latestCheckpointEpoch(broken) >= Math.min(killedAt + 2, epochs - 1),
      interrupt: (child) => child.kill('SIGINT'),
    });
    assert.equal(interrupted.code, 130, interrupted.stderr);
    assert.ok(interrupted.triggered);
    const interruptedLog = logEvents(interrupted.stdout).map((event) => event.message);
    assert.ok(
      interruptedLog.includes(
        `resuming after epoch ${killedAt} (step ${killedAt * stepsPerEpoch}) from epoch-${String(killedAt).padStart(4, '0')}`,
      ),
      interruptedLog.join('\n'),
    );
    assert.ok(
      interruptedLog.some((message) => message.startsWith('removed what an interrupted write left: ')),
    );
    assert.ok(interruptedLog.some((message) => message.startsWith('stopping after this step')));
    assert.equal((await status(broken)).state, 'stopped');
    for (const leftover of leftovers) assert.equal(existsSync(leftover), false, `${leftover} is still there`);

    const resumed = await synthpair(folder, ['run', '--resume', broken]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const finalStatus = await status(broken);
    assert.equal(finalStatus.state, 'completed');
    assert.equal(finalStatus.epoch, epochs);

    const metrics = await jsonLines(path.join(broken, 'metrics.jsonl'));
    const reference = await jsonLines(path.join(whole, 'metrics.jsonl'));
    assert.equal(metrics.filter((record) => record.kind === 'epoch').length, epochs);
    assert.deepEqual(numbers(metrics), numbers(reference));
    const evals = await jsonLines(path.join(broken, 'eval.jsonl'));
    assert.equal(evals.length, epochs);
    assert.deepEqual(numbers(evals), numbers(await jsonLines(path.join(whole, 'eval.jsonl'))));

    // Every analysis step is redrawn from the same weights: the same bytes, but for the time it was taken.
    const files = await snapshotFiles(broken);
    const referenceFiles = await snapshotFiles(whole);
    const analysisFiles = [...files.keys()].filter((file) => file.startsWith('analysis/')).sort();
    assert.deepEqual(
      analysisFiles,
      [...referenceFiles.keys()].filter((file) => file.startsWith('analysis/')).sort(),
    );
    assert.ok(analysisFiles.includes('analysis/epoch-0008/pairs.png'));
    for (const file of analysisFiles.filter((name) => !name.endsWith('analysis.json'))) {
      assert.deepEqual(files.get(file), referenceFiles.get(file), file);
    }

    // keep: 2 leaves the last two checkpoints, and the best by validation beside them, as in the whole run.
    const best = (evals.at(-1)!.best as { checkpoint: string }).checkpoint;
    const checkpointFiles = [...new Set([best, 'epoch-0007', 'epoch-0008'])].flatMap((name) => [
      `checkpoints/${name}/manifest.json`,
      `checkpoints/${name}/weights.bin`,
    ]);
    const outsideAnalysis = (snapshot: Map<string, Buffer>) =>
      [...snapshot.keys()].filter((file) => !file.startsWith('analysis/')).sort();
    assert.deepEqual(
      outsideAnalysis(files),
      [
        'checkpoints/best.json',
        ...checkpointFiles,
        'checkpoints/latest.json',
        'config.json',
        'eval.jsonl',
        'metrics.jsonl',
        'run.json',
        'run.lock',
        'skipped.json',
      ].sort(),
    );
    assert.deepEqual(outsideAnalysis(files), outsideAnalysis(referenceFiles));
    assert.deepEqual(files.get('checkpoints/best.json'), referenceFiles.get('checkpoints/best.json'));
    assert.deepEqual(
      await readFile(path.join(broken, 'checkpoints', 'epoch-0008', 'weights.bin')),
      await readFile(path.join(whole, 'checkpoints', 'epoch-0008', 'weights.bin')),
    );
  });
});

interface Progress {
  step: number;
  losses: Record<string, number>;
}

/** Whether process `pid` is stopped by a signal; false once it has exited. Linux's /proc tells. */
function isFrozen(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[tT]$/.test(stat.slice(stat.lastIndexOf(')') + 2)[0]!);
  } catch {
    return false;
  }
}

/**
 * Runs the CLI and stops it with SIGTERM in the middle of epoch `fromEpoch` or a later one, whatever the speed
 * of either process: on a progress line of a step with another after it in its epoch, the CLI is frozen (SIGSTOP);
 * once everything it printed is read, the newest progress line shows where it is. It then stands between that
 * step's line and the next's, so the SIGTERM sent before it thaws ends it after one of these two steps, both
 * inside the epoch. When it printed more before freezing than that allows, it thaws and the next line is tried.
 */
function synthpairTerminatedMidEpoch(
  cwd: string,
  args: string[],
  { stepsPerEpoch, fromEpoch }: { stepsPerEpoch: number; fromEpoch: number },
): Promise<Exit & { progress: Progress[]; terminatedAfter: number | undefined }> {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd });
  const pid = child.pid!;
  const progress: Progress[] = [];
  let stdout = '';
  let stderr = '';
  let parsed = 0;
  let freezing = false;
  let terminatedAfter: number | undefined;
  const stepInEpoch = (step: number) => ((step - 1) % stepsPerEpoch) + 1;
  const midEpoch = (step: number) =>
    step > (fromEpoch - 1) * stepsPerEpoch && stepInEpoch(step) <= stepsPerEpoch - 2;
  const readLines = () => {
    const end = stdout.lastIndexOf('\n') + 1;
    for (const line of stdout.slice(parsed, end).split('\n').filter(Boolean)) {
      const event = JSON.parse(line);
      if (event.event === 'progress') progress.push(event);
    }
    parsed = end;
  };
  const freezeAndTerminate = async () => {
    freezing = true;
    child.kill('SIGSTOP');
    while (!isFrozen(pid)) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await setTimeout(1);
    }
    // Two turns of the event loop: a poll phase has read whatever the frozen CLI left in the pipe.
    await setImmediate();
    await setImmediate();
    const newest = progress.at(-1)!.step;
    if (midEpoch(newest)) {
      terminatedAfter = newest;
      child.kill('SIGTERM');
    }
    child.kill('SIGCONT');
    freezing = false;
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    readLines();
    const newest = progress.at(-1);
    if (newest && !freezing && terminatedAfter === undefined && midEpoch(newest.step)) {
      void freezeAndTerminate();
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, progress, terminatedAfter }));
  });
}

describe('synthpair run --resume after SIGTERM in the middle of an epoch (bundled dist/cli.js)', function () {
  // Three runs of three epochs: a limit for a hung CLI, not a measure of this machine's speed.
  this.timeout(900_000);
  /** 18 training images, none held out for validation, in batches of 3. */
  const stepsPerEpoch = 6;
  let folder: string;

  before(async () => {
    assertCliBuilt();
    folder = await makeTempDir('cli-resume-mid-epoch');
    await writeTinyExperiment(folder, {
      seed: 7,
      data: { validation: { fraction: 0 } },
      // MoCo v2, so the momentum encoder and the queue are part of what the checkpoint must carry across.
      ssl: { method: 'mocov2', mocov2: { queueSize: 9 } },
      train: { epochs: 3, batchSize: 3 },
      eval: { everyEpochs: 1 },
      // More epochs than the run trains, and no validation to save a best one: no epoch checkpoint before the end.
      checkpoint: { everyEpochs: 10, keep: 1 },
    });
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('saves a stop checkpoint of the step it stopped after, and continues the epoch from it to the numbers of an uninterrupted run', async () => {
    const whole = path.join(folder, 'runs', 'whole');
    const uninterrupted = await synthpair(folder, ['run', 'tiny.synthpair.json', '--out', whole]);
    assert.equal(uninterrupted.code, 0, uninterrupted.stderr);

    const cut = path.join(folder, 'runs', 'cut');
    const terminated = await synthpairTerminatedMidEpoch(
      folder,
      ['run', 'tiny.synthpair.json', '--out', cut],
      // The second epoch: the first is evaluated and logged, and L_Cp is due (synthesis.startEpoch).
      { stepsPerEpoch, fromEpoch: 2 },
    );
    assert.equal(terminated.code, 130, terminated.stderr);
    assert.ok(terminated.terminatedAfter !== undefined, 'never frozen in the middle of an epoch');
    const step = terminated.progress.at(-1)!.step;
    assert.ok(step === terminated.terminatedAfter || step === terminated.terminatedAfter + 1);
    const epochsDone = Math.floor(step / stepsPerEpoch);
    const stepsIntoEpoch = step - epochsDone * stepsPerEpoch;
    assert.ok(stepsIntoEpoch > 0 && stepsIntoEpoch < stepsPerEpoch, `stopped after step ${step}`);
    const stopCheckpoint = `epoch-${String(epochsDone).padStart(4, '0')}-step-${String(step).padStart(6, '0')}`;
    assert.deepEqual((await readdir(path.join(cut, 'checkpoints'))).sort(), [stopCheckpoint, 'latest.json']);
    assert.deepEqual(JSON.parse(await readFile(path.join(cut, 'checkpoints', 'latest.json'), 'utf8')), {
      checkpoint: stopCheckpoint,
    });
    const manifest = JSON.parse(
      await readFile(path.join(cut, 'checkpoints', stopCheckpoint, 'manifest.json'), 'utf8'),
    );
    assert.equal(manifest.epoch, epochsDone);
    assert.equal(manifest.step, step);
    const lossSums: Record<string, number> = {};
    for (const { losses } of terminated.progress.slice(epochsDone * stepsPerEpoch)) {
      for (const [name, value] of Object.entries(losses)) lossSums[name] = (lossSums[name] ?? 0) + value;
    }
    assert.deepEqual(manifest.epochProgress, { steps: stepsIntoEpoch, lossSums });
    const stopped = await status(cut);
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.epoch, epochsDone);
    const where = `${stepsIntoEpoch} of ${stepsPerEpoch} steps into epoch ${epochsDone + 1} (step ${step})`;
    assert.ok(
      logEvents(terminated.stdout).some(
        ({ message }) => message === `stopped ${where}; ${stopCheckpoint} holds it for --resume`,
      ),
      terminated.stdout,
    );

    const resumed = await synthpair(folder, ['run', '--resume', cut]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok(
      logEvents(resumed.stdout).some(({ message }) => message === `resuming ${where} from ${stopCheckpoint}`),
      resumed.stdout,
    );
    const resumedSteps = jsonEvents(resumed.stdout).filter((event) => event.event === 'progress');
    assert.equal(resumedSteps[0]!.step, step + 1, 'the first step trained after the resume');
    assert.equal((await status(cut)).state, 'completed');

    assert.deepEqual(
      numbers(await jsonLines(path.join(cut, 'metrics.jsonl'))),
      numbers(await jsonLines(path.join(whole, 'metrics.jsonl'))),
    );
    assert.deepEqual(
      numbers(await jsonLines(path.join(cut, 'eval.jsonl'))),
      numbers(await jsonLines(path.join(whole, 'eval.jsonl'))),
    );
    // The stop checkpoint went once the last epoch's was saved: the same checkpoints, the same bytes.
    const checkpoints = async (run: string) =>
      [...(await snapshotFiles(path.join(run, 'checkpoints')))].sort(([a], [b]) => a.localeCompare(b));
    const checkpointFiles = await checkpoints(cut);
    assert.deepEqual(
      checkpointFiles.map(([file]) => file),
      ['epoch-0003/manifest.json', 'epoch-0003/weights.bin', 'latest.json'],
    );
    assert.deepEqual(checkpointFiles, await checkpoints(whole));
  });
});
