import assert from 'node:assert/strict';
import { meanAndStd, pairedDifference } from '../../../scripts/lib/studyRuns';

describe('study tables', () => {
  it('gives the mean and the sample standard deviation over seeds', () => {
    assert.deepEqual(meanAndStd([1, 2, 3]), { mean: 2, std: 1 });
    assert.deepEqual(meanAndStd([0.5]), { mean: 0.5, std: 0 });
  });

  it('gives the paired difference with its 95 % Student t interval', () => {
    // Differences 1, 2, 3: mean 2, std 1, t(0.975, 2) = 4.303 (any t table), half-width 4.303 / √3 = 2.484.
    const { mean, low, high } = pairedDifference([1.5, 2.5, 3.5], [0.5, 0.5, 0.5]);
    assert.equal(mean, 2);
    assert.ok(Math.abs(low - (2 - 2.4841)) < 1e-3, `${low}`);
    assert.ok(Math.abs(high - (2 + 2.4841)) < 1e-3, `${high}`);
    // Ten seeds: t(0.975, 9) = 2.262.
    const ten = pairedDifference(
      Array.from({ length: 10 }, (_, index) => index),
      Array.from({ length: 10 }, () => 0),
    );
    const std = meanAndStd(Array.from({ length: 10 }, (_, index) => index)).std;
    assert.ok(Math.abs(ten.high - ten.mean - (2.2622 * std) / Math.sqrt(10)) < 1e-3);
  });
});
