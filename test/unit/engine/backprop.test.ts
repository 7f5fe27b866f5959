import assert from 'node:assert/strict';
import { stopGradient } from '../../../src/engine/losses/tensorOps';
import { tf } from '../../../src/engine/tf';

type Gradients = (
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients?: boolean,
) => { value: tf.Tensor; grads: tf.Tensor[] };

const engine = tf.engine() as unknown as { gradients: Gradients };
/** TF.js's own backward pass, which src/engine/tf.ts replaced on the engine instance. */
const tfjsGradients = Object.getPrototypeOf(engine).gradients as Gradients;

/** Runs `compute` with TF.js's own backward pass in place of the freeing one. */
function withTfjsBackprop<T>(compute: () => T): T {
  const freeing = engine.gradients;
  engine.gradients = tfjsGradients;
  try {
    return compute();
  } finally {
    engine.gradients = freeing;
  }
}

function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

/**
 * The identity, whose gradient hands dy on unchanged after calling `onBackward`: where the backward pass is
 * when it reaches this point shows in what `onBackward` reads.
 */
function identityWithGradient(onBackward: () => void): (input: tf.Tensor) => tf.Tensor {
  return tf.customGrad((input: tf.Tensor | tf.GradSaveFunc) => ({
    value: tf.clone(input as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => {
      onBackward();
      return dy;
    },
  })) as (input: tf.Tensor) => tf.Tensor;
}

/**
 * A graph with what a backward pass must get right: a branch that joins again (a residual), a kernel with
 * several outputs of which one is unused, a custom gradient that hands dy on unchanged, a constant that
 * needs no gradient, and a reduction to a scalar.
 */
function residualGraph(x: tf.Tensor, w: tf.Tensor): tf.Scalar {
  const passThrough = identityWithGradient(() => {});
  const hidden = tf.relu(tf.matMul(x, w));
  const [left, , right] = tf.split(hidden, [3, 2, 3], 1);
  const joined = tf.add(passThrough(tf.mul(left!, right!)), tf.tanh(left!));
  return tf.sum(tf.square(tf.add(joined, tf.ones(joined.shape))));
}

describe('the freeing backward pass', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it("gives TF.js's gradients for a residual graph, several outputs and a pass-through custom gradient, and leaks nothing", () => {
    const x = seeded([4, 6], 1);
    const w = seeded([6, 8], 2);
    const run = () => {
      const before = tf.memory().numTensors;
      const grads = tf.grads(residualGraph)([x, w]);
      const values = grads.map((grad) => grad.arraySync());
      tf.dispose(grads);
      return { values, leaked: tf.memory().numTensors - before };
    };
    const freeing = run();
    const tfjs = withTfjsBackprop(run);
    assert.deepEqual(freeing.values, tfjs.values);
    assert.equal(freeing.leaked, 0);
    assert.equal(tfjs.leaked, 0);
    tf.dispose([x, w]);
  });

  it('leaves a given dy alone, and gives the gradient of an x that is itself computed from another x', () => {
    const a = seeded([5], 3);
    const dy = seeded([5], 4);
    const run = () =>
      tf.tidy(() => {
        const b = tf.exp(a);
        const f = () => tf.mul(tf.sin(b), a);
        const { value, grads } = tf.engine().gradients(f, [a, b], dy);
        return [value, ...grads].map((tensor) => tensor.arraySync());
      });
    const freeing = run();
    assert.ok(!dy.isDisposed);
    assert.deepEqual(freeing, withTfjsBackprop(run));
    tf.dispose([a, dy]);
  });

  it('takes second derivatives as TF.js does, keeping what the outer pass records', () => {
    const x = seeded([7], 5);
    const run = () =>
      tf.tidy(() => {
        const secondDerivative = tf.grad((input: tf.Tensor) =>
          tf.grad((inner: tf.Tensor) => tf.sum(tf.pow(tf.sin(inner), 3)))(input),
        );
        return secondDerivative(x).arraySync();
      });
    assert.deepEqual(run(), withTfjsBackprop(run));
    x.dispose();
  });

  it("holds a deep chain's saved activations and gradients only as long as the walk needs them", () => {
    const layers = 24;
    const x = seeded([64, 256], 6);
    const weights = Array.from({ length: layers }, (_, layer) =>
      tf.mul(seeded([256, 256], 100 + layer), 0.1),
    );
    /** Live bytes when the walk reaches the first layer, the last node it visits. */
    const bytesAtTheBottom = () => {
      let bytes = 0;
      const probe = identityWithGradient(() => {
        bytes = tf.memory().numBytes;
      });
      const loss = (input: tf.Tensor) =>
        tf.sum(weights.reduce((activation, weight) => tf.tanh(tf.matMul(activation, weight)), probe(input)));
      tf.dispose(tf.grad(loss)(x));
      return bytes;
    };
    const freeing = bytesAtTheBottom();
    const tfjs = withTfjsBackprop(bytesAtTheBottom);
    const activationBytes = 64 * 256 * 4;
    // TF.js holds every layer's saved output and gradient there; the freeing pass a few activations.
    assert.ok(tfjs - freeing > layers * activationBytes, `TF.js ${tfjs} bytes, freeing ${freeing}`);
    tf.dispose([x, ...weights]);
  });

  it('stops at stopGradient: nothing before it is walked backward, and what only it reaches has no gradient', async () => {
    const x = seeded([2, 6, 6, 3], 7);
    const filter = seeded([3, 3, 3, 4], 8);
    const f = () =>
      tf.add(
        tf.sum(tf.square(x)),
        tf.sum(stopGradient(tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same'))),
      );
    const profile = await tf.profile(() => {
      const { value, grads } = tf.engine().gradients(f, [x, filter], undefined, true);
      assert.deepEqual(
        grads[0]!.arraySync(),
        tf.tidy(() => tf.mul(x, 2).arraySync()),
      );
      assert.equal(grads[1], undefined);
      tf.dispose([value, grads[0]!]);
    });
    const kernels = profile.kernels.map((kernel) => kernel.name);
    assert.ok(kernels.includes('Conv2D'));
    assert.ok(!kernels.some((name) => name.startsWith('Conv2DBackprop')), kernels.join(' '));
    tf.dispose([x, filter]);
  });

  it("keeps ReLU's output for its gradient, which the next layer keeps anyway, not its input as well", () => {
    const layers = 12;
    const x = seeded([64, 256], 9);
    const weights = Array.from({ length: layers }, (_, layer) =>
      tf.mul(seeded([256, 256], 200 + layer), 0.1),
    );
    let buffersKept = 0;
    // At the loss, the first node the backward pass visits: everything the forward pass kept is alive.
    const probe = identityWithGradient(() => {
      buffersKept = tf.memory().numDataBuffers;
    });
    const buffersBefore = tf.memory().numDataBuffers;
    const loss = (input: tf.Tensor) =>
      probe(tf.sum(weights.reduce((activation, weight) => tf.relu(tf.matMul(activation, weight)), input)));
    tf.dispose(tf.grad(loss)(x));
    // A buffer a layer (ReLU's output, which the next matMul keeps too) and a few for the loss; keeping
    // ReLU's input, the matMul's output, would add one a layer.
    assert.ok(buffersKept - buffersBefore < 1.5 * layers, `${buffersKept - buffersBefore} buffers kept`);
    tf.dispose([x, ...weights]);
  });
});
