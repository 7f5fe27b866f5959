import { missing } from '../../src/shared/study/figures';

/** The panel's p: `= 0.021`, or `< 0.001`, after a `p`. */
export function pValue(value: number): string {
  if (Number.isNaN(value)) return missing;
  return value < 0.001 ? '< 0.001' : `= ${value.toFixed(3)}`;
}

/** The last segment of a path, whichever separator the host's platform writes. */
export function baseName(file: string): string {
  return file.split(/[\\/]/).filter(Boolean).at(-1) ?? file;
}
