import { experimentFileSuffix } from './choices';
import { experimentDefinition } from './definitions';
import type { KeyDefinition } from './keys';

export type JsonSchema = Record<string, unknown>;

/**
 * The JSON schema of `*.synthpair.json`, contributed through `jsonValidation` so VS Code itself gives
 * completion, hover docs and validation. `allowComments` and `allowTrailingCommas` are VS Code's own schema
 * keywords: they let the file be JSON with comments without a `files.associations` entry.
 */
export function experimentJsonSchema(): JsonSchema {
  const root = schemaOf(experimentDefinition);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'SynthPair experiment',
    allowComments: true,
    allowTrailingCommas: true,
    ...root,
    properties: {
      $schema: {
        type: 'string',
        description: `The schema of this file; VS Code needs none for *${experimentFileSuffix}.`,
      },
      ...(root.properties as JsonSchema),
    },
  };
}

/** The schema of one key of the experiment, leaf or group: a study's overrides offer the leaves' schemas. */
export function schemaOf(definition: KeyDefinition): JsonSchema {
  const documentation = {
    description: plainText(definition.description),
    markdownDescription: definition.description,
  };
  switch (definition.kind) {
    case 'group': {
      const required = Object.entries(definition.keys)
        .filter(([, child]) => isRequired(child))
        .map(([name]) => name);
      return {
        type: 'object',
        ...documentation,
        properties: Object.fromEntries(
          Object.entries(definition.keys).map(([name, child]) => [name, schemaOf(child)]),
        ),
        ...(required.length > 0 ? { required } : {}),
        additionalProperties: false,
      };
    }
    case 'string':
      // An optional text may be '' (what it reads as when left out), which is no value to offer either.
      return definition.default === ''
        ? { type: 'string', ...documentation }
        : { type: 'string', pattern: '\\S', ...documentation, ...defaultOf(definition.default) };
    case 'enum':
      return {
        type: 'string',
        enum: definition.values,
        markdownEnumDescriptions: definition.valueDescriptions,
        ...documentation,
        default: definition.default,
      };
    case 'boolean':
      return { type: 'boolean', ...documentation, default: definition.default };
    case 'integer':
    case 'number':
      return {
        type: definition.kind,
        ...(definition.minExclusive ? { exclusiveMinimum: definition.min } : { minimum: definition.min }),
        maximum: definition.max,
        ...documentation,
        default: definition.default,
      };
    case 'interval':
      return {
        type: 'array',
        items: { type: 'number', minimum: definition.lowest, maximum: definition.highest },
        minItems: 2,
        maxItems: 2,
        ...documentation,
        default: definition.default,
      };
  }
}

/** A required key makes the groups around it required too, so a missing `data` block is reported. */
function isRequired(definition: KeyDefinition): boolean {
  if (definition.kind === 'group') return Object.values(definition.keys).some(isRequired);
  return definition.kind === 'string' && definition.default === undefined;
}

function defaultOf(value: string | undefined): JsonSchema {
  return value === undefined ? {} : { default: value };
}

/** Hovers outside VS Code show `description` verbatim, so it drops the markdown emphasis and code marks. */
export function plainText(markdown: string): string {
  return markdown.replace(/[`*]/g, '');
}
