import assert from 'node:assert/strict';
import { studyTable, type TrialFigures, tableCsv, tableMarkdown } from '../../../src/shared/study/table';
import { studyManifestOf } from '../../support/studyManifest';

const conditions = [
  { id: 'base', label: 'MoCo v2', baseline: true },
  { id: 'better', label: 'MoCo v2 + pairs', baseline: false },
  { id: 'same', label: 'ablation', baseline: false },
];
const seeds = [0, 1, 2];
const manifest = studyManifestOf({
  name: 'birds',
  studyFile: '/s/birds.study.json',
  experimentFile: '/s/method.synthpair.json',
  metrics: ['knnTop1', 'mAP'],
  conditions,
  seeds,
});

/** kNN: `better` beats the baseline by 2–4 points on every seed; `same` moves ±1. */
const figures = new Map<string, TrialFigures>([
  ['base.seed-0', { knnTop1: 0.3, mAP: 0.1 }],
  ['base.seed-1', { knnTop1: 0.32, mAP: 0.12 }],
  ['base.seed-2', { knnTop1: 0.28, mAP: 0.11 }],
  ['better.seed-0', { knnTop1: 0.33, mAP: 0.1 }],
  ['better.seed-1', { knnTop1: 0.34, mAP: 0.13 }],
  ['better.seed-2', { knnTop1: 0.32, mAP: 0.1 }],
  ['same.seed-0', { knnTop1: 0.31, mAP: 0.1 }],
  // same.seed-1 has not completed yet.
  ['same.seed-2', { knnTop1: 0.27, mAP: 0.11 }],
]);

const near = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected}`);

describe('study tables', () => {
  const table = studyTable(manifest, figures);

  it('gives mean ± std in percent per condition and metric, with the seed points behind them', () => {
    const base = table.conditions[0]!;
    assert.equal(base.baseline, true);
    assert.equal(base.completed, 3);
    near(base.metrics.knnTop1!.mean, 30);
    near(base.metrics.knnTop1!.std, 2);
    assert.deepEqual(
      base.metrics.knnTop1!.values.map(({ seed }) => seed),
      [0, 1, 2],
    );
    const same = table.conditions[2]!;
    assert.equal(same.completed, 2);
    assert.equal(same.trials, 3);
    assert.deepEqual(
      same.metrics.knnTop1!.values.map(({ seed }) => seed),
      [0, 2],
    );
  });

  it('pairs each condition with the baseline by seed, only where both completed', () => {
    const better = table.differences.find((d) => d.condition === 'better' && d.metric === 'knnTop1')!;
    assert.equal(better.n, 3);
    near(better.mean, 3); // differences 3, 2, 4
    assert.ok(better.low > 0, 'the interval of a steady gain excludes 0');
    const same = table.differences.find((d) => d.condition === 'same' && d.metric === 'knnTop1')!;
    assert.equal(same.n, 2);
    near(same.mean, 0); // differences +1 and −1 on seeds 0 and 2
    assert.ok(same.low < 0 && same.high > 0);
    // Holm over the two conditions on kNN: the smaller p doubles.
    near(better.pHolm, Math.min(1, Math.max(2 * Math.min(better.p, same.p), better.p)));
  });

  it('writes Markdown that marks the differences whose interval excludes 0 and says how they were tested', () => {
    const markdown = tableMarkdown(table);
    assert.match(markdown, /\| MoCo v2 \(baseline\) \| 3\/3 \| 30\.00 ± 2\.00 \| 11\.00 ± 1\.00 \|/);
    assert.match(markdown, /\| ablation \| 2\/3 \| 29\.00 ± 2\.83 \|/);
    const betterRow = markdown.split('\n').find((line) => line.startsWith('| MoCo v2 + pairs | **+3.00'));
    assert.ok(betterRow, markdown);
    assert.match(
      markdown,
      /\| ablation \| \+0\.00 \[−12\.71, \+12\.71\] \(1\.000\) \| \+0\.00 \[\+0\.00, \+0\.00\] \(1\.000\) \|/,
    );
    assert.match(markdown, /Student's t/);
    assert.match(markdown, /Holm/);
  });

  it('writes CSV a row per condition and metric, with the per-seed values', () => {
    const lines = tableCsv(table).trim().split('\n');
    assert.equal(lines.length, 1 + 3 * 2);
    assert.match(lines[0]!, /^condition,label,baseline,metric/);
    const better = lines.find((line) => line.startsWith('better,MoCo v2 + pairs,false,knnTop1'))!.split(',');
    assert.deepEqual(better.slice(4, 11), ['3', '3', '33', '1', '0:33 1:34 2:32', '3', '3']);
    // The baseline has no difference to itself: the difference columns are empty.
    assert.match(lines.find((line) => line.startsWith('base,MoCo v2,true,knnTop1'))!, /,,,,,,$/);
  });

  it('leaves a condition with nothing completed empty, not zero', () => {
    const empty = studyTable(manifest, new Map([...figures].filter(([trial]) => trial.startsWith('base'))));
    assert.ok(Number.isNaN(empty.conditions[1]!.metrics.knnTop1!.mean));
    assert.equal(empty.differences.find((d) => d.condition === 'better')!.n, 0);
    assert.match(tableMarkdown(empty), /\| MoCo v2 \+ pairs \| 0\/3 \| – \| – \|/);
  });
});
