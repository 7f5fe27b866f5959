import {
  checkLabels,
  type FeatureMatrix,
  forEachCosineSimilarityRow,
  rankByDescendingSimilarity,
} from './featureMatrix';

export interface RetrievalMetrics {
  /** Fraction of evaluated queries whose most similar other test image has the same class. */
  readonly rank1: number;
  /** Fraction of evaluated queries with a same-class image among their 5 most similar others. */
  readonly rank5: number;
  /** Mean over evaluated queries of the average precision of the ranking of all other test images. */
  readonly mAP: number;
  readonly evaluatedQueries: number;
  /** Queries whose class has no other test image: nothing can be retrieved, so they count in no metric. */
  readonly excludedQueries: number;
}

/**
 * Retrieval on the test set: every test image queries all the other test images ranked by cosine similarity
 * (ties in index order); an item is relevant when it shares the query's class. Average precision is
 * AP = (1/R) Σ_{r : item r relevant} precision@r over the full ranking, with R the number of relevant items.
 * When no query has a relevant item the three metrics are NaN.
 */
export async function retrievalMetrics(
  test: FeatureMatrix,
  labels: ArrayLike<number>,
): Promise<RetrievalMetrics> {
  checkLabels(test, labels, 'retrieval test set');
  const classSizes = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) classSizes.set(labels[i], (classSizes.get(labels[i]) ?? 0) + 1);

  let evaluatedQueries = 0;
  let hitsAt1 = 0;
  let hitsAt5 = 0;
  let precisionSum = 0;
  await forEachCosineSimilarityRow(test, test, (query, similarities) => {
    const relevantCount = (classSizes.get(labels[query]) ?? 0) - 1;
    if (relevantCount === 0) return;
    evaluatedQueries++;
    const others = Array.from({ length: test.rows - 1 }, (_, i) => (i < query ? i : i + 1));
    const ranked = rankByDescendingSimilarity(similarities, others);
    let relevantSeen = 0;
    let precisionAtHits = 0;
    let firstHitRank = Number.POSITIVE_INFINITY;
    for (let position = 0; position < ranked.length && relevantSeen < relevantCount; position++) {
      if (labels[ranked[position]] !== labels[query]) continue;
      relevantSeen++;
      precisionAtHits += relevantSeen / (position + 1);
      firstHitRank = Math.min(firstHitRank, position + 1);
    }
    if (firstHitRank <= 1) hitsAt1++;
    if (firstHitRank <= 5) hitsAt5++;
    precisionSum += precisionAtHits / relevantCount;
  });
  return {
    rank1: hitsAt1 / evaluatedQueries,
    rank5: hitsAt5 / evaluatedQueries,
    mAP: precisionSum / evaluatedQueries,
    evaluatedQueries,
    excludedQueries: test.rows - evaluatedQueries,
  };
}
