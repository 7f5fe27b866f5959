import type { Mode } from '../models/layers';
import { MlpHead } from '../models/mlp';
import { SeedSequence } from '../models/parameters';
import { type BuiltEncoder, buildEncoder } from '../models/registry';
import { tf } from '../tf';
import type { InitialEncoder } from '../weights/initialEncoder';
import type { NetworkOptions, SslMethod } from './method';

/** An encoder with its projector g: h = f(x), z = g(h). */
export interface Branch extends BuiltEncoder {
  projector: MlpHead;
  apply(images: tf.Tensor4D, mode: Mode): { features: tf.Tensor2D; projection: tf.Tensor2D };
  /** z = g(pool(A)): the projection of an encoder feature map, so a loss can be differentiated w.r.t. A. */
  projectFeatureMap(featureMap: tf.Tensor4D, mode: Mode): tf.Tensor2D;
}

/**
 * h from A. Every encoder pools its last map with this same spatial mean, so pooling again here gives bit for
 * bit the features the encoder returns, and a loss computed from A is the loss training computes.
 */
export function globalAveragePool(featureMap: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(featureMap, [1, 2]) as tf.Tensor2D;
}

export function buildBranch(
  name: string,
  { encoder: spec, projector, seed, initialEncoder }: Omit<NetworkOptions, 'predictor'>,
): Branch {
  const built = buildEncoder(spec, seed, name);
  if (initialEncoder) assignEncoder(built.parameters.all(), name, initialEncoder);
  const head = new MlpHead(built.parameters.scope('projector'), new SeedSequence(seed ^ 0x5eed), {
    in: built.encoder.featureDim,
    hidden: projector.hiddenDim,
    out: projector.outDim,
  });
  return {
    ...built,
    projector: head,
    apply(images, mode) {
      const { features } = built.encoder.apply(images, mode);
      return { features, projection: head.apply(features, mode) };
    },
    projectFeatureMap: (featureMap, mode) => head.apply(globalAveragePool(featureMap), mode),
  };
}

/**
 * Gives a freshly built encoder the initial weights, before any head exists under its prefix: the random
 * ones it was built with are all replaced, since the weights were matched strictly to this encoder.
 */
function assignEncoder(
  variables: readonly [string, tf.Variable][],
  prefix: string,
  initialEncoder: InitialEncoder,
): void {
  for (const [name, variable] of variables) {
    const values = initialEncoder.values.get(name.slice(prefix.length + 1));
    if (!values) throw new Error(`${initialEncoder.source} gave no value for ${name}`);
    tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
  }
}

/** The predictor q of SimSiam and BYOL: an MLP from projection back to projection space, on the online branch. */
export function buildPredictor(
  branch: Branch,
  network: Pick<NetworkOptions, 'seed' | 'projector' | 'predictor'>,
): MlpHead {
  return new MlpHead(branch.parameters.scope('predictor'), new SeedSequence(network.seed ^ 0x9e3779b9), {
    in: network.projector.outDim,
    hidden: network.predictor.hiddenDim,
    out: network.projector.outDim,
  });
}

/**
 * Moves every weight of `target` towards the same-named one of `online`: θ_t ← m·θ_t + (1 − m)·θ_o. Running
 * batch-norm statistics follow too, as in MoCo's and BYOL's reference code, which copy whole state dicts.
 */
export function momentumUpdate(
  target: [string, tf.Variable][],
  online: [string, tf.Variable][],
  momentum: number,
): void {
  tf.tidy(() => {
    target.forEach(([, variable], index) => {
      const source = online[index]![1];
      variable.assign(tf.add(tf.mul(variable, momentum), tf.mul(source, 1 - momentum)));
    });
  });
}

/** Starts a momentum copy equal to its online network, as both papers do. */
export function copyWeights(target: [string, tf.Variable][], online: [string, tf.Variable][]): void {
  target.forEach(([, variable], index) => {
    variable.assign(online[index]![1]);
  });
}

/** The online encoder's feature maps of both views, view 1 first as every method's loss has always run them. */
export function featureMapsOfViews(
  branch: Branch,
  [view1, view2]: [tf.Tensor4D, tf.Tensor4D],
  mode: Mode,
): [tf.Tensor4D, tf.Tensor4D] {
  return [branch.encoder.apply(view1, mode).featureMap, branch.encoder.apply(view2, mode).featureMap];
}

/**
 * The training loss of a method whose loss is a single term: the online maps of both views in 'train' mode,
 * through the very function Grad-CAM differentiates, so training and analysis cannot drift apart.
 */
export function singleTermLoss(
  branch: Branch,
  lossFromFeatureMaps: SslMethod['lossFromFeatureMaps'],
): SslMethod['loss'] {
  return (view1, view2) => {
    const views: [tf.Tensor4D, tf.Tensor4D] = [view1, view2];
    const contrastive = lossFromFeatureMaps(featureMapsOfViews(branch, views, 'train'), views, 'train');
    return { total: contrastive, terms: { contrastive } };
  };
}

/** A method whose only network is one online branch (SimCLR, SimSiam): all but its loss is the branch's. */
export function singleBranchMethod(
  name: SslMethod['name'],
  branch: Branch,
  lossFromFeatureMaps: SslMethod['lossFromFeatureMaps'],
): SslMethod {
  return {
    name,
    encoder: branch.encoder,
    loss: singleTermLoss(branch, lossFromFeatureMaps),
    lossFromFeatureMaps,
    project: (images, mode) => branch.apply(images, mode).projection,
    trainableVariables: () => branch.parameters.trainable(),
    state: () => branch.parameters.all(),
    afterStep: async () => undefined,
    dispose: () => branch.parameters.dispose(),
  };
}
