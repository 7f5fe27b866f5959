import { readAndDispose, tf, tfSeed } from '../tf';
import { checkLabels, classCountOf, type FeatureMatrix } from './featureMatrix';

export interface LinearProbeOptions {
  readonly epochs: number;
  readonly batchSize: number;
  /** Adam step size. */
  readonly learningRate: number;
  /** λ in the objective's (λ/2)‖W‖² term; the bias is not decayed. */
  readonly weightDecay: number;
  /** Seeds the weight initialisation and the mini-batch order. */
  readonly seed: number;
}

export interface LinearProbeResult {
  /** Fraction of test images whose predicted class equals their label. */
  readonly top1: number;
  /** Predicted class per test image. */
  readonly predictions: Int32Array;
}

/**
 * Linear probe on frozen features: multinomial logistic regression trained on the train features and scored
 * on the test features. Features are standardized with the train set's per-dimension mean and (population)
 * standard deviation; a dimension that is constant on the train set is only centred, as scikit-learn does.
 * The objective is mean softmax cross-entropy + (λ/2)‖W‖², minimised with Adam over mini-batches in a
 * seeded order, so a given seed gives the same result on a deterministic backend.
 */
export async function linearProbe(
  train: FeatureMatrix,
  trainLabels: ArrayLike<number>,
  test: FeatureMatrix,
  testLabels: ArrayLike<number>,
  options: LinearProbeOptions,
): Promise<LinearProbeResult> {
  checkLabels(train, trainLabels, 'linear probe train set');
  checkLabels(test, testLabels, 'linear probe test set');
  if (train.rows === 0 || test.rows === 0) throw new Error('the linear probe needs train and test features');
  if (train.columns !== test.columns) {
    throw new Error(`train features have ${train.columns} dimensions, test features ${test.columns}`);
  }
  const { epochs, batchSize, learningRate, weightDecay, seed } = options;
  if (!(epochs >= 0 && batchSize >= 1 && learningRate > 0 && weightDecay >= 0)) {
    throw new Error(`invalid linear probe options ${JSON.stringify(options)}`);
  }
  const classCount = classCountOf(trainLabels, testLabels);
  const { mean, scale } = standardization(train);

  const trainX = tf.tidy(() => standardize(train, mean, scale));
  const trainY = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from(trainLabels), 'int32'), classCount));
  // tidy disposes the initial values but not the variables made from them.
  const weights = tf.tidy(() =>
    tf.variable(tf.randomNormal([train.columns, classCount], 0, 0.01, 'float32', tfSeed(seed))),
  );
  const bias = tf.tidy(() => tf.variable(tf.zeros([classCount])));
  const optimizer = tf.train.adam(learningRate);
  const nextRandom = mulberry32(seed);
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = shuffled(train.rows, nextRandom);
      for (let first = 0; first < train.rows; first += batchSize) {
        const batch = order.subarray(first, first + batchSize);
        tf.tidy(() => {
          const batchIndices = tf.tensor1d(batch, 'int32');
          const x = tf.gather(trainX, batchIndices);
          const y = tf.gather(trainY, batchIndices);
          optimizer.minimize(() => {
            const logits = tf.add(tf.matMul(x, weights), bias);
            const crossEntropy = tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, y), 1)));
            return tf.add(crossEntropy, tf.mul(weightDecay / 2, tf.sum(tf.square(weights)))) as tf.Scalar;
          });
        });
      }
    }
    const predictions = tf.tidy(() => {
      const logits = tf.add(tf.matMul(standardize(test, mean, scale), weights), bias);
      return tf.argMax(logits, 1);
    });
    const predicted = await readAndDispose<'int32'>(predictions);
    let correct = 0;
    for (let i = 0; i < test.rows; i++) if (predicted[i] === testLabels[i]) correct++;
    return { top1: correct / test.rows, predictions: predicted };
  } finally {
    tf.dispose([trainX, trainY, weights, bias]);
    optimizer.dispose();
  }
}

function standardization(train: FeatureMatrix): { mean: Float32Array; scale: Float32Array } {
  const { values, rows, columns } = train;
  const mean = new Float64Array(columns);
  const squaredDeviation = new Float64Array(columns);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) mean[c] += values[r * columns + c] / rows;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) squaredDeviation[c] += (values[r * columns + c] - mean[c]) ** 2 / rows;
  }
  const scale = Float32Array.from(squaredDeviation, (variance) => (variance > 0 ? Math.sqrt(variance) : 1));
  return { mean: Float32Array.from(mean), scale };
}

function standardize(features: FeatureMatrix, mean: Float32Array, scale: Float32Array): tf.Tensor2D {
  const x = tf.tensor2d(features.values, [features.rows, features.columns]);
  return tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(scale));
}

function shuffled(count: number, nextRandom: () => number): Int32Array {
  const order = Int32Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(nextRandom() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

// A small seedable generator: Math.random cannot be seeded, and the batch order must repeat for a given seed.
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
