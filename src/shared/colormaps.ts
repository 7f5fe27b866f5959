import { rgb } from 'd3-color';
import {
  interpolateCividis,
  interpolateInferno,
  interpolateMagma,
  interpolatePlasma,
  interpolateTurbo,
  interpolateViridis,
} from 'd3-scale-chromatic';

/**
 * The colormaps a heat map can be drawn in, in the order the pickers list them. The engine's PNG grids, the
 * dashboard's heat maps and the heat-map editor all colour from the tables below, so a map looks the same
 * wherever it is shown.
 */
export const colormapNames = ['inferno', 'viridis', 'magma', 'plasma', 'turbo', 'cividis'] as const;
export type ColormapName = (typeof colormapNames)[number];

const interpolators: Record<ColormapName, (t: number) => string> = {
  inferno: interpolateInferno,
  viridis: interpolateViridis,
  magma: interpolateMagma,
  plasma: interpolatePlasma,
  turbo: interpolateTurbo,
  cividis: interpolateCividis,
};

/** Entries of a colour lookup table: a map value in [0, 1] is quantised to one of these. */
export const colormapLevels = 256;

const tables = new Map<ColormapName, Uint8ClampedArray>();

/** The colormap sampled at 256 levels, RGB bytes back to back: colouring a pixel is then one table lookup. */
export function colormapTable(name: ColormapName): Uint8ClampedArray {
  let table = tables.get(name);
  if (!table) {
    table = new Uint8ClampedArray(colormapLevels * 3);
    for (let level = 0; level < colormapLevels; level++) {
      const colour = rgb(interpolators[name](level / (colormapLevels - 1)));
      table[level * 3] = colour.r;
      table[level * 3 + 1] = colour.g;
      table[level * 3 + 2] = colour.b;
    }
    tables.set(name, table);
  }
  return table;
}
