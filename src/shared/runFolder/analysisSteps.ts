import { readdir, readFile } from 'node:fs/promises';
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
  const steps = await Promise.all(
    (await listAnalysisSteps(runDir)).map((step) =>
      readAnalysisStep(step).catch((error: unknown) => {
        if (error instanceof AnalysisStepError) return undefined;
        throw error;
      }),
    ),
  );
  return steps.filter((step): step is AnalysisStep => step !== undefined);
}
