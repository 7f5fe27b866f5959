import * as tf from '@tensorflow/tfjs-core';
import { l2NormalizeRows, meanCrossEntropy } from './tensorOps';

/**
 * SimCLR's NT-Xent loss (Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of
 * Visual Representations", ICML 2020, eq. 1).
 *
 * The 2N projections u = [z1; z2] are L2-normalized and s_ij = u_i·u_j / τ. For each anchor i its positive p(i)
 * is the other view of the same image, and
 *
 *   ℓ_i = −log( exp(s_i,p(i)) / Σ_{j≠i} exp(s_ij) ),    L = (1 / 2N) Σ_i ℓ_i,
 *
 * so the denominator runs over the 2N − 1 other views, the positive included.
 *
 * @param z1 projections of the first views, [N, D]
 * @param z2 projections of the second views, [N, D]; row i is the same image as row i of z1
 * @param temperature τ > 0
 */
export function ntXentLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const views = l2NormalizeRows(tf.concat([z1, z2], 0));
    const viewCount = views.shape[0];
    const similarities = tf.div(tf.matMul(views, views, false, true), temperature) as tf.Tensor2D;
    // An anchor is never its own negative; −∞ makes exp() of the diagonal exactly 0 in the logsumexp.
    const isSelf = tf.cast(tf.eye(viewCount), 'bool');
    const logits = tf.where(isSelf, tf.fill([viewCount, viewCount], Number.NEGATIVE_INFINITY), similarities);
    const half = z1.shape[0];
    // Row i's positive is row i + N (mod 2N): the two halves swapped. A slice is used rather than a gather,
    // whose gradient (UnsortedSegmentSum) the wasm backend lacks.
    const positives = tf.concat([tf.slice(views, [half, 0]), tf.slice(views, [0, 0], [half, -1])], 0);
    const positiveLogits = tf.div(tf.sum(tf.mul(views, positives), 1), temperature) as tf.Tensor1D;
    return meanCrossEntropy(logits as tf.Tensor2D, positiveLogits);
  });
}
