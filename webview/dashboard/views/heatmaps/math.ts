import { colormapLevels } from '../../../../src/shared/colormaps';
import type { HeatmapSettings } from '../../../../src/shared/protocol/webview';

export type Normalisation = HeatmapSettings['normalisation'];

/** Where each output position along one axis reads its input: two neighbours and the weight of the second. */
export interface AxisSamples {
  lower: Int32Array;
  upper: Int32Array;
  fraction: Float32Array;
}

/**
 * Bilinear sample positions with half-pixel centres and alignCorners false, the convention the engine's
 * upsampleAndNormalise uses (tf.image.resizeBilinear(..., false, true), like PyTorch's align_corners=False):
 * output position o reads input position (o + 0.5) · in/out − 0.5, clamped to the edge cells.
 */
export function bilinearAxis(inputSize: number, outputSize: number): AxisSamples {
  const lower = new Int32Array(outputSize);
  const upper = new Int32Array(outputSize);
  const fraction = new Float32Array(outputSize);
  const scale = inputSize / outputSize;
  for (let position = 0; position < outputSize; position++) {
    const source = Math.min(inputSize - 1, Math.max(0, (position + 0.5) * scale - 0.5));
    const below = Math.floor(source);
    lower[position] = below;
    upper[position] = Math.min(inputSize - 1, below + 1);
    fraction[position] = source - below;
  }
  return { lower, upper, fraction };
}

/**
 * Upsamples `count` maps of [height, width] (back to back in `maps`) to [outHeight, outWidth] each.
 * The interpolation is written as TF.js's kernel writes it (top and bottom rows first, then between them),
 * so values match the engine's to float rounding.
 */
export function upsampleBilinear(
  maps: Float32Array,
  count: number,
  [height, width]: readonly [number, number],
  [outHeight, outWidth]: readonly [number, number],
): Float32Array {
  if (maps.length < count * height * width) {
    throw new RangeError(`${maps.length} values cannot hold ${count} maps of ${height}×${width}`);
  }
  const rows = bilinearAxis(height, outHeight);
  const columns = bilinearAxis(width, outWidth);
  const out = new Float32Array(count * outHeight * outWidth);
  let written = 0;
  for (let map = 0; map < count; map++) {
    const base = map * height * width;
    for (let y = 0; y < outHeight; y++) {
      const top = base + rows.lower[y]! * width;
      const bottom = base + rows.upper[y]! * width;
      const rowFraction = rows.fraction[y]!;
      for (let x = 0; x < outWidth; x++) {
        const left = columns.lower[x]!;
        const right = columns.upper[x]!;
        const columnFraction = columns.fraction[x]!;
        const topValue = maps[top + left]! + (maps[top + right]! - maps[top + left]!) * columnFraction;
        const bottomValue =
          maps[bottom + left]! + (maps[bottom + right]! - maps[bottom + left]!) * columnFraction;
        out[written++] = topValue + (bottomValue - topValue) * rowFraction;
      }
    }
  }
  return out;
}

/** The largest value of each of the `count` maps of `pixelsPerMap` values in `maps`. */
export function mapMaxima(maps: Float32Array, count: number, pixelsPerMap: number): Float32Array {
  const maxima = new Float32Array(count);
  for (let map = 0; map < count; map++) {
    let largest = 0;
    const end = (map + 1) * pixelsPerMap;
    for (let index = map * pixelsPerMap; index < end; index++) {
      if (maps[index]! > largest) {
        largest = maps[index]!;
      }
    }
    maxima[map] = largest;
  }
  return maxima;
}

/**
 * What each map is divided by: its own maximum (`image`, as the engine's saved heat maps are), or the largest
 * over every map given (`global`), so maps of one step compare in strength. The maps are ReLU outputs, so 0
 * means "no positive evidence" and is never stretched into contrast.
 */
export function normalisationDivisors(maxima: Float32Array, mode: Normalisation): Float32Array {
  if (mode === 'image') {
    return maxima;
  }
  const largest = maxima.reduce((a, b) => Math.max(a, b), 0);
  return new Float32Array(maxima.length).fill(largest);
}

/** A raw value over its divisor, in [0, 1]; a map without any positive evidence stays 0 rather than NaN. */
export function normalisedValue(raw: number, divisor: number): number {
  return divisor > 0 ? Math.min(1, Math.max(0, raw / divisor)) : 0;
}

/**
 * The maps quantised to colormap levels, after dividing map i by `divisors[i]`. Rounding as the engine rounds
 * its uint8 heat maps (value × 255, to nearest), so per-image levels equal the saved `heatmap.*` arrays.
 */
export function quantiseMaps(maps: Float32Array, pixelsPerMap: number, divisors: Float32Array): Uint8Array {
  const quantised = new Uint8Array(maps.length);
  for (let map = 0; map < divisors.length; map++) {
    const divisor = divisors[map]!;
    if (!(divisor > 0)) {
      continue;
    }
    const scale = (colormapLevels - 1) / divisor;
    const end = (map + 1) * pixelsPerMap;
    for (let index = map * pixelsPerMap; index < end; index++) {
      quantised[index] = Math.round(Math.min(colormapLevels - 1, Math.max(0, maps[index]! * scale)));
    }
  }
  return quantised;
}
