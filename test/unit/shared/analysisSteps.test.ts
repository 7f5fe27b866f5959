import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  AnalysisStepError,
  AnalysisStepReader,
  listAnalysisSteps,
  readAnalysisStep,
  readReadableAnalysisSteps,
} from '../../../src/shared/runFolder/analysisSteps';
import { makeTempDir } from '../../fixtures/makeImages';
import { writeAnalysisStep } from '../../support/analysisStepFiles';
import { bytesReadDuring, canCountBytesRead } from '../../support/bytesRead';
import { trainedFixtureRun } from '../../support/fixtureRun';

describe('run folder: analysis steps', function () {
  this.timeout(180_000);
  let folder: string;
  let fixtureRunDir: string;

  before(async () => {
    fixtureRunDir = (await trainedFixtureRun()).runDir;
  });

  beforeEach(async () => {
    folder = await makeTempDir('analysis-steps');
    await cp(path.join(fixtureRunDir, 'analysis'), path.join(folder, 'analysis'), { recursive: true });
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  const addStepFolder = async (name: string, manifest?: string) => {
    await mkdir(path.join(folder, 'analysis', name));
    if (manifest !== undefined)
      await writeFile(path.join(folder, 'analysis', name, 'analysis.json'), manifest);
  };

  it('lists step folders oldest first by epoch as a number, leaving staging and foreign folders out', async () => {
    await addStepFolder('epoch-10000');
    await addStepFolder('epoch-9999');
    await addStepFolder('.staging-epoch-0004-1234');
    await addStepFolder('notes');
    assert.deepEqual(
      (await listAnalysisSteps(folder)).map((step) => step.epoch),
      [1, 2, 3, 9999, 10000],
    );
    assert.deepEqual(await listAnalysisSteps(path.join(folder, 'missing')), []);
  });

  it('reads a manifest, and names the file when it is missing or not a manifest', async () => {
    const [first] = await listAnalysisSteps(folder);
    assert.equal((await readAnalysisStep(first!)).manifest.dimensions, 64);
    await addStepFolder('epoch-0009', '{"format": 2}');
    await addStepFolder('epoch-0010');
    for (const epoch of [9, 10]) {
      const step = (await listAnalysisSteps(folder)).find((candidate) => candidate.epoch === epoch)!;
      await assert.rejects(readAnalysisStep(step), (error: unknown) => {
        assert.ok(error instanceof AnalysisStepError);
        assert.ok(error.message.startsWith(path.join(step.folder, 'analysis.json')), error.message);
        return true;
      });
    }
  });

  it('gives a view of the run every step that reads, skipping one that does not', async () => {
    await addStepFolder('epoch-0009', '{"format": 2}');
    await addStepFolder('epoch-0010', '{ torn');
    const steps = await readReadableAnalysisSteps(folder);
    assert.deepEqual(
      steps.map((step) => step.epoch),
      [1, 2, 3],
    );
    assert.equal(steps[2]?.manifest.dimensions, 64);
    assert.deepEqual(await readReadableAnalysisSteps(path.join(folder, 'missing')), []);
  });
});

describe('run folder: following the analysis steps of a training run', () => {
  let runDir: string;
  beforeEach(async () => {
    runDir = await makeTempDir('analysis-reader');
  });

  afterEach(async () => {
    await rm(runDir, { recursive: true, force: true });
  });

  const epochs = (steps: readonly { epoch: number }[]) => steps.map((step) => step.epoch);
  /** Large enough that reading one manifest again stands out from whatever else the process reads. */
  const padding = 256 * 1024;

  it('reads each manifest once: a read with no new step reads none, a new step only its own', async function () {
    if (!canCountBytesRead) this.skip();
    for (const epoch of [0, 1, 2]) await writeAnalysisStep(runDir, epoch, { padding });
    const reader = new AnalysisStepReader(runDir);
    assert.deepEqual(epochs(await reader.read()), [0, 1, 2]);
    let steps: readonly { epoch: number }[] = [];
    const unchanged = await bytesReadDuring(async () => {
      steps = await reader.read();
    });
    assert.deepEqual(epochs(steps), [0, 1, 2]);
    assert.ok(unchanged < 4096, `read ${unchanged} bytes when no step was added`);
    await writeAnalysisStep(runDir, 3);
    const added = await bytesReadDuring(async () => {
      steps = await reader.read();
    });
    assert.deepEqual(epochs(steps), [0, 1, 2, 3]);
    assert.ok(added < padding, `read ${added} bytes for one small new manifest`);
  });

  it('returns the same array while no step changed, and a new one when one did', async () => {
    await writeAnalysisStep(runDir, 1);
    const reader = new AnalysisStepReader(runDir);
    const first = await reader.read();
    assert.equal(await reader.read(), first);
    await writeAnalysisStep(runDir, 2);
    const second = await reader.read();
    assert.notEqual(second, first);
    assert.deepEqual(epochs(second), [1, 2]);
    assert.equal(second[0], first[0], 'the step already read is kept, not read again');
  });

  it('notices a step added or removed after the folder stood unchanged for long', async () => {
    await writeAnalysisStep(runDir, 1);
    await writeAnalysisStep(runDir, 2);
    const reader = new AnalysisStepReader(runDir);
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(path.join(runDir, 'analysis'), hourAgo, hourAgo);
    const quiet = await reader.read();
    assert.equal(await reader.read(), quiet);
    await writeAnalysisStep(runDir, 3);
    assert.deepEqual(epochs(await reader.read()), [1, 2, 3]);
    await utimes(path.join(runDir, 'analysis'), hourAgo, hourAgo);
    await reader.read();
    await rm(path.join(runDir, 'analysis', 'epoch-0003'), { recursive: true });
    assert.deepEqual(epochs(await reader.read()), [1, 2]);
  });

  it('reads a step again that was replaced under the same name, and drops one that was removed', async () => {
    await writeAnalysisStep(runDir, 1);
    await writeAnalysisStep(runDir, 2, { time: 'before the resume' });
    await writeAnalysisStep(runDir, 3);
    const reader = new AnalysisStepReader(runDir);
    await reader.read();
    // A resume from the checkpoint after epoch 1 deletes the later steps and analyses epoch 2 again.
    await rm(path.join(runDir, 'analysis', 'epoch-0003'), { recursive: true });
    await writeAnalysisStep(runDir, 2, { time: 'after the resume' });
    const steps = await reader.read();
    assert.deepEqual(epochs(steps), [1, 2]);
    assert.equal(steps[1]?.manifest.time, 'after the resume');
  });

  it('leaves out a step that does not read until its manifest is written, and a run without analyses', async () => {
    const reader = new AnalysisStepReader(runDir);
    assert.deepEqual(await reader.read(), []);
    await writeAnalysisStep(runDir, 1);
    await mkdir(path.join(runDir, 'analysis', 'epoch-0002'));
    assert.deepEqual(epochs(await reader.read()), [1]);
    await writeFile(
      path.join(runDir, 'analysis', 'epoch-0002', 'analysis.json'),
      (await readFile(path.join(runDir, 'analysis', 'epoch-0001', 'analysis.json'), 'utf8')).replace(
        '"epoch":1',
        '"epoch":2',
      ),
    );
    assert.deepEqual(epochs(await reader.read()), [1, 2]);
    await rm(path.join(runDir, 'analysis'), { recursive: true });
    assert.deepEqual(await reader.read(), []);
  });
});
