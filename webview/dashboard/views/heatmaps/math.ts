import { rgb } from 'd3-color';
import {
  interpolateCividis,
  interpolateInferno,
  interpolateMagma,
  interpolatePlasma,
  interpolateTurbo,
  interpolateViridis,
} from 'd3-scale-chromatic';
import type { HeatmapSettings } from '../../../../src/shared/protocol/webview';

export type ColormapName = HeatmapSettings['colormap'];
export type Normalisation = HeatmapSettings['normalisation'];

const interpolators: Record<ColormapName, (t: number) => string> = {
  inferno: interpolateInferno,
  viridis: interpolateViridis,
  magma: interpolateMagma,
  plasma: interpolatePlasma,
  turbo: interpolateTurbo,
  cividis: interpolateCividis,
};

export const colormapNames = Object.keys(interpolators) as ColormapName[];

/** Entries of a colour lookup table: a map value in [0, 1] is quantised to one of these, as the engine's grids are. */
export const levels = 256;

const tables = new Map<ColormapName, Uint8ClampedArray>();

/** The colormap sampled at 256 levels, RGB bytes back to back: colouring a pixel is then one table lookup. */
export function colormapTable(name: ColormapName): Uint8ClampedArray {
  let table = tables.get(name);
  if (!table) {
    table = new Uint8ClampedArray(levels * 3);
    for (let level = 0; level < levels; level++) {
      const colour = rgb(interpolators[name](level / (levels - 1)));
      table[level * 3] = colour.r;
      table[level * 3 + 1] = colour.g;
      table[level * 3 + 2] = colour.b;
    }
    tables.set(name, table);
  }
  return table;
}

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
    const scale = (levels - 1) / divisor;
    const end = (map + 1) * pixelsPerMap;
    for (let index = map * pixelsPerMap; index < end; index++) {
      quantised[index] = Math.round(Math.min(levels - 1, Math.max(0, maps[index]! * scale)));
    }
  }
  return quantised;
}

/**
 * One probe with its map laid over it: (1 − opacity) · image + opacity · colour, into RGBA `out` (ImageData
 * layout). `image` holds RGB bytes and `mapLevels` one level per pixel, each starting at its offset.
 */
export function compositeOverlay(
  image: Uint8Array,
  imageOffset: number,
  mapLevels: Uint8Array,
  levelOffset: number,
  table: Uint8ClampedArray,
  opacity: number,
  out: Uint8ClampedArray,
): void {
  const pixels = out.length / 4;
  const keep = 1 - opacity;
  for (let pixel = 0; pixel < pixels; pixel++) {
    const colour = mapLevels[levelOffset + pixel]! * 3;
    const source = imageOffset + pixel * 3;
    const target = pixel * 4;
    out[target] = keep * image[source]! + opacity * table[colour]!;
    out[target + 1] = keep * image[source + 1]! + opacity * table[colour + 1]!;
    out[target + 2] = keep * image[source + 2]! + opacity * table[colour + 2]!;
    out[target + 3] = 255;
  }
}

/** The colormap as a row of RGBA pixels, lowest level on the left: a colour bar to stretch over a legend. */
export function colourBarPixels(table: Uint8ClampedArray): Uint8ClampedArray<ArrayBuffer> {
  const pixels = new Uint8ClampedArray(levels * 4);
  for (let level = 0; level < levels; level++) {
    pixels.set(table.subarray(level * 3, level * 3 + 3), level * 4);
    pixels[level * 4 + 3] = 255;
  }
  return pixels;
}
