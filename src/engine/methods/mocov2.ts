import type { MethodOptions } from '../../shared/config/methods/registry';
import { infoNceLoss } from '../losses/infoNce';
import { l2NormalizeRows } from '../losses/tensorOps';
import type { Mode } from '../models/layers';
import { ParameterStore } from '../models/parameters';
import { tf, tfSeed } from '../tf';
import type { NetworkOptions, SslMethod } from './method';
import { buildBranch, copyWeights, featureMapsOfViews, momentumUpdate } from './networks';

/**
 * MoCo v2 (He et al. 2020; Chen et al. 2020b): queries from the online network, keys from a momentum copy,
 * negatives from a queue of earlier keys. The loss is symmetrised over the two views, as solo-learn and
 * later MoCo versions do, which uses each batch twice. Single-process training has no shuffling batch norm;
 * the symmetric loss and small batches keep the leak it guards against small.
 */
export function createMocoV2(
  network: NetworkOptions,
  { queueSize, temperature, momentum }: MethodOptions<'mocov2'>,
): SslMethod {
  const online = buildBranch('online', network);
  const momentumBranch = buildBranch('momentum', network);
  copyWeights(momentumBranch.parameters.all(), online.parameters.all());
  const buffers = ParameterStore.root('moco');
  const queue = buffers.add(
    'queue',
    tf.tidy(() =>
      l2NormalizeRows(
        tf.randomNormal(
          [queueSize, network.projector.outDim],
          0,
          1,
          'float32',
          tfSeed(network.seed),
        ) as tf.Tensor2D,
      ),
    ),
    { trainable: false },
  );
  const queuePointer = buffers.add('queuePointer', tf.scalar(0, 'int32'), { trainable: false });
  let pendingKeys: tf.Tensor2D | undefined;

  /** The loss and the keys it used; only a training step queues the keys. */
  const lossAndKeys = (
    [map1, map2]: [tf.Tensor4D, tf.Tensor4D],
    [view1, view2]: [tf.Tensor4D, tf.Tensor4D],
    mode: Mode,
  ) => {
    const q1 = online.projectFeatureMap(map1, mode);
    const q2 = online.projectFeatureMap(map2, mode);
    const k1 = l2NormalizeRows(momentumBranch.apply(view1, mode).projection);
    const k2 = l2NormalizeRows(momentumBranch.apply(view2, mode).projection);
    const contrastive = tf.mul(
      0.5,
      tf.add(
        infoNceLoss(q1, k2, queue as tf.Tensor2D, temperature),
        infoNceLoss(q2, k1, queue as tf.Tensor2D, temperature),
      ),
    ) as tf.Scalar;
    return { contrastive, keys: [k1, k2] };
  };

  return {
    name: 'mocov2',
    encoder: online.encoder,
    loss(view1: tf.Tensor4D, view2: tf.Tensor4D) {
      const views: [tf.Tensor4D, tf.Tensor4D] = [view1, view2];
      const { contrastive, keys } = lossAndKeys(featureMapsOfViews(online, views, 'train'), views, 'train');
      pendingKeys?.dispose();
      pendingKeys = tf.keep(tf.concat(keys));
      return { total: contrastive, terms: { contrastive } };
    },
    lossFromFeatureMaps: (featureMaps, views, mode) => lossAndKeys(featureMaps, views, mode).contrastive,
    project: (images, mode) => online.apply(images, mode).projection,
    trainableVariables: () => online.parameters.trainable(),
    state: () => [...online.parameters.all(), ...momentumBranch.parameters.all(), ...buffers.all()],
    async afterStep() {
      momentumUpdate(momentumBranch.parameters.all(), online.parameters.all(), momentum);
      if (!pendingKeys) {
        return;
      }
      const keys = pendingKeys;
      pendingKeys = undefined;
      const start = (await queuePointer.data())[0]!;
      tf.tidy(() => {
        queue.assign(enqueue(queue as tf.Tensor2D, keys, start));
        queuePointer.assign(tf.scalar((start + Math.min(keys.shape[0], queueSize)) % queueSize, 'int32'));
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

/**
 * The queue with `keys` written into it as a ring from row `start`, wrapping around its end. Built from
 * slices of the old queue and the keys, so a step costs one copy of the queue and nothing queue-sized more.
 */
export function enqueue(queue: tf.Tensor2D, keys: tf.Tensor2D, start: number): tf.Tensor2D {
  const size = queue.shape[0];
  const count = Math.min(keys.shape[0], size);
  const beforeEnd = Math.min(count, size - start);
  const wrapped = count - beforeEnd;
  const rows = (source: tf.Tensor2D, from: number, length: number) =>
    length > 0 ? [tf.slice(source, [from, 0], [length, -1])] : [];
  return tf.concat([
    ...rows(keys, beforeEnd, wrapped),
    ...rows(queue, wrapped, start - wrapped),
    ...rows(keys, 0, beforeEnd),
    ...rows(queue, start + beforeEnd, size - start - beforeEnd),
  ]);
}
