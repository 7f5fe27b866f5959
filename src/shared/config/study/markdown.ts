import * as z from 'zod/mini';
import { studyFileSchema, studyFileSuffix } from './definitions';

type Schema = {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
};

/** docs/study-config.md: every key of the study file with its type, default and meaning, from the zod schema. */
export function studyConfigMarkdown(): string {
  const root = z.toJSONSchema(studyFileSchema, { io: 'input', target: 'draft-7' }) as Schema;
  const rows: string[] = [];
  const visit = (schema: Schema, prefix: string, required: readonly string[]) => {
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      if (name === '$schema') continue;
      const key = `${prefix}${name}`;
      const type = typeOf(child);
      // A block's default is its keys' defaults, listed on their own rows.
      const fallback = required.includes(name)
        ? 'required'
        : child.default === undefined || child.properties
          ? '–'
          : `\`${JSON.stringify(child.default)}\``;
      rows.push(
        `| \`${key}\` | ${type} | ${fallback} | ${(child.description ?? '').replace(/\|/g, '\\|')} |`,
      );
      if (child.properties) visit(child, `${key}.`, child.required ?? []);
      if (child.items?.properties) visit(child.items, `${key}[].`, child.items.required ?? []);
    }
  };
  visit(root, '', root.required ?? []);
  return [
    '# Study file reference',
    '',
    '<!-- Generated from src/shared/config/study/definitions.ts by `npm run generate`; do not edit. -->',
    '',
    `A study is one \`*${studyFileSuffix}\` file: JSON with comments and trailing commas. VS Code validates it and`,
    'completes and documents its keys, the experiment keys its conditions override included, from the schema',
    'SynthPair contributes (`media/schema/study.schema.json`). docs/studies.md says how studies run and how to read',
    'their tables.',
    '',
    '```jsonc',
    '{',
    '  "name": "birds-method",',
    '  "experiment": "method.synthpair.json",',
    '  "set": { "data.root": "../data/cub" },',
    '  "seeds": [0, 1, 2],',
    '  "conditions": [',
    '    { "name": "mocov2", "label": "MoCo v2", "baseline": true, "set": { "loss.alpha": 0, "loss.nu": 0 } },',
    '    { "name": "pairs", "label": "MoCo v2 + pairs" }',
    '  ],',
    '  "executor": { "kind": "slurm", "slurm": { "partition": "gpu", "gres": "gpu:1", "time": "08:00:00" } }',
    '}',
    '```',
    '',
    root.description ?? '',
    '',
    '| key | type | default | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

function typeOf(schema: Schema): string {
  if (schema.enum) return schema.enum.map((value) => `\`${String(value)}\``).join(', ');
  if (schema.type === 'array') return `list of ${schema.items ? typeOf(schema.items) : 'values'}`;
  if (schema.type === 'object' && !schema.properties) return 'object: experiment key → value';
  return schema.type ?? 'any';
}
