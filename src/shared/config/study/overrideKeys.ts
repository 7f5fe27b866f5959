import { keyPaths } from '../experiment/definitions';

/** Keys the study itself gives every trial: the seed it pairs conditions by, and a name telling trials apart. */
export const keysTheStudySets = ['seed', 'name'] as const;

/** The experiment's leaf keys in dotted form that a study may override. */
export const overridableKeys: ReadonlySet<string> = new Set(
  [...keyPaths()]
    .filter(
      ([path, definition]) =>
        definition.kind !== 'group' && !(keysTheStudySets as readonly string[]).includes(path),
    )
    .map(([path]) => path),
);

/** Overrides as the CLI's `--set key=value` assignments; the value as JSON, which the experiment parser reads back. */
export function assignments(overrides: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(overrides).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
}
