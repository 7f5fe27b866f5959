import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../../fixtures/makeImages';
import { assertCliBuilt, jsonEvents, runCli, tinyConfig, writeTinyDataset } from '../../support/cli';

describe('synthpair CLI (bundled dist/cli.js)', function () {
  this.timeout(300_000);
  let folder: string;

  before(async () => {
    assertCliBuilt();
    folder = await makeTempDir('cli');
    await writeTinyDataset(path.join(folder, 'data'));
    // Config files are JSONC: the run must accept a comment and a trailing comma.
    const config = JSON.stringify(tinyConfig(), null, 2).replace(/\n}$/, ',\n}');
    await writeFile(path.join(folder, 'tiny.synthpair.json'), `// comments are allowed\n${config}`);
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('trains a config into a run folder and prints JSON lines when not on a terminal', async () => {
    const { code, stdout, stderr } = runCli(
      folder,
      'run',
      'tiny.synthpair.json',
      '--out',
      'runs/one',
      '--backend',
      'wasm',
    );
    assert.equal(code, 0, stderr);
    const events = jsonEvents(stdout);
    assert.ok(events.some((event) => event.event === 'progress'));
    assert.ok(events.some((event) => /^final: kNN/.test(event.message ?? '')));
    const run = path.join(folder, 'runs', 'one');
    assert.deepEqual((await readdir(run)).sort(), [
      'analysis',
      'checkpoints',
      'config.json',
      'eval.jsonl',
      'metrics.jsonl',
      'run.json',
      'run.lock',
      'skipped.json',
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
    const fromFile = runCli(
      elsewhere,
      'run',
      '../tiny.synthpair.json',
      '--out',
      'a',
      '--set',
      'train.epochs=1',
    );
    const fromFlag = runCli(
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
    const resume = runCli(folder, 'run', '--resume', 'runs/one');
    assert.equal(resume.code, 2);
    assert.equal(resume.stderr, 'synthpair: runs/one: has completed; nothing to resume\n');
    assert.equal(await readFile(path.join(folder, 'runs', 'one', 'run.json'), 'utf8'), before);
  });
});
