import assert from 'node:assert/strict';
import { chooseProbes } from '../../../src/engine/data/probes';

describe('probe images', () => {
  // Ten classes of three test images each, in the split's order: class c at positions 3c, 3c+1, 3c+2.
  const labels = Int32Array.from({ length: 30 }, (_, position) => Math.floor(position / 3));

  it('spreads fewer probes than classes evenly over the classes, first image of each', () => {
    assert.deepEqual(chooseProbes(labels, 5), [0, 6, 12, 18, 24]);
    assert.deepEqual(chooseProbes(labels, 1), [0]);
  });

  it('takes every class once, then second images, when more probes than classes are wanted', () => {
    const probes = chooseProbes(labels, 13);
    assert.deepEqual(probes.slice(0, 10), [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
    assert.deepEqual(probes.slice(10), [1, 10, 19]);
    assert.equal(new Set(chooseProbes(labels, 30)).size, 30);
  });

  it('skips classes whose images are used up, and names the key when the count cannot be met', () => {
    const uneven = Int32Array.from([0, 0, 0, 1, 2]);
    assert.deepEqual(chooseProbes(uneven, 5), [0, 3, 4, 1, 2]);
    assert.throws(
      () => chooseProbes(uneven, 6),
      /analysis\.probes\.count: 6 probes asked for, but the test split has 5 images/,
    );
    assert.throws(() => chooseProbes(uneven, 0), /analysis\.probes\.count: must be a positive integer/);
  });
});
