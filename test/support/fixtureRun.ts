import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeExampleDataset } from '../../src/host/newExperiment/exampleDataset';
import { listAnalysisSteps } from '../../src/shared/runFolder/analysisSteps';
import { assertCliBuilt, runCli } from './cli';
import { type Config, mergeConfig } from './config';

const root = path.join(__dirname, '..', '..');
/** Trained runs the webview and integration tests share, kept between test runs under a key of their config. */
export const fixtureRunsFolder = path.join(root, 'test-results', 'fixture-runs');

/**
 * A real run of the method on the generated example insects: a decoder, the pair loss from epoch 2, an
 * analysis and an evaluation after every epoch, so every panel has curves, steps to scrub and pairs to redraw.
 */
export function fixtureRunConfig(patch: Config = {}): Config {
  return mergeConfig(
    {
      name: 'fixture',
      seed: 0,
      // Pinned, so the fixture's numbers (which masks change between steps) do not depend on whether this
      // machine built the oneDNN addon.
      backend: 'wasm',
      // The whole training split: the dashboard tests rely on which masks change between its steps.
      data: { root: 'data', imageSize: 32, validation: { fraction: 0 } },
      model: { arch: 'smallcnn', width: 0.25, projector: { hiddenDim: 32, outDim: 16 } },
      train: { epochs: 3, batchSize: 16 },
      optim: { name: 'adam', lr: 0.008, warmupEpochs: 0 },
      eval: { everyEpochs: 1, knn: { k: 5 }, linear: { epochs: 5 } },
      analysis: { everyEpochs: 1, probes: { count: 8, samples: 3 }, gradcam: { images: 32 } },
      loss: { alpha: 1, nu: 1 },
      synthesis: { startEpoch: 2 },
      checkpoint: { everyEpochs: 1, keep: 0 },
    },
    patch,
  );
}

export interface FixtureRun {
  /** The folder holding `data/` and `fixture.synthpair.json`. */
  workspace: string;
  configFile: string;
  runDir: string;
}

/** Images per class of the generated example data set (8 classes). */
export interface FixtureDataset {
  trainPerClass: number;
  testPerClass: number;
}

const defaultDataset: FixtureDataset = { trainPerClass: 12, testPerClass: 4 };

/**
 * Trains the fixture run through the bundled CLI once per config and reuses it afterwards; a folder that
 * holds a finished run is the cache, so a test never sees a half-trained one. A larger `dataset` (say, a test
 * split that holds 64 probes) is part of the cache key.
 */
export async function trainedFixtureRun(
  patch: Config = {},
  dataset: Partial<FixtureDataset> = {},
): Promise<FixtureRun> {
  assertCliBuilt();
  const config = fixtureRunConfig(patch);
  const sizes = { ...defaultDataset, ...dataset };
  const isDefault =
    sizes.trainPerClass === defaultDataset.trainPerClass &&
    sizes.testPerClass === defaultDataset.testPerClass;
  // The layout version retires folders written by older versions of this function.
  const keyed = isDefault ? { config, layout: 2 } : { config, dataset: sizes, layout: 2 };
  const key = createHash('sha256').update(JSON.stringify(keyed)).digest('hex').slice(0, 12);
  const workspace = path.join(fixtureRunsFolder, key);
  const configFile = path.join(workspace, 'fixture.synthpair.json');
  const runDir = path.join(workspace, 'run');
  if (existsSync(path.join(workspace, '.complete'))) {
    return { workspace, configFile, runDir };
  }
  // Trained where it stays: a run records its experiment file and data.root as absolute paths. The marker
  // written last tells a finished folder from one a killed test run left behind.
  await rm(workspace, { recursive: true, force: true });
  await mkdir(workspace, { recursive: true });
  await writeExampleDataset(path.join(workspace, 'data'), sizes);
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const result = runCli(workspace, 'run', 'fixture.synthpair.json', '--out', 'run');
  if (result.code !== 0) {
    throw new Error(
      `training the fixture run failed (exit ${result.code}):\n${result.stderr}\n${result.stdout}`,
    );
  }
  await writeFile(path.join(workspace, '.complete'), '');
  return { workspace, configFile, runDir };
}

/** The run folder's analysis steps, oldest first. */
export async function fixtureAnalysisFolders(runDir: string): Promise<string[]> {
  return (await listAnalysisSteps(runDir)).map((step) => step.folder);
}
