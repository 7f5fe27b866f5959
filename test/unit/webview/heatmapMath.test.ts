import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tf } from '../../../src/engine/tf';
import { colormapNames, colormapTable } from '../../../src/shared/colormaps';
import { type AnalysisManifest, analysisManifest } from '../../../src/shared/protocol/runFiles';
import {
  bilinearAxis,
  mapMaxima,
  normalisationDivisors,
  normalisedValue,
  quantiseMaps,
  upsampleBilinear,
} from '../../../webview/dashboard/views/heatmaps/math';
import { colourBarPixels, compositeOverlay } from '../../../webview/shared/heatmapPixels';
import { fixtureAnalysisFolders, trainedFixtureRun } from '../../support/fixtureRun';

function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let index = 0; index < actual.length; index++) {
    const difference = Math.abs(actual[index]! - expected[index]!);
    assert.ok(difference <= tolerance, `at ${index}: ${actual[index]} vs ${expected[index]}`);
  }
}

describe('heat-map math of the dashboard', () => {
  describe('bilinear upsampling', () => {
    it('samples with half-pixel centres and clamps at the edges, as the engine resizes', () => {
      // 2 → 4: output o reads (o + 0.5) / 2 − 0.5 = −0.25, 0.25, 0.75, 1.25, clamped to [0, 1]. alignCorners
      // would read 0, 1/3, 2/3, 1 and TF.js's default (no half-pixel centres) 0, 0.5, 1, 1.
      const axis = bilinearAxis(2, 4);
      assert.deepEqual(Array.from(axis.lower), [0, 0, 0, 1]);
      assert.deepEqual(Array.from(axis.upper), [1, 1, 1, 1]);
      assert.deepEqual(Array.from(axis.fraction), [0, 0.25, 0.75, 0]);
    });

    it('interpolates a 2×2 map to 4×4 as worked out by hand', () => {
      // [[0, 0], [0, 4]] is f(r, c) = 4rc on the cell grid, which bilinear interpolation reproduces exactly:
      // out[y][x] = 4 · s[y] · s[x] with s = [0, 0.25, 0.75, 1].
      const upsampled = upsampleBilinear(new Float32Array([0, 0, 0, 4]), 1, [2, 2], [4, 4]);
      assert.deepEqual(Array.from(upsampled), [0, 0, 0, 0, 0, 0.25, 0.75, 1, 0, 0.75, 2.25, 3, 0, 1, 3, 4]);
    });

    it('upsamples several maps of an odd shape to a non-multiple size like tf.image.resizeBilinear', () => {
      const [count, height, width, size] = [3, 5, 7, 32];
      const values = Float32Array.from({ length: count * height * width }, (_, index) =>
        Math.abs(Math.sin(index * 1.7)),
      );
      const expected = tf.tidy(() =>
        tf.image
          .resizeBilinear(tf.tensor4d(values, [count, height, width, 1]), [size, size], false, true)
          .dataSync(),
      );
      assertAllClose(upsampleBilinear(values, count, [height, width], [size, size]), expected, 1e-6);
    });

    it('refuses maps that hold fewer values than their shape', () => {
      assert.throws(() => upsampleBilinear(new Float32Array(15), 1, [4, 4], [8, 8]), RangeError);
    });
  });

  describe('normalisation', () => {
    // Two 1×2 maps: the second is ten times as strong as the first.
    const maps = new Float32Array([0.5, 1, 10, 5]);
    const maxima = mapMaxima(maps, 2, 2);

    it('divides each map by its own maximum per image, by the step maximum globally', () => {
      assert.deepEqual(Array.from(maxima), [1, 10]);
      assert.deepEqual(
        Array.from(quantiseMaps(maps, 2, normalisationDivisors(maxima, 'image'))),
        [128, 255, 255, 128],
      );
      assert.deepEqual(
        Array.from(quantiseMaps(maps, 2, normalisationDivisors(maxima, 'global'))),
        [13, 26, 255, 128],
      );
    });

    it('keeps a map without positive evidence at 0 rather than dividing by 0', () => {
      const empty = new Float32Array([0, 0, 3, 1]);
      const divisors = normalisationDivisors(mapMaxima(empty, 2, 2), 'image');
      assert.deepEqual(Array.from(quantiseMaps(empty, 2, divisors)), [0, 0, 255, 85]);
      assert.equal(normalisedValue(0, 0), 0);
      assert.equal(normalisedValue(2, 4), 0.5);
    });
  });

  describe('colouring', () => {
    it('samples each colormap at 256 levels from its dark to its bright end', () => {
      for (const name of colormapNames) {
        const table = colormapTable(name);
        assert.equal(table.length, 256 * 3);
        const brightness = (level: number) =>
          table[level * 3]! + table[level * 3 + 1]! + table[level * 3 + 2]!;
        assert.ok(brightness(0) < brightness(255), name);
      }
      // d3's inferno starts at #000004 and ends at #fcffa4.
      assert.deepEqual(Array.from(colormapTable('inferno').subarray(0, 3)), [0, 0, 4]);
      assert.deepEqual(Array.from(colormapTable('inferno').subarray(255 * 3)), [252, 255, 164]);
    });

    it('blends the colour over the image with the opacity into opaque RGBA', () => {
      const image = new Uint8Array([99, 99, 99, 200, 100, 0, 12, 20, 32]);
      const table = colormapTable('inferno');
      const out = new Uint8ClampedArray(2 * 4);
      compositeOverlay(image, 3, new Uint8Array([7, 0, 255]), 1, table, 0.25, out);
      // Inferno's ends are (0, 0, 4) and (252, 255, 164): 0.75 · 12 + 0.25 · 252 = 72, and so on.
      assert.deepEqual(Array.from(out), [150, 75, 1, 255, 72, 79, 65, 255]);
      compositeOverlay(image, 3, new Uint8Array([0, 0, 255]), 1, table, 0, out);
      assert.deepEqual(Array.from(out), [200, 100, 0, 255, 12, 20, 32, 255]);
    });

    it('lays the colormap out as a colour bar row', () => {
      const bar = colourBarPixels(colormapTable('viridis'));
      assert.equal(bar.length, 256 * 4);
      assert.deepEqual(Array.from(bar.subarray(255 * 4)), [
        ...colormapTable('viridis').subarray(255 * 3),
        255,
      ]);
    });
  });

  describe("against a trained run's saved heat maps", function () {
    this.timeout(240_000);
    let steps: { folder: string; manifest: AnalysisManifest }[];

    before(async () => {
      const { runDir } = await trainedFixtureRun();
      steps = (await fixtureAnalysisFolders(runDir)).map((folder) => ({
        folder,
        manifest: analysisManifest.parse(
          JSON.parse(readFileSync(path.join(folder, 'analysis.json'), 'utf8')),
        ),
      }));
      assert.ok(steps.length >= 2);
    });

    function readArray(folder: string, manifest: AnalysisManifest, name: string): Float32Array | Uint8Array {
      const entry = manifest.arrays[name]!;
      const bytes = readFileSync(path.join(folder, entry.file));
      const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      return entry.dtype === 'float32' ? new Float32Array(buffer) : new Uint8Array(buffer);
    }

    it('recomputes the per-image heat maps of both variants and views within one level', () => {
      for (const { folder, manifest } of steps) {
        for (const variant of ['gradCam', 'gradientTimesActivation']) {
          const cam = readArray(folder, manifest, `cam.${variant}`) as Float32Array;
          const saved = readArray(folder, manifest, `heatmap.${variant}`);
          const [views, probes, height, width] = manifest.arrays[`cam.${variant}`]!.shape as number[];
          const size = manifest.imageSize;
          const upsampled = upsampleBilinear(cam, views! * probes!, [height!, width!], [size, size]);
          const divisors = normalisationDivisors(
            mapMaxima(upsampled, views! * probes!, size * size),
            'image',
          );
          const recomputed = quantiseMaps(upsampled, size * size, divisors);
          // The engine computes in float32 on its own backend; a value on a rounding boundary may land one
          // level apart, and nowhere more.
          assertAllClose(recomputed, saved, 1);
          const exact = recomputed.filter((level, index) => level === saved[index]).length;
          assert.ok(exact / saved.length > 0.99, `${variant} at epoch ${manifest.epoch}: ${exact} exact`);
          assert.ok(saved.some((level) => level > 0));
        }
      }
    });

    it('keeps the strongest probe at full scale and weakens the others under global normalisation', () => {
      const { folder, manifest } = steps.at(-1)!;
      const cam = readArray(folder, manifest, 'cam.gradCam') as Float32Array;
      const [, probes, height, width] = manifest.arrays['cam.gradCam']!.shape as number[];
      const size = manifest.imageSize;
      const centre = upsampleBilinear(cam, probes!, [height!, width!], [size, size]);
      const maxima = mapMaxima(centre, probes!, size * size);
      const perImage = quantiseMaps(centre, size * size, normalisationDivisors(maxima, 'image'));
      const global = quantiseMaps(centre, size * size, normalisationDivisors(maxima, 'global'));
      const strongest = maxima.indexOf(Math.max(...maxima));
      for (let probe = 0; probe < probes!; probe++) {
        const tile = (levels: Uint8Array) => levels.subarray(probe * size * size, (probe + 1) * size * size);
        assert.equal(Math.max(...tile(perImage)), 255, `probe ${probe} per image`);
        const globalPeak = Math.max(...tile(global));
        if (probe === strongest) {
          assert.deepEqual(tile(global), tile(perImage));
        } else {
          assert.ok(Math.abs(globalPeak - Math.round((255 * maxima[probe]!) / maxima[strongest]!)) <= 1);
        }
      }
      assert.ok(
        maxima.some((peak) => peak < maxima[strongest]! * 0.9),
        'the probes differ in strength',
      );
    });
  });
});
