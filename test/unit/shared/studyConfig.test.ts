import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { studySchemaPath } from '../../../scripts/generate-config-docs';
import type { ConfigDiagnostic } from '../../../src/shared/config/experiment/parse';
import { parseStudyFile } from '../../../src/shared/config/study/parse';
import { planStudy, studyFolderOf } from '../../../src/shared/study/plan';
import { repoRoot } from '../../support/paths';

const minimal = `{
  "name": "birds",
  "experiment": "method.synthpair.json",
  "conditions": [
    { "name": "mocov2", "baseline": true, "set": { "loss.alpha": 0, "loss.nu": 0 } },
    { "name": "pairs" }
  ]
}`;

function underlined(text: string, diagnostic: ConfigDiagnostic): string {
  return text.slice(diagnostic.offset, diagnostic.offset + diagnostic.length);
}

function errorsOf(text: string): ConfigDiagnostic[] {
  const { study, diagnostics } = parseStudyFile(text);
  assert.equal(study, undefined, 'an invalid study is not returned');
  return diagnostics.filter((diagnostic) => diagnostic.severity === 'error');
}

describe('study files', () => {
  it('reads a study with comments and fills in the defaults', () => {
    const { study, diagnostics } = parseStudyFile(
      `// the birds\n${minimal.replace('"pairs" }', '"pairs", },')}`,
    );
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(study?.seeds, [0, 1, 2]);
    assert.deepEqual(study?.metrics, ['knnTop1', 'linearTop1', 'rank1', 'mAP']);
    assert.equal(study?.checkpoint, 'best');
    assert.equal(study?.executor.kind, 'local');
    assert.equal(study?.executor.slurm.time, '04:00:00');
  });

  it('underlines an unknown experiment key and suggests the one meant', () => {
    const text = minimal.replace('"loss.alpha"', '"loss.alpah"');
    const [error, ...rest] = errorsOf(text);
    assert.equal(rest.length, 0);
    assert.match(error!.message, /loss\.alpah: not a key of the experiment; did you mean loss\.alpha\?/);
    assert.equal(underlined(text, error!), '"loss.alpah"');
  });

  it('refuses overrides of the seed and the name, which the study gives each trial', () => {
    const text = minimal.replace('{ "name": "pairs" }', '{ "name": "pairs", "set": { "seed": 4 } }');
    const [error] = errorsOf(text);
    assert.match(error!.message, /seed: not overridden in a study/);
    assert.equal(underlined(text, error!), '"seed"');
  });

  it('reports a second baseline, two conditions of one name, repeated seeds, and grid with list', () => {
    const text = `{
      "name": "s", "experiment": "e.synthpair.json", "seeds": [0, 1, 1],
      "conditions": [ { "name": "a", "baseline": true }, { "name": "a", "baseline": true } ],
      "grid": { "perturb.strength": [1, 2] }, "list": [ { "perturb.strength": 3 } ]
    }`;
    const messages = errorsOf(text).map((diagnostic) => diagnostic.message);
    assert.ok(
      messages.some((message) => /two are named a/.test(message)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((message) => /a is a second baseline/.test(message)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((message) => /seeds: 1 listed twice/.test(message)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((message) => /grid and list/.test(message)),
      messages.join('\n'),
    );
  });

  it('reports shape errors where they are: a bad name, a wrong type, an unknown key', () => {
    const text = minimal.replace('"name": "pairs"', '"name": "pairs/2", "seeds": 3');
    const errors = errorsOf(text);
    const name = errors.find((diagnostic) => diagnostic.path === 'conditions.1.name');
    assert.equal(underlined(text, name!), '"pairs/2"');
    const unknown = errors.find((diagnostic) => diagnostic.path === 'conditions.1.seeds');
    assert.match(unknown!.message, /unknown key/);
    assert.equal(underlined(text, unknown!), '"seeds"');
    const slurm = errorsOf(
      minimal.replace('"conditions"', '"executor": { "slurm": { "time": "soon" } }, "conditions"'),
    );
    assert.equal(slurm[0]!.path, 'executor.slurm.time');
  });

  it('plans conditions × seeds, the baseline first, with the overrides in the order they apply', () => {
    const text = minimal
      .replace(
        '"experiment"',
        '"set": { "data.root": "../cub", "loss.nu": 2 }, "seeds": [3, 5], "experiment"',
      )
      .replace(
        '{ "name": "pairs" }',
        '{ "name": "pairs", "label": "+ pairs" }, { "name": "simclr", "set": { "ssl.method": "simclr" } }',
      )
      .replace('{ "name": "mocov2", "baseline": true, "set": { "loss.alpha": 0, "loss.nu": 0 } },', '')
      .replace(
        '"conditions": [',
        '"conditions": [ { "name": "mocov2", "baseline": true, "set": { "loss.alpha": 0, "loss.nu": 0 } },',
      );
    const { study } = parseStudyFile(text);
    const plan = planStudy(study!, '/studies/birds.study.json');
    assert.equal(plan.experimentFile, '/studies/method.synthpair.json');
    assert.deepEqual(
      plan.conditions.map(({ id, label, baseline }) => [id, label, baseline]),
      [
        ['mocov2', 'mocov2', true],
        ['pairs', '+ pairs', false],
        ['simclr', 'simclr', false],
      ],
    );
    assert.deepEqual(
      plan.trials.map((trial) => trial.id),
      ['mocov2.seed-3', 'mocov2.seed-5', 'pairs.seed-3', 'pairs.seed-5', 'simclr.seed-3', 'simclr.seed-5'],
    );
    // The condition's own keys come after the study's, so the parser (last assignment wins) applies them.
    assert.deepEqual(plan.trials[0]!.overrides, [
      'data.root="../cub"',
      'loss.nu=0',
      'loss.alpha=0',
      'seed=3',
      'name=birds.mocov2',
    ]);
    assert.deepEqual(plan.trials[3]!.overrides, [
      'data.root="../cub"',
      'loss.nu=2',
      'seed=5',
      'name=birds.pairs',
    ]);
    assert.equal(studyFolderOf(study!, '/studies/birds.study.json'), '/studies/.synthpair/studies/birds');
    assert.equal(
      studyFolderOf({ ...study!, out: '../runs/birds' }, '/studies/birds.study.json'),
      '/runs/birds',
    );
  });

  it('crosses every condition but the baseline with a grid, or with a list of points', () => {
    const grid = parseStudyFile(
      minimal.replace(
        '"conditions"',
        '"grid": { "perturb.strength": [0.5, 2], "perturb.mode": ["gaussian", "shuffle"] }, "conditions"',
      ),
    ).study!;
    const gridPlan = planStudy(grid, '/s/birds.study.json');
    assert.deepEqual(
      gridPlan.conditions.map((condition) => condition.id),
      [
        'mocov2',
        'pairs@perturb.strength=0.5,perturb.mode=gaussian',
        'pairs@perturb.strength=0.5,perturb.mode=shuffle',
        'pairs@perturb.strength=2,perturb.mode=gaussian',
        'pairs@perturb.strength=2,perturb.mode=shuffle',
      ],
    );
    assert.equal(gridPlan.conditions[2]!.label, 'pairs (perturb.strength 0.5, perturb.mode shuffle)');
    assert.ok(
      gridPlan.trials
        .find((trial) => trial.id === 'pairs@perturb.strength=2,perturb.mode=shuffle.seed-1')!
        .overrides.includes('perturb.mode="shuffle"'),
    );
    const list = parseStudyFile(
      minimal.replace(
        '"conditions"',
        '"list": [ { "perturb.strength": 0.5 }, { "perturb.strength": 2, "perturb.fraction": 0.5 } ], "conditions"',
      ),
    ).study!;
    assert.deepEqual(
      planStudy(list, '/s/birds.study.json').conditions.map((condition) => condition.id),
      ['mocov2', 'pairs@perturb.strength=0.5', 'pairs@perturb.strength=2,perturb.fraction=0.5'],
    );
  });

  it('contributes a schema that offers the experiment keys wherever a study overrides them', () => {
    const schema = parseJsonc(readFileSync(path.join(repoRoot, studySchemaPath), 'utf8'));
    const conditionSet = schema.properties.conditions.items.properties.set;
    assert.equal(conditionSet.additionalProperties, false);
    assert.equal(conditionSet.properties['loss.alpha'].type, 'number');
    assert.match(conditionSet.properties['loss.alpha'].markdownDescription, /reconstruction loss/);
    assert.equal(conditionSet.properties.seed, undefined);
    assert.equal(schema.properties.grid.properties['perturb.mode'].items.enum.length, 3);
    assert.deepEqual(schema.required, ['name', 'experiment', 'conditions']);
    assert.equal(schema.allowComments, true);
  });
});
