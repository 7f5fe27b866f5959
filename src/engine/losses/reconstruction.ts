import { tf } from '../tf';

/**
 * The reconstruction loss L_R = MSE(d(h), x): the squared error averaged over every pixel and channel of
 * the batch, as PyTorch's `F.mse_loss` with its default mean reduction.
 *
 * @param decoded d(h), [N, S, S, 3] in [0, 1]
 * @param target x, the un-augmented centre view, same shape and range
 */
export function reconstructionLoss(decoded: tf.Tensor4D, target: tf.Tensor4D): tf.Scalar {
  // squaredDifference would broadcast a mismatched target (one image against a batch, a different size)
  // into a plausible-looking number instead of failing.
  if (!tf.util.arraysEqual(decoded.shape, target.shape)) {
    throw new Error(
      `reconstructionLoss: decoded images [${decoded.shape.join(',')}] and targets [${target.shape.join(',')}] differ in shape`,
    );
  }
  return tf.tidy(() => tf.mean(tf.squaredDifference(decoded, target)));
}
