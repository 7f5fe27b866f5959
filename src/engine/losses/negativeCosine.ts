import * as tf from '@tensorflow/tfjs-core';
import { rowCosine, stopGradient } from './tensorOps';

/**
 * SimSiam's D(p, z) = −(p/‖p‖)·(z/‖z‖), averaged over the batch, with the stop-gradient on z (Chen & He,
 * "Exploring Simple Siamese Representation Learning", CVPR 2021, eq. 1 and 3).
 *
 * @param predictions p = h(f(x)), [N, D]
 * @param targets z = f(x') of the other view, [N, D]; treated as a constant
 */
export function negativeCosine(predictions: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(rowCosine(predictions, stopGradient(targets)))) as tf.Scalar);
}

/**
 * SimSiam's symmetrized loss L = ½ D(p1, stopgrad(z2)) + ½ D(p2, stopgrad(z1)) (eq. 2–3); it lies in [−1, 1]
 * and reaches −1 when each prediction points exactly at the other view's projection.
 */
export function simSiamLoss(p1: tf.Tensor2D, p2: tf.Tensor2D, z1: tf.Tensor2D, z2: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mul(0.5, tf.add(negativeCosine(p1, z2), negativeCosine(p2, z1))));
}
