// The workspace `npm start` opens, made ready to run as opened: examples/quickstart's experiment with the
// images it trains on, generated on first use, and code-server started on it the way a new user meets it.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, listDataset } from '../src/engine/data/datasets';
import {
  type ExampleDatasetSummary,
  pathExists,
  writeExampleDataset,
} from '../src/host/newExperiment/exampleDataset';
import { parseExperimentConfig } from '../src/shared/config/experiment/parse';
import { type CodeServer, startCodeServer } from '../test/integration/codeServer';
import { provisionVSCode, repoRoot } from '../test/integration/provision';
import { quietSettings } from '../test/integration/run';

export const extensionId = 'synthpair.synthpair';
export const quickstartFolder = path.join(repoRoot, 'examples', 'quickstart');
export const quickstartExperiment = 'quickstart.synthpair.json';

export interface PreparedQuickstart {
  experimentFile: string;
  dataRoot: string;
  /** Present when this call generated the data; absent when it was there already. */
  generated?: ExampleDatasetSummary;
  classes: number;
  trainImages: number;
  testImages: number;
}

/**
 * Generates the example dataset where the quickstart's `data.root` points when nothing is there (the images
 * are git-ignored, so a fresh clone has none), then lists the data as a run would, so that a folder a run
 * could not train on is reported here rather than at the first Run. The generator is seeded: the same
 * files on every machine.
 */
export async function prepareQuickstart(folder = quickstartFolder): Promise<PreparedQuickstart> {
  const experimentFile = path.join(folder, quickstartExperiment);
  const { config, diagnostics } = parseExperimentConfig(await readFile(experimentFile, 'utf8'));
  if (!config) {
    const problems = diagnostics.map((diagnostic) => diagnostic.message).join('; ');
    throw new Error(
      `${experimentFile} is not a valid experiment: ${problems}. Fix it and run npm start again.`,
    );
  }
  const dataRoot = path.resolve(folder, config.data.root);
  let generated: ExampleDatasetSummary | undefined;
  if (!(await pathExists(dataRoot))) {
    try {
      generated = await writeExampleDataset(dataRoot);
    } catch (error) {
      // Another start generated it in the meantime; the listing below checks what it left.
      if (!(await pathExists(dataRoot))) throw error;
    }
  }
  try {
    const listing = await listDataset(dataRoot, config.data.layout);
    return {
      experimentFile,
      dataRoot,
      ...(generated ? { generated } : {}),
      classes: listing.classes.length,
      trainImages: listing.train.length,
      testImages: listing.test.length,
    };
  } catch (error) {
    if (!(error instanceof DatasetError)) throw error;
    throw new Error(
      `${error.message}. The quickstart cannot train on ${dataRoot}: delete that folder and run npm start ` +
        'again, which generates the example dataset there.',
    );
  }
}

/**
 * A new user's settings: the tests' quiet ones, except that SynthPair opens its walkthrough beside the
 * experiment on the first activation, as it does for anyone who installs it.
 */
export const quickstartSettings = {
  ...quietSettings,
  'synthpair.showWalkthrough': true,
};

function extensionVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

export interface QuickstartServerOptions {
  folder?: string;
  port?: number;
  logFile?: string;
}

/**
 * Prepares the quickstart in `folder` and starts code-server on it with this repository's build of SynthPair
 * loaded like an installed extension, so a rebuild plus "Developer: Reload Window" picks up changes.
 */
export interface QuickstartServer {
  server: CodeServer;
  prepared: PreparedQuickstart;
}

export async function serveQuickstart(options: QuickstartServerOptions = {}): Promise<QuickstartServer> {
  const folder = options.folder ?? quickstartFolder;
  const prepared = await prepareQuickstart(folder);
  const { codeServerBin, env } = await provisionVSCode();
  const server = await startCodeServer({
    codeServerBin,
    env,
    folder,
    settings: quickstartSettings,
    linkedExtensions: [{ id: extensionId, version: extensionVersion(), location: repoRoot }],
    port: options.port,
    logFile: options.logFile,
  });
  return { server, prepared };
}
