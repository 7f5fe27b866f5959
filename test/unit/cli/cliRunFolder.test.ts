import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/makeImages';
import {
  assertCliBuilt,
  cliPath,
  logEvents,
  runCli,
  snapshotFiles,
  writeTinyExperiment,
} from '../../support/cli';

const epochs = 4;

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(cwd: string, args: string[]): { child: ChildProcess; exit: Promise<Exit> } {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, exit };
}

/** Resolves once `ready` holds, checking every few milliseconds. */
function until(ready: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (!ready()) return;
      clearInterval(poll);
      resolve();
    }, 5);
  });
}

function lockHolder(run: string): number | undefined {
  try {
    return JSON.parse(readFileSync(path.join(run, 'run.lock'), 'utf8')).pid;
  } catch {
    return undefined;
  }
}

/** Every line of a JSON Lines file, less what differs between two runs of the same numbers. */
async function records(file: string): Promise<Record<string, unknown>[]> {
  return (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .map(({ time: _time, imagesPerSecond: _speed, ...rest }) => rest);
}

describe('synthpair run and its run folder (bundled dist/cli.js)', function () {
  // A limit for a hung CLI, not a measure of this machine's speed.
  this.timeout(600_000);
  let folder: string;
  let whole: string;
  let stopped: string;

  /** A copy of the run stopped after epoch 2, to damage or to race over. */
  async function stoppedCopy(name: string): Promise<string> {
    const copy = path.join(folder, 'runs', name);
    await cp(stopped, copy, { recursive: true });
    return copy;
  }

  async function assertRetracesWhole(run: string): Promise<void> {
    assert.equal(JSON.parse(await readFile(path.join(run, 'run.json'), 'utf8')).state, 'completed');
    assert.deepEqual(
      await records(path.join(run, 'metrics.jsonl')),
      await records(path.join(whole, 'metrics.jsonl')),
    );
    assert.deepEqual(
      await records(path.join(run, 'eval.jsonl')),
      await records(path.join(whole, 'eval.jsonl')),
    );
    const final = `checkpoints/epoch-${String(epochs).padStart(4, '0')}/weights.bin`;
    assert.deepEqual(await readFile(path.join(run, final)), await readFile(path.join(whole, final)));
  }

  before(async () => {
    assertCliBuilt();
    folder = await makeTempDir('cli-run-folder');
    await writeTinyExperiment(folder, {
      seed: 3,
      train: { epochs },
      eval: { everyEpochs: 1 },
      checkpoint: { everyEpochs: 1, keep: epochs },
    });
    whole = path.join(folder, 'runs', 'whole');
    const uninterrupted = runCli(folder, 'run', 'tiny.synthpair.json', '--out', whole);
    assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
    // The whole run as it stood when stopped after epoch 2: what it logged later, a resume forgets.
    stopped = path.join(folder, 'runs', 'stopped');
    await cp(whole, stopped, { recursive: true });
    for (const later of ['epoch-0003', 'epoch-0004']) {
      await rm(path.join(stopped, 'checkpoints', later), { recursive: true });
    }
    await writeFile(path.join(stopped, 'checkpoints', 'latest.json'), '{"checkpoint": "epoch-0002"}');
    const status = JSON.parse(await readFile(path.join(stopped, 'run.json'), 'utf8'));
    await writeFile(
      path.join(stopped, 'run.json'),
      JSON.stringify({ ...status, state: 'stopped', epoch: 2 }),
    );
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  describe('one writer per run', () => {
    it('of two resumes started together exactly one trains, and the log has no duplicate', async () => {
      const run = await stoppedCopy('raced');
      const [a, b] = [start(folder, ['run', '--resume', run]), start(folder, ['run', '--resume', run])];
      const exits = await Promise.all([a.exit, b.exit]);
      assert.deepEqual(
        exits.map((exit) => exit.code).sort(),
        [0, 2],
        exits.map((exit) => exit.stderr).join('\n'),
      );
      const refused = exits.find((exit) => exit.code === 2)!;
      // The holder is named once it has written itself down, which a slow machine may not have done in time.
      assert.match(
        refused.stderr,
        /^synthpair: .*raced: (being trained by (process \d+ on .+ \(since .+\)|another process); stop it first, or wait for it to end|has completed; nothing to resume)$/m,
      );
      await assertRetracesWhole(run);
    });

    it('refuses a resume while another process trains the run, naming it', async () => {
      const run = await stoppedCopy('held');
      const first = start(folder, ['run', '--resume', run]);
      // Frozen while it holds the lock, so the second start meets it however fast this machine trains.
      await until(() => lockHolder(run) === first.child.pid);
      first.child.kill('SIGSTOP');
      try {
        const second = runCli(folder, 'run', '--resume', run);
        assert.equal(second.code, 2, second.stderr);
        assert.match(
          second.stderr,
          new RegExp(
            `^synthpair: ${run}: being trained by process ${first.child.pid} on .+; stop it first`,
            'm',
          ),
        );
      } finally {
        first.child.kill('SIGCONT');
      }
      assert.equal((await first.exit).code, 0);
      await assertRetracesWhole(run);
    });
  });

  describe('a damaged run folder: the newest intact checkpoint, or exit 2 and nothing changed', () => {
    const falls = [
      {
        damage: 'latest.json names a checkpoint that is gone',
        text: '{"checkpoint": "epoch-0099"}',
        says: /checkpoints\/epoch-0099\/manifest\.json is missing; continuing from epoch-0002/,
      },
      {
        damage: 'latest.json is not JSON',
        text: '{"checkpoint": "epo',
        says: /checkpoints\/latest\.json is not JSON \(.+\); continuing from epoch-0002/,
      },
      {
        damage: 'latest.json points into another run',
        text: '{"checkpoint": "../../whole/checkpoints/epoch-0004"}',
        says: /checkpoints\/latest\.json names "\.\.\/\.\.\/whole\/checkpoints\/epoch-0004", which is not a checkpoint folder of this run; continuing from epoch-0002/,
      },
    ];
    for (const { damage, text, says } of falls) {
      it(`${damage}: resumes from the newest intact checkpoint, says so, and retraces the whole run`, async () => {
        const run = await stoppedCopy(damage.replace(/\W+/g, '-'));
        await writeFile(path.join(run, 'checkpoints', 'latest.json'), text);
        const resumed = runCli(folder, 'run', '--resume', run);
        assert.equal(resumed.code, 0, resumed.stderr);
        const warnings = logEvents(resumed.stdout).filter((event) => event.level === 'warn');
        assert.equal(warnings.length, 1, resumed.stdout);
        assert.match(warnings[0]!.message, says);
        await assertRetracesWhole(run);
      });
    }

    it("the newest checkpoint's manifest is torn: resumes from the one before, and retraces the whole run", async () => {
      const run = await stoppedCopy('torn-manifest');
      await writeFile(path.join(run, 'checkpoints', 'epoch-0002', 'manifest.json'), '{"format": 1, "ep');
      const resumed = runCli(folder, 'run', '--resume', run);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.ok(
        logEvents(resumed.stdout).some((event) =>
          /epoch-0002\/manifest\.json is not JSON \(.+\); continuing from epoch-0001, the newest intact checkpoint$/.test(
            event.message,
          ),
        ),
        resumed.stdout,
      );
      await assertRetracesWhole(run);
    });

    const refusals = [
      {
        damage: 'config.json is not JSON',
        apply: (run: string) => writeFile(path.join(run, 'config.json'), '{"name": "tiny", '),
        says: (run: string) => `${path.join(run, 'config.json')} is not JSON (`,
      },
      {
        damage: 'run.json is not JSON',
        apply: (run: string) => writeFile(path.join(run, 'run.json'), '{"format": 1, "na'),
        says: (run: string) => `${path.join(run, 'run.json')} is not JSON`,
      },
      {
        damage: 'every checkpoint is damaged',
        apply: async (run: string) => {
          await writeFile(path.join(run, 'checkpoints', 'epoch-0002', 'manifest.json'), '[]');
          await writeFile(path.join(run, 'checkpoints', 'epoch-0001', 'weights.bin'), 'short');
        },
        says: (run: string) =>
          `${path.join(run, 'checkpoints')} holds no intact checkpoint: ${path.join(run, 'checkpoints', 'epoch-0002', 'manifest.json')} is not a SynthPair checkpoint: `,
      },
    ];
    for (const { damage, apply, says } of refusals) {
      it(`${damage}: exit 2 naming the file, and the folder is left as it was`, async () => {
        const run = await stoppedCopy(damage.replace(/\W+/g, '-'));
        await apply(run);
        const before = await snapshotFiles(run);
        const resumed = runCli(folder, 'run', '--resume', run);
        assert.equal(resumed.code, 2, resumed.stderr);
        assert.ok(resumed.stderr.startsWith(`synthpair: ${says(run)}`), resumed.stderr);
        assert.deepEqual(await snapshotFiles(run), before);
      });
    }
  });

  describe('making a run', () => {
    it('is whole or nothing: killed while the folder is made, the name is free or holds a resumable run', async () => {
      const runs = path.join(folder, 'made');
      const target = path.join(runs, 'new');
      const making = start(folder, ['run', 'tiny.synthpair.json', '--out', target]);
      await until(() => existsSync(target) || (existsSync(runs) && readdirSync(runs).length > 0));
      making.child.kill('SIGKILL');
      await making.exit;
      const next = existsSync(target)
        ? runCli(folder, 'run', '--resume', target)
        : runCli(folder, 'run', 'tiny.synthpair.json', '--out', target);
      assert.equal(next.code, 0, next.stderr);
      assert.deepEqual(readdirSync(runs), ['new']);
      await assertRetracesWhole(target);
    });

    it('never inside another run, at any depth', async () => {
      for (const [cwd, out] of [
        [folder, ['--out', path.join(whole, 'analysis', 'mine')]],
        // Without --out a run goes to .synthpair/runs under the current folder, here inside a run.
        [path.join(whole, 'checkpoints'), []],
      ] as const) {
        const result = runCli(cwd, 'run', path.join(folder, 'tiny.synthpair.json'), ...out);
        assert.equal(result.code, 2, result.stderr);
        assert.match(
          result.stderr,
          new RegExp(`inside the run folder ${whole}; a new run is never written into another run`),
        );
      }
      assert.equal(existsSync(path.join(whole, 'analysis', 'mine')), false);
      assert.equal(existsSync(path.join(whole, 'checkpoints', '.synthpair')), false);
    });
  });
});
