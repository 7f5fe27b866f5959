import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  type EvalRecord,
  evalRecord,
  type MetricsRecord,
  metricsRecord,
} from '../../../src/shared/protocol/runFiles';
import type { CurveRun } from '../../../webview/dashboard/model';
import {
  alignOnSharedX,
  buildCharts,
  type ChartModel,
  chartSignature,
  csvField,
  curvesCsv,
  formatValue,
  hasAnyMetrics,
  lossTerms,
} from '../../../webview/dashboard/views/curves/data';
import { trainedFixtureRun } from '../../support/fixtureRun';

const time = '2026-11-25T02:25:55.374Z';

function step(stepNumber: number, epoch: number, losses: Record<string, number>, extra = {}): MetricsRecord {
  return {
    kind: 'step',
    epoch,
    step: stepNumber,
    time,
    losses,
    lr: 0.001 * epoch,
    imagesPerSecond: 90,
    ...extra,
  };
}

function epochMean(stepNumber: number, epoch: number, losses: Record<string, number>): MetricsRecord {
  return { kind: 'epoch', epoch, step: stepNumber, time, losses, lr: 0.0005 * epoch };
}

function run(label: string, selected: boolean, metrics: MetricsRecord[], evals: EvalRecord[] = []): CurveRun {
  return { runDir: `/runs/${label}`, label, selected, metrics, evals };
}

function chart(charts: ChartModel[], id: ChartModel['id']): ChartModel {
  return charts.find((candidate) => candidate.id === id)!;
}

/** The values of one series of a chart, found by run, metric and style. */
function values(model: ChartModel, label: string, metricId: string, style: 'line' | 'markers' = 'line') {
  const series = model.series.find(
    (candidate) =>
      candidate.run.label === label && candidate.metric.id === metricId && candidate.style === style,
  );
  assert.ok(series, `${model.id} has no ${style} series ${metricId} of ${label}`);
  return series.values;
}

