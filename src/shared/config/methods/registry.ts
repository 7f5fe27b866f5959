import type { ResolvedConfig } from '../experiment/definitions';
import type { Resolved } from '../experiment/keys';
import { byol } from './byol';
import { mocov2 } from './mocov2';
import { simclr } from './simclr';
import { simsiam } from './simsiam';
import type { MethodSpec } from './spec';

/**
 * Every SSL method by name, in the order the schema and docs list them. `ssl.method` and the `ssl.<name>`
 * blocks are built from these, and the engine's registry must implement each (src/engine/methods/registry.ts).
 */
export const methodSpecs = { simclr, mocov2, simsiam, byol };

export type MethodName = keyof typeof methodSpecs;

export const methodNames = Object.keys(methodSpecs) as MethodName[];

export const defaultMethod: MethodName = 'simclr';

/** A method's own options, as a run resolves its `ssl.<name>` block. */
export type MethodOptions<Name extends MethodName> = Resolved<(typeof methodSpecs)[Name]['options']>;

/** The method an experiment selects, with its option block, to ask what its spec declares. */
export function selectedMethod(ssl: ResolvedConfig['ssl']): {
  name: MethodName;
  spec: MethodSpec;
  options: Resolved<MethodSpec['options']>;
} {
  return { name: ssl.method, spec: methodSpecs[ssl.method], options: ssl[ssl.method] };
}
