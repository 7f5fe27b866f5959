import { type Dirent, promises as fs } from 'node:fs';
import path from 'node:path';
import { parse } from 'jsonc-parser';
import { experimentFileSuffix } from '../../shared/config/experiment/choices';
import { keyPaths } from '../../shared/config/experiment/definitions';
import { heldOutOfClass } from '../../shared/config/experiment/validationSplit';
import { type ExampleDatasetSummary, pathExists, writeExampleDataset } from './exampleDataset';
import { experimentTemplate, type PretrainedStart } from './template';

/**
 * What "SynthPair: New Experiment" does, without VS Code: check the name, find data the workspace already
 * has, and write `<name>.synthpair.json` (plus a generated example dataset when there is no data), so the
 * command only asks for the name and opens the file.
 */

/** Names become file names and run-folder prefixes: keep them portable and free of path syntax. */
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const maxNameLength = 100;

/**
 * Why `name` cannot name an experiment, or undefined when it can. Syntax only; `planNewExperiment` also
 * refuses a name whose file exists. Suits an input box's live validation.
 */
export function experimentNameProblem(name: string): string | undefined {
  if (name === '') return 'Enter a name for the experiment.';
  if (name.length > maxNameLength) return `A name has at most ${maxNameLength} characters.`;
  if (name.toLowerCase().endsWith(experimentFileSuffix)) {
    return `Enter the name without "${experimentFileSuffix}": the file is named <name>${experimentFileSuffix}.`;
  }
  if (!namePattern.test(name)) {
    return 'Use letters, digits, "-", "_" and "." only, starting with a letter or digit.';
  }
  return undefined;
}

/** Data the new experiment trains on. */
export type ExperimentData =
  /** Data the workspace has: the first config's `data.root` that exists, else `data/` with train/ and test/. */
  | { kind: 'existing'; root: string; layout: 'imagefolder' | 'cub'; foundBy: string }
  /** None found: the example dataset is generated into `root`, a folder that does not exist yet. */
  | { kind: 'example'; root: string };

export interface NewExperimentPlan {
  name: string;
  workspaceFolder: string;
  configPath: string;
  data: ExperimentData;
  /** The full text of the config file to write. */
  configText: string;
}

export interface NewExperimentResult {
  configPath: string;
  /** Present when the example dataset was generated. */
  dataset?: ExampleDatasetSummary;
  /** Every file or folder created, the config first. */
  written: string[];
}

/** A request the user has to change: `message` is written to be shown as it is. */
export class NewExperimentError extends Error {
  constructor(
    readonly code: 'bad-name' | 'exists',
    message: string,
  ) {
    super(message);
    this.name = 'NewExperimentError';
  }
}

/** Probes of the template; an imagefolder dataset with fewer test images gets one per test image. */
const defaultProbes = 8;
/** The template's batch: a small folder of the user's own gets at most its training images. */
const defaultBatchSize = 32;

/**
 * Decides what to write, and writes nothing. Refuses a bad name and a config file that exists; reuses the
 * workspace's data when it has some, else plans the example dataset in `data/` (or `<name>-data/` when
 * `data/` is taken by something that is not a dataset).
 */
export async function planNewExperiment(
  workspaceFolder: string,
  name: string,
  pretrained?: PretrainedStart,
): Promise<NewExperimentPlan> {
  const problem = experimentNameProblem(name);
  if (problem) throw new NewExperimentError('bad-name', problem);
  const folder = path.resolve(workspaceFolder);
  const configPath = path.join(folder, `${name}${experimentFileSuffix}`);
  if (await pathExists(configPath)) {
    throw new NewExperimentError('exists', `${path.basename(configPath)} already exists in ${folder}.`);
  }

  const data = (await findExistingData(folder)) ?? (await exampleDataFolder(folder, name));
  // A small folder of the user's own gets a probe set and a batch it can fill.
  const ownFolder = data.kind === 'existing' && data.layout === 'imagefolder';
  const probes = ownFolder ? Math.max(1, await countTestImages(data.root, defaultProbes)) : defaultProbes;
  const batchSize = ownFolder
    ? Math.max(2, await countTrainedImages(data.root, defaultBatchSize))
    : defaultBatchSize;
  const configText = experimentTemplate({
    name,
    dataRoot: relativeRoot(folder, data.root),
    layout: data.kind === 'existing' ? data.layout : 'imagefolder',
    probes,
    batchSize,
    ...(pretrained ? { pretrained } : {}),
  });
  return { name, workspaceFolder: folder, configPath, data, configText };
}

/**
 * Writes what the plan says. The config is created first and exclusively, so a file that appeared since
 * planning is never overwritten; if the dataset then fails, the config is removed again rather than left
 * pointing at a folder that does not exist.
 */
export async function writeNewExperiment(plan: NewExperimentPlan): Promise<NewExperimentResult> {
  try {
    await fs.writeFile(plan.configPath, plan.configText, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new NewExperimentError('exists', `${path.basename(plan.configPath)} already exists.`);
    }
    throw error;
  }
  if (plan.data.kind === 'existing') return { configPath: plan.configPath, written: [plan.configPath] };
  try {
    const dataset = await writeExampleDataset(plan.data.root);
    return { configPath: plan.configPath, dataset, written: [plan.configPath, dataset.root] };
  } catch (error) {
    await fs.rm(plan.configPath, { force: true });
    throw error;
  }
}

