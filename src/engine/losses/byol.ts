import * as tf from '@tensorflow/tfjs-core';
import { rowCosine, stopGradient } from './tensorOps';

/**
 * BYOL's regression loss for one direction (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, eq. 2):
 * ‖p̄ − z̄'‖² = 2 − 2·(p·z')/(‖p‖‖z'‖), averaged over the batch, with the target projection z' a constant
 * (it comes from the EMA target network, which is never updated by gradients).
 *
 * @param predictions online predictions q_θ(z_θ), [N, D]
 * @param targetProjections target projections z'_ξ of the other view, [N, D]
 */
export function byolRegression(predictions: tf.Tensor2D, targetProjections: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() =>
    tf.sub(2, tf.mul(2, tf.mean(rowCosine(predictions, stopGradient(targetProjections))))),
  );
}

/**
 * BYOL's symmetrized loss L = L_θ,ξ + L̃_θ,ξ: the paper *sums* the two directions (eq. 2, "we symmetrize the
 * loss … L^BYOL = L + L̃"), so the value lies in [0, 8], not [0, 4].
 *
 * @param p1 online predictions of view 1, [N, D]
 * @param p2 online predictions of view 2, [N, D]
 * @param z1 target projections of view 1, [N, D]
 * @param z2 target projections of view 2, [N, D]
 */
export function byolLoss(p1: tf.Tensor2D, p2: tf.Tensor2D, z1: tf.Tensor2D, z2: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.add(byolRegression(p1, z2), byolRegression(p2, z1)));
}
