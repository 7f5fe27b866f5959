import type { AnalysisStepRef, HeatmapSettings } from '../../../../src/shared/protocol/webview';
import { loadAnalysisArray } from '../../arrays';
import { mapMaxima, type Normalisation, normalisationDivisors, quantiseMaps, upsampleBilinear } from './math';

/** One step's maps of one variant and view, brought to the probes' size: what every redraw colours. */
export interface PreparedMaps {
  readonly epoch: number;
  readonly count: number;
  readonly size: number;
  /** The view's probe images, RGB bytes, [count, size, size, 3]. */
  readonly images: Uint8Array;
  /** The unnormalised maps upsampled to the image, [count, size, size]. */
  readonly upsampled: Float32Array;
  divisors(normalisation: Normalisation): Float32Array;
  /** The maps as colormap levels under a normalisation, [count, size, size]; computed once per normalisation. */
  levels(normalisation: Normalisation): Uint8Array;
}

/** The maps on screen and the settings they were drawn with. */
export interface Shown {
  maps: PreparedMaps;
  settings: HeatmapSettings;
}

const viewArrays = ['probes.centre', 'probes.augmented'] as const;

/**
 * Steps whose upsampled maps are kept. Enough to flip variant or view of a step and back without recomputing;
 * a step of 64 probes at 224 pixels holds 13 MB of floats, so not every step of a long run.
 */
const keptPreparations = 4;
const prepared = new Map<string, Promise<PreparedMaps>>();

export function prepareMaps(
  step: AnalysisStepRef,
  variant: HeatmapSettings['variant'],
  view: HeatmapSettings['view'],
): Promise<PreparedMaps> {
  const key = `${step.folderUri}@${step.manifest.time}|${variant}|${view}`;
  let preparing = prepared.get(key);
  if (preparing) {
    // Most recently used last, so the oldest is the one evicted.
    prepared.delete(key);
  } else {
    preparing = prepare(step, variant, view);
    preparing.catch(() => prepared.delete(key));
  }
  prepared.set(key, preparing);
  while (prepared.size > keptPreparations) {
    prepared.delete(prepared.keys().next().value!);
  }
  return preparing;
}

async function prepare(
  step: AnalysisStepRef,
  variant: HeatmapSettings['variant'],
  view: HeatmapSettings['view'],
): Promise<PreparedMaps> {
  const [images, cam] = await Promise.all([
    loadAnalysisArray(step, viewArrays[view]),
    loadAnalysisArray(step, `cam.${variant}`),
  ]);
  const [views, count, height, width] = cam.shape as [number, number, number, number];
  const [imageCount, size] = images.shape as [number, number, number, number];
  if (views !== 2 || imageCount !== count || !(cam.data instanceof Float32Array)) {
    throw new Error(
      `epoch ${step.epoch}: cam.${variant} [${cam.shape}] does not match its ${imageCount} probes`,
    );
  }
  const mapLength = count * height * width;
  const viewMaps = cam.data.subarray(view * mapLength, (view + 1) * mapLength);
  const upsampled = upsampleBilinear(viewMaps, count, [height, width], [size, size]);
  const maxima = mapMaxima(upsampled, count, size * size);
  const quantised = new Map<Normalisation, Uint8Array>();
  const divisors = (normalisation: Normalisation) => normalisationDivisors(maxima, normalisation);
  return {
    epoch: step.epoch,
    count,
    size,
    images: images.data as Uint8Array,
    upsampled,
    divisors,
    levels(normalisation) {
      let levels = quantised.get(normalisation);
      if (!levels) {
        levels = quantiseMaps(upsampled, size * size, divisors(normalisation));
        quantised.set(normalisation, levels);
      }
      return levels;
    },
  };
}
