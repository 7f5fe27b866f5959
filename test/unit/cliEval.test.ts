import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeImageFolder, makeTempDir } from '../fixtures/makeImages';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');

function synthpair(cwd: string, ...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 240_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Every file under a folder with a hash of its bytes, to show that a command changed nothing. */
async function fingerprint(folder: string): Promise<Record<string, string>> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
  const hashes = await Promise.all(
    files.map(async (file) =>
      createHash('sha256')
        .update(await readFile(file))
        .digest('hex'),
    ),
  );
  return Object.fromEntries(files.map((file, index) => [path.relative(folder, file), hashes[index]!]));
}

function resultOf(stdout: string): Record<string, unknown> {
  const events = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event: string });
  const results = events.filter((event) => event.event === 'result');
  assert.equal(results.length, 1, stdout);
  return results[0]!;
}

describe('synthpair eval (bundled dist/cli.js)', function () {
  this.timeout(300_000);
  let folder: string;
  let run: string;

  before(async () => {
    if (!existsSync(cli)) {
      throw new Error('dist/cli.js is missing: run `npm run build` first');
    }
    folder = await makeTempDir('cli-eval');
    const classes = Object.fromEntries(['a', 'b', 'c'].map((name) => [name, { train: 6, test: 3 }]));
    await makeImageFolder(path.join(folder, 'data'), classes, 36);
    await writeFile(
      path.join(folder, 'tiny.synthpair.json'),
      JSON.stringify({
        name: 'tiny',
        data: { root: 'data', imageSize: 32 },
        model: { arch: 'smallcnn', width: 0.25, projector: { hiddenDim: 32, outDim: 16 } },
        train: { epochs: 2, batchSize: 6 },
        optim: { name: 'adam', warmupEpochs: 0 },
        eval: { everyEpochs: 1, knn: { k: 3 }, linear: { epochs: 5 } },
        checkpoint: { everyEpochs: 1, keep: 0 },
      }),
    );
    run = path.join(folder, 'runs', 'tiny');
    const trained = synthpair(folder, 'run', 'tiny.synthpair.json', '--out', run, '--backend', 'wasm');
    assert.equal(trained.code, 0, trained.stderr);
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('reproduces every metric training logged, for the latest and an earlier checkpoint, writing nothing', async () => {
    const logged = (await readFile(path.join(run, 'eval.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const before = await fingerprint(run);
    for (const [args, expected] of [
      [[], logged[1]!],
      [['--checkpoint', 'epoch-0001'], logged[0]!],
    ] as const) {
      const evaluated = synthpair(folder, 'eval', run, '--backend', 'wasm', ...args);
      assert.equal(evaluated.code, 0, evaluated.stderr);
      const { event, checkpoint, ...figures } = resultOf(evaluated.stdout);
      assert.equal(event, 'result');
      assert.equal(checkpoint, `epoch-000${expected.epoch}`);
      const { time: _loggedAt, ...expectedFigures } = expected;
      assert.deepEqual(figures, expectedFigures);
    }
    assert.deepEqual(await fingerprint(run), before);
  });

  it('measures with changed eval settings and refuses to change the model', async () => {
    const onlyKnn = synthpair(
      folder,
      'eval',
      run,
      '--set',
      'eval.knn.k=1',
      'eval.linear.enabled=false',
      'eval.retrieval.enabled=false',
    );
    assert.equal(onlyKnn.code, 0, onlyKnn.stderr);
    assert.deepEqual(Object.keys(resultOf(onlyKnn.stdout)).sort(), [
      'checkpoint',
      'epoch',
      'event',
      'knnTop1',
    ]);

    const model = synthpair(folder, 'eval', run, '--set', 'model.width=0.5');
    assert.equal(model.code, 2);
    assert.match(model.stderr, /model\.width: cannot be changed when evaluating a run/);
    const badKey = synthpair(folder, 'eval', run, '--set', 'eval.knn.kk=3');
    assert.equal(badKey.code, 2);
    assert.match(badKey.stderr, /eval\.knn\.kk: unknown key; did you mean eval\.knn\.k\?/);
  });

  it('exits 2 naming the folder or checkpoint that is not there', () => {
    const notARun = synthpair(folder, 'eval', path.join(folder, 'data'));
    assert.equal(notARun.code, 2);
    assert.match(notARun.stderr, /is not a SynthPair run: it has no run\.json/);
    const noCheckpoint = synthpair(folder, 'eval', run, '--checkpoint', 'epoch-0042');
    assert.equal(noCheckpoint.code, 2);
    assert.match(noCheckpoint.stderr, /has no checkpoint epoch-0042/);
    const movedData = synthpair(folder, 'eval', run, '--set', 'data.root=nowhere');
    assert.equal(movedData.code, 2);
    assert.match(movedData.stderr, /nowhere/);
  });
});
