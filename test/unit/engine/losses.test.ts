import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { byolLoss, byolRegression } from '../../../src/engine/losses/byol';
import { infoNceLoss } from '../../../src/engine/losses/infoNce';
import { negativeCosine, simSiamLoss } from '../../../src/engine/losses/negativeCosine';
import { ntXentLoss } from '../../../src/engine/losses/ntXent';
import { rowLogSumExp } from '../../../src/engine/losses/tensorOps';
import { repoRoot } from '../../support/paths';

type Matrix = number[][];
interface LossCase {
  inputs: Record<string, Matrix>;
  temperature?: number;
  loss: number;
  gradients: Record<string, Matrix>;
}
interface Reference {
  losses: { ntXent: LossCase[]; infoNce: LossCase; simSiam: LossCase; byol: LossCase };
}

// Produced by test/reference/losses_metrics.py with PyTorch, independently of the TypeScript code.
const reference = JSON.parse(
  readFileSync(path.join(repoRoot, 'test', 'fixtures', 'reference', 'losses_metrics.json'), 'utf8'),
) as Reference;

type Loss = (...inputs: tf.Tensor2D[]) => tf.Scalar;

interface Checked {
  name: string;
  reference: LossCase;
  inputOrder: string[];
  loss: Loss;
}

const checkedLosses: Checked[] = [
  ...reference.losses.ntXent.map((ntXent) => ({
    name: `NT-Xent (τ=${ntXent.temperature})`,
    reference: ntXent,
    inputOrder: ['z1', 'z2'],
    loss: (z1: tf.Tensor2D, z2: tf.Tensor2D) => ntXentLoss(z1, z2, ntXent.temperature!),
  })),
  {
    name: 'InfoNCE',
    reference: reference.losses.infoNce,
    inputOrder: ['q', 'k', 'queue'],
    loss: (q, k, queue) => infoNceLoss(q, k, queue, reference.losses.infoNce.temperature!),
  },
  {
    name: 'SimSiam',
    reference: reference.losses.simSiam,
    inputOrder: ['p1', 'p2', 'z1', 'z2'],
    loss: simSiamLoss,
  },
  { name: 'BYOL', reference: reference.losses.byol, inputOrder: ['p1', 'p2', 'z1', 'z2'], loss: byolLoss },
];

function inputsOf(checked: Checked): tf.Tensor2D[] {
  return checked.inputOrder.map((name) => tf.tensor2d(checked.reference.inputs[name]));
}

