import assert from 'node:assert/strict';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  AnalysisStepError,
  listAnalysisSteps,
  readAnalysisStep,
  readReadableAnalysisSteps,
} from '../../../src/shared/runFolder/analysisSteps';
import { makeTempDir } from '../../fixtures/makeImages';
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
