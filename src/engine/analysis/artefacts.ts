import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { type ImportanceVariant, importanceVariants } from '../../shared/config/experiment/choices';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import type { AnalysisArray, AnalysisManifest } from '../../shared/protocol/runFiles';
import { type AnalysisStep, listAnalysisSteps, readAnalysisStep } from '../../shared/runFolder/analysisSteps';
import { replaceFolderAtomically, writeStagedFile } from '../../shared/runFolder/atomicFiles';
import { analysisManifestFile, epochFolderName, runFileNames } from '../../shared/runFolder/runDirectory';
import { imageBytes, overlayHeatmap, tileGridPng } from '../synthesis/grid';
import { pairGridPng } from '../synthesis/pairs';
import type { AnalysisResult } from './analysisStep';
import { camVariants } from './gradcam';

/** Heat maps laid over the probes at this opacity in the PNG grid; the webview lets a person choose. */
const gridOverlay = { opacity: 0.5, colormap: 'inferno' } as const;

type ArrayData = Float32Array | Uint8Array;

/** Both views' maps as one array, view 1 first: the leading axis of the `cam.*` and `heatmap.*` arrays. */
function bothViews(view1: Float32Array, view2: Float32Array): Float32Array {
  const joined = new Float32Array(view1.length + view2.length);
  joined.set(view1);
  joined.set(view2, view1.length);
  return joined;
}

/**
 * Writes an analysis step into `analysis/epoch-NNNN/` of a run: the arrays (float32 where a reader computes
 * with them, uint8 images and normalised maps where it only shows them), `analysis.json` describing them, and
 * PNG grids. The folder is assembled under a staging name and renamed, so a reader never sees half of it.
 */
export async function writeAnalysis(
  runDir: string,
  result: AnalysisResult,
  config: ResolvedConfig,
  classNames: readonly string[],
): Promise<string> {
  const root = path.join(runDir, runFileNames.analysis);
  return replaceFolderAtomically(root, epochFolderName(result.epoch), (staging) =>
    fillAnalysisFolder(staging, result, config, classNames),
  );
}