/** How deep below the workspace folder experiment files are looked for; deeper trees are someone's data. */
const searchDepth = 3;

async function findExistingData(folder: string): Promise<ExperimentData | undefined> {
  for (const configFile of await experimentFiles(folder)) {
    const found = await dataOfConfig(configFile);
    if (found) return found;
  }
  const data = path.join(folder, 'data');
  if ((await isDirectory(path.join(data, 'train'))) && (await isDirectory(path.join(data, 'test')))) {
    return { kind: 'existing', root: data, layout: 'imagefolder', foundBy: data };
  }
  return undefined;
}

/** `*.synthpair.json` files, shallowest first, then by path, so the choice is stable. */
async function experimentFiles(folder: string): Promise<string[]> {
  const found: string[] = [];
  let level = [folder];
  for (let depth = 0; depth <= searchDepth && level.length > 0; depth++) {
    const next: string[] = [];
    const files: string[] = [];
    for (const directory of level) {
      let entries: Dirent[];
      try {
        entries = await fs.readdir(directory, { withFileTypes: true });
      } catch {
        continue; // unreadable folders hold nothing we can use
      }
      for (const entry of entries) {
        // Dot folders (.git, .synthpair run folders) and installed packages hold no experiments of the user's.
        if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
        const file = path.join(directory, entry.name);
        if (entry.isDirectory()) next.push(file);
        else if (entry.isFile() && entry.name.endsWith(experimentFileSuffix)) files.push(file);
      }
    }
    found.push(...files.sort(byCodePoint));
    level = next.sort(byCodePoint);
  }
  return found;
}

/** The data a config file points at, when its `data.root` exists; a config that does not parse has none. */
async function dataOfConfig(configFile: string): Promise<ExperimentData | undefined> {
  let text: string;
  try {
    text = await fs.readFile(configFile, 'utf8');
  } catch {
    return undefined;
  }
  const config: unknown = parse(text, [], { allowTrailingComma: true });
  const data = isRecord(config) && isRecord(config['data']) ? config['data'] : undefined;
  const root = data?.['root'];
  if (typeof root !== 'string' || root.trim() === '') return undefined;
  const resolved = path.resolve(path.dirname(configFile), root);
  if (!(await isDirectory(resolved))) return undefined;
  const layout = data?.['layout'] === 'cub' ? 'cub' : 'imagefolder';
  return { kind: 'existing', root: resolved, layout, foundBy: configFile };
}

async function exampleDataFolder(folder: string, name: string): Promise<ExperimentData> {
  for (const candidate of ['data', `${name}-data`]) {
    const root = path.join(folder, candidate);
    if (!(await pathExists(root))) return { kind: 'example', root };
  }
  throw new NewExperimentError(
    'exists',
    `Both data/ and ${name}-data/ exist in ${folder} without train/ and test/ folders; choose another name.`,
  );
}

const imageExtensions = new Set(['.jpg', '.jpeg', '.png']);

/** Test images of an imagefolder dataset, counting no further than `enough`. */
async function countTestImages(root: string, enough: number): Promise<number> {
  const folder = path.join(root, 'test');
  let count = 0;
  for (const classFolder of await readdirOrEmpty(folder)) {
    for (const file of await readdirOrEmpty(path.join(folder, classFolder))) {
      if (imageExtensions.has(path.extname(file).toLowerCase())) count++;
      if (count >= enough) return count;
    }
  }
  return count;
}

/**
 * Training images of an imagefolder dataset that the template's default `data.validation` leaves to train on,
 * counting no further than `enough`.
 */
async function countTrainedImages(root: string, enough: number): Promise<number> {
  const fraction = keyPaths().get('data.validation.fraction');
  const heldOutShare = fraction?.kind === 'number' ? fraction.default : 0;
  const folder = path.join(root, 'train');
  let count = 0;
  for (const classFolder of await readdirOrEmpty(folder)) {
    const files = await readdirOrEmpty(path.join(folder, classFolder));
    const images = files.filter((file) => imageExtensions.has(path.extname(file).toLowerCase())).length;
    count += images - heldOutOfClass(images, heldOutShare);
    if (count >= enough) return count;
  }
  return count;
}

async function readdirOrEmpty(folder: string): Promise<string[]> {
  try {
    return (await fs.readdir(folder)).filter((name) => !name.startsWith('.')).sort(byCodePoint);
  } catch {
    return [];
  }
}

/** `data.root` as the config beside the workspace folder should say it: relative, with forward slashes. */
function relativeRoot(folder: string, root: string): string {
  const relative = path.relative(folder, root);
  // Another drive on Windows has no relative path; the workspace folder itself is "." (the key is required).
  if (path.isAbsolute(relative)) return relative;
  return relative === '' ? '.' : relative.split(path.sep).join('/');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function isDirectory(folder: string): Promise<boolean> {
  try {
    return (await fs.stat(folder)).isDirectory();
  } catch {
    return false;
  }
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
