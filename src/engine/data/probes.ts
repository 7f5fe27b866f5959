/**
 * The probe images heat maps and pair grids are drawn for: `count` test images spread over the classes,
 * picked from the split alone — not from the seed — so every run and every seed of an experiment shows
 * the same images side by side. Classes are taken at even steps through the class list, each contributing
 * its first test image, then its second, and so on while more probes are wanted.
 *
 * Returns positions into `labels` (the test split's order), in the order they were picked.
 */
export function chooseProbes(labels: ArrayLike<number>, count: number): number[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`analysis.probes.count: must be a positive integer, got ${count}`);
  }
  if (count > labels.length) {
    throw new RangeError(
      `analysis.probes.count: ${count} probes asked for, but the test split has ${labels.length} images`,
    );
  }
  const byClass = new Map<number, number[]>();
  for (let position = 0; position < labels.length; position++) {
    const label = labels[position]!;
    let positions = byClass.get(label);
    if (!positions) {
      positions = [];
      byClass.set(label, positions);
    }
    positions.push(position);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const picked: number[] = [];
  for (let round = 0; picked.length < count; round++) {
    const remaining = classes.filter((label) => byClass.get(label)!.length > round);
    const wanted = Math.min(count - picked.length, remaining.length);
    for (let i = 0; i < wanted; i++) {
      const label = remaining[Math.floor((i * remaining.length) / wanted)]!;
      picked.push(byClass.get(label)![round]!);
    }
  }
  return picked;
}