async function fillAnalysisFolder(
  staging: string,
  result: AnalysisResult,
  config: ResolvedConfig,
  classNames: readonly string[],
): Promise<void> {
  const size = config.data.imageSize;
  const probes = result.probes.positions.length;
  const dimensions = result.variance.length;
  const [mapHeight, mapWidth] = result.probeCam.featureMapSize;
  const arrays: Record<string, AnalysisArray> = {};
  const write = async (arrayName: string, data: ArrayData, shape: number[]) => {
    const file = `${arrayName}.bin`;
    arrays[arrayName] = { file, dtype: data instanceof Uint8Array ? 'uint8' : 'float32', shape };
    await writeStagedFile(
      path.join(staging, file),
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  };
  await write('variance', result.variance, [dimensions]);
  await write('mean', result.mean, [dimensions]);
  for (const [variant, values] of Object.entries(result.importance)) {
    await write(`importance.${variant}`, values, [dimensions]);
  }
  await write('mask', result.mask.mask, [dimensions]);
  await write('probes.centre', imageBytes(result.probes.centre), [probes, size, size, 3]);
  await write('probes.augmented', imageBytes(result.probes.augmented), [probes, size, size, 3]);
  for (const variant of camVariants) {
    const [view1, view2] = result.probeCam.views.map((view) => view[variant.name]);
    await write(`cam.${variant.name}`, bothViews(view1!.raw, view2!.raw), [2, probes, mapHeight, mapWidth]);
    await write(`heatmap.${variant.name}`, imageBytes(bothViews(view1!.normalised, view2!.normalised)), [
      2,
      probes,
      size,
      size,
    ]);
  }
  const grids: Record<string, string> = { heatmaps: 'heatmaps.png' };
  await writeStagedFile(path.join(staging, grids.heatmaps!), await heatmapGridPng(result, size));
  if (result.pairs) {
    await write('reconstructions', imageBytes(result.pairs.reconstructions), [probes, size, size, 3]);
    await write('perturbed', imageBytes(result.pairs.perturbed), [
      result.pairs.samples,
      probes,
      size,
      size,
      3,
    ]);
    grids.pairs = 'pairs.png';
    await writeStagedFile(
      path.join(staging, grids.pairs),
      await pairGridPng(result.probes.centre, result.pairs),
    );
  }

  const manifest: AnalysisManifest = {
    format: 1,
    epoch: result.epoch,
    step: result.step,
    time: new Date().toISOString(),
    dimensions,
    imageSize: size,
    featureMapSize: [mapHeight, mapWidth],
    variance: {
      quantile: config.analysis.variance.quantile,
      count: result.mask.variance.count,
      threshold: result.mask.variance.threshold,
      images: result.varianceImages,
    },
    gradcam: {
      quantile: config.analysis.gradcam.quantile,
      count: result.mask.gradcam.count,
      threshold: result.mask.gradcam.threshold,
      variant: config.analysis.gradcam.variant,
      images: result.gradcamImages,
      loss: result.gradcamLoss,
    },
    combine: config.analysis.combine,
    masked: result.mask.count,
    probes: {
      testPositions: result.probes.positions,
      labels: result.probes.labels,
      classNames: result.probes.labels.map((label) => classNames[label] ?? String(label)),
      loss: result.probeCam.loss,
    },
    ...(result.pairs
      ? {
          perturb: {
            mode: config.perturb.mode,
            strength: config.perturb.strength,
            fraction: config.perturb.fraction,
            samples: config.analysis.probes.samples,
          },
        }
      : {}),
    arrays,
    grids,
  };
  await writeStagedFile(path.join(staging, analysisManifestFile), `${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * Each probe's row: view 1 (the centre view), its Grad-CAM and gradient × activation overlays, then the same
 * for the augmented view 2.
 */
async function heatmapGridPng(result: AnalysisResult, size: number): Promise<Buffer> {
  const pixels = size * size;
  const tile = pixels * 3;
  const rows = result.probes.positions.map((_, probe) =>
    [result.probes.centre, result.probes.augmented].flatMap((images, view) => {
      const image = images.subarray(probe * tile, (probe + 1) * tile);
      return [
        image,
        ...camVariants.map((variant) =>
          overlayHeatmap(
            image,
            result.probeCam.views[view]![variant.name].normalised.subarray(
              probe * pixels,
              (probe + 1) * pixels,
            ),
            gridOverlay,
          ),
        ),
      ];
    }),
  );
  return tileGridPng(rows, size);
}

/** The newest analysis step at or before `epoch` (all of them when omitted). */
export async function latestAnalysis(
  runDir: string,
  epoch = Number.MAX_SAFE_INTEGER,
): Promise<AnalysisStep | undefined> {
  const newest = (await listAnalysisSteps(runDir)).filter((step) => step.epoch <= epoch).at(-1);
  return newest ? readAnalysisStep(newest) : undefined;
}

export async function readAnalysisArray(
  saved: AnalysisStep,
  name: string,
): Promise<Float32Array | Uint8Array> {
  const description = saved.manifest.arrays[name];
  if (!description) {
    throw new Error(`${saved.folder}: has no array ${name}`);
  }
  const bytes = await readFile(path.join(saved.folder, description.file));
  const expected = description.shape.reduce((product, extent) => product * extent, 1);
  const copy = new Uint8Array(bytes);
  const array = description.dtype === 'uint8' ? copy : new Float32Array(copy.buffer);
  if (array.length !== expected) {
    throw new Error(
      `${saved.folder}/${description.file}: holds ${array.length} values, its shape ${expected}`,
    );
  }
  return array;
}

/** Drops the analysis steps after `epoch`: a resumed run recomputes them from the checkpoint. */
export async function removeAnalysesAfter(runDir: string, epoch: number): Promise<void> {
  for (const step of await listAnalysisSteps(runDir)) {
    if (step.epoch > epoch) await rm(step.folder, { recursive: true, force: true });
  }
}

/** The per-dimension measurements a mask is cut from, as an analysis step saved them. */
export async function readMaskCriteria(
  saved: AnalysisStep,
): Promise<{ variance: Float32Array; importance: Record<ImportanceVariant, Float32Array> }> {
  const variance = (await readAnalysisArray(saved, 'variance')) as Float32Array;
  const importance = Object.fromEntries(
    await Promise.all(
      importanceVariants.map(async (variant) => [
        variant,
        (await readAnalysisArray(saved, `importance.${variant}`)) as Float32Array,
      ]),
    ),
  ) as Record<ImportanceVariant, Float32Array>;
  return { variance, importance };
}
