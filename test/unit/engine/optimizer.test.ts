import assert from 'node:assert/strict';
import type { OneDnnBackend } from '../../../src/engine/backends/onednn/nativeKernel';
import { tryOneDnn } from '../../../src/engine/backends/onednn/onednnBackend';
import { tf } from '../../../src/engine/tf';
import { learningRateAt, type OptimizerName, SslOptimizer } from '../../../src/engine/training/optimizer';

/** PyTorch's SGD, LARS (SimCLR's exclusion of 1-D weights) and Adam on a quadratic, in plain numbers. */
function reference(
  name: OptimizerName,
  weights: number[][],
  targets: number[][],
  steps: number,
  rate: number,
) {
  const momentum = 0.9;
  const weightDecay = 0.1;
  const trust = 0.001;
  const state = weights.map((w) => ({
    w: [...w],
    buffer: w.map(() => 0),
    m: w.map(() => 0),
    v: w.map(() => 0),
  }));
  for (let t = 1; t <= steps; t++) {
    state.forEach((entry, index) => {
      const regularised = index === 0;
      // d/dw of sum((w − target)²) is 2(w − target).
      const g = entry.w.map((w, k) => 2 * (w - targets[index]![k]!) + (regularised ? weightDecay * w : 0));
      if (name === 'adam') {
        entry.m = entry.m.map((m, k) => 0.9 * m + 0.1 * g[k]!);
        entry.v = entry.v.map((v, k) => 0.999 * v + 0.001 * g[k]! ** 2);
        entry.w = entry.w.map(
          (w, k) =>
            w - (rate * (entry.m[k]! / (1 - 0.9 ** t))) / (Math.sqrt(entry.v[k]! / (1 - 0.999 ** t)) + 1e-8),
        );
        return;
      }
      let scale = 1;
      if (name === 'lars' && regularised) {
        const wNorm = Math.hypot(...entry.w);
        const gNorm = Math.hypot(...g);
        scale = wNorm > 0 && gNorm > 0 ? (trust * wNorm) / gNorm : 1;
      }
      entry.buffer = entry.buffer.map((b, k) => momentum * b + scale * g[k]!);
      entry.w = entry.w.map((w, k) => w - rate * entry.buffer[k]!);
    });
  }
  return state.map((entry) => entry.w);
}

/** Counts the addon's fused update calls, so a test on onednn knows the fused path ran. */
function countFusedUpdates(): { calls: number; restore(): void } {
  const addon = (tf.backend() as OneDnnBackend).addon;
  const original = { adam: addon.adam, momentum: addon.momentum };
  const counter = {
    calls: 0,
    restore() {
      Object.assign(addon, original);
    },
  };
  addon.adam = (...args) => {
    counter.calls++;
    original.adam(...args);
  };
  addon.momentum = (...args) => {
    counter.calls++;
    original.momentum(...args);
  };
  return counter;
}

describe('optimizers', () => {
  before(async () => {
    const attempt = await tryOneDnn();
    assert.equal(attempt.outcome, 'selected', attempt.reason);
  });

  after(async () => {
    await tf.setBackend('cpu');
  });

  // The cpu backend composes each update from TF.js ops; onednn runs one fused kernel per parameter.
  for (const [backend, name] of (['cpu', 'onednn'] as const).flatMap((backend) =>
    (['sgd', 'lars', 'adam'] as OptimizerName[]).map((name) => [backend, name] as const),
  ))
    it(`${name} on ${backend} follows PyTorch's update rule, decaying only multi-dimensional weights`, async () => {
      await tf.setBackend(backend);
      const fused = backend === 'onednn' ? countFusedUpdates() : undefined;
      const initial = [
        [0.5, -1, 2, 0.25],
        [1, 3],
      ];
      const targets = [
        [1, 1, 1, 1],
        [0, 0],
      ];
      const matrix = tf.variable(
        tf.tensor2d(initial[0]!, [2, 2]),
        true,
        `opt-test-${backend}-${name}-matrix`,
      );
      const bias = tf.variable(tf.tensor1d(initial[1]!), true, `opt-test-${backend}-${name}-bias`);
      const optimizer = new SslOptimizer({ name, momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.001 }, [
        { variables: [matrix, bias], scheduled: true },
      ]);
      const rate = name === 'lars' ? 0.5 : 0.05;
      for (let step = 0; step < 5; step++) {
        const values = await optimizer.step(
          () => {
            const total = tf.add(
              tf.sum(tf.square(tf.sub(matrix, tf.tensor2d(targets[0]!, [2, 2])))),
              tf.sum(tf.square(tf.sub(bias, tf.tensor1d(targets[1]!)))),
            ) as tf.Scalar;
            return { total, terms: { total } };
          },
          { scheduled: rate, fixed: rate },
        );
        assert.ok(Number.isFinite(values.total));
      }
      const expected = reference(name, initial, targets, 5, rate);
      const actual = [Array.from(matrix.dataSync()), Array.from(bias.dataSync())];
      actual.flat().forEach((value, index) => {
        assert.ok(
          Math.abs(value - expected.flat()[index]!) < 1e-5,
          `${name}: ${actual.flat()} vs ${expected.flat()}`,
        );
      });
      assert.deepEqual(
        optimizer.state.all().map(([stateName]) => stateName),
        name === 'adam'
          ? [
              'optimizer.step',
              `optimizer.opt-test-${backend}-${name}-matrix.firstMoment`,
              `optimizer.opt-test-${backend}-${name}-matrix.secondMoment`,
              `optimizer.opt-test-${backend}-${name}-bias.firstMoment`,
              `optimizer.opt-test-${backend}-${name}-bias.secondMoment`,
            ]
          : [
              'optimizer.step',
              `optimizer.opt-test-${backend}-${name}-matrix.momentum`,
              `optimizer.opt-test-${backend}-${name}-bias.momentum`,
            ],
      );
      optimizer.dispose();
      tf.dispose([matrix, bias]);
      if (fused) {
        fused.restore();
        assert.equal(fused.calls, 10, 'one fused update per parameter and step');
      }
    });

  it('warms up linearly, then follows a half cosine to zero, scaled by batch size / 256', () => {
    const schedule = {
      baseLr: 0.1,
      batchSize: 512,
      warmupSteps: 10,
      totalSteps: 110,
      kind: 'cosine' as const,
    };
    assert.ok(Math.abs(learningRateAt(0, schedule) - 0.02) < 1e-12);
    assert.ok(Math.abs(learningRateAt(9, schedule) - 0.2) < 1e-12);
    assert.ok(Math.abs(learningRateAt(10, schedule) - 0.2) < 1e-12);
    assert.ok(Math.abs(learningRateAt(60, schedule) - 0.1) < 1e-12);
    assert.ok(Math.abs(learningRateAt(110, schedule)) < 1e-12);
    assert.equal(learningRateAt(50, { ...schedule, kind: 'constant' }), 0.2);
  });
});
