import { type ColormapName, colormapTable as colormapBytes } from '../../shared/colormaps';
import { loadSharp } from '../sharp';

/** An RGB image as the engine holds it: `size × size × 3` floats in [0, 1], row-major, channels last. */
export type RgbImage = Float32Array;

const lookupTables = new Map<ColormapName, Float32Array>();

/** The shared colormap table with its bytes brought to [0, 1], the range the engine's images hold. */
export function colormapTable(name: ColormapName): Float32Array {
  let table = lookupTables.get(name);
  if (!table) {
    table = Float32Array.from(colormapBytes(name), (byte) => byte / 255);
    lookupTables.set(name, table);
  }
  return table;
}

/** The image with a heat map in [0, 1] (one value per pixel) laid over it in a colormap at `opacity`. */
export function overlayHeatmap(
  image: RgbImage,
  heat: Float32Array,
  options: { opacity: number; colormap: ColormapName },
): RgbImage {
  if (heat.length * 3 !== image.length) {
    throw new RangeError(
      `a heat map of ${heat.length} values cannot cover an image of ${image.length / 3} pixels`,
    );
  }
  const table = colormapTable(options.colormap);
  const out = new Float32Array(image.length);
  for (let pixel = 0; pixel < heat.length; pixel++) {
    const entry = Math.round(Math.min(1, Math.max(0, heat[pixel]!)) * 255) * 3;
    for (let channel = 0; channel < 3; channel++) {
      const index = pixel * 3 + channel;
      out[index] = (1 - options.opacity) * image[index]! + options.opacity * table[entry + channel]!;
    }
  }
  return out;
}

/** Images in [0, 1] as the bytes the analysis saves them as. */
export function imageBytes(values: Float32Array): Uint8Array {
  // A plain loop: Uint8Array.from with a mapping function costs a call per value, a tenth of a second a grid.
  const bytes = new Uint8Array(values.length);
  for (let index = 0; index < values.length; index++) {
    bytes[index] = Math.round(Math.min(1, Math.max(0, values[index]!)) * 255);
  }
  return bytes;
}

/**
 * |a − b| per channel, scaled by `gain` and clipped: perturbed reconstructions differ from the plain one
 * by a few per cent, which an unscaled difference would show as black.
 */
export function differenceImage(a: RgbImage, b: RgbImage, gain: number): RgbImage {
  if (a.length !== b.length) {
    throw new RangeError(`images of ${a.length} and ${b.length} values cannot be compared`);
  }
  return Float32Array.from(a, (value, index) => Math.min(1, Math.abs(value - b[index]!) * gain));
}

/**
 * Lays out rows of equally sized tiles with a gap between them and encodes a PNG a person can open. A row
 * may be shorter than the longest; its missing tiles stay background.
 */
export async function tileGridPng(
  rows: readonly (readonly RgbImage[])[],
  size: number,
  options: { gap?: number; background?: number } = {},
): Promise<Buffer> {
  const gap = options.gap ?? 2;
  const columns = Math.max(0, ...rows.map((row) => row.length));
  if (rows.length === 0 || columns === 0) {
    throw new RangeError('a grid needs at least one tile');
  }
  const width = columns * size + (columns - 1) * gap;
  const height = rows.length * size + (rows.length - 1) * gap;
  const pixels = Buffer.alloc(width * height * 3, Math.round((options.background ?? 1) * 255));
  rows.forEach((row, rowIndex) => {
    row.forEach((tile, columnIndex) => {
      if (tile.length !== size * size * 3) {
        throw new RangeError(
          `tile ${rowIndex},${columnIndex} holds ${tile.length} values, not ${size}×${size}×3`,
        );
      }
      const left = columnIndex * (size + gap);
      const top = rowIndex * (size + gap);
      for (let y = 0; y < size; y++) {
        const rowStart = ((top + y) * width + left) * 3;
        for (let x = 0; x < size * 3; x++) {
          pixels[rowStart + x] = Math.round(Math.min(1, Math.max(0, tile[y * size * 3 + x]!)) * 255);
        }
      }
    });
  });
  return loadSharp()(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}
