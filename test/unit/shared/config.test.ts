import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import {
  experimentSchemaPath,
  staleConfigFiles,
  studySchemaPath,
} from '../../../scripts/generate-config-docs';
import { keyPaths } from '../../../src/shared/config/experiment/definitions';
import type { LeafKey } from '../../../src/shared/config/experiment/keys';
import {
  type ConfigDiagnostic,
  maxExperimentFileLength,
  parseExperimentConfig,
} from '../../../src/shared/config/experiment/parse';
import { backendPreference } from '../../../src/shared/protocol/backend';
import { repoRoot as root } from '../../support/paths';

const exampleConfigs = [
  'examples/quickstart/quickstart.synthpair.json',
  'examples/birds/birds.synthpair.json',
  'test/fixtures/workspace/example.synthpair.json',
];
const minimal = '{ "name": "birds", "data": { "root": "data" } }';

/** The text a diagnostic points at, which is what an editor underlines. */
function underlined(text: string, diagnostic: ConfigDiagnostic): string {
  return text.slice(diagnostic.offset, diagnostic.offset + diagnostic.length);
}

function onlyDiagnostic(text: string, overrides?: string[]): ConfigDiagnostic {
  const { config, diagnostics } = parseExperimentConfig(text, { overrides });
  assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics, null, 2));
  if (diagnostics[0]!.severity === 'error') assert.equal(config, undefined);
  return diagnostics[0]!;
}

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
};

