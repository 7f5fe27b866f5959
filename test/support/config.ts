import assert from 'node:assert/strict';
import type { ResolvedConfig } from '../../src/shared/config/experiment/definitions';
import { parseExperimentConfig } from '../../src/shared/config/experiment/parse';

export type Config = { [key: string]: unknown };

function isSection(value: unknown): value is Config {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `base` with `patch` laid over it at any depth: a patch's section changes only the keys it names. */
export function mergeConfig(base: Config, patch: Config): Config {
  const result = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const inBase = base[key];
    result[key] = isSection(inBase) && isSection(value) ? mergeConfig(inBase, value) : value;
  }
  return result;
}

/** An experiment a test writes as an object, resolved as the engine would read it; it must have no error. */
export function resolvedConfig(experiment: Config): ResolvedConfig {
  const { config, diagnostics } = parseExperimentConfig(JSON.stringify(experiment));
  assert.deepEqual(
    diagnostics.filter((diagnostic) => diagnostic.severity === 'error'),
    [],
  );
  return config!;
}
