/** How the panel writes the table's figures: percent and percentage points with 2 decimals, a true minus sign. */

export const missing = '–';

export function percent(value: number): string {
  return Number.isNaN(value) ? missing : value.toFixed(2);
}

/** A difference in points, signed either way so that a column of them lines up by sign. */
export function signedPoints(value: number): string {
  if (Number.isNaN(value)) return missing;
  // toFixed would write a difference that rounds to zero from below as "-0.00".
  const rounded = Math.abs(value) < 0.005 ? 0 : value;
  return `${rounded >= 0 ? '+' : '−'}${Math.abs(rounded).toFixed(2)}`;
}

export function pValue(value: number): string {
  if (Number.isNaN(value)) return missing;
  return value < 0.001 ? '< 0.001' : `= ${value.toFixed(3)}`;
}

/** The last segment of a path, whichever separator the host's platform writes. */
export function baseName(file: string): string {
  return file.split(/[\\/]/).filter(Boolean).at(-1) ?? file;
}
