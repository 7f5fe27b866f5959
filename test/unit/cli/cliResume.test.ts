import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/makeImages';
import { assertCliBuilt, cliPath, logEvents, snapshotFiles, writeTinyExperiment } from '../../support/cli';

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

/** The epoch of the checkpoint `latest.json` points at, 0 while there is none. */
function latestCheckpointEpoch(run: string): number {
  try {
    const { checkpoint } = JSON.parse(readFileSync(path.join(run, 'checkpoints', 'latest.json'), 'utf8'));
    return Number(/^epoch-(\d+)$/.exec(checkpoint)![1]);
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
