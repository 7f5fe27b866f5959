import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import type { EvalRecord, ValidationFigures } from '../../shared/protocol/runFiles';
import type { ImageSet } from '../data/loader';
import { evalBatches } from '../data/loader';
import { type FeatureMatrix, featureMatrix } from '../eval/featureMatrix';
import { knnTop1 } from '../eval/knn';
import { linearProbe } from '../eval/linearProbe';
import { retrievalMetrics } from '../eval/retrieval';
import type { Encoder } from '../models/encoder';
import { readAndDispose, tf } from '../tf';

export interface EvaluationSettings {
  imageSize: number;
  batchSize: number;
  seed: number;
  knn: { enabled: boolean; k: number; temperature: number };
  linear: { enabled: boolean; epochs: number; lr: number };
  retrieval: { enabled: boolean };
}

/** How a run's config measures its encoder: at its image size and batch, with its `eval` settings. */
export function evaluationSettingsOf(config: ResolvedConfig): EvaluationSettings {
  return {
    imageSize: config.data.imageSize,
    batchSize: config.train.batchSize,
    seed: config.seed,
    ...config.eval,
  };
}

/** The test figures of an eval.jsonl record: those of the enabled evaluations. */
export type EvaluationResult = Omit<EvalRecord, 'epoch' | 'time' | 'validation' | 'best'>;

/** The frozen, pooled features h of a set's centre views, in the set's order; `onBatch` hears the rows done. */
export async function extractFeatures(
  encoder: Encoder,
  set: ImageSet,
  imageSize: number,
  batchSize: number,
  onBatch?: (rowsDone: number) => void,
): Promise<FeatureMatrix> {
  const values = new Float32Array(set.images.length * encoder.featureDim);
  let row = 0;
  for (const batch of evalBatches(set, batchSize, imageSize)) {
    const features = tf.tidy(() => {
      const images = tf.tensor4d(batch.images, [batch.labels.length, imageSize, imageSize, 3]);
      return encoder.apply(images, 'eval').features;
    });
    values.set(await readAndDispose(features), row * encoder.featureDim);
    row += batch.labels.length;
    onBatch?.(row);
  }
  return featureMatrix(values, set.images.length, encoder.featureDim);
}

/** Evaluation on frozen features, as LCR and the paper report it: kNN, linear probe, retrieval. */
export async function evaluate(
  encoder: Encoder,
  train: ImageSet,
  test: ImageSet,
  settings: EvaluationSettings,
): Promise<EvaluationResult> {
  const trainFeatures = await extractFeatures(encoder, train, settings.imageSize, settings.batchSize);
  const testFeatures = await extractFeatures(encoder, test, settings.imageSize, settings.batchSize);
  const result: EvaluationResult = {};
  if (settings.knn.enabled) {
    result.knnTop1 = await knnTop1(trainFeatures, train.labels, testFeatures, test.labels, {
      k: Math.min(settings.knn.k, train.images.length),
      temperature: settings.knn.temperature,
    });
  }
  if (settings.linear.enabled) {
    const probe = await linearProbe(trainFeatures, train.labels, testFeatures, test.labels, {
      epochs: settings.linear.epochs,
      batchSize: 256,
      learningRate: settings.linear.lr,
      weightDecay: 1e-4,
      seed: settings.seed,
    });
    result.linearTop1 = probe.top1;
  }
  if (settings.retrieval.enabled) {
    const { rank1, rank5, mAP, evaluatedQueries } = await retrievalMetrics(testFeatures, test.labels);
    // With no query that has another image of its class there is nothing to measure (and NaN is no JSON).
    if (evaluatedQueries > 0) Object.assign(result, { rank1, rank5, mAP });
  }
  return result;
}

/**
 * Retrieval within the held-out validation images, each querying the others: what chooses the best checkpoint.
 * Undefined when no image has another of its class to find.
 */
export async function validate(
  encoder: Encoder,
  validation: ImageSet,
  settings: Pick<EvaluationSettings, 'imageSize' | 'batchSize'>,
): Promise<ValidationFigures | undefined> {
  if (validation.images.length === 0) return undefined;
  const features = await extractFeatures(encoder, validation, settings.imageSize, settings.batchSize);
  const { rank1, rank5, mAP, evaluatedQueries } = await retrievalMetrics(features, validation.labels);
  return evaluatedQueries > 0 ? { rank1, rank5, mAP } : undefined;
}
