import { experimentFileSuffix } from './choices';
import { experimentDefinition, keyPaths } from './definitions';
import type { KeyDefinition, LeafKey } from './keys';
import { maxExperimentFileLength, maxExperimentNesting } from './parse';

/** docs/config.md: every key of the experiment file with its type, default, allowed values and meaning. */
export function experimentConfigMarkdown(): string {
  const paths = [...keyPaths()];
  const lines = [
    '# Experiment config reference',
    '',
    '<!-- Generated from src/shared/config/experiment/definitions.ts by `npm run generate`; do not edit. -->',
    '',
    `An experiment is one \`*${experimentFileSuffix}\` file: JSON with comments (\`//\`, \`/* */\`) and trailing commas.`,
    'A UTF-8 byte-order mark at its start is read past. A key written twice in one block is an error, since',
    `readers differ on which of the two counts; so is a file of more than ${maxExperimentFileLength / 1024 / 1024} MiB or one that nests objects`,
    `and arrays more than ${maxExperimentNesting} levels deep, which cannot be an experiment.`,
    'VS Code validates it and offers completion and hover docs from the schema SynthPair contributes',
    '(`media/schema/experiment.schema.json`). Every key but `name` and `data.root` has a default; relative',
    'paths in the file are resolved against the folder of the config file. The CLI overrides any key with',
    '`--set key.path=value` (the value is read as JSON when it parses as JSON, else as text; a relative',
    '`data.root` given this way is resolved against the current folder, as any path on a command line), e.g.',
    '`synthpair run birds.synthpair.json --set train.batchSize=64 --set ssl.method=mocov2`.',
    '',
    '```jsonc',
    '{',
    '  "name": "cub-simclr",',
    '  "data": { "root": "data/cub", "layout": "cub", "imageSize": 64 },',
    '  "model": { "arch": "resnet18", "width": 0.5 },',
    '  "ssl": { "method": "simclr" },',
    '  "train": { "epochs": 100, "batchSize": 64 },',
    '  // Blocks not written keep their defaults, e.g. the MoCo v2 "aug+" augmentations.',
    '}',
    '```',
    '',
    experimentDefinition.description,
    '',
    '| key | type | default | allowed |',
    '| --- | --- | --- | --- |',
    ...paths
      .filter(([, definition]) => definition.kind !== 'group')
      .map(([path, definition]) => {
        const leaf = definition as LeafKey;
        return `| [\`${path}\`](#${anchorOf(path)}) | ${typeName(leaf)} | ${defaultText(leaf)} | ${allowedText(leaf)} |`;
      }),
  ];
  for (const [path, definition] of paths) {
    lines.push(
      '',
      `${'#'.repeat(Math.min(path.split('.').length + 1, 6))} \`${path}\``,
      '',
      ...details(definition),
    );
  }
  return `${lines.join('\n')}\n`;
}

function details(definition: KeyDefinition): string[] {
  if (definition.kind === 'group') {
    const { appliesWhen } = definition;
    if (!appliesWhen) return [definition.description];
    const values = appliesWhen.values.map((value) => `\`${value}\``).join(' or ');
    return [definition.description, '', `Applies only when \`${appliesWhen.key}\` is ${values}.`];
  }
  // An enum's values are listed below with their meanings, and a boolean's go without saying.
  const listsValues = definition.kind === 'enum' || definition.kind === 'boolean';
  const facts = `${typeName(definition)}, default ${defaultText(definition)}${listsValues ? '' : `, ${allowedText(definition)}`}.`;
  const values =
    definition.kind === 'enum'
      ? [
          '',
          ...definition.values.map(
            (value, index) => `- \`${value}\`: ${definition.valueDescriptions[index]}`,
          ),
        ]
      : [];
  return [facts, '', definition.description, ...values];
}

function typeName(definition: LeafKey): string {
  return definition.kind === 'interval' ? '[min, max]' : definition.kind;
}

function defaultText(definition: LeafKey): string {
  if (definition.default === undefined) return '*required*';
  if (definition.default === '') return '*none*';
  if (definition.kind === 'interval') return `\`[${definition.default.map(formatNumber).join(', ')}]\``;
  return `\`${typeof definition.default === 'number' ? formatNumber(definition.default) : JSON.stringify(definition.default)}\``;
}

function allowedText(definition: LeafKey): string {
  switch (definition.kind) {
    case 'string':
      return definition.default === '' ? 'any' : 'non-empty';
    case 'boolean':
      return '`true`, `false`';
    case 'enum':
      return definition.values.map((value) => `\`${value}\``).join(', ');
    case 'integer':
    case 'number':
      return `${definition.minExclusive ? '>' : '≥'} ${definition.min}, ≤ ${definition.max}`;
    case 'interval':
      return `${definition.lowest} ≤ min ≤ max ≤ ${definition.highest}`;
  }
}

/** Long repeating fractions such as 4/3 read better rounded in prose; the schema keeps the exact value. */
function formatNumber(value: number): string {
  return String(Number(value.toPrecision(6)));
}

/** The heading anchor GitHub derives from "`train.batchSize`". */
function anchorOf(path: string): string {
  return path.toLowerCase().replace(/[^a-z0-9 -]/g, '');
}
