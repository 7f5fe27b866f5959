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
 * Identity on the forward pass, zero gradient on the backward pass: PyTorch's `x.detach()`. TF.js has no such
 * op, and the SSL methods rely on it to keep the target branch out of the update.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const detached = tf.customGrad((input) => {
    const tensor = input as tf.Tensor;
    return { value: tf.clone(tensor), gradFunc: () => tf.zerosLike(tensor) };
  });
  return detached(x) as T;
}

/**
 * Mean cross-entropy of logits [N, C] against target classes, computed as logsumexp − target logit so that
 * large logits (small temperatures) do not overflow.
 */
export function meanCrossEntropy(logits: tf.Tensor2D, targetLogits: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sub(tf.logSumExp(logits, 1), targetLogits)));
}
