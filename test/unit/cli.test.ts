import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeImageFolder, makeTempDir } from '../fixtures/makeImages';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');

function synthpair(cwd: string, ...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 240_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('synthpair CLI (bundled dist/cli.js)', function () {
  this.timeout(300_000);
  let folder: string;

  before(async () => {
    if (!existsSync(cli)) {
      throw new Error('dist/cli.js is missing: run `npm run build` first');
    }
    folder = await makeTempDir('cli');
    const classes = Object.fromEntries(['a', 'b', 'c'].map((name) => [name, { train: 6, test: 3 }]));
    await makeImageFolder(path.join(folder, 'data'), classes, 36);
    await writeFile(
      path.join(folder, 'tiny.synthpair.json'),
      `{
        // comments are allowed
        "name": "tiny",
        "data": { "root": "data", "imageSize": 32 },
        "model": { "arch": "smallcnn", "width": 0.25, "projector": { "hiddenDim": 32, "outDim": 16 } },
        "train": { "epochs": 1, "batchSize": 6 },
        "optim": { "name": "adam", "warmupEpochs": 0 },
        "eval": { "knn": { "k": 3 }, "linear": { "epochs": 5 } },
      }`,
    );
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('trains a config into a run folder and prints JSON lines when not on a terminal', async () => {
    const { code, stdout, stderr } = synthpair(
      folder,
      'run',
      'tiny.synthpair.json',
      '--out',
      'runs/one',
      '--backend',
      'wasm',
    );
    assert.equal(code, 0, stderr);
    const events = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; message?: string });
    assert.ok(events.some((event) => event.event === 'progress'));
    assert.ok(events.some((event) => /^final: kNN/.test(event.message ?? '')));
    const run = path.join(folder, 'runs', 'one');
    assert.deepEqual((await readdir(run)).sort(), [
      'checkpoints',
      'config.json',
      'eval.jsonl',
      'metrics.jsonl',
      'run.json',
    ]);
    const status = JSON.parse(await readFile(path.join(run, 'run.json'), 'utf8'));
    assert.equal(status.state, 'completed');
    assert.equal(status.backend, 'wasm');
    const saved = JSON.parse(await readFile(path.join(run, 'config.json'), 'utf8'));
    assert.equal(saved.data.root, path.join(folder, 'data'));
  });

  it('reads data.root from the file relative to the file, and from --set relative to the current folder', async () => {
    const elsewhere = path.join(folder, 'elsewhere');
    await mkdir(elsewhere);
    await cp(path.join(folder, 'data'), path.join(elsewhere, 'pictures'), { recursive: true });
    const fromFile = synthpair(
      elsewhere,
      'run',
      '../tiny.synthpair.json',
      '--out',
      'a',
      '--set',
      'train.epochs=1',
    );
    const fromFlag = synthpair(
      elsewhere,
      'run',
      '../tiny.synthpair.json',
      '--out',
      'b',
      '--set',
      'train.epochs=1',
      'data.root=pictures',
    );
    for (const [result, run, root] of [
      [fromFile, 'a', path.join(folder, 'data')],
      [fromFlag, 'b', path.join(elsewhere, 'pictures')],
    ] as const) {
      assert.equal(result.code, 0, result.stderr);
      const saved = JSON.parse(await readFile(path.join(elsewhere, run, 'config.json'), 'utf8'));
      assert.equal(saved.data.root, root);
    }
  });

  it('refuses to resume a completed run, changing nothing', async () => {
    const before = await readFile(path.join(folder, 'runs', 'one', 'run.json'), 'utf8');
    const resume = synthpair(folder, 'run', '--resume', 'runs/one');
    assert.equal(resume.code, 2);
    assert.equal(resume.stderr, 'synthpair: runs/one: has completed; nothing to resume\n');
    assert.equal(await readFile(path.join(folder, 'runs', 'one', 'run.json'), 'utf8'), before);
  });
});
