import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { makeTempDir } from '../../fixtures/makeImages';
import { assertCliBuilt, resultEvent, runCli, snapshotFiles, writeTinyExperiment } from '../../support/cli';

const imageSize = 32;
const gap = 2;

interface Grid {
  rows: number;
  columns: number;
  /** The tile at a row and column, as RGB bytes. */
  tile(row: number, column: number): Buffer;
}

async function readGrid(file: string): Promise<Grid> {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  const along = (extent: number) => (extent + gap) / (imageSize + gap);
  const [rows, columns] = [along(info.height), along(info.width)];
  assert.ok(Number.isInteger(rows) && Number.isInteger(columns), `grid of ${info.width}×${info.height}`);
  return {
    rows,
    columns,
    tile: (row, column) => {
      const tile = Buffer.alloc(imageSize * imageSize * 3);
      for (let y = 0; y < imageSize; y++) {
        const start = ((row * (imageSize + gap) + y) * info.width + column * (imageSize + gap)) * 3;
        data.copy(tile, y * imageSize * 3, start, start + imageSize * 3);
      }
      return tile;
    },
  };
}

describe('synthpair synthesize (bundled dist/cli.js)', function () {
  this.timeout(120_000);
  let folder: string;
  let run: string;
  let untouched: Map<string, Buffer>;

  /** A copy of the trained run with some of its files edited, for the runs synthesize refuses. */
  async function editedCopy(name: string, edit: (file: string, json: Record<string, unknown>) => unknown) {
    const copy = path.join(folder, 'runs', name);
    await cp(run, copy, { recursive: true });
    for (const file of ['run.json', 'config.json']) {
      const json = JSON.parse(await readFile(path.join(copy, file), 'utf8')) as Record<string, unknown>;
      await writeFile(path.join(copy, file), JSON.stringify(edit(file, json)));
    }
    return { copy, snapshot: await snapshotFiles(copy) };
  }

  before(async () => {
    assertCliBuilt();
    folder = await makeTempDir('cli-synthesize');
    await writeTinyExperiment(folder, { train: { epochs: 2, batchSize: 8 } });
    run = path.join(folder, 'runs', 'tiny');
    const trained = runCli(folder, 'run', 'tiny.synthpair.json', '--out', run, '--backend', 'wasm');
    assert.equal(trained.code, 0, trained.stderr);
    untouched = await snapshotFiles(run);
  });

  afterEach(async () => {
    assert.deepEqual(await snapshotFiles(run), untouched, 'the run folder changed');
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('writes the pair grid into the current folder: a row per probe, original, d(h), each copy, difference', async () => {
    const result = runCli(folder, 'synthesize', run);
    assert.equal(result.code, 0, result.stderr);
    const summary = resultEvent(result.stdout);
    assert.equal(summary.out, path.join(folder, 'synthesized.png'));
    assert.equal(summary.checkpoint, 'epoch-0002');
    assert.equal(summary.analysisEpoch, 2);
    assert.equal(summary.samples, 4);
    const saved = JSON.parse(
      await readFile(path.join(run, 'analysis', 'epoch-0002', 'analysis.json'), 'utf8'),
    );
    assert.equal(summary.masked, saved.masked);
    const grid = await readGrid(path.join(folder, 'synthesized.png'));
    assert.equal(grid.rows, summary.probes);
    assert.equal(grid.columns, 1 + 1 + 4 + 1);

    const fewer = runCli(folder, 'synthesize', run, '--set', 'analysis.probes.samples=2', '--out', 'two.png');
    assert.equal(fewer.code, 0, fewer.stderr);
    assert.equal((await readGrid(path.join(folder, 'two.png'))).columns, 1 + 1 + 2 + 1);
  });

  it('draws copies equal to d(h) at strength 0 and different ones at a larger strength', async () => {
    const strengths = { still: 0, strong: 5 };
    for (const [name, strength] of Object.entries(strengths)) {
      const result = runCli(
        folder,
        'synthesize',
        run,
        '--set',
        `perturb.strength=${strength}`,
        '--out',
        `${name}.png`,
      );
      assert.equal(result.code, 0, result.stderr);
    }
    const still = await readGrid(path.join(folder, 'still.png'));
    const strong = await readGrid(path.join(folder, 'strong.png'));
    let changed = 0;
    for (let row = 0; row < still.rows; row++) {
      for (let copy = 2; copy < still.columns - 1; copy++) {
        assert.deepEqual(still.tile(row, copy), still.tile(row, 1), `row ${row}, copy ${copy - 1}`);
        if (!strong.tile(row, copy).equals(strong.tile(row, 1))) changed++;
      }
      assert.ok(
        still.tile(row, still.columns - 1).every((value) => value === 0),
        'difference not black',
      );
      assert.deepEqual(strong.tile(row, 1), still.tile(row, 1), 'd(h) depends on the strength');
    }
    assert.equal(changed, strong.rows * (strong.columns - 3));
  });

  describe('refuses with exit 2, writing nothing', () => {
    function refused(args: string[], message: RegExp, cwd = folder): void {
      const result = runCli(cwd, 'synthesize', ...args, '--out', 'refused.png');
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(existsSync(path.join(folder, 'refused.png')), false);
    }

    it('a key that would change the model, a misspelt key, a value out of range', () => {
      refused([run, '--set', 'model.width=0.5'], /model\.width: cannot be changed when synthesizing a run/);
      refused(
        [run, '--set', 'perturb.samples=2'],
        /perturb\.samples: cannot be changed .*the grid draws analysis\.probes\.samples copies/,
      );
      refused(
        [run, '--set', 'perturb.strenght=2'],
        /perturb\.strenght: unknown key; did you mean perturb\.strength\?/,
      );
      refused(
        [run, '--set', 'analysis.variance.quantile=1.5'],
        /analysis\.variance\.quantile: must be a number between 0 and 1/,
      );
    });

    it('a folder that is not there, and an output inside the run folder', async () => {
      refused([path.join(folder, 'runs', 'absent')], /runs\/absent: no such folder/);
      const inside = runCli(folder, 'synthesize', run, '--out', path.join(run, 'grid.png'));
      assert.equal(inside.code, 2);
      assert.match(inside.stderr, /inside the run folder .*; choose another --out/);
      const fromRun = runCli(run, 'synthesize', '.');
      assert.equal(fromRun.code, 2);
      assert.match(fromRun.stderr, /synthesized\.png: inside the run folder/);
    });

    it('a run trained without a decoder, and a run still being trained', async () => {
      const plain = await editedCopy('plain', (file, json) =>
        file === 'config.json' ? { ...json, loss: { ...(json.loss as object), alpha: 0, nu: 0 } } : json,
      );
      refused([plain.copy], /plain: was trained without a decoder \(loss\.alpha = loss\.nu = 0\)/);
      assert.deepEqual(await snapshotFiles(plain.copy), plain.snapshot);

      const running = await editedCopy('running', (file, json) =>
        file === 'run.json' ? { ...json, state: 'running', pid: process.pid } : json,
      );
      refused([running.copy], new RegExp(`running: being trained by process ${process.pid}`));
      assert.deepEqual(await snapshotFiles(running.copy), running.snapshot);
    });
  });
});
