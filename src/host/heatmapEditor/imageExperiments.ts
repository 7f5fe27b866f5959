import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'jsonc-parser';
import { runFileNames } from '../../shared/runFolder/runDirectory';
import type { RunSummary } from '../../shared/runFolder/runSummary';

/** An experiment file and the data set folder it names. */
export interface ExperimentDataRoot {
  configFile: string;
  dataRoot: string;
}

/**
 * The experiment's `data.root` resolved as a run resolves it (relative to the file's folder), or undefined when
 * the text names none. The text may be half-typed: whatever parses is read, comments and trailing commas too.
 */
export function dataRootOf(configFile: string, text: string): string | undefined {
  const config: unknown = parse(text, [], { allowTrailingComma: true, disallowComments: false });
  const data =
    typeof config === 'object' && config !== null ? (config as { data?: unknown }).data : undefined;
  const root = typeof data === 'object' && data !== null ? (data as { root?: unknown }).root : undefined;
  return typeof root === 'string' && root.trim() !== ''
    ? path.resolve(path.dirname(configFile), root)
    : undefined;
}

/** Whether `file` lies inside the folder `root` (at any depth). */
export function isInside(root: string, file: string): boolean {
  const relative = path.relative(root, file);
  return (
    relative !== '' &&
    !relative.startsWith(`..${path.sep}`) &&
    relative !== '..' &&
    !path.isAbsolute(relative)
  );
}

/**
 * The experiments among `configFiles` whose data set folder holds `imageFile`, in the order given. A file that
 * cannot be read right now (deleted meanwhile) is passed over.
 */
export async function experimentsHoldingImage(
  imageFile: string,
  configFiles: readonly string[],
  readText: (configFile: string) => Promise<string> = (configFile) => readFile(configFile, 'utf8'),
): Promise<ExperimentDataRoot[]> {
  const found = await Promise.all(
    configFiles.map(async (configFile) => {
      const text = await readText(configFile).catch(() => undefined);
      const dataRoot = text === undefined ? undefined : dataRootOf(configFile, text);
      return dataRoot !== undefined && isInside(dataRoot, imageFile) ? { configFile, dataRoot } : undefined;
    }),
  );
  return found.filter((entry): entry is ExperimentDataRoot => entry !== undefined);
}

/** The checkpoint a run's `latest.json` names, or undefined when it has none yet. */
async function latestCheckpointOf(runDir: string): Promise<string | undefined> {
  try {
    const latest: unknown = JSON.parse(
      await readFile(path.join(runDir, runFileNames.checkpoints, 'latest.json'), 'utf8'),
    );
    const name =
      typeof latest === 'object' && latest !== null
        ? (latest as { checkpoint?: unknown }).checkpoint
        : undefined;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The newest run of `configFile` that has a checkpoint, with that checkpoint's name: the run whose model can
 * draw heat maps. `runs` are newest first, as the run catalog lists them; a newer run still before its first
 * checkpoint is passed over for the one before it.
 */
export async function latestTrainedRun(
  runs: readonly RunSummary[],
  configFile: string,
): Promise<{ run: RunSummary; checkpoint: string } | undefined> {
  for (const run of runs.filter((candidate) => candidate.status.configFile === configFile)) {
    const checkpoint = await latestCheckpointOf(run.dir);
    if (checkpoint !== undefined) return { run, checkpoint };
  }
  return undefined;
}
