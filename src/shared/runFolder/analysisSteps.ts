import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type AnalysisManifest, analysisManifest } from '../protocol/runFiles';
import { validateMessage } from '../protocol/validate';
import { analysisManifestFile, runFileNames } from './runDirectory';

/**
 * The one reader of a run's `analysis/` folder, for the engine (resume, synthesize, heat maps), the CLI and the
 * extension alike. A step is renamed into place whole by the engine, so a step folder either holds a complete
 * manifest or was not written by this version.
 */

/** `analysis/epoch-NNNN/`: one analysis step of a run, before its manifest is read. */
export interface AnalysisStepFolder {
  epoch: number;
  folder: string;
}

/** An analysis step with its manifest: what was measured, the mask it made, where its arrays are. */
export interface AnalysisStep extends AnalysisStepFolder {
  manifest: AnalysisManifest;
}

/** A step folder whose manifest is missing or is not one this version reads. */
export class AnalysisStepError extends Error {
  override name = 'AnalysisStepError';
}

// Staging folders (`.staging-…`) and anything foreign are not steps.
const stepFolderPattern = /^epoch-(\d{4,})$/;

/** The run's step folders, oldest first by epoch as a number; a run without analyses has none. */
export async function listAnalysisSteps(runDir: string): Promise<AnalysisStepFolder[]> {
  const root = path.join(runDir, runFileNames.analysis);
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .flatMap((entry) => {
      const match = stepFolderPattern.exec(entry);
      return match ? [{ epoch: Number(match[1]), folder: path.join(root, entry) }] : [];
    })
    .sort((a, b) => a.epoch - b.epoch);
}

/** A step's manifest, or an {@link AnalysisStepError} that names the file and what is wrong with it. */
export async function readAnalysisStep(step: AnalysisStepFolder): Promise<AnalysisStep> {
  const file = path.join(step.folder, analysisManifestFile);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new AnalysisStepError(`${file}: cannot be read as JSON: ${(error as Error).message}`);
  }
  const checked = validateMessage(analysisManifest, parsed);
  if (!checked.ok) {
    throw new AnalysisStepError(`${file}: not an analysis manifest: ${checked.reason}`);
  }
  return { ...step, manifest: checked.value };
}

/**
 * Every step whose manifest reads, oldest first: what a view of a run shows, where one unreadable folder must
 * not hide the others.
 */
export async function readReadableAnalysisSteps(runDir: string): Promise<AnalysisStep[]> {
  const steps = await Promise.all((await listAnalysisSteps(runDir)).map(readStepIfReadable));
  return steps.filter((step): step is AnalysisStep => step !== undefined);
}

/**
 * How long after its last change a folder's modification time is trusted to show the next change: timestamps
 * are coarse on some file systems (2 s on FAT), and a change within the same tick would leave them alone.
 */
const settledMs = 2000;

/**
 * One run's readable analysis steps, kept between reads for a view that polls a training run: a read looks at
 * the `analysis/` folder, lists it only when an entry was added, removed or renamed since, and reads only the
 * manifests of step folders it has not seen, so the hundredth step costs what the first did. A step folder
 * replaced under the same name (a resumed run analyses an epoch again) is a new folder, and is read again.
 */
export class AnalysisStepReader {
  /** The `analysis/` folder as it was when last listed, while its timestamps can be trusted to move. */
  private listedSignature: string | undefined;
  /** Each step folder listed, as it was when its manifest was read, with the step it held if it read. */
  private known = new Map<string, { signature: string; step: AnalysisStep | undefined }>();
  private steps: readonly AnalysisStep[] = [];
  private reading: Promise<unknown> = Promise.resolve();

  constructor(readonly runDir: string) {}

  /**
   * Every step whose manifest reads, oldest first. While nothing changed it is the array the previous read
   * returned, so a caller can tell new steps by identity; reads overlapping in time run one after the other
   * for that reason.
   */
  read(): Promise<readonly AnalysisStep[]> {
    const steps = this.reading.then(() => this.readNow());
    this.reading = steps.catch(() => undefined);
    return steps;
  }

  private async readNow(): Promise<readonly AnalysisStep[]> {
    const root = path.join(this.runDir, runFileNames.analysis);
    const folder = await statIfPresent(root);
    const signature = folder && folderSignature(folder);
    if (signature !== undefined && signature === this.listedSignature) return this.steps;
    const listed = await listAnalysisSteps(this.runDir);
    const known = new Map<string, { signature: string; step: AnalysisStep | undefined }>();
    await Promise.all(
      listed.map(async (entry) => {
        const stepFolder = await statIfPresent(entry.folder);
        if (!stepFolder) return;
        const seen = this.known.get(entry.folder);
        const stepSignature = folderSignature(stepFolder);
        known.set(entry.folder, {
          signature: stepSignature,
          step: seen?.signature === stepSignature ? seen.step : await readStepIfReadable(entry),
        });
      }),
    );
    this.known = known;
    const steps = listed.flatMap((entry) => {
      const step = known.get(entry.folder)?.step;
      return step ? [step] : [];
    });
    if (steps.length !== this.steps.length || steps.some((step, index) => step !== this.steps[index])) {
      this.steps = steps;
    }
    this.listedSignature = folder && Date.now() - folder.mtimeMs > settledMs ? signature : undefined;
    return this.steps;
  }
}

function folderSignature(folder: Stats): string {
  return `${folder.dev}:${folder.ino}:${folder.mtimeMs}:${folder.ctimeMs}`;
}

async function statIfPresent(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function readStepIfReadable(step: AnalysisStepFolder): Promise<AnalysisStep | undefined> {
  return readAnalysisStep(step).catch((error: unknown) => {
    if (error instanceof AnalysisStepError) return undefined;
    throw error;
  });
}
