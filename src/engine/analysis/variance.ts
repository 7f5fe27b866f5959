import type { tf } from '../tf';

export interface FeatureVariance {
  /** Feature vectors seen. */
  count: number;
  mean: Float64Array;
  /** Population variance (divided by the count, not count − 1) of each dimension. */
  variance: Float64Array;
}

/**
 * The per-dimension mean and population variance of features h over a set seen batch by batch. Each batch's
 * own mean and sum of squared deviations are taken in float64 and merged with Chan et al.'s pairwise update,
 * so neither a large mean nor many batches cost precision, as the one-pass E[h²] − E[h]² would.
 */
export class FeatureVarianceAccumulator {
  private count = 0;
  private readonly mean: Float64Array;
  private readonly squaredDeviations: Float64Array;

  constructor(readonly dimensions: number) {
    this.mean = new Float64Array(dimensions);
    this.squaredDeviations = new Float64Array(dimensions);
  }

  /** @param features h of a batch, [N, C], which the caller disposes once this has settled */
  async add(features: tf.Tensor2D): Promise<void> {
    const [rows, columns] = features.shape;
    if (columns !== this.dimensions) {
      throw new RangeError(`features have ${columns} dimensions, the accumulator ${this.dimensions}`);
    }
    this.addRows(await features.data(), rows);
  }

  /** @param values row-major [rows, C] */
  addRows(values: ArrayLike<number>, rows: number): void {
    if (values.length !== rows * this.dimensions) {
      throw new RangeError(`${values.length} values are not ${rows} rows of ${this.dimensions} dimensions`);
    }
    if (rows === 0) {
      return;
    }
    const total = this.count + rows;
    for (let dimension = 0; dimension < this.dimensions; dimension++) {
      let batchMean = 0;
      for (let row = 0; row < rows; row++) batchMean += values[row * this.dimensions + dimension]!;
      batchMean /= rows;
      let batchSquaredDeviations = 0;
      for (let row = 0; row < rows; row++) {
        const deviation = values[row * this.dimensions + dimension]! - batchMean;
        batchSquaredDeviations += deviation * deviation;
      }
      const delta = batchMean - this.mean[dimension]!;
      this.mean[dimension] = this.mean[dimension]! + (delta * rows) / total;
      this.squaredDeviations[dimension] =
        this.squaredDeviations[dimension]! +
        batchSquaredDeviations +
        (delta * delta * this.count * rows) / total;
    }
    this.count = total;
  }

  result(): FeatureVariance {
    if (this.count === 0) {
      throw new Error('the variance of features needs at least one feature vector');
    }
    return {
      count: this.count,
      mean: Float64Array.from(this.mean),
      variance: this.squaredDeviations.map((sum) => sum / this.count),
    };
  }
}
