import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { EvalRecord } from '../../../src/shared/protocol/runFiles';
import { type AnalysisStep, readReadableAnalysisSteps } from '../../../src/shared/runFolder/analysisSteps';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { makeTempDir } from '../../fixtures/makeImages';
import { type BackendRunStep, backendRunFiles, backendRunSteps } from '../../support/backendRun';
import { logEvents, resultEvent, writeTinyExperiment } from '../../support/cli';
import type { Config } from '../../support/config';
import { readNpy } from '../../support/npy';
import { repoRoot } from '../../support/paths';
import { swiftShaderBesideChromium, swiftShaderEnvironment } from '../../support/swiftShader';

/**
 * Every part of a run that reads tensors back: validation and the test figures after each epoch, the best
 * checkpoint measured again at the end, an analysis after each epoch (variance, Grad-CAM, the probes' pairs)
 * and the pair loss from epoch 2 with its mask. Small enough that SwiftShader trains it in about a minute.
 */
const experiment: Config = {
  seed: 3,
  // Two of each class's six training images are held out for validation, leaving three steps an epoch.
  data: { imageSize: 32, validation: { fraction: 0.34 } },
  train: { epochs: 2, batchSize: 4 },
  eval: { everyEpochs: 1, knn: { k: 3 }, linear: { epochs: 5 }, validation: { everyEpochs: 1 } },
  analysis: { everyEpochs: 1, probes: { count: 3, samples: 2 }, gradcam: { images: 4 } },
  decoder: { width: 0.25 },
  loss: { alpha: 1, nu: 1 },
  synthesis: { startEpoch: 2 },
  checkpoint: { everyEpochs: 1, keep: 0 },
};

/**
 * The backends differ only in float32 rounding (the step-parity test bounds one step at 1e-3 relative; over
 * this run's six steps the losses and features have agreed to 2e-4 of their scale or better). Each figure
 * counts images (9 test, 6 validation), so rounding can change it only where two similarities or two logits
 * tie to that precision: then by one image, at most 1/6. The losses, features and the pixels of the
 * reconstructions (saved as bytes) have no such steps and are held to a bound above their rounding.
 */
const figureTolerance = 1 / 6 + 1e-9;
const lossTolerance = 1e-3;
const featureTolerance = 1e-3;
const pixelTolerance = 2;

type Backend = 'cpu' | 'webgpu';

interface BackendRun {
  backend: Backend;
  folder: string;
  runDir: string;
  /** What each step printed: the JSON lines of a command whose stdout is not a terminal. */
  stdout: Record<BackendRunStep, string>;
}

const testFigureNames = ['knnTop1', 'linearTop1', 'rank1', 'rank5', 'mAP'] as const;

/** An eval.jsonl record's figures by name; the validation and the best checkpoint's are prefixed. */
function figuresOf(record: EvalRecord): Record<string, number> {
  const figures: Record<string, number> = {};
  const add = (prefix: string, values: object | undefined) => {
    for (const [name, value] of Object.entries(values ?? {})) {
      if (typeof value === 'number' && name !== 'epoch') figures[`${prefix}${name}`] = value;
    }
  };
  add('', record);
  add('validation.', record.validation);
  add('best.', record.best);
  add('best.validation.', record.best?.validation);
  return figures;
}

function assertFractions(figures: Record<string, unknown>, what: string): void {
  for (const [name, value] of Object.entries(figures)) {
    assert.ok(
      typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1,
      `${what}: ${name} is ${value}`,
    );
  }
}

function testFiguresOf(figures: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(testFigureNames.map((name) => [name, figures[name]]));
}

async function evalsOf(run: BackendRun): Promise<EvalRecord[]> {
  return (await (await RunDirectory.open(run.runDir)).readEvals()).records;
}

async function analysisBytes(step: AnalysisStep, name: string): Promise<Buffer> {
  return readFile(path.join(step.folder, step.manifest.arrays[name]!.file));
}

function largestOf(values: Iterable<number>): number {
  let largest = 0;
  for (const value of values) largest = Math.max(largest, value);
  return largest;
}

