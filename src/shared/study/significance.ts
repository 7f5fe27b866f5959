/**
 * Whether a difference's 95 % interval leaves 0 out: the mark the tables and the study panel put on it. Apart
 * from the statistics that compute the interval, so the panel's bundle carries none of them.
 */
export function excludesZero(difference: { low: number; high: number }): boolean {
  return difference.low > 0 || difference.high < 0;
}
