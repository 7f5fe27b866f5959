import {
  type HeatmapVariant,
  heatmapVariants,
  type ImportanceVariant,
  importanceVariants,
} from '../../shared/config/experiment/choices';
import type { SslMethod } from '../methods/method';
import type { Mode } from '../models/layers';
import { tf } from '../tf';

/**
 * How per-image channel gradients become one importance per dimension (`analysis.gradcam.variant`). `signed` keeps the sign, so a dimension
 * whose gradient pushes different images in opposite directions averages towards 0; `absolute` and `positive`
 * are applied to each image's weight before the average over images, precisely so that such a dimension still
 * counts as used by the loss (`absolute`) or counts only where raising it raises the loss (`positive`).
 */
/**
 * Grad-CAM's channel weights as dimension importances: α_nk = mean over (h, w) of G_n[:, :, k] for each image
 * n, transformed by the variant, then averaged over the images. Because h_k is the spatial mean of A_k, α_nk is
 * also ∂L/∂h_nk divided by h·w.
 *
 * @param gradients G = ∂L/∂A, [N, h, w, C]
 * @returns α, [C]
 */
export function channelImportance(gradients: tf.Tensor4D, variant: ImportanceVariant): tf.Tensor1D {
  return tf.tidy(() => {
    const perImage = tf.mean(gradients, [1, 2]);
    const transformed =
      variant === 'signed' ? perImage : variant === 'absolute' ? tf.abs(perImage) : tf.relu(perImage);
    return tf.mean(transformed, 0) as tf.Tensor1D;
  });
}

/**
 * A class activation map ReLU(Σ_k W_k ⊙ A_k), in the manner of pytorch-grad-cam's BaseCAM: the variants differ
 * only in the weights W they take from the gradients, which broadcast against A [N, h, w, C].
 */
export interface CamVariant {
  readonly name: HeatmapVariant;
  weights(gradients: tf.Tensor4D): tf.Tensor4D;
}

const camWeights: Record<HeatmapVariant, CamVariant['weights']> = {
  /** Grad-CAM (Selvaraju et al., ICCV 2017): each image's own channel weights, its gradient's spatial mean. */
  gradCam: (gradients) => tf.mean(gradients, [1, 2], true) as tf.Tensor4D,
  /** The gradient × activation map LCR (Shu et al., CVPR 2023) uses: every position keeps its own gradient. */
  gradientTimesActivation: (gradients) => gradients,
};

export const camVariants: readonly CamVariant[] = heatmapVariants.map((name) => ({
  name,
  weights: camWeights[name],
}));

/** @returns the maps at feature-map resolution, [N, h, w] */
export function classActivationMaps(
  variant: CamVariant,
  activations: tf.Tensor4D,
  gradients: tf.Tensor4D,
): tf.Tensor3D {
  return tf.tidy(() => tf.relu(tf.sum(tf.mul(variant.weights(gradients), activations), 3)) as tf.Tensor3D);
}

/**
 * Maps upsampled to the image and scaled per image to [0, 1]. The resize is bilinear with half-pixel centres
 * (alignCorners false, halfPixelCenters true), which is what PyTorch's F.interpolate(mode='bilinear',
 * align_corners=False) and pytorch-grad-cam's cv2.resize compute; TF.js's default (halfPixelCenters false)
 * would shift the map by half a feature cell towards the top left. Each map is divided by its maximum
 * rather than min-max stretched: 0 keeps meaning "no positive evidence", a map that is warm everywhere is not
 * turned into false contrast, and a map without any positive evidence stays all 0 instead of dividing by 0.
 *
 * @param maps [N, h, w], non-negative
 * @returns [N, height, width]
 */
export function upsampleAndNormalise(maps: tf.Tensor3D, [height, width]: [number, number]): tf.Tensor3D {
  return tf.tidy(() => {
    const upsampled = tf.squeeze(
      tf.image.resizeBilinear(tf.expandDims(maps, 3) as tf.Tensor4D, [height, width], false, true),
      [3],
    );
    return tf.divNoNan(upsampled, tf.max(upsampled, [1, 2], true)) as tf.Tensor3D;
  });
}

/** One view's maps: `raw` [N, h, w] at feature-map resolution, `normalised` [N, height, width] in [0, 1]. */
export interface Heatmaps {
  raw: Float32Array;
  normalised: Float32Array;
}

export type ViewHeatmaps = Record<CamVariant['name'], Heatmaps>;

