import assert from 'node:assert/strict';
import { holmAdjusted, meanAndStd, pairedDifference } from '../../../src/shared/study/statistics';

const near = (actual: number, expected: number, tolerance = 1e-4) =>
  assert.ok(Math.abs(actual - expected) < tolerance, `${actual} is not ${expected}`);

describe('study statistics', () => {
  it('gives the mean and the sample standard deviation over seeds', () => {
    assert.deepEqual(meanAndStd([1, 2, 3]), { mean: 2, std: 1 });
    assert.deepEqual(meanAndStd([0.5]), { mean: 0.5, std: 0 });
  });

  it('gives the paired difference with its 95 % Student t interval and p-value', () => {
    // Differences 1, 2, 3: mean 2, std 1, t(0.975, 2) = 4.3027 (any t table), half-width 4.3027 / √3 = 2.4841;
    // t = 2 / (1 / √3) = 3.4641 on 2 degrees of freedom, two-sided p = 0.0742 (R's t.test(c(1, 2, 3))).
    const difference = pairedDifference([1.5, 2.5, 3.5], [0.5, 0.5, 0.5]);
    assert.equal(difference.n, 3);
    assert.equal(difference.mean, 2);
    near(difference.low, 2 - 2.4841, 1e-3);
    near(difference.high, 2 + 2.4841, 1e-3);
    near(difference.p, 0.0742, 1e-4);
    // Ten pairs, differences 0..9: t = 4.5 / (3.0277 / √10) = 4.7001 on 9 degrees of freedom, p = 0.00112.
    const ten = pairedDifference(
      Array.from({ length: 10 }, (_, index) => index),
      Array.from({ length: 10 }, () => 0),
    );
    near(
      ten.high - ten.mean,
      (2.2622 * meanAndStd(Array.from({ length: 10 }, (_, index) => index)).std) / Math.sqrt(10),
      1e-3,
    );
    near(ten.p, 0.00112, 2e-5);
  });

  it('puts p at 0.05 exactly where the interval touches 0', () => {
    // The interval's half-width is t(0.975) × se; a mean of that size is where the test turns significant.
    const spread = [-1, 0, 1, 0.5];
    const { high, mean } = pairedDifference(spread, [0, 0, 0, 0]);
    const shift = high - mean;
    const touching = pairedDifference(
      spread.map((value) => value - mean + shift),
      [0, 0, 0, 0],
    );
    near(touching.low, 0, 1e-9);
    near(touching.p, 0.05, 1e-9);
  });

  it('cannot test with fewer than two pairs, and needs no spread to see a constant difference', () => {
    const one = pairedDifference([2], [1]);
    assert.equal(one.mean, 1);
    assert.ok(Number.isNaN(one.low) && Number.isNaN(one.high) && Number.isNaN(one.p));
    assert.equal(pairedDifference([2, 3], [1, 2]).p, 0);
    assert.equal(pairedDifference([1, 2], [1, 2]).p, 1);
  });

  it("adjusts p-values by Holm's step-down method", () => {
    // As R's p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm"): 0.03 0.06 0.06 0.02.
    const adjusted = holmAdjusted([0.01, 0.04, 0.03, 0.005]);
    for (const [index, expected] of [0.03, 0.06, 0.06, 0.02].entries())
      near(adjusted[index]!, expected, 1e-12);
    // Capped at 1; an untestable comparison stays NaN and does not count as a test.
    const withUntestable = holmAdjusted([0.6, Number.NaN, 0.2]);
    assert.equal(withUntestable[0], 0.6);
    assert.ok(Number.isNaN(withUntestable[1]!));
    near(withUntestable[2]!, 0.4, 1e-12);
    assert.deepEqual(holmAdjusted([0.7, 0.9]), [1, 1]);
  });
});
