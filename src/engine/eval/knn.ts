import {
  checkLabels,
  classCountOf,
  type FeatureMatrix,
  forEachCosineSimilarityRow,
  rankByDescendingSimilarity,
} from './featureMatrix';

export interface KnnOptions {
  /** Neighbours that vote; clamped to the train set size. */
  readonly k: number;
  /** T in the vote weight exp(similarity / T). */
  readonly temperature: number;
}

/**
 * Weighted kNN top-1 accuracy on frozen features, the monitor of InstDisc (Wu et al., CVPR 2018, §3.4) as used
 * by MoCo and solo-learn: each test feature takes its k most cosine-similar train features, each neighbour
 * votes for its class with weight exp(s/T), and the class with the largest summed vote is the prediction (the
 * lowest class id wins an exact tie).
 *
 * @returns the fraction of test images whose prediction equals their label
 */
export async function knnTop1(
  train: FeatureMatrix,
  trainLabels: ArrayLike<number>,
  test: FeatureMatrix,
  testLabels: ArrayLike<number>,
  { k, temperature }: KnnOptions,
): Promise<number> {
  checkLabels(train, trainLabels, 'kNN train set');
  checkLabels(test, testLabels, 'kNN test set');
  if (train.rows === 0 || test.rows === 0)
    throw new Error('kNN needs at least one train and one test feature');
  if (!(k >= 1) || !(temperature > 0))
    throw new Error(`kNN needs k ≥ 1 and temperature > 0 (k=${k}, T=${temperature})`);
  const neighbours = Math.min(Math.floor(k), train.rows);
  const classCount = classCountOf(trainLabels, testLabels);
  const votes = new Float64Array(classCount);
  let correct = 0;
  await forEachCosineSimilarityRow(test, train, (testRow, similarities) => {
    const ranked = rankByDescendingSimilarity(
      similarities,
      Array.from({ length: train.rows }, (_, i) => i),
    );
    votes.fill(0);
    for (const trainRow of ranked.slice(0, neighbours)) {
      votes[trainLabels[trainRow]] += Math.exp(similarities[trainRow] / temperature);
    }
    let predicted = 0;
    for (let c = 1; c < classCount; c++) if (votes[c] > votes[predicted]) predicted = c;
    if (predicted === testLabels[testRow]) correct++;
  });
  return correct / test.rows;
}