describe('training curves data of the dashboard', () => {
  describe('aligning lines onto one x array', () => {
    it('merges different x values in order, with null where a line has none', () => {
      const aligned = alignOnSharedX([
        [
          { x: 10, y: 1 },
          { x: 30, y: 3 },
        ],
        [
          { x: 20, y: 20 },
          { x: 10, y: 10 },
          { x: 40, y: 40 },
        ],
      ]);
      assert.deepEqual(aligned.x, [10, 20, 30, 40]);
      assert.deepEqual(aligned.ys, [
        [1, null, 3, null],
        [10, 20, null, 40],
      ]);
    });

    it('keeps the later value of an x logged twice, as a resumed run re-logs its steps', () => {
      const aligned = alignOnSharedX([
        [
          { x: 10, y: 1 },
          { x: 20, y: 2 },
          { x: 20, y: 2.5 },
        ],
      ]);
      assert.deepEqual(aligned.x, [10, 20]);
      assert.deepEqual(aligned.ys, [[1, 2.5]]);
    });

    it('drops values that are not finite and has nothing for no lines', () => {
      const aligned = alignOnSharedX([
        [
          { x: 1, y: Number.NaN },
          { x: 2, y: Number.POSITIVE_INFINITY },
          { x: 3, y: 0 },
        ],
      ]);
      assert.deepEqual(aligned, { x: [3], ys: [[0]] });
      assert.deepEqual(alignOnSharedX([]), { x: [], ys: [] });
    });
  });

  describe('the charts', () => {
    const base = run('base', false, [
      step(10, 1, { contrastive: 4.2 }),
      step(20, 1, { contrastive: 4.0 }),
      epochMean(25, 1, { contrastive: 4.1 }),
    ]);
    const method = run(
      'method',
      true,
      [
        step(10, 1, { contrastive: 4.3, reconstruction: 0.06, total: 4.36 }),
        epochMean(16, 1, { contrastive: 4.25, reconstruction: 0.07, total: 4.32 }),
        step(30, 2, { contrastive: 3.9, reconstruction: 0.05, pairs: 1.4, total: 5.35 }),
      ],
      [
        { epoch: 1, time, knnTop1: 0.25, rank1: 0.125, mAP: 0.2 },
        { epoch: 2, time, knnTop1: 0.375, rank1: 0.25, mAP: 0.3 },
      ],
    );
    const charts = buildCharts([base, method], { logScale: false });

    it('puts the losses, learning rate and throughput on one step axis: the union of both runs’ steps', () => {
      for (const id of ['losses', 'lr', 'throughput'] as const) {
        assert.deepEqual(chart(charts, id).x, [10, 16, 20, 25, 30], id);
      }
      const losses = chart(charts, 'losses');
      assert.deepEqual(values(losses, 'method', 'losses.contrastive'), [4.3, null, null, null, 3.9]);
      assert.deepEqual(values(losses, 'base', 'losses.contrastive'), [4.2, null, 4.0, null, null]);
      assert.deepEqual(values(losses, 'method', 'losses.contrastive', 'markers'), [
        null,
        4.25,
        null,
        null,
        null,
      ]);
      assert.deepEqual(values(losses, 'base', 'losses.contrastive', 'markers'), [
        null,
        null,
        null,
        4.1,
        null,
      ]);
      assert.deepEqual(values(losses, 'method', 'losses.pairs'), [null, null, null, null, 1.4]);
    });

    it('lists the loss terms with the paper’s names, the selected run first, no series for a term a run lacks', () => {
      const losses = chart(charts, 'losses');
      assert.deepEqual(
        losses.metrics.map((metric) => [metric.id, metric.label]),
        [
          ['losses.contrastive', 'L_C'],
          ['losses.reconstruction', 'L_R'],
          ['losses.pairs', 'L_Cp'],
          ['losses.total', 'total'],
        ],
      );
      assert.equal(losses.series[0]!.run.label, 'method');
      assert.equal(losses.series[0]!.runIndex, 0);
      assert.deepEqual(
        losses.series
          .filter((series) => series.run.label === 'base')
          .map((series) => [series.metric.id, series.style]),
        [
          ['losses.contrastive', 'line'],
          ['losses.contrastive', 'markers'],
        ],
      );
      assert.ok(
        losses.series
          .filter((series) => series.run.label === 'base')
          .every((series) => series.runIndex === 1),
      );
      // pairs has no epoch mean yet: only its line.
      assert.equal(losses.series.filter((series) => series.metric.id === 'losses.pairs').length, 1);
    });

    it('draws the learning rate of both kinds of record and the throughput of step records only', () => {
      assert.deepEqual(values(chart(charts, 'lr'), 'method', 'lr.lr'), [0.001, 0.0005, null, null, 0.002]);
      assert.deepEqual(values(chart(charts, 'throughput'), 'method', 'throughput.imagesPerSecond'), [
        90,
        null,
        null,
        null,
        90,
      ]);
    });

    it('draws the evaluation over epochs as percentages, only the metrics that were measured', () => {
      const evaluation = chart(charts, 'eval');
      assert.deepEqual(evaluation.x, [1, 2]);
      assert.deepEqual(
        evaluation.metrics.map((metric) => metric.label),
        ['kNN top-1', 'rank-1', 'mAP'],
      );
      assert.deepEqual(values(evaluation, 'method', 'eval.knnTop1'), [25, 37.5]);
      assert.deepEqual(values(evaluation, 'method', 'eval.mAP'), [20, 30]);
      assert.equal(evaluation.series.length, 3, 'the base run has no evaluation and no series');
    });

    it('draws validation retrieval as points and the best checkpoint’s test figures at its epoch', () => {
      const validation = (mAP: number) => ({ rank1: 2 * mAP, rank5: 1, mAP });
      const chosen = buildCharts(
        [
          run(
            'chosen',
            true,
            [step(10, 1, { contrastive: 1 })],
            [
              { epoch: 1, time, validation: validation(0.25) },
              { epoch: 2, time, knnTop1: 0.375, validation: validation(0.5) },
              {
                epoch: 3,
                time,
                knnTop1: 0.25,
                validation: validation(0.375),
                best: {
                  epoch: 2,
                  checkpoint: 'epoch-0002',
                  by: 'mAP',
                  validation: validation(0.5),
                  knnTop1: 0.375,
                },
              },
            ],
          ),
        ],
        { logScale: false },
      );
      const evaluation = chart(chosen, 'eval');
      assert.deepEqual(evaluation.x, [1, 2, 3]);
      assert.deepEqual(values(evaluation, 'chosen', 'eval.validationMAP', 'markers'), [25, 50, 37.5]);
      assert.deepEqual(values(evaluation, 'chosen', 'eval.knnTop1'), [null, 37.5, 25]);
      const bestOnly = buildCharts(
        [
          run(
            'sparse',
            true,
            [],
            [
              {
                epoch: 3,
                time,
                knnTop1: 0.25,
                best: {
                  epoch: 1,
                  checkpoint: 'epoch-0001',
                  by: 'rank1',
                  validation: validation(0.5),
                  knnTop1: 0.5,
                },
              },
            ],
          ),
        ],
        { logScale: false },
      );
      assert.deepEqual(
        values(chart(bestOnly, 'eval'), 'sparse', 'eval.knnTop1'),
        [50, 25],
        'the best epoch was not measured on the test split during training, only when the run ended',
      );
      const [header, firstEval] = curvesCsv([
        run('chosen', true, [], [{ epoch: 1, time, validation: validation(0.25) }]),
      ]).split('\r\n');
      assert.match(header!, /,mAP,validationRank1,validationMAP$/);
      assert.match(firstEval!, /,,0\.5,0\.25$/);
    });

    it('leaves out losses that are not positive on a log scale', () => {
      const logged = buildCharts(
        [run('zero', true, [step(10, 1, { contrastive: 0 }), step(20, 1, { contrastive: 2 })])],
        {
          logScale: true,
        },
      );
      assert.deepEqual(values(chart(logged, 'losses'), 'zero', 'losses.contrastive'), [null, 2]);
      assert.equal(chart(logged, 'losses').yLabel, 'loss (log)');
    });

    it('names loss terms it does not know by their key, after the paper’s', () => {
      const other = run('other', true, [step(10, 1, { total: 1, zeta: 2, alpha: 3 })]);
      assert.deepEqual(lossTerms([other]), ['total', 'alpha', 'zeta']);
      const metrics = chart(buildCharts([other], { logScale: false }), 'losses').metrics;
      assert.deepEqual(
        metrics.map((metric) => metric.label),
        ['total', 'alpha', 'zeta'],
      );
      assert.notEqual(metrics[1]!.colour, metrics[2]!.colour);
    });

    it('keeps a chart’s signature while records are appended and changes it when its series change', () => {
      const signatureOf = (runs: CurveRun[], logScale = false) =>
        chartSignature(chart(buildCharts(runs, { logScale }), 'losses'), { logScale });
      const before = signatureOf([method, base]);
      const appended = { ...method, metrics: [...method.metrics, step(40, 2, method.metrics[2]!.losses)] };
      assert.equal(signatureOf([appended, base]), before);
      assert.notEqual(signatureOf([method]), before, 'a run no longer overlaid');
      assert.notEqual(signatureOf([method, base], true), before, 'the log scale');
      const lossesOfBase = { ...base, metrics: [...base.metrics, step(30, 2, { contrastive: 3, total: 3 })] };
      assert.notEqual(signatureOf([method, lossesOfBase]), before, 'a term that starts later');
    });

    it('tells whether any run has logged anything', () => {
      assert.equal(hasAnyMetrics([]), false);
      assert.equal(hasAnyMetrics([run('empty', true, [])]), false);
      assert.equal(hasAnyMetrics([run('empty', true, []), base]), true);
    });
  });

  describe('numbers on axes and read-outs', () => {
    it('keeps four significant digits and writes very small and large values with exponents', () => {
      assert.equal(formatValue(3.303441802660624), '3.303');
      assert.equal(formatValue(0.06115869929393133), '0.06116');
      assert.equal(formatValue(0.00025), '2.5e-4');
      assert.equal(formatValue(0.000003798061746947995), '3.8e-6');
      assert.equal(formatValue(123456), '1.23e5');
      assert.equal(formatValue(97.2), '97.2');
      assert.equal(formatValue(0), '0');
      assert.equal(formatValue(-0.5), '-0.5');
      assert.equal(formatValue(1e-3), '0.001');
    });
  });

  describe('CSV export', () => {
    it('quotes fields with separators, quotes, line breaks or outer spaces and doubles quotes', () => {
      assert.equal(csvField('plain-run'), 'plain-run');
      assert.equal(csvField('a,b'), '"a,b"');
      assert.equal(csvField('say "hi"'), '"say ""hi"""');
      assert.equal(csvField('two\nlines'), '"two\nlines"');
      assert.equal(csvField('cr\rlf'), '"cr\rlf"');
      assert.equal(csvField(' padded'), '" padded"');
      assert.equal(csvField(0.5), '0.5');
      assert.equal(csvField(undefined), '');
    });

    it('writes every record of every run, metrics then evaluations, selected run first', () => {
      const overlaid = run('with,comma', false, [epochMean(6, 1, { contrastive: 3.5 })]);
      const selected = run(
        'main',
        true,
        [step(10, 1, { contrastive: 4.2, pairs: 1.5 }), epochMean(12, 1, { contrastive: 4.1, pairs: 1.4 })],
        [{ epoch: 1, time, knnTop1: 0.25, mAP: 0.125 }],
      );
      assert.equal(
        curvesCsv([overlaid, selected]),
        [
          'run,kind,epoch,step,time,contrastive,pairs,lr,imagesPerSecond,knnTop1,linearTop1,rank1,rank5,mAP,validationRank1,validationMAP',
          `main,step,1,10,${time},4.2,1.5,0.001,90,,,,,,,`,
          `main,epoch,1,12,${time},4.1,1.4,0.0005,,,,,,,,`,
          `main,eval,1,,${time},,,,,0.25,,,,0.125,,`,
          `"with,comma",epoch,1,6,${time},3.5,,0.0005,,,,,,,,`,
          '',
        ].join('\r\n'),
      );
    });

    it('has a header and nothing else for runs without records', () => {
      assert.equal(
        curvesCsv([run('empty', true, [])]),
        'run,kind,epoch,step,time,lr,imagesPerSecond,knnTop1,linearTop1,rank1,rank5,mAP,validationRank1,validationMAP\r\n',
      );
    });
  });

  describe('on a trained run', function () {
    this.timeout(180_000);

    it('draws every loss term the method logged and its evaluations', async () => {
      const fixture = await trainedFixtureRun();
      const lines = (file: string) =>
        readFileSync(path.join(fixture.runDir, file), 'utf8')
          .split('\n')
          .filter((line) => line.trim() !== '');
      const metrics = lines('metrics.jsonl').map((line) => metricsRecord.parse(JSON.parse(line)));
      const evals = lines('eval.jsonl').map((line) => evalRecord.parse(JSON.parse(line)));
      const fixtureRun: CurveRun = { runDir: fixture.runDir, label: 'run', selected: true, metrics, evals };
      const charts = buildCharts([fixtureRun], { logScale: false });
      const losses = chart(charts, 'losses');
      assert.deepEqual(
        losses.metrics.map((metric) => metric.label),
        ['L_C', 'L_R', 'L_Cp', 'total'],
      );
      assert.deepEqual(
        losses.x,
        [...new Set(metrics.map((record) => record.step))].sort((a, b) => a - b),
      );
      const epochs = metrics.filter((record) => record.kind === 'epoch');
      const contrastiveMeans = values(losses, 'run', 'losses.contrastive', 'markers').filter(
        (value) => value !== null,
      );
      assert.deepEqual(
        contrastiveMeans,
        epochs.map((record) => record.losses['contrastive']),
      );
      const evaluation = chart(charts, 'eval');
      assert.deepEqual(
        evaluation.x,
        evals.map((record) => record.epoch),
      );
      for (const series of evaluation.series) {
        assert.ok(
          series.values.every((value) => value !== null && value >= 0 && value <= 100),
          series.metric.id,
        );
      }
      const csvLines = curvesCsv([fixtureRun]).trimEnd().split('\r\n');
      assert.equal(csvLines.length, 1 + metrics.length + evals.length);
    });
  });
});