describe('a whole run on webgpu, against the cpu backend', function () {
  // SwiftShader runs every shader on the CPU, and each process compiles the kernels it uses once.
  this.timeout(60 * 60_000);
  let icd: string;
  let folder: string | undefined;
  let webgpu: BackendRun | undefined;

  before(async function () {
    const found = swiftShaderBesideChromium();
    if (!found) {
      console.log('      (skipped: no SwiftShader Vulkan driver beside Chromium)');
      return this.skip();
    }
    icd = found;
    folder = await makeTempDir('webgpu-run');
  });

  after(async () => {
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  /** Each step of backendRun.ts, in order and in a process of its own, on `backend`. */
  async function runOn(backend: Backend): Promise<BackendRun> {
    const runFolder = path.join(folder!, backend);
    await writeTinyExperiment(runFolder, experiment);
    const stdout = {} as BackendRun['stdout'];
    const seconds: string[] = [];
    for (const step of Object.keys(backendRunSteps) as BackendRunStep[]) {
      const started = performance.now();
      const script = path.join(repoRoot, 'test', 'support', 'backendRun.ts');
      const result = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', script, runFolder, backend, step],
        {
          cwd: repoRoot,
          maxBuffer: 64 * 2 ** 20,
          env: backend === 'webgpu' ? swiftShaderEnvironment(icd) : process.env,
        },
      ).catch((error: { code?: number; stderr?: string }) => {
        throw new Error(`${step} on ${backend} exited with ${error.code}: ${error.stderr}`);
      });
      stdout[step] = result.stdout;
      seconds.push(`${step} ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
    console.log(`      ${backend}: ${seconds.join(', ')}`);
    return { backend, folder: runFolder, runDir: path.join(runFolder, backendRunFiles.run), stdout };
  }

  /** What a run must show on its own backend, whichever that is. */
  async function assertComplete(run: BackendRun): Promise<void> {
    const { backend } = run;
    const status = (await RunDirectory.open(run.runDir)).current;
    assert.equal(status.state, 'completed');
    assert.equal(status.backend, backend);

    const evals = await evalsOf(run);
    assert.deepEqual(
      evals.map((record) => record.epoch),
      [1, 2],
    );
    for (const record of evals) {
      const figures = figuresOf(record);
      for (const name of [...testFigureNames, 'validation.rank1', 'validation.rank5', 'validation.mAP']) {
        assert.ok(name in figures, `epoch ${record.epoch} on ${backend} has no ${name}`);
      }
      assertFractions(figures, `epoch ${record.epoch} on ${backend}`);
    }
    assert.ok(evals[1]!.best, 'the last epoch names the best checkpoint');

    // `eval` of the latest checkpoint, and of an encoder that starts from the run, measure what training did.
    for (const step of ['eval', 'evalInit'] as const) {
      assert.ok(
        logEvents(run.stdout[step]).some((event) => event.message === `backend: ${backend}`),
        `${step} ran on ${backend}`,
      );
      assert.deepEqual(
        testFiguresOf(resultEvent(run.stdout[step])),
        testFiguresOf(evals[1]!),
        `${step} on ${backend}`,
      );
    }

    const steps = await readReadableAnalysisSteps(run.runDir);
    assert.deepEqual(
      steps.map((step) => step.epoch),
      [1, 2],
    );
    for (const step of steps) {
      assert.ok(Number.isFinite(step.manifest.gradcam.loss), `Grad-CAM loss after epoch ${step.epoch}`);
      assert.ok(step.manifest.masked > 0, `the mask after epoch ${step.epoch} is empty`);
      for (const name of ['reconstructions', 'perturbed', 'heatmap.gradCam']) {
        assert.ok(step.manifest.arrays[name], `the analysis after epoch ${step.epoch} has no ${name}`);
      }
    }

    assert.ok(logEvents(run.stdout.embed).some((event) => event.message === `backend: ${backend}`));
    const embedding = readNpy(path.join(run.folder, backendRunFiles.embedding, 'features.npy'));
    assert.equal(embedding.shape[0], 9);
    assert.ok(embedding.values.every(Number.isFinite), `h on ${backend} is not finite`);
    assert.equal(resultEvent(run.stdout.synthesize)['backend'], backend);
    assert.ok((await stat(path.join(run.folder, backendRunFiles.pairs))).size > 0);
  }

  it('trains, validates, evaluates, analyses and synthesizes pairs on webgpu, and reads the run there', async () => {
    webgpu = await runOn('webgpu');
    await assertComplete(webgpu);
    console.log(`      webgpu figures: ${JSON.stringify(figuresOf((await evalsOf(webgpu)).at(-1)!))}`);
  });

  it('gives the figures, losses, features and reconstructions the cpu backend gives', async function () {
    if (!webgpu) return this.skip();
    const cpu = await runOn('cpu');
    await assertComplete(cpu);

    const [cpuEvals, gpuEvals] = await Promise.all([evalsOf(cpu), evalsOf(webgpu)]);
    let figureDifference = 0;
    for (const [index, cpuRecord] of cpuEvals.entries()) {
      const gpuFigures = figuresOf(gpuEvals[index]!);
      for (const [name, expected] of Object.entries(figuresOf(cpuRecord))) {
        const difference = Math.abs(gpuFigures[name]! - expected);
        figureDifference = Math.max(figureDifference, difference);
        assert.ok(
          difference <= figureTolerance,
          `epoch ${cpuRecord.epoch}: ${name} is ${gpuFigures[name]} on webgpu, ${expected} on cpu`,
        );
      }
    }

    const epochLosses = async (run: BackendRun) =>
      (await (await RunDirectory.open(run.runDir)).readMetrics()).records.filter(
        (record) => record.kind === 'epoch',
      );
    const [cpuLosses, gpuLosses] = await Promise.all([epochLosses(cpu), epochLosses(webgpu)]);
    assert.equal(gpuLosses.length, cpuLosses.length);
    let lossDifference = 0;
    for (const [index, { epoch, losses }] of cpuLosses.entries()) {
      for (const [term, expected] of Object.entries(losses)) {
        const actual = gpuLosses[index]!.losses[term]!;
        const relative = Math.abs(actual - expected) / Math.abs(expected);
        lossDifference = Math.max(lossDifference, relative);
        assert.ok(
          relative <= lossTolerance,
          `epoch ${epoch}: ${term} is ${actual} on webgpu, ${expected} on cpu`,
        );
      }
    }

    const features = (run: BackendRun) =>
      readNpy(path.join(run.folder, backendRunFiles.embedding, 'features.npy')).values;
    const cpuFeatures = features(cpu);
    const gpuFeatures = features(webgpu);
    const featureDifference = largestOf(
      cpuFeatures.map((value, index) => Math.abs(gpuFeatures[index]! - value)),
    );
    const featureScale = largestOf(cpuFeatures.map(Math.abs));
    assert.ok(
      featureDifference <= featureTolerance * featureScale,
      `h differs by ${featureDifference} at a scale of ${featureScale}`,
    );

    const [cpuSteps, gpuSteps] = await Promise.all([
      readReadableAnalysisSteps(cpu.runDir),
      readReadableAnalysisSteps(webgpu.runDir),
    ]);
    let pixelDifference = 0;
    for (const [index, cpuStep] of cpuSteps.entries()) {
      const [expected, actual] = await Promise.all([
        analysisBytes(cpuStep, 'reconstructions'),
        analysisBytes(gpuSteps[index]!, 'reconstructions'),
      ]);
      assert.equal(actual.length, expected.length);
      const difference = largestOf(expected.map((value, pixel) => Math.abs(actual[pixel]! - value)));
      pixelDifference = Math.max(pixelDifference, difference);
      assert.ok(
        difference <= pixelTolerance,
        `d(h) after epoch ${cpuStep.epoch} differs by ${difference}/255`,
      );
    }
    console.log(
      `      webgpu against cpu: figures ±${figureDifference.toFixed(3)}, losses ±${lossDifference.toExponential(1)} relative, h ±${featureDifference.toExponential(1)} (of ${featureScale.toFixed(2)}), d(h) ±${pixelDifference}/255`,
    );
  });
});
