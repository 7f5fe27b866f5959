import * as z from 'zod/mini';
import { keyPaths } from '../experiment/definitions';
import { type JsonSchema, plainText, schemaOf } from '../experiment/jsonSchema';
import { studyFileSchema } from './definitions';
import { overridableKeys } from './overrideKeys';

/**
 * The JSON schema of `*.study.json`, generated from the study's zod schema, with the experiment's own keys
 * spliced in wherever a study overrides them (`set`, a condition's `set`, `grid`, `list`), so VS Code completes
 * and documents `"loss.alpha"` in a study as it does `loss.alpha` in an experiment.
 */
export function studyJsonSchema(): JsonSchema {
  const generated = withMarkdown(
    z.toJSONSchema(studyFileSchema, { io: 'input', target: 'draft-7' }) as JsonSchema,
  );
  const properties = generated.properties as Record<string, JsonSchema>;
  const leaves = Object.fromEntries(
    [...keyPaths()]
      .filter(([path]) => overridableKeys.has(path))
      .map(([path, definition]) => [path, schemaOf(definition)]),
  );
  const overrides = (documented: JsonSchema): JsonSchema => ({
    ...documentation(documented),
    type: 'object',
    properties: leaves,
    additionalProperties: false,
  });
  const conditions = properties.conditions as JsonSchema;
  const condition = conditions.items as JsonSchema;
  const conditionProperties = condition.properties as Record<string, JsonSchema>;
  return {
    ...generated,
    title: 'SynthPair study',
    allowComments: true,
    allowTrailingCommas: true,
    properties: {
      ...properties,
      set: overrides(properties.set as JsonSchema),
      conditions: {
        ...conditions,
        items: {
          ...condition,
          properties: { ...conditionProperties, set: overrides(conditionProperties.set!) },
        },
      },
      grid: {
        ...documentation(properties.grid as JsonSchema),
        type: 'object',
        properties: Object.fromEntries(
          Object.entries(leaves).map(([path, leaf]) => [
            path,
            { type: 'array', minItems: 1, items: withoutDocumentation(leaf), ...documentation(leaf) },
          ]),
        ),
        additionalProperties: false,
      },
      list: {
        ...documentation(properties.list as JsonSchema),
        type: 'array',
        minItems: 1,
        items: { type: 'object', properties: leaves, additionalProperties: false },
      },
    },
  };
}

function documentation(schema: JsonSchema): JsonSchema {
  return { description: schema.description, markdownDescription: schema.markdownDescription };
}

function withoutDocumentation(schema: JsonSchema): JsonSchema {
  const { description: _description, markdownDescription: _markdown, ...rest } = schema;
  return rest;
}

/** zod writes the markdown descriptions as `description`; VS Code renders `markdownDescription`. */
function withMarkdown(schema: unknown): JsonSchema {
  if (Array.isArray(schema)) return schema.map(withMarkdown) as unknown as JsonSchema;
  if (schema === null || typeof schema !== 'object') return schema as JsonSchema;
  const entries = Object.entries(schema as JsonSchema).map(([key, value]) =>
    key === 'default' || key === 'enum' ? [key, value] : [key, withMarkdown(value)],
  );
  const result = Object.fromEntries(entries) as JsonSchema;
  if (typeof result.description === 'string') {
    result.markdownDescription = result.description;
    result.description = plainText(result.description);
  }
  return result;
}
