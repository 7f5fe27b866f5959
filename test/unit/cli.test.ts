import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

  it('refuses to write over an existing run and to resume a completed one, changing nothing', async () => {
    const before = await readFile(path.join(folder, 'runs', 'one', 'run.json'), 'utf8');
    const again = synthpair(folder, 'run', 'tiny.synthpair.json', '--out', 'runs/one', '--set', 'seed=3');
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already holds the run "tiny" \(completed, another config\)/);
    const resume = synthpair(folder, 'run', '--resume', 'runs/one');
    assert.equal(resume.code, 2);
    assert.match(resume.stderr, /has completed; nothing to resume/);
    assert.equal(await readFile(path.join(folder, 'runs', 'one', 'run.json'), 'utf8'), before);
  });

  it('exits 2 with the key path for bad configs, overrides and data', async () => {
    const badKey = synthpair(folder, 'run', 'tiny.synthpair.json', '--set', 'train.epoch=3');
    assert.equal(badKey.code, 2);
    assert.match(badKey.stderr, /train\.epoch: unknown key; did you mean train\.epochs\?/);
    const missingData = synthpair(
      folder,
      'run',
      'tiny.synthpair.json',
      '--set',
      'data.root=absent',
      '--out',
      'runs/two',
    );
    assert.equal(missingData.code, 2);
    assert.match(missingData.stderr, /absent/);
    const noConfig = synthpair(folder, 'run');
    assert.equal(noConfig.code, 2);
    assert.match(noConfig.stderr, /a config file is needed unless --resume is given/);
  });
});
