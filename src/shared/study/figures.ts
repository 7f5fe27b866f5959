/**
 * How a study's figures are written, the same in the CLI's tables and the study panel: percent and percentage
 * points with 2 decimals and a true minus sign. Apart from the statistics that compute them, so the panel's
 * bundle carries none of those.
 */

/** A figure not measured yet: no completed trial, or fewer than two pairs for an interval. */
export const missing = '–';

export function percent(value: number): string {
  return Number.isNaN(value) ? missing : value.toFixed(2);
}

/** `+1.23` or `−1.23`, so that a column of differences lines up by sign; one that rounds to 0 is `+0.00`. */
export function signedPoints(value: number): string {
  if (Number.isNaN(value)) return missing;
  const text = Math.abs(value).toFixed(2);
  return `${value < 0 && Number(text) !== 0 ? '−' : '+'}${text}`;
}

/** Whether a difference's 95 % interval leaves 0 out: the mark the tables and the study panel put on it. */
export function excludesZero(difference: { low: number; high: number }): boolean {
  return difference.low > 0 || difference.high < 0;
}
