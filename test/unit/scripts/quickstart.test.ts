import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { prepareQuickstart, quickstartExperiment } from '../../../scripts/quickstart';
import { parseExperimentConfig } from '../../../src/shared/config/experiment/parse';
import { assertCliBuilt, assertTrainedWithPairs, runCli, snapshotFiles } from '../../support/cli';
import { repoRoot } from '../../support/paths';
import { freshQuickstart } from '../../support/quickstart';

function gitIgnores(file: string): boolean {
  return spawnSync('git', ['check-ignore', '-q', '--no-index', file], { cwd: repoRoot }).status === 0;
}

describe('the quickstart npm start opens', function () {
  this.timeout(300_000);
  const folders: string[] = [];
  const fresh = async () => {
    const folder = await freshQuickstart();
    folders.push(folder);
    return folder;
  };

  after(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it('commits only the experiment, and git ignores the data a start generates there', () => {
    const tracked = execFileSync('git', ['ls-files', '--', 'examples/quickstart'], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    assert.deepEqual(tracked, [`examples/quickstart/${quickstartExperiment}`]);
    for (const generated of [
      'examples/quickstart/data/README.md',
      'examples/quickstart/data/train/striola-punctata/striola-punctata-001.png',
      // writeExampleDataset's staging folder, left behind if a start is killed while generating.
      'examples/quickstart/.data-x1y2z3/test/ocellia-alta/ocellia-alta-001.png',
      'examples/quickstart/.synthpair/runs/quickstart-20260101-000000/run.json',
    ]) {
      assert.ok(gitIgnores(generated), `${generated} is not git-ignored`);
    }
  });

  it('generates the data a fresh clone lacks, where the experiment points, as a run lists it', async () => {
    const folder = await fresh();
    const text = await readFile(path.join(folder, quickstartExperiment), 'utf8');
    const { config, diagnostics } = parseExperimentConfig(text);
    assert.deepEqual(diagnostics, []);
    assert.ok(config);

    const prepared = await prepareQuickstart(folder);
    assert.equal(prepared.dataRoot, path.join(folder, 'data'));
    assert.ok(prepared.generated, 'the data was generated');
    assert.deepEqual(
      [prepared.classes, prepared.trainImages, prepared.testImages],
      [8, 160, 64],
      'eight classes, 20 training and 8 test images each',
    );
    // The experiment's batch and probes fit what was generated.
    assert.ok(config.train.batchSize <= prepared.trainImages);
    assert.ok(config.analysis.probes.count <= prepared.testImages);
    assert.match(await readFile(path.join(prepared.dataRoot, 'README.md'), 'utf8'), /seed 0/);
    assert.deepEqual(
      (await readdir(folder)).filter((name) => name.startsWith('.')),
      [],
      'no staging folder is left',
    );
  });

  it('generates the same bytes on every machine, and keeps data that is there', async () => {
    const [first, second] = [await fresh(), await fresh()];
    await prepareQuickstart(first);
    await prepareQuickstart(second);
    const generated = await snapshotFiles(path.join(first, 'data'));
    assert.deepEqual(await snapshotFiles(path.join(second, 'data')), generated);

    const again = await prepareQuickstart(first);
    assert.equal(again.generated, undefined, 'nothing is generated over existing data');
    assert.deepEqual(await snapshotFiles(path.join(first, 'data')), generated);
  });

  it('ends with one dataset when two starts generate it at once', async () => {
    const folder = await fresh();
    const both = await Promise.all([prepareQuickstart(folder), prepareQuickstart(folder)]);
    assert.equal(both.filter((prepared) => prepared.generated).length, 1, 'one of them generated it');
    assert.deepEqual(
      both.map((prepared) => prepared.trainImages),
      [160, 160],
    );
    assert.deepEqual(
      (await readdir(folder)).filter((name) => name.startsWith('.')),
      [],
      'the other left no staging folder',
    );
  });

  it('names a data folder a run could not train on, and says how to get the example data back', async () => {
    const folder = await fresh();
    await mkdir(path.join(folder, 'data', 'train', 'only-class'), { recursive: true });
    await writeFile(path.join(folder, 'data', 'notes.txt'), 'not a dataset');
    await assert.rejects(prepareQuickstart(folder), (error: Error) => {
      assert.ok(error.message.includes(path.join(folder, 'data')), error.message);
      assert.match(error.message, /delete that folder and run npm start again/);
      return true;
    });
    assert.equal(await readFile(path.join(folder, 'data', 'notes.txt'), 'utf8'), 'not a dataset');
  });

  it('names an experiment file that does not parse, and the key to fix', async () => {
    const folder = await fresh();
    await writeFile(
      path.join(folder, quickstartExperiment),
      '{ "name": "quickstart", "data": { "root": 3 } }',
    );
    await assert.rejects(prepareQuickstart(folder), (error: Error) => {
      assert.ok(error.message.includes(path.join(folder, quickstartExperiment)), error.message);
      assert.match(
        error.message,
        /data\.root: must be a non-empty string, got 3\. Fix it and run npm start again/,
      );
      return true;
    });
  });

  it('trains the method on the generated data with the experiment as committed', async () => {
    assertCliBuilt();
    const folder = await fresh();
    await prepareQuickstart(folder);
    // One epoch with the synthesized pairs from the start: every part of the method, at the file's own sizes.
    const { code, stdout, stderr } = runCli(
      folder,
      'run',
      quickstartExperiment,
      '--out',
      'run',
      '--set',
      'train.epochs=1',
      'synthesis.startEpoch=1',
    );
    assert.equal(code, 0, stderr);
    assertTrainedWithPairs(stdout);
    const run = JSON.parse(await readFile(path.join(folder, 'run', 'run.json'), 'utf8')) as { state: string };
    assert.equal(run.state, 'completed');
  });
});
