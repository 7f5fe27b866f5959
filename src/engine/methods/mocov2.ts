import { infoNceLoss } from '../losses/infoNce';
import { l2NormalizeRows } from '../losses/tensorOps';
import { ParameterStore } from '../models/parameters';
import { tf } from '../tf';
import type { MethodOptions, SslMethod } from './method';
import { buildBranch, copyWeights, momentumUpdate } from './networks';

/**
 * MoCo v2 (He et al. 2020; Chen et al. 2020b): queries from the online network, keys from a momentum copy,
 * negatives from a queue of earlier keys. The loss is symmetrised over the two views, as solo-learn and
 * later MoCo versions do, which uses each batch twice. Single-process training has no shuffling batch norm;
 * the symmetric loss and small batches keep the leak it guards against small.
 */
export function createMocoV2(options: MethodOptions): SslMethod {
  const { queueSize, temperature, momentum } = options.mocov2;
  const online = buildBranch('online', options.encoder, options.projector, options.seed);
  const momentumBranch = buildBranch('momentum', options.encoder, options.projector, options.seed);
  copyWeights(momentumBranch.parameters.all(), online.parameters.all());
  const buffers = ParameterStore.root('moco');
  const queue = buffers.add(
    'queue',
    tf.tidy(() =>
      l2NormalizeRows(
        tf.randomNormal([queueSize, options.projector.outDim], 0, 1, 'float32', options.seed) as tf.Tensor2D,
      ),
    ),
    { trainable: false },
  );
  const queuePointer = buffers.add('queuePointer', tf.scalar(0, 'int32'), { trainable: false });
  let pendingKeys: tf.Tensor2D | undefined;

  return {
    name: 'mocov2',
    encoder: online.encoder,
    loss(view1: tf.Tensor4D, view2: tf.Tensor4D) {
      const q1 = online.apply(view1, 'train').projection;
      const q2 = online.apply(view2, 'train').projection;
      const k1 = l2NormalizeRows(momentumBranch.apply(view1, 'train').projection);
      const k2 = l2NormalizeRows(momentumBranch.apply(view2, 'train').projection);
      const contrastive = tf.mul(
        0.5,
        tf.add(
          infoNceLoss(q1, k2, queue as tf.Tensor2D, temperature),
          infoNceLoss(q2, k1, queue as tf.Tensor2D, temperature),
        ),
      ) as tf.Scalar;
      pendingKeys?.dispose();
      pendingKeys = tf.keep(tf.concat([k1, k2]));
      return { total: contrastive, terms: { contrastive } };
    },
    trainableVariables: () => online.parameters.trainable(),
    state: () => [...online.parameters.all(), ...momentumBranch.parameters.all(), ...buffers.all()],
    afterStep() {
      momentumUpdate(momentumBranch.parameters.all(), online.parameters.all(), momentum);
      if (!pendingKeys) {
        return;
      }
      const keys = pendingKeys;
      pendingKeys = undefined;
      tf.tidy(() => {
        // The queue is a ring: the newest keys overwrite the oldest, wrapping around its end.
        const start = queuePointer.dataSync()[0]!;
        const count = Math.min(keys.shape[0], queueSize);
        const rows = Array.from({ length: queueSize }, (_, row) => (row - start + queueSize) % queueSize);
        const isNew = tf.tensor2d(
          rows.map((offset) => (offset < count ? 1 : 0)),
          [queueSize, 1],
        );
        const newRows = tf.gather(
          keys,
          rows.map((offset) => (offset < count ? offset : 0)),
        );
        queue.assign(tf.add(tf.mul(queue, tf.sub(1, isNew)), tf.mul(newRows, isNew)));
        queuePointer.assign(tf.scalar((start + count) % queueSize, 'int32'));
      });
      keys.dispose();
    },
    dispose() {
      pendingKeys?.dispose();
      online.parameters.dispose();
      momentumBranch.parameters.dispose();
      buffers.dispose();
    },
  };
}
