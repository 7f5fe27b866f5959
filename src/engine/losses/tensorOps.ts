import * as tf from '@tensorflow/tfjs-core';

// Same floor as PyTorch's F.normalize, applied to the squared norm so that a zero row gives a finite gradient
// instead of the NaN that differentiating sqrt at 0 would produce.
const NORM_EPSILON = 1e-12;

/** Rows of x scaled to unit L2 norm: x / max(‖x‖, 1e-12). */
export function l2NormalizeRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const squaredNorm = tf.sum(tf.square(x), 1, true);
    return tf.mul(x, tf.rsqrt(tf.maximum(squaredNorm, NORM_EPSILON * NORM_EPSILON)));
  });
}

/** Cosine similarity of matching rows of a and b, shape [N]. */
export function rowCosine(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(l2NormalizeRows(a), l2NormalizeRows(b)), 1));
}

/**
 * Runs f without recording its kernels on the gradient tape, as under PyTorch's `torch.no_grad()`: its results
 * have no gradient, and nothing before them is walked backward through them. TF.js has no such scope; its
 * engine records a kernel only when no other kernel is running, and f runs as if inside one.
 */
export function withoutGradient<T extends tf.TensorContainer>(f: () => T): T {
  const { state } = tf.engine() as unknown as { state: { kernelDepth: number } };
  state.kernelDepth++;
  try {
    return f();
  } finally {
    state.kernelDepth--;
  }
}

/**
 * x, cut from the tape: PyTorch's `x.detach()`, which the SSL methods rely on to keep the target branch out of
 * the update. A quantity reached only through it gets no gradient at all, and the backward pass does not send
 * zeros back through what computed it.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return withoutGradient(() => tf.clone(x));
}

/**
 * The softmax of each row, composed of kernels a backend can run natively: TF.js's cpu Softmax kernel
 * broadcasts the row maxima in a scalar loop. The row maximum is subtracted before exp, not log Σ exp: that
 * would lose float32's precision where the logits are large and the sum rounds.
 */
function rowSoftmax(x: tf.Tensor): tf.Tensor {
  const exponentials = tf.exp(tf.sub(x, tf.max(x, 1, true)));
  return tf.div(exponentials, tf.sum(exponentials, 1, true));
}

/**
 * log Σ exp over each row of x [N, C], shifted by the row's maximum so that large logits do not overflow, with
 * the softmax as its gradient. TF.js's own logSumExp also differentiates the maximum it subtracts, whose
 * terms cancel: a broadcast comparison of the whole matrix against its row maxima in a scalar loop, which cost
 * a SimCLR step 15 ms at 128 × 128 and grows with MoCo's queue.
 */
export const rowLogSumExp = tf.customGrad(
  (input: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    const x = input as tf.Tensor2D;
    (save as tf.GradSaveFunc)([x]);
    return {
      value: tf.logSumExp(x, 1),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.expandDims(dy, 1), rowSoftmax(saved[0]!)),
    };
  },
) as (x: tf.Tensor2D) => tf.Tensor1D;

/**
 * Mean cross-entropy of logits [N, C] against target classes, computed as logsumexp − target logit so that
 * large logits (small temperatures) do not overflow.
 */
export function meanCrossEntropy(logits: tf.Tensor2D, targetLogits: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sub(rowLogSumExp(logits), targetLogits)));
}
