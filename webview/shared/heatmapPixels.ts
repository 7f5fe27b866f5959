import { colormapLevels } from '../../src/shared/colormaps';

// The dashboard's heat maps and the heat-map editor colour their pixels here, so a map looks alike in both.

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
  const pixels = new Uint8ClampedArray(colormapLevels * 4);
  for (let level = 0; level < colormapLevels; level++) {
    pixels.set(table.subarray(level * 3, level * 3 + 3), level * 4);
    pixels[level * 4 + 3] = 255;
  }
  return pixels;
}
