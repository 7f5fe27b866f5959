import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { mulberry32 } from '../../../src/engine/eval/linearProbe';
import type { MaskCombine } from '../../../src/shared/config/experiment/choices';
import { lowestQuantile, nonDiscriminativeMask } from '../../../src/shared/mask';
import { analysisManifest } from '../../../src/shared/protocol/runFiles';
import {
  asinhLinearThreshold,
  axisRange,
  binAt,
  configSettings,
  countAtOrBelow,
  defaultBinCount,
  formatQuantile,
  formatValue,
  histogram,
  logTicks,
  manifestSettings,
  quantileForCount,
  quantileRanges,
  sameSettings,
  selectedPerBin,
  settingsChanges,
  spacedLabels,
  steppedCount,
  thresholdLabel,
} from '../../../webview/dashboard/views/dimensions/math';
import { fixtureAnalysisFolders, trainedFixtureRun } from '../../support/fixtureRun';

/** Values with many ties (dead units at 0, a few repeated levels) and a spread over orders of magnitude. */
function drawValues(next: () => number, count: number): Float32Array {
  return Float32Array.from({ length: count }, () => {
    const kind = next();
    if (kind < 0.15) return 0;
    if (kind < 0.35) return [0.5, 0.25, 1e-3][Math.floor(next() * 3)]!;
    return 10 ** (-4 + 4 * next());
  });
}