export interface GradCamAnalysis {
  /** L_C at the feature maps that were differentiated. */
  loss: number;
  /** α per variant, [C], averaged over the images of both views. */
  importance: Record<ImportanceVariant, Float32Array>;
  /** The maps of each view's images, in the order of the views. */
  views: [ViewHeatmaps, ViewHeatmaps];
  images: number;
  featureMapSize: [number, number];
  imageSize: [number, number];
}

/**
 * Grad-CAM of a loss of two views' feature maps: G_v = ∂L/∂A_v for both views, the dimension importances over
 * all 2N (image, view) pairs, and each image's maps in both views. The gradients of a batch loss carry a 1/N
 * from its mean; importances are compared only with each other and maps are normalised, so it is left in.
 */
export async function gradCamOfLoss(
  loss: (featureMaps: [tf.Tensor4D, tf.Tensor4D]) => tf.Scalar,
  featureMaps: [tf.Tensor4D, tf.Tensor4D],
  imageSize: [number, number],
): Promise<GradCamAnalysis> {
  const [images, height, width] = featureMaps[0].shape;
  const computed = tf.tidy(() => {
    const { value, grads } = tf.valueAndGrads((...maps: tf.Tensor[]) =>
      loss(maps as [tf.Tensor4D, tf.Tensor4D]),
    )(featureMaps);
    const gradients = grads as [tf.Tensor4D, tf.Tensor4D];
    const bothViews = tf.concat(gradients, 0);
    const importance = importanceVariants.map((variant) => channelImportance(bothViews, variant));
    const maps = featureMaps.map((activations, view) =>
      camVariants.map((variant) => {
        const raw = classActivationMaps(variant, activations, gradients[view]!);
        return [raw, upsampleAndNormalise(raw, imageSize)];
      }),
    );
    return { value, importance, maps };
  });
  const read = (tensor: tf.Tensor) => tensor.data<'float32'>();
  const viewHeatmaps = async (view: number): Promise<ViewHeatmaps> => {
    const entries = await Promise.all(
      camVariants.map(async (variant, index) => {
        const [raw, normalised] = computed.maps[view]![index]!;
        return [variant.name, { raw: await read(raw!), normalised: await read(normalised!) }];
      }),
    );
    return Object.fromEntries(entries) as ViewHeatmaps;
  };
  try {
    const [loss, importance, views] = await Promise.all([
      read(computed.value),
      Promise.all(computed.importance.map(read)),
      Promise.all([viewHeatmaps(0), viewHeatmaps(1)]),
    ]);
    return {
      loss: loss[0]!,
      importance: Object.fromEntries(
        importanceVariants.map((variant, index) => [variant, importance[index]!]),
      ) as Record<ImportanceVariant, Float32Array>,
      views,
      images,
      featureMapSize: [height, width],
      imageSize,
    };
  } finally {
    tf.dispose(computed);
  }
}

/**
 * Grad-CAM of a method's SSL loss for a batch of images given as their two views. The feature maps come from
 * the online encoder in `mode`; the gradient follows `lossFromFeatureMaps` in the same mode. 'train' (the
 * default) differentiates the loss training minimises, batch-norm moments included, so the importances rank
 * dimensions by what training uses; 'eval' gives maps that do not depend on the rest of the batch through batch
 * norm. A training-mode forward pass moves batch-norm running statistics, which are restored afterwards: the
 * analysis observes and never changes the method's state, so a run with analysis trains as one without.
 *
 * @param views [N, height, width, 3] each; the maps are upsampled to this size
 */
export function gradCamOfMethod(
  method: SslMethod,
  views: [tf.Tensor4D, tf.Tensor4D],
  mode: Mode = 'train',
): Promise<GradCamAnalysis> {
  return preservingBuffers(method, async () => {
    const featureMaps = tf.tidy(
      () => views.map((view) => method.encoder.apply(view, mode).featureMap) as [tf.Tensor4D, tf.Tensor4D],
    );
    try {
      return await gradCamOfLoss((maps) => method.lossFromFeatureMaps(maps, views, mode), featureMaps, [
        views[0].shape[1],
        views[0].shape[2],
      ]);
    } finally {
      tf.dispose(featureMaps);
    }
  });
}

/** Runs `compute` and puts every non-trainable state variable (running statistics, queues) back as it was. */
async function preservingBuffers<T>(method: SslMethod, compute: () => Promise<T>): Promise<T> {
  const trainable = new Set(method.trainableVariables());
  const saved = method
    .state()
    .filter(([, variable]) => !trainable.has(variable))
    .map(([, variable]) => [variable, tf.clone(variable)] as const);
  try {
    return await compute();
  } finally {
    for (const [variable, copy] of saved) {
      variable.assign(copy);
      copy.dispose();
    }
  }
}
