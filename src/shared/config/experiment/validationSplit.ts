/**
 * How many of a class's `classSize` training images `data.validation.fraction` holds out: `round(fraction × n)`,
 * but at least 2 (a retrieval query needs another image of its class) and never so many that fewer than 2
 * remain to train on; none from a class too small for both, or at fraction 0. The engine draws which ones;
 * the New Experiment command sizes a batch by what is left.
 */
export function heldOutOfClass(classSize: number, fraction: number): number {
  if (fraction === 0) return 0;
  const count = Math.min(Math.max(2, Math.round(fraction * classSize)), classSize - 2);
  return count < 2 ? 0 : count;
}