/** Just the JSON-schema keywords the generated schema uses, so no schema library is needed. */
function schemaProblems(value: unknown, schema: Schema, at = '$'): string[] {
  const isType: Record<string, (candidate: unknown) => boolean> = {
    object: (candidate) => typeof candidate === 'object' && candidate !== null && !Array.isArray(candidate),
    array: Array.isArray,
    string: (candidate) => typeof candidate === 'string',
    number: (candidate) => typeof candidate === 'number',
    integer: Number.isInteger,
    boolean: (candidate) => typeof candidate === 'boolean',
  };
  if (schema.type && !isType[schema.type]!(value)) return [`${at}: not ${schema.type}`];
  const problems: string[] = [];
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${at}: not in enum`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${at}: below minimum`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum)
      problems.push(`${at}: too low`);
    if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${at}: above maximum`);
  }
  if (
    typeof value === 'string' &&
    schema.pattern !== undefined &&
    !new RegExp(schema.pattern, 'u').test(value)
  ) {
    problems.push(`${at}: does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      problems.push(`${at}: too few items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      problems.push(`${at}: too many items`);
    value.forEach((item, index) => {
      if (schema.items) problems.push(...schemaProblems(item, schema.items, `${at}[${index}]`));
    });
  }
  if (schema.type === 'object') {
    const object = value as Record<string, unknown>;
    for (const name of schema.required ?? []) if (!(name in object)) problems.push(`${at}.${name}: missing`);
    for (const [name, item] of Object.entries(object)) {
      const property = schema.properties?.[name];
      if (property) problems.push(...schemaProblems(item, property, `${at}.${name}`));
      else if (schema.additionalProperties === false) problems.push(`${at}.${name}: not allowed`);
    }
  }
  return problems;
}

describe('experiment config', () => {
  describe('definitions', () => {
    it('has the key names other tools rely on, with their types and ranges', () => {
      const paths = keyPaths();
      for (const fixed of [
        'data.root',
        'data.layout',
        'data.imageSize',
        'ssl.method',
        'train.epochs',
        'train.batchSize',
        'seed',
      ]) {
        assert.ok(paths.has(fixed), fixed);
        assert.notEqual(paths.get(fixed)!.kind, 'group', fixed);
      }
      assert.deepEqual(paths.get('data.layout'), {
        ...paths.get('data.layout'),
        values: ['imagefolder', 'cub'],
      });
      assert.deepEqual(paths.get('ssl.method'), {
        ...paths.get('ssl.method'),
        values: ['simclr', 'mocov2', 'simsiam', 'byol'],
        default: 'simclr',
      });
      assert.deepEqual(paths.get('data.imageSize'), {
        ...paths.get('data.imageSize'),
        kind: 'integer',
        min: 32,
        max: 224,
        default: 64,
      });
      assert.deepEqual(paths.get('backend'), { ...paths.get('backend'), values: backendPreference.options });
    });

    it('documents every key, and every choice of every enum', () => {
      for (const [keyPath, definition] of keyPaths()) {
        assert.ok(definition.description.length > 10, keyPath);
        if (definition.kind === 'enum')
          assert.equal(definition.valueDescriptions.length, definition.values.length);
      }
    });
  });

  describe('parsing', () => {
    it('fills in every default', () => {
      const { config, diagnostics } = parseExperimentConfig(minimal);
      assert.deepEqual(diagnostics, []);
      assert.ok(config);
      assert.equal(config.name, 'birds');
      assert.equal(config.data.root, 'data');
      for (const [keyPath, definition] of keyPaths()) {
        if (definition.kind === 'group' || keyPath === 'name' || keyPath === 'data.root') continue;
        const value: unknown = keyPath
          .split('.')
          .reduce<unknown>((node, name) => (node as Record<string, unknown>)[name], config);
        assert.deepEqual(value, (definition as LeafKey).default, keyPath);
      }
      assert.deepEqual(config.augment.colorJitter, {
        enabled: true,
        prob: 0.8,
        brightness: 0.4,
        contrast: 0.4,
        saturation: 0.4,
        hue: 0.1,
      });
      // Typed as the enum's values, not as string: the engine switches on them exhaustively.
      const method: 'simclr' | 'mocov2' | 'simsiam' | 'byol' = config.ssl.method;
      const scale: [number, number] = config.augment.crop.scale;
      assert.deepEqual([method, scale], ['simclr', [0.2, 1]]);
    });

    it('reads an optional text written as "" as left out, and refuses a blank required one', () => {
      const read = (model: string, root: string) =>
        parseExperimentConfig(`{ "name": "b", "data": { "root": ${root} }, "model": { "init": ${model} } }`);
      const empty = read('""', '"d"');
      assert.deepEqual(empty.diagnostics, []);
      assert.equal(empty.config?.model.init, '');
      assert.deepEqual(
        read('3', '" "').diagnostics.map(({ path, message }) => [path, message]),
        [
          ['data.root', 'data.root: must be a non-empty string, got " "'],
          ['model.init', 'model.init: must be a string, got 3'],
        ],
      );
    });

    it('accepts comments, trailing commas and a $schema key', () => {
      const text = `// birds\n{ "$schema": "./schema.json", /* inline */ "name": "b", "data": { "root": "d", }, }`;
      assert.deepEqual(parseExperimentConfig(text).diagnostics, []);
    });

    it('reports a syntax error where it is', () => {
      const text = '{ "name": "b" "data": { "root": "d" } }';
      const diagnostic = onlyDiagnostic(text);
      assert.equal(diagnostic.path, '');
      assert.equal(diagnostic.message, 'syntax error: comma expected');
      assert.equal(diagnostic.offset, text.indexOf('"data"'));
      assert.deepEqual(
        parseExperimentConfig('').diagnostics.map((each) => each.severity),
        ['error'],
      );
    });

    it('reads a file that starts with a UTF-8 byte-order mark, its offsets counted in the text as given', () => {
      const marked = `\uFEFF${minimal}`;
      const read = parseExperimentConfig(marked);
      assert.deepEqual(read.diagnostics, []);
      assert.equal(read.config?.name, 'birds');
      const wrong = '\uFEFF{ "name": "b", "data": { "root": "d" }, "train": { "batchSize": "64" } }';
      assert.equal(underlined(wrong, onlyDiagnostic(wrong)), '"64"');
    });

    it('reports a key written twice in one block, at the second', () => {
      const text =
        '{ "name": "b", "data": { "root": "d" }, "train": { "epochs": 3, "batchSize": 8, "epochs": 30 } }';
      const diagnostic = onlyDiagnostic(text);
      assert.equal(diagnostic.path, 'train.epochs');
      assert.equal(diagnostic.message, 'train.epochs: written more than once in its block; keep one');
      assert.equal(diagnostic.offset, text.lastIndexOf('"epochs"'));
      assert.equal(underlined(text, diagnostic), '"epochs"');
      const blocks = '{ "name": "b", "data": { "root": "d" }, "data": { "root": "e" } }';
      assert.equal(onlyDiagnostic(blocks).path, 'data');
      // The same name in different blocks is two keys.
      const { diagnostics } = parseExperimentConfig(
        '{ "name": "b", "data": { "root": "d" }, "augment": { "flip": { "prob": 0.5 }, "grayscale": { "prob": 0.5 } } }',
      );
      assert.deepEqual(diagnostics, []);
    });

    it('refuses nesting deeper than any key and a text larger than any experiment file, with a message', () => {
      const depth = 100_000;
      const deep = `{ "name": "b", "data": { "root": ${'['.repeat(depth)}${']'.repeat(depth)} } }`;
      const nested = onlyDiagnostic(deep);
      assert.equal(nested.path, '');
      assert.match(nested.message, /^objects and arrays nested more than 64 levels deep/);
      assert.equal(deep[nested.offset], '[');
      // Brackets inside strings and comments are not nesting.
      const quoted = `{ "name": "${'['.repeat(100)}", /* ${'{'.repeat(100)} */ "data": { "root": "d" } }`;
      assert.deepEqual(parseExperimentConfig(quoted).diagnostics, []);
      const viaSet = onlyDiagnostic(minimal, [`data.root=${'['.repeat(depth)}`]);
      assert.equal(viaSet.path, 'data.root');
      assert.match(
        viaSet.message,
        /^data\.root: objects and arrays nested more than 64 levels deep.*\(from --set /,
      );

      const huge = `${minimal}${' '.repeat(maxExperimentFileLength)}`;
      const tooLarge = onlyDiagnostic(huge);
      assert.equal(
        tooLarge.message,
        `the file is ${huge.length} characters long, more than the ${maxExperimentFileLength} an experiment file may hold; is it the right file?`,
      );
    });

    it('says only what is wrong with a file cut short, not which keys the cut removed', () => {
      const messages = parseExperimentConfig('{ "name": "b", "da').diagnostics.map((each) => each.message);
      assert.ok(
        messages.some((message) => message.startsWith('syntax error')),
        messages.join('; '),
      );
      assert.ok(!messages.some((message) => /required/.test(message)), messages.join('; '));
    });

    it('reports a wrong type with the key path, at the value', () => {
      const text = '{ "name": "b", "data": { "root": "d" }, "train": { "batchSize": "64" } }';
      const diagnostic = onlyDiagnostic(text);
      assert.equal(diagnostic.path, 'train.batchSize');
      assert.equal(diagnostic.message, 'train.batchSize: must be an integer between 2 and 4096, got "64"');
      assert.equal(underlined(text, diagnostic), '"64"');
    });

    it('reports a value out of range', () => {
      const text = '{ "name": "b", "data": { "root": "d" }, "train": { "batchSize": 1 } }';
      const diagnostic = onlyDiagnostic(text);
      assert.equal(diagnostic.message, 'train.batchSize: must be an integer between 2 and 4096, got 1');
      assert.equal(underlined(text, diagnostic), '1');
      assert.equal(diagnostic.severity, 'error');
    });

    it('reports a value outside an enum, with the nearest choice', () => {
      const text = '{ "name": "b", "data": { "root": "d" }, "ssl": { "method": "moco" } }';
      const diagnostic = onlyDiagnostic(text);
      assert.equal(
        diagnostic.message,
        'ssl.method: must be one of "simclr", "mocov2", "simsiam", "byol", got "moco"; did you mean "mocov2"?',
      );
      assert.equal(underlined(text, diagnostic), '"moco"');
    });

    it('reports unknown keys at the key, suggesting a close or misplaced one', () => {
      const typo = '{ "name": "b", "data": { "root": "d" }, "augment": { "colourJitter": { "prob": 0.5 } } }';
      const diagnostic = onlyDiagnostic(typo);
      assert.equal(diagnostic.path, 'augment.colourJitter');
      assert.equal(
        diagnostic.message,
        'augment.colourJitter: unknown key; did you mean augment.colorJitter?',
      );
      assert.equal(underlined(typo, diagnostic), '"colourJitter"');

      const misplaced = '{ "name": "b", "data": { "root": "d" }, "batchSize": 64 }';
      assert.equal(
        onlyDiagnostic(misplaced).message,
        'batchSize: unknown key; did you mean train.batchSize?',
      );
      assert.equal(
        onlyDiagnostic('{ "name": "b", "data": { "root": "d" }, "zzz": 1 }').message,
        'zzz: unknown key',
      );
    });

    it('reports every problem, not just the first', () => {
      const text = `{
        "name": "",
        "data": { "root": "d", "imageSize": 512, "layout": "voc" },
        "model": { "width": "wide", "projector": 128 },
        "augment": { "flip": { "prob": 1.5, "enabled": "yes" } }
      }`;
      const { config, diagnostics } = parseExperimentConfig(text);
      assert.equal(config, undefined);
      assert.deepEqual(
        diagnostics.map((diagnostic) => [diagnostic.path, underlined(text, diagnostic)]),
        [
          ['name', '""'],
          ['data.imageSize', '512'],
          ['data.layout', '"voc"'],
          ['model.width', '"wide"'],
          ['model.projector', '128'],
          ['augment.flip.prob', '1.5'],
          ['augment.flip.enabled', '"yes"'],
        ],
      );
      assert.equal(diagnostics[4]!.message, 'model.projector: must be an object, got 128');
    });

    it('reports a missing required key at its closest written ancestor', () => {
      const text = '{ "name": "b", "data": { "layout": "cub" } }';
      const diagnostic = onlyDiagnostic(text);
      assert.equal(diagnostic.message, 'data.root: required key is missing');
      assert.equal(underlined(text, diagnostic), '{ "layout": "cub" }');
    });

    it('checks an interval is ordered and within bounds, at the offending part', () => {
      const reversed =
        '{ "name": "b", "data": { "root": "d" }, "augment": { "crop": { "scale": [0.9, 0.2] } } }';
      const diagnostic = onlyDiagnostic(reversed);
      assert.equal(diagnostic.message, 'augment.crop.scale: minimum 0.9 is greater than maximum 0.2');
      assert.equal(underlined(reversed, diagnostic), '[0.9, 0.2]');

      const outside =
        '{ "name": "b", "data": { "root": "d" }, "augment": { "blur": { "sigma": [0.1, 20] } } }';
      const bound = onlyDiagnostic(outside);
      assert.equal(bound.message, 'augment.blur.sigma: maximum must be a number between 0.01 and 10, got 20');
      assert.equal(underlined(outside, bound), '20');
    });

    it('requires the MoCo v2 queue to hold whole batches', () => {
      const text = `{ "name": "b", "data": { "root": "d" }, "train": { "batchSize": 64 },
        "ssl": { "method": "mocov2", "mocov2": { "queueSize": 1000 } } }`;
      const diagnostic = onlyDiagnostic(text);
      assert.equal(diagnostic.path, 'ssl.mocov2.queueSize');
      assert.match(
        diagnostic.message,
        /^ssl\.mocov2\.queueSize: must be a multiple of train\.batchSize \(64\).*got 1000$/,
      );
      assert.equal(underlined(text, diagnostic), '1000');

      const withDefaultQueue =
        '{ "name": "b", "data": { "root": "d" }, "ssl": { "method": "mocov2" }, "train": { "batchSize": 48 } }';
      assert.equal(underlined(withDefaultQueue, onlyDiagnostic(withDefaultQueue)), '48');
    });

    it('warns, and still gives the config, when keys have no effect', () => {
      const text = `{ "name": "b", "data": { "root": "d" }, "train": { "epochs": 5 },
        "ssl": { "mocov2": { "queueSize": 4096 } } }`;
      const { config, diagnostics } = parseExperimentConfig(text);
      assert.ok(config);
      assert.deepEqual(
        diagnostics.map((diagnostic) => [diagnostic.severity, diagnostic.path, underlined(text, diagnostic)]),
        [
          ['warning', 'optim.warmupEpochs', '5'],
          ['warning', 'ssl.mocov2', '{ "queueSize": 4096 }'],
        ],
      );
      assert.equal(diagnostics[1]!.message, 'ssl.mocov2: has no effect because ssl.method is "simclr"');
    });
  });

  describe('--set overrides', () => {
    it('override file values and defaults, parsing JSON where they can', () => {
      const { config, diagnostics } = parseExperimentConfig(
        '{ "name": "b", "data": { "root": "d" }, "train": { "batchSize": 64 } }',
        {
          overrides: [
            'train.batchSize=32',
            'ssl.method=byol',
            'name=2024',
            'augment.crop={"scale":[0.5,1]}',
            'augment.flip.enabled=false',
            'data.root=some dir/with=sign',
          ],
        },
      );
      assert.deepEqual(diagnostics, []);
      assert.ok(config);
      assert.equal(config.train.batchSize, 32);
      assert.equal(config.ssl.method, 'byol');
      assert.equal(config.name, '2024');
      assert.deepEqual(config.augment.crop, {
        enabled: true,
        prob: 1,
        scale: [0.5, 1],
        ratio: [3 / 4, 4 / 3],
      });
      assert.equal(config.augment.flip.enabled, false);
      assert.equal(config.data.root, 'some dir/with=sign');
    });

    it('are validated like file values', () => {
      const outOfRange = onlyDiagnostic(minimal, ['train.batchSize=1']);
      assert.equal(
        outOfRange.message,
        'train.batchSize: must be an integer between 2 and 4096, got 1 (from --set train.batchSize=1)',
      );
      assert.deepEqual([outOfRange.offset, outOfRange.length], [0, 0]);

      assert.equal(
        onlyDiagnostic(minimal, ['train.batchsise=3']).message,
        'train.batchsise: unknown key; did you mean train.batchSize? (from --set train.batchsise=3)',
      );
      assert.equal(
        onlyDiagnostic(minimal, ['seed.value=3']).message,
        'seed.value: seed has no keys (from --set seed.value=3)',
      );
      assert.equal(
        onlyDiagnostic(minimal, ['train.epochs']).message,
        '--set train.epochs: expected key.path=value',
      );
    });

    it('can supply a required key the file lacks', () => {
      const { config, diagnostics } = parseExperimentConfig('{ "name": "b" }', {
        overrides: ['data.root=images'],
      });
      assert.deepEqual(diagnostics, []);
      assert.equal(config?.data.root, 'images');
    });
  });

  describe('generated files', () => {
    it('are up to date with the definitions (run `npm run generate`)', () => {
      assert.deepEqual(staleConfigFiles(), []);
    });

    it('contribute the schemas to VS Code for *.synthpair.json and *.study.json', () => {
      const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
        contributes: { jsonValidation: { fileMatch: string; url: string }[] };
      };
      assert.deepEqual(manifest.contributes.jsonValidation, [
        { fileMatch: '*.synthpair.json', url: `./${experimentSchemaPath}` },
        { fileMatch: '*.study.json', url: `./${studySchemaPath}` },
      ]);
    });

    it('have a schema that accepts the examples and the defaults, and rejects what the parser rejects', () => {
      const schema = JSON.parse(readFileSync(path.join(root, experimentSchemaPath), 'utf8')) as Schema;
      for (const example of exampleConfigs) {
        const text = readFileSync(path.join(root, example), 'utf8');
        assert.deepEqual(parseExperimentConfig(text).diagnostics, [], example);
        assert.deepEqual(
          schemaProblems(parseJsonc(text, [], { allowTrailingComma: true }), schema),
          [],
          example,
        );
      }
      assert.deepEqual(schemaProblems(parseExperimentConfig(minimal).config, schema), []);

      const rejected = {
        '{ "name": "b", "data": { "root": "d" }, "train": { "batchSize": 1 } }':
          '$.train.batchSize: below minimum',
        '{ "name": "b", "data": { "root": "d" }, "ssl": { "method": "moco" } }': '$.ssl.method: not in enum',
        '{ "name": "b", "data": { "root": "d", "extra": 1 } }': '$.data.extra: not allowed',
        '{ "name": "b" }': '$.data: missing',
        '{ "name": " ", "data": { "root": "d" } }': '$.name: does not match \\S',
        '{ "name": "b", "data": { "root": "d" }, "optim": { "lr": 0 } }': '$.optim.lr: too low',
        '{ "name": "b", "data": { "root": "d" }, "augment": { "crop": { "scale": [0.5] } } }':
          '$.augment.crop.scale: too few items',
      };
      for (const [text, problem] of Object.entries(rejected)) {
        assert.deepEqual(schemaProblems(JSON.parse(text), schema), [problem], text);
        assert.equal(parseExperimentConfig(text).config, undefined, text);
      }
    });
  });
});