function assertClose(
  actual: number,
  expected: number,
  relative: number,
  absolute: number,
  what: string,
): void {
  const tolerance = Math.max(relative * Math.abs(expected), absolute);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs reference ${expected}`);
}

describe('SSL losses', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  for (const checked of checkedLosses) {
    describe(checked.name, () => {
      it('matches the PyTorch reference value', () => {
        const value = tf.tidy(() => checked.loss(...inputsOf(checked)).dataSync()[0]);
        assertClose(value, checked.reference.loss, 1e-5, 1e-6, checked.name);
      });

      it('has the PyTorch reference gradient, and none where the method stops it', () => {
        const gradients = tf.tidy(() => {
          const inputs = inputsOf(checked);
          // allowNoGradients: an input reached only through a stop-gradient has no gradient at all.
          const { value, grads } = tf
            .engine()
            .gradients(() => checked.loss(...(inputs as tf.Tensor2D[])), inputs, undefined, true);
          value.dispose();
          return grads.map((gradient) =>
            gradient === undefined ? undefined : (gradient.arraySync() as Matrix),
          );
        });
        checked.inputOrder.forEach((name, input) => {
          const expected = checked.reference.gradients[name];
          const scale = Math.max(...expected.flat().map(Math.abs));
          if (scale === 0) {
            // A stop-gradient input: cut from the tape, not merely sent zeros.
            assert.equal(gradients[input], undefined, `∂L/∂${name} should not exist`);
            return;
          }
          assert.ok(gradients[input], `∂L/∂${name} is missing`);
          gradients[input]!.flat().forEach((value, i) => {
            assert.ok(Number.isFinite(value), `∂L/∂${name} is not finite`);
            // float32 against float64: the error is relative to the gradient's overall size, not per entry.
            assertClose(value, expected.flat()[i], 0, 1e-5 * Math.max(scale, 1), `∂L/∂${name}[${i}]`);
          });
        });
      });

      it('leaves no tensor behind inside tf.tidy, and only its result outside', () => {
        const inputs = inputsOf(checked);
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          checked.loss(...inputs);
        });
        assert.equal(tf.memory().numTensors, before);
        const result = checked.loss(...inputs);
        assert.equal(tf.memory().numTensors, before + 1);
        tf.dispose([result, ...inputs]);
      });
    });
  }

  describe('row log-sum-exp', () => {
    const rows = [
      [0.5, -1, 2, 0],
      [1e4, 1e4 - 1, -1e4, 1e4 - 30],
      [-3, -3, -3, -3],
    ];

    it("has TF.js's logSumExp as its value and the softmax as its gradient, also at logits of 10⁴", async () => {
      const x = tf.tensor2d(rows);
      const dy = tf.tensor1d([1, -2, 0.5]);
      const [value, expectedValue] = [rowLogSumExp(x), tf.logSumExp(x, 1)];
      const [gradient] = tf.grads((logits: tf.Tensor) => rowLogSumExp(logits as tf.Tensor2D))([x], dy);
      const expectedGradient = tf.mul(tf.expandDims(dy, 1), tf.softmax(x));
      const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number) => {
        for (let i = 0; i < expected.length; i++) {
          const message = `${i}: ${actual[i]} vs ${expected[i]}`;
          assert.ok(
            Math.abs(actual[i]! - expected[i]!) <= tolerance * Math.max(1, Math.abs(expected[i]!)),
            message,
          );
        }
      };
      close(await value.data(), await expectedValue.data(), 1e-6);
      close(await gradient!.data(), await expectedGradient.data(), 1e-6);
      tf.dispose([x, dy, value, expectedValue, gradient!, expectedGradient]);
    });

    it("differentiates without comparing the matrix to its row maxima, as TF.js's own does, or the cpu Softmax kernel's scalar broadcast", async () => {
      const x = tf.tensor2d(rows);
      const kernelsOf = async (f: (logits: tf.Tensor) => tf.Tensor) =>
        (await tf.profile(() => tf.grad(f)(x))).kernels.map((kernel) => kernel.name);
      assert.ok((await kernelsOf((logits) => tf.logSumExp(logits, 1))).includes('Equal'));
      const ours = await kernelsOf((logits) => rowLogSumExp(logits as tf.Tensor2D));
      assert.ok(!ours.includes('Equal') && !ours.includes('Softmax'), ours.join(' '));
      x.dispose();
    });
  });

  describe('hand-computed cases', () => {
    const value = (compute: () => tf.Scalar) => tf.tidy(() => compute().dataSync()[0]);
    const identity2 = () =>
      tf.tensor2d([
        [1, 0],
        [0, 1],
      ]);

    it('NT-Xent of two orthonormal images seen identically is log(1 + 2·exp(−1/τ))', () => {
      // Each anchor sees its positive at similarity 1 and the two views of the other image at 0.
      const temperature = 0.5;
      const expected = Math.log(1 + 2 * Math.exp(-1 / temperature));
      assertClose(
        value(() => ntXentLoss(identity2(), identity2(), temperature)),
        expected,
        1e-6,
        0,
        'NT-Xent',
      );
    });

    it('NT-Xent ignores the scale of the projections', () => {
      const z1 = [
        [1, 2],
        [3, -1],
      ];
      const z2 = [
        [0.5, 1],
        [-2, 1],
      ];
      const scaled = (m: number[][], s: number) => tf.tensor2d(m.map((row) => row.map((x) => x * s)));
      const unscaled = value(() => ntXentLoss(tf.tensor2d(z1), tf.tensor2d(z2), 0.2));
      assertClose(
        value(() => ntXentLoss(scaled(z1, 7), scaled(z2, 0.1), 0.2)),
        unscaled,
        1e-6,
        0,
        'scaled',
      );
    });

    it('InfoNCE with the key equal to the query and K orthogonal negatives is log(1 + K·exp(−1/τ))', () => {
      const temperature = 0.2;
      const q = tf.tensor2d([[2, 0, 0, 0]]);
      const queue = tf.tensor2d([
        [0, 1, 0, 0],
        [0, 0, 3, 0],
        [0, 0, 0, 1],
      ]);
      const expected = Math.log(1 + 3 * Math.exp(-1 / temperature));
      // The loss is a small difference of two logsumexp-sized numbers, so float32 leaves ~1e-6 absolute error.
      assertClose(
        value(() => infoNceLoss(q, q, queue, temperature)),
        expected,
        1e-6,
        1e-6,
        'InfoNCE',
      );
      tf.dispose([q, queue]);
    });

    it('SimSiam is −1 when predictions point at the other view and +1 when they point away', () => {
      const z = tf.tensor2d([
        [1, 2, 3],
        [-1, 0, 4],
      ]);
      assertClose(
        value(() => simSiamLoss(tf.mul(z, 2), z, z, z)),
        -1,
        1e-6,
        0,
        'aligned',
      );
      assertClose(
        value(() => negativeCosine(tf.neg(z), z)),
        1,
        1e-6,
        0,
        'opposed',
      );
      z.dispose();
    });

    it('BYOL sums the two directions: 0 when aligned, 8 when both point away', () => {
      const z = tf.tensor2d([
        [1, 2, 3],
        [-1, 0, 4],
      ]);
      assertClose(
        value(() => byolLoss(z, z, tf.mul(z, 3), z)),
        0,
        0,
        1e-6,
        'aligned',
      );
      assertClose(
        value(() => byolLoss(tf.neg(z), tf.neg(z), z, z)),
        8,
        1e-6,
        0,
        'opposed',
      );
      assertClose(
        value(() =>
          byolRegression(
            identity2(),
            tf.tensor2d([
              [0, 1],
              [1, 0],
            ]),
          ),
        ),
        2,
        1e-6,
        0,
        '⊥',
      );
      z.dispose();
    });
  });
});
