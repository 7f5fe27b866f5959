import * as tf from '@tensorflow/tfjs-core';
import { l2NormalizeRows, meanCrossEntropy, stopGradient } from './tensorOps';

/**
 * MoCo's InfoNCE loss (He, Fan, Wu, Xie, Girshick, "Momentum Contrast for Unsupervised Visual Representation
 * Learning", CVPR 2020, eq. 1; unchanged in MoCo v2, Chen, Fan, Girshick, He, arXiv 2003.04297).
 *
 * With q, k and the queue rows L2-normalized,
 *
 *   logits_i = [ q_i·k_i, q_i·n_1, …, q_i·n_K ] / τ,    L = (1/N) Σ_i CE(logits_i, label 0).
 *
 * Keys and queue are constants for the query encoder: MoCo computes them under `no_grad` and moves the key
 * encoder only by momentum, so no gradient flows into k or the queue here either.
 *
 * @param queries q from the query encoder, [N, D]
 * @param keys positive keys k from the momentum encoder, [N, D]; row i is the other view of query i
 * @param queue negative keys, [K, D] (re-normalizing already normalized keys is harmless)
 * @param temperature τ > 0 (MoCo v2: 0.2)
 */
export function infoNceLoss(
  queries: tf.Tensor2D,
  keys: tf.Tensor2D,
  queue: tf.Tensor2D,
  temperature: number,
): tf.Scalar {
  return tf.tidy(() => {
    const q = l2NormalizeRows(queries);
    const k = stopGradient(l2NormalizeRows(keys));
    const negatives = stopGradient(l2NormalizeRows(queue));
    const positiveLogits = tf.div(tf.sum(tf.mul(q, k), 1, true), temperature) as tf.Tensor2D;
    const negativeLogits = tf.div(tf.matMul(q, negatives, false, true), temperature) as tf.Tensor2D;
    const logits = tf.concat([positiveLogits, negativeLogits], 1);
    return meanCrossEntropy(logits, tf.reshape(positiveLogits, [-1]) as tf.Tensor1D);
  });
}