describe('feature-dimension math of the dashboard', () => {
  describe('histogram', () => {
    it('puts every value in the bin whose edges hold it, linear and arcsinh', () => {
      const next = mulberry32(1);
      for (const threshold of [null, 1e-4]) {
        const values = drawValues(next, 500);
        const bins = histogram(values, 20, threshold);
        assert.equal(bins.edges.length, 21);
        assert.equal(
          bins.counts.reduce((sum, count) => sum + count, 0),
          values.length,
        );
        values.forEach((value, dimension) => {
          const bin = bins.binOf[dimension]!;
          const low = bins.edges[bin]!;
          const high = bins.edges[bin + 1]!;
          const slack = Math.abs(value) * 1e-12;
          assert.ok(value >= low - slack, `${value} below its bin [${low}, ${high})`);
          assert.ok(
            bin === 19 ? value <= high + slack : value < high + slack,
            `${value} above [${low}, ${high})`,
          );
          assert.equal(binAt(bins, value) === bin || Math.abs(value - high) <= slack, true);
        });
        for (let bin = 0; bin < 20; bin++) {
          assert.equal(bins.counts[bin], [...bins.binOf].filter((of) => of === bin).length);
        }
      }
    });

    it('makes the bins equal on the axis they are drawn on', () => {
      const values = Float32Array.from([1e-3, 1e-2, 1e-1, 1]);
      const linear = histogram(values, 3, null);
      const widths = linear.edges.slice(1).map((edge, index) => edge - linear.edges[index]!);
      for (const width of widths) assert.ok(Math.abs(width - widths[0]!) < 1e-12);
      const logarithmic = histogram(values, 3, 1e-3);
      const transformed = logarithmic.edges.map((edge) => Math.asinh(edge / 1e-3));
      const steps = transformed.slice(1).map((edge, index) => edge - transformed[index]!);
      for (const step of steps) assert.ok(Math.abs(step - steps[0]!) < 1e-9);
      // On a logarithmic axis the decades spread out over the bins.
      assert.deepEqual(linear.counts, [3, 0, 1]);
      assert.deepEqual(logarithmic.counts, [2, 1, 1]);
    });

    it('gives a single value a bin around it', () => {
      const bins = histogram(Float32Array.from([0.2, 0.2, 0.2]), 8, null);
      assert.ok(bins.edges[0]! < 0.2 && bins.edges.at(-1)! > 0.2);
      assert.equal(
        bins.counts.reduce((sum, count) => sum + count, 0),
        3,
      );
    });

    it('splits off the selected dimensions per bin', () => {
      const values = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
      const bins = histogram(values, 4, null);
      const selected = lowestQuantile(values, 0.375, 'q').candidates;
      assert.deepEqual(bins.counts, [2, 2, 2, 2]);
      assert.deepEqual(selectedPerBin(bins, selected), [2, 1, 0, 0]);
    });

    it('chooses the bin count from the number of dimensions', () => {
      assert.equal(defaultBinCount(64), 16);
      assert.equal(defaultBinCount(4), 8);
      assert.equal(defaultBinCount(2048), 48);
    });
  });

  describe('logarithmic axes', () => {
    it('takes the power of ten at or below the smallest non-zero magnitude as the linear part', () => {
      assert.equal(asinhLinearThreshold([0, 0.0117, 0.168]), 0.01);
      assert.equal(asinhLinearThreshold([-6.18e-11, 7.2e-11, 0]), 1e-11);
      assert.equal(asinhLinearThreshold([0, 0]), null);
    });

    it('ticks within decades as densely as the axis has room for', () => {
      const close = (ticks: number[], expected: number[]) =>
        assert.deepEqual(
          ticks.map((tick) => Number(tick.toPrecision(6))),
          expected,
        );
      close(
        logTicks(0.0117, 0.168, 0.01, 20),
        [
          0.012, 0.014, 0.016, 0.018, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.06, 0.07, 0.08, 0.09,
          0.1, 0.12, 0.14, 0.16,
        ],
      );
      close(logTicks(0.0117, 0.168, 0.01, 10), [0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1]);
      close(logTicks(0.0117, 0.168, 0.01, 5), [0.02, 0.05, 0.1]);
      // Signed importances: zero and both signs, from the linear threshold out.
      close(logTicks(-1.2e-10, 1.5e-10, 1e-11, 5), [-1e-10, -1e-11, 0, 1e-11, 1e-10]);
    });

    it('labels the decades first and other ticks where they fit', () => {
      assert.deepEqual(spacedLabels([0.01, 0.02, 0.03, 0.05, 0.1], [0, 30, 48, 70, 100], 40), [
        true,
        false,
        true,
        false,
        true,
      ]);
      assert.deepEqual(spacedLabels([0.02, 0.05, 0.07], [0, 50, 100], 40), [true, true, true]);
      assert.deepEqual(spacedLabels([0.02, 0.05, 0.07], [0, 30, 60], 40), [false, true, false]);
    });

    it('pads the axis range on the axis it is drawn on', () => {
      const [low, high] = axisRange([1, 3], null);
      assert.ok(Math.abs(low - 0.9) < 1e-12 && Math.abs(high - 3.1) < 1e-12);
      const [logLow, logHigh] = axisRange([0.01, 100], 0.01);
      assert.ok(logLow < 0.01 && logLow > 0, `${logLow}`);
      assert.ok(logHigh > 100 && logHigh < 200, `${logHigh}`);
    });
  });

  describe('the quantile a dragged threshold stands for', () => {
    it('selects exactly the dragged count for every count of many C', () => {
      for (let dimensions = 1; dimensions <= 300; dimensions++) {
        for (let count = 0; count <= dimensions; count++) {
          for (const key of ['analysis.variance.quantile', 'analysis.gradcam.quantile'] as const) {
            const quantile = quantileForCount(count, dimensions, key);
            assert.equal(
              Math.floor(quantile * dimensions),
              count,
              `C=${dimensions}, count=${count}: q=${quantile}`,
            );
            assert.ok(quantile >= 0 && quantile <= 1);
          }
        }
      }
    });

    it('keeps as few decimals as the count allows', () => {
      assert.equal(quantileForCount(16, 64, 'analysis.variance.quantile'), 0.25);
      assert.equal(quantileForCount(17, 64, 'analysis.variance.quantile'), 0.27);
      assert.equal(quantileForCount(0, 64, 'analysis.variance.quantile'), 0);
      assert.equal(quantileForCount(64, 64, 'analysis.variance.quantile'), 1);
      // 0.29 · 100 is 28.999999999999996 in floating point: the engine would cut 28, so 0.291 it is.
      assert.equal(quantileForCount(29, 100, 'analysis.variance.quantile'), 0.291);
      for (const dimensions of [64, 128, 512, 2048]) {
        for (let count = 0; count <= dimensions; count++) {
          const quantile = quantileForCount(count, dimensions, 'analysis.gradcam.quantile');
          const decimals = formatQuantile(quantile).split('.')[1]?.length ?? 0;
          assert.ok(decimals <= Math.ceil(Math.log10(dimensions)) + 1, `C=${dimensions}: ${quantile}`);
        }
      }
    });

    it('matches lowestQuantile: a line dropped at x selects exactly the values at or below x, ties included', () => {
      const next = mulberry32(7);
      for (const dimensions of [1, 2, 3, 7, 64, 100, 257, 2048]) {
        const values = drawValues(next, dimensions);
        const drops = [
          ...Array.from(values).slice(0, 40),
          -1,
          2,
          ...Array.from({ length: 20 }, () => next()),
        ];
        for (const x of drops) {
          const count = countAtOrBelow(values, x);
          const quantile = quantileForCount(count, dimensions, 'analysis.variance.quantile');
          const cut = lowestQuantile(values, quantile, 'analysis.variance.quantile');
          assert.equal(cut.count, count);
          values.forEach((value, dimension) => {
            assert.equal(
              cut.candidates[dimension],
              value <= x ? 1 : 0,
              `C=${dimensions}, x=${x}, dim ${dimension}`,
            );
          });
          const atOrBelow = Array.from(values).filter((value) => value <= x);
          assert.equal(cut.threshold, atOrBelow.length > 0 ? Math.max(...atOrBelow) : null);
        }
      }
    });

    it('reads the allowed range of the quantile keys from the config definitions', () => {
      assert.deepEqual(quantileRanges['analysis.variance.quantile'], { min: 0, max: 1 });
      assert.deepEqual(quantileRanges['analysis.gradcam.quantile'], { min: 0, max: 1 });
    });
  });

  describe('keyboard steps', () => {
    it('moves one distinct value at a time, over whole groups of ties', () => {
      const values = Float32Array.from([0.3, 0, 0.1, 0, 0.1, 0.2, 0]);
      // Sorted: 0 0 0 0.1 0.1 0.2 0.3.
      assert.equal(steppedCount(values, 0, 1), 3);
      assert.equal(steppedCount(values, 3, 1), 5);
      assert.equal(steppedCount(values, 5, 1), 6);
      assert.equal(steppedCount(values, 7, 1), 7);
      assert.equal(steppedCount(values, 7, -1), 6);
      assert.equal(steppedCount(values, 5, -1), 3);
      assert.equal(steppedCount(values, 3, -1), 0);
      assert.equal(steppedCount(values, 0, -1), 0);
      // From inside a group of ties (a quantile typed into the config) a step leaves the group.
      assert.equal(steppedCount(values, 4, 1), 5);
      assert.equal(steppedCount(values, 4, -1), 3);
    });
  });

  describe('labels', () => {
    it('says what a threshold cuts', () => {
      assert.equal(thresholdLabel(0.25, 16, 0.029581548646092415), 'q = 0.25 → 16 dims ≤ 0.0296');
      assert.equal(thresholdLabel(0.02, 1, 0.5), 'q = 0.02 → 1 dim ≤ 0.5');
      assert.equal(thresholdLabel(0, 0, null), 'q = 0 → no dims');
      assert.equal(formatQuantile(0.1 + 0.2), '0.3');
    });

    it('formats values across orders of magnitude', () => {
      assert.equal(formatValue(0), '0');
      assert.equal(formatValue(0.0008325835), '8.33e-4');
      assert.equal(formatValue(0.0117), '0.0117');
      assert.equal(formatValue(-6.18e-11), '-6.18e-11');
      assert.equal(formatValue(2e-12), '2e-12');
      assert.equal(formatValue(123456), '1.23e+5');
      assert.equal(formatValue(1.5), '1.5');
    });
  });

  describe('mask settings from the config', () => {
    const saved = {
      varianceQuantile: 0.25,
      gradcamQuantile: 0.25,
      variant: 'absolute',
      combine: 'union',
    } as const;

    it('takes the config values and keeps the step own where one is missing or out of range', () => {
      assert.deepEqual(configSettings({}, saved), saved);
      assert.deepEqual(
        configSettings(
          {
            'analysis.variance.quantile': 0.4,
            'analysis.gradcam.quantile': 0.1,
            'analysis.gradcam.variant': 'signed',
            'analysis.combine': 'intersection',
          },
          saved,
        ),
        { varianceQuantile: 0.4, gradcamQuantile: 0.1, variant: 'signed', combine: 'intersection' },
      );
      assert.deepEqual(
        configSettings(
          {
            'analysis.variance.quantile': 1.5,
            'analysis.gradcam.quantile': '0.3',
            'analysis.gradcam.variant': 'squared',
            'analysis.combine': true,
          },
          saved,
        ),
        saved,
      );
    });

    it('lists what differs from the step, in a fixed order', () => {
      const current = { ...saved, varianceQuantile: 0.4, combine: 'variance' as const };
      assert.deepEqual(settingsChanges(saved, current), [
        'variance q 0.25 → 0.4',
        'combine union → variance',
      ]);
      assert.equal(sameSettings(saved, current), false);
      assert.equal(sameSettings(saved, { ...saved }), true);
    });

    it('cuts the mask a brute-force ranking gives, for every combine', () => {
      const next = mulberry32(3);
      for (const combine of ['union', 'intersection', 'variance', 'gradcam'] as MaskCombine[]) {
        const variance = drawValues(next, 97);
        const importance = drawValues(next, 97);
        const settings = configSettings(
          {
            'analysis.variance.quantile': 0.3,
            'analysis.gradcam.quantile': 0.2,
            'analysis.combine': combine,
          },
          saved,
        );
        const { mask, count } = nonDiscriminativeMask({ variance, importance, ...settings });
        const rank = (values: Float32Array) => {
          const order = [...values.keys()].sort((a, b) => values[a]! - values[b]! || a - b);
          const ranks = new Array<number>(values.length);
          order.forEach((dimension, position) => {
            ranks[dimension] = position;
          });
          return ranks;
        };
        const varianceRank = rank(variance);
        const importanceRank = rank(importance);
        const expected = varianceRank.map((position, dimension) => {
          const byVariance = position < Math.floor(0.3 * 97);
          const byImportance = importanceRank[dimension]! < Math.floor(0.2 * 97);
          const masked =
            combine === 'union'
              ? byVariance || byImportance
              : combine === 'intersection'
                ? byVariance && byImportance
                : combine === 'variance'
                  ? byVariance
                  : byImportance;
          return masked ? 1 : 0;
        });
        assert.deepEqual([...mask], expected, combine);
        assert.equal(
          count,
          expected.reduce((sum: number, bit) => sum + bit, 0),
        );
      }
    });

    it("reproduces each fixture step's saved mask and thresholds from the settings it was cut with", async function () {
      this.timeout(180_000);
      const run = await trainedFixtureRun();
      for (const folder of await fixtureAnalysisFolders(run.runDir)) {
        const manifest = analysisManifest.parse(
          JSON.parse(readFileSync(path.join(folder, 'analysis.json'), 'utf8')),
        );
        const read = (name: string) => readFileSync(path.join(folder, manifest.arrays[name]!.file));
        const floats = (name: string) => {
          const bytes = read(name);
          return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        };
        const stepSettings = manifestSettings(manifest);
        const settings = configSettings(
          {
            'analysis.variance.quantile': manifest.variance.quantile,
            'analysis.gradcam.quantile': manifest.gradcam.quantile,
            'analysis.gradcam.variant': manifest.gradcam.variant,
            'analysis.combine': manifest.combine,
          },
          stepSettings,
        );
        assert.deepEqual(settings, stepSettings);
        const cut = nonDiscriminativeMask({
          variance: floats('variance'),
          importance: floats(`importance.${settings.variant}`),
          ...settings,
        });
        assert.deepEqual([...cut.mask], [...read('mask')], `epoch ${manifest.epoch}`);
        assert.equal(cut.count, manifest.masked);
        assert.equal(cut.variance.threshold, manifest.variance.threshold);
        assert.equal(cut.gradcam.threshold, manifest.gradcam.threshold);
      }
    });
  });
});
