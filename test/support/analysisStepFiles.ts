import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AnalysisManifest } from '../../src/shared/protocol/runFiles';
import { replaceFolderAtomically } from '../../src/shared/runFolder/atomicFiles';
import { analysisManifestFile, epochFolderName, runFileNames } from '../../src/shared/runFolder/runDirectory';

/** A manifest as the engine writes one, of a step that saved no arrays: what a reader of steps validates. */
export function analysisManifestOf(epoch: number, time: string): AnalysisManifest {
  const criterion = { quantile: 0.25, count: 4, threshold: 0.5, images: 32 };
  return {
    format: 1,
    epoch,
    step: epoch * 10,
    time,
    dimensions: 16,
    imageSize: 32,
    featureMapSize: [4, 4],
    variance: criterion,
    gradcam: { ...criterion, variant: 'absolute', loss: 3.2 },
    combine: 'union',
    masked: 6,
    probes: { testPositions: [0, 1], labels: [0, 1], classNames: ['ant', 'bee'], loss: 3.1 },
    arrays: {},
    grids: {},
  };
}

/**
 * Writes `analysis/epoch-NNNN/` into a run as the engine does, staged and renamed into place; `padding` bytes of
 * whitespace after the JSON make its manifest as large as a test needs to tell a read of it from noise.
 */
export async function writeAnalysisStep(
  runDir: string,
  epoch: number,
  options: { time?: string; padding?: number } = {},
): Promise<string> {
  const manifest = analysisManifestOf(epoch, options.time ?? `epoch ${epoch}`);
  return replaceFolderAtomically(
    path.join(runDir, runFileNames.analysis),
    epochFolderName(epoch),
    (staging) =>
      writeFile(
        path.join(staging, analysisManifestFile),
        `${JSON.stringify(manifest)}${' '.repeat(options.padding ?? 0)}\n`,
      ),
  );
}
