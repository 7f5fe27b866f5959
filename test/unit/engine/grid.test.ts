import assert from 'node:assert/strict';
import sharp from 'sharp';
import {
  colormapTable,
  differenceImage,
  overlayHeatmap,
  tileGridPng,
} from '../../../src/engine/synthesis/grid';
import { colormapTable as colormapBytes, colormapNames } from '../../../src/shared/colormaps';

function solid(size: number, colour: [number, number, number]): Float32Array {
  const image = new Float32Array(size * size * 3);
  for (let i = 0; i < size * size; i++) image.set(colour, i * 3);
  return image;
}

describe('image grids', () => {
  it('samples the colormaps at their ends as matplotlib defines them', () => {
    // matplotlib's _inferno_data and _viridis_data, first and last entries.
    const ends = {
      inferno: [
        [0.001462, 0.000466, 0.013866],
        [0.988362, 0.998364, 0.644924],
      ],
      viridis: [
        [0.267004, 0.004874, 0.329415],
        [0.993248, 0.906157, 0.143936],
      ],
    } as const;
    for (const [name, [first, last]] of Object.entries(ends) as [
      keyof typeof ends,
      (typeof ends)['inferno'],
    ][]) {
      const table = colormapTable(name);
      for (const [entry, expected] of [
        [0, first],
        [255, last],
      ] as const) {
        expected.forEach((value, channel) => {
          assert.ok(
            Math.abs(table[entry * 3 + channel]! - value) <= 1 / 255,
            `${name}[${entry}][${channel}]`,
          );
        });
      }
    }
  });

  it('colours with the same table as the webviews, so a saved grid matches the dashboard', () => {
    for (const name of colormapNames) {
      const bytes = colormapBytes(name);
      assert.deepEqual(
        Array.from(colormapTable(name), (value) => Math.round(value * 255)),
        Array.from(bytes),
        name,
      );
    }
  });

  it('lays a heat map over an image at the given opacity, clipping the map to [0, 1]', () => {
    const image = solid(2, [0.2, 0.4, 0.6]);
    const heat = Float32Array.from([0, 1, -3, 7]);
    assert.deepEqual(overlayHeatmap(image, heat, { opacity: 0, colormap: 'inferno' }), image);
    const opaque = overlayHeatmap(image, heat, { opacity: 1, colormap: 'inferno' });
    const table = colormapTable('inferno');
    assert.deepEqual(Array.from(opaque.subarray(0, 3)), Array.from(table.subarray(0, 3)));
    assert.deepEqual(Array.from(opaque.subarray(3, 6)), Array.from(table.subarray(765, 768)));
    assert.deepEqual(Array.from(opaque.subarray(6, 9)), Array.from(table.subarray(0, 3)));
    assert.deepEqual(Array.from(opaque.subarray(9, 12)), Array.from(table.subarray(765, 768)));
    const half = overlayHeatmap(image, heat, { opacity: 0.5, colormap: 'inferno' });
    assert.ok(Math.abs(half[0]! - (0.2 + table[0]!) / 2) < 1e-6);
    assert.throws(
      () => overlayHeatmap(image, new Float32Array(3), { opacity: 1, colormap: 'inferno' }),
      RangeError,
    );
  });

  it('shows differences amplified and clipped', () => {
    const difference = differenceImage(
      Float32Array.from([0.5, 0.5, 0.5]),
      Float32Array.from([0.52, 0.3, 0.5]),
      10,
    );
    assert.ok(Math.abs(difference[0]! - 0.2) < 1e-5);
    assert.equal(difference[1], 1);
    assert.equal(difference[2], 0);
  });

  it('encodes rows of tiles as a PNG, each tile in its place with a background gap', async () => {
    const red = solid(4, [1, 0, 0]);
    const blue = solid(4, [0, 0, 1]);
    const png = await tileGridPng(
      [
        [red, blue, red],
        [blue, red],
      ],
      4,
      { gap: 2, background: 1 },
    );
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [3 * 4 + 2 * 2, 2 * 4 + 2, 3]);
    const at = (x: number, y: number) =>
      Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
    assert.deepEqual(at(0, 0), [255, 0, 0]);
    assert.deepEqual(at(6, 3), [0, 0, 255]);
    assert.deepEqual(at(4, 0), [255, 255, 255], 'gap between columns');
    assert.deepEqual(at(0, 5), [255, 255, 255], 'gap between rows');
    assert.deepEqual(at(6, 6), [255, 0, 0]);
    assert.deepEqual(at(12, 6), [255, 255, 255], 'a short row leaves its last tile empty');
    await assert.rejects(tileGridPng([[red]], 5), RangeError);
    await assert.rejects(tileGridPng([], 4), RangeError);
  });
});
