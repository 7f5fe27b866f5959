import { readAndDispose, tf } from '../tf';

/** Frozen features, one row per image, stored row-major. */
export interface FeatureMatrix {
  readonly values: Float32Array;
  readonly rows: number;
  readonly columns: number;
}

export function featureMatrix(values: Float32Array, rows: number, columns: number): FeatureMatrix {
  if (values.length !== rows * columns) {
    throw new Error(
      `feature matrix of ${rows}×${columns} needs ${rows * columns} values, got ${values.length}`,
    );
  }
  return { values, rows, columns };
}

export function checkLabels(features: FeatureMatrix, labels: ArrayLike<number>, what: string): void {
  if (labels.length !== features.rows) {
    throw new Error(`${what}: ${features.rows} feature rows but ${labels.length} labels`);
  }
}

/** One more than the largest class id in any of the label sets (a loop: spreading 10⁵ labels overflows the stack). */
export function classCountOf(...labelSets: ArrayLike<number>[]): number {
  let largest = -1;
  for (const labels of labelSets)
    for (let i = 0; i < labels.length; i++) largest = Math.max(largest, labels[i]);
  return largest + 1;
}

// Bounds the [block × keys] similarity matrix held at once, so a large test set does not need N² memory.
const QUERY_BLOCK_ROWS = 256;

/**
 * Calls `visit(queryRow, similarities)` for every query row with its cosine similarity to every key row. The
 * products run as TF.js matmuls on the active backend and are read back a block of rows at a time; the row
 * buffer is reused between calls.
 */
export async function forEachCosineSimilarityRow(
  queries: FeatureMatrix,
  keys: FeatureMatrix,
  visit: (queryRow: number, similarities: Float32Array) => void,
): Promise<void> {
  if (queries.columns !== keys.columns) {
    throw new Error(`features have ${queries.columns} and ${keys.columns} dimensions`);
  }
  const normalizedKeys = tf.tidy(() => unitRows(tf.tensor2d(keys.values, [keys.rows, keys.columns])));
  try {
    for (let first = 0; first < queries.rows; first += QUERY_BLOCK_ROWS) {
      const blockRows = Math.min(QUERY_BLOCK_ROWS, queries.rows - first);
      const block = tf.tidy(() => {
        const blockValues = queries.values.subarray(
          first * queries.columns,
          (first + blockRows) * queries.columns,
        );
        const normalizedQueries = unitRows(tf.tensor2d(blockValues, [blockRows, queries.columns]));
        return tf.matMul(normalizedQueries, normalizedKeys, false, true);
      });
      const similarities = await readAndDispose(block);
      for (let row = 0; row < blockRows; row++) {
        visit(first + row, similarities.subarray(row * keys.rows, (row + 1) * keys.rows));
      }
    }
  } finally {
    normalizedKeys.dispose();
  }
}

// Same floor as PyTorch's F.normalize, so an all-zero feature has similarity 0 to everything instead of NaN.
function unitRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12));
}

/**
 * Sorts `candidates` (indices into `similarities`) in place from most to least similar and returns it; equal
 * similarities keep index order, which makes the ranking deterministic and matches a stable descending sort in
 * the reference script.
 */
export function rankByDescendingSimilarity(similarities: ArrayLike<number>, candidates: number[]): number[] {
  return candidates.sort((a, b) => similarities[b] - similarities[a] || a - b);
}
