import type { EvalRecord, MetricsRecord } from '../../../../src/shared/protocol/runFiles';
import type { ChartColour } from '../../../shared/charts/theme';
import type { CurveRun } from '../../model';

/**
 * What the training curves draw, computed from the runs' records without touching the DOM: one model per
 * chart with a shared x array (uPlot draws every series of a chart against one x array, so runs logged at
 * different steps are merged onto the union of their x values, with null where a series has no value), and
 * the CSV export of the same records.
 */

export type ChartId = 'losses' | 'lr' | 'throughput' | 'eval';

/** One quantity a chart plots for every run; the user shows or hides it for all runs at once. */
export interface MetricSpec {
  /** `<chart>.<record key>`: what `CurveSettings.hidden` lists. */
  id: string;
  label: string;
  colour: ChartColour;
}

export interface SeriesModel {
  metric: MetricSpec;
  run: CurveRun;
  /** Position among the runs, the selected run first: 0 is drawn solid, the others dashed and fainter. */
  runIndex: number;
  /** `line` through logged steps; `markers` for epoch means, which sit at the last step of their epoch. */
  style: 'line' | 'markers';
  values: (number | null)[];
}

export interface ChartModel {
  id: ChartId;
  title: string;
  xLabel: string;
  yLabel: string;
  /** The quantities in the chart, in legend order; each can be toggled. */
  metrics: MetricSpec[];
  x: number[];
  series: SeriesModel[];
}

export interface Point {
  x: number;
  y: number;
}

/** Loss terms as the paper names them, in the order the legend lists them; other terms follow by name. */
const knownLossTerms: ReadonlyArray<{ key: string; label: string; colour: ChartColour }> = [
  { key: 'contrastive', label: 'L_C', colour: 'blue' },
  { key: 'reconstruction', label: 'L_R', colour: 'orange' },
  { key: 'pairs', label: 'L_Cp', colour: 'green' },
  { key: 'total', label: 'total', colour: 'purple' },
];
/** Colours for loss terms the paper does not name, the unused ones first. */
const spareColours: readonly ChartColour[] = ['red', 'yellow', 'blue', 'orange', 'green', 'purple'];

/**
 * The figures of eval.jsonl the chart and the CSV hold, by the key that names them there: the test figures,
 * then the validation retrieval that chooses the best checkpoint (points in the colour of the test figure).
 */
const evalMetrics: ReadonlyArray<{
  key: string;
  label: string;
  colour: ChartColour;
  value: (record: Omit<EvalRecord, 'epoch' | 'time' | 'best'>) => number | undefined;
  validation?: true;
}> = [
  { key: 'knnTop1', label: 'kNN top-1', colour: 'blue', value: (record) => record.knnTop1 },
  { key: 'linearTop1', label: 'linear top-1', colour: 'orange', value: (record) => record.linearTop1 },
  { key: 'rank1', label: 'rank-1', colour: 'green', value: (record) => record.rank1 },
  { key: 'rank5', label: 'rank-5', colour: 'purple', value: (record) => record.rank5 },
  { key: 'mAP', label: 'mAP', colour: 'red', value: (record) => record.mAP },
  {
    key: 'validationRank1',
    label: 'validation rank-1',
    colour: 'green',
    value: (record) => record.validation?.rank1,
    validation: true,
  },
  {
    key: 'validationMAP',
    label: 'validation mAP',
    colour: 'red',
    value: (record) => record.validation?.mAP,
    validation: true,
  },
];

/** The selected run first, the overlaid ones after it in the order given. */
export function orderRuns(runs: readonly CurveRun[]): CurveRun[] {
  return [...runs.filter((run) => run.selected), ...runs.filter((run) => !run.selected)];
}

export function hasAnyMetrics(runs: readonly CurveRun[]): boolean {
  return runs.some((run) => run.metrics.length > 0);
}

/**
 * Merges lines onto one ascending x array. A line that holds an x twice keeps its later value: a resumed run
 * logs again the steps after its checkpoint, and the retraced values are the ones the run went on from.
 */
export function alignOnSharedX(lines: ReadonlyArray<readonly Point[]>): {
  x: number[];
  ys: (number | null)[][];
} {
  const byLine = lines.map((line) => {
    const values = new Map<number, number>();
    for (const point of line) {
      if (Number.isFinite(point.x) && Number.isFinite(point.y)) {
        values.set(point.x, point.y);
      }
    }
    return values;
  });
  const xs = new Set<number>();
  for (const values of byLine) {
    for (const x of values.keys()) {
      xs.add(x);
    }
  }
  const x = [...xs].sort((a, b) => a - b);
  return { x, ys: byLine.map((values) => x.map((at) => values.get(at) ?? null)) };
}

/** Every loss term any run logged, the paper's terms first. */
export function lossTerms(runs: readonly CurveRun[]): string[] {
  const seen = new Set<string>();
  for (const run of runs) {
    for (const record of run.metrics) {
      for (const key of Object.keys(record.losses)) {
        seen.add(key);
      }
    }
  }
  const known = knownLossTerms.map((term) => term.key).filter((key) => seen.has(key));
  const others = [...seen].filter((key) => !knownLossTerms.some((term) => term.key === key)).sort();
  return [...known, ...others];
}

function lossMetrics(terms: readonly string[]): MetricSpec[] {
  const unknown = terms.filter((key) => !knownLossTerms.some((term) => term.key === key));
  return terms.map((key) => {
    const known = knownLossTerms.find((term) => term.key === key);
    return known
      ? { id: `losses.${key}`, label: known.label, colour: known.colour }
      : {
          id: `losses.${key}`,
          label: key,
          colour: spareColours[unknown.indexOf(key) % spareColours.length]!,
        };
  });
}

interface PendingSeries {
  metric: MetricSpec;
  run: CurveRun;
  runIndex: number;
  style: SeriesModel['style'];
  points: Point[];
}

interface ChartDraft {
  base: Omit<ChartModel, 'x' | 'series'>;
  pending: PendingSeries[];
}

/**
 * Aligns the drafts' series on one x array shared by all of them, so charts drawn against the same axis
 * (the step-based ones) also span the same range and line up when stacked.
 */
function assembleTogether(drafts: readonly ChartDraft[]): ChartModel[] {
  // A run that never logged a quantity gets no series for it, rather than an empty one in the legend.
  const drawn = drafts.map((draft) => draft.pending.filter((series) => series.points.length > 0));
  const { x, ys } = alignOnSharedX(drawn.flat().map((series) => series.points));
  let next = 0;
  return drafts.map((draft, index) => ({
    ...draft.base,
    x,
    series: drawn[index]!.map((series) => ({
      metric: series.metric,
      run: series.run,
      runIndex: series.runIndex,
      style: series.style,
      values: ys[next++]!,
    })),
  }));
}

/**
 * The loss terms over optimiser steps: a line through the logged steps and a marker per epoch mean. On a
 * log scale, values that are not positive have no place on the axis and are left out.
 */
function lossesDraft(runs: readonly CurveRun[], options: { logScale: boolean }): ChartDraft {
  const ordered = orderRuns(runs);
  const terms = lossTerms(ordered);
  const metrics = lossMetrics(terms);
  const keep = (value: number | undefined): value is number =>
    value !== undefined && (!options.logScale || value > 0);
  const pending: PendingSeries[] = [];
  ordered.forEach((run, runIndex) => {
    terms.forEach((key, termIndex) => {
      for (const style of ['line', 'markers'] as const) {
        const kind = style === 'line' ? 'step' : 'epoch';
        const points = run.metrics
          .filter((record) => record.kind === kind && keep(record.losses[key]))
          .map((record) => ({ x: record.step, y: record.losses[key]! }));
        pending.push({ metric: metrics[termIndex]!, run, runIndex, style, points });
      }
    });
  });
  return {
    base: {
      id: 'losses',
      title: 'Losses',
      xLabel: 'step',
      yLabel: options.logScale ? 'loss (log)' : 'loss',
      metrics,
    },
    pending,
  };
}

/** One metric of the metrics records over steps, a line per run, from the records that carry it. */
function stepMetricDraft(
  runs: readonly CurveRun[],
  base: Omit<ChartDraft['base'], 'xLabel' | 'metrics'>,
  metric: MetricSpec,
  measured: (record: MetricsRecord) => number | undefined,
): ChartDraft {
  const pending = orderRuns(runs).map(
    (run, runIndex): PendingSeries => ({
      metric,
      run,
      runIndex,
      style: 'line',
      points: run.metrics.flatMap((record) => {
        const y = measured(record);
        return y === undefined ? [] : [{ x: record.step, y }];
      }),
    }),
  );
  return { base: { ...base, xLabel: 'step', metrics: [metric] }, pending };
}

/** The learning rate over steps: both kinds of record carry the rate at their step. */
function learningRateDraft(runs: readonly CurveRun[]): ChartDraft {
  return stepMetricDraft(
    runs,
    { id: 'lr', title: 'Learning rate', yLabel: 'lr' },
    { id: 'lr.lr', label: 'learning rate', colour: 'yellow' },
    (record) => record.lr,
  );
}

/** Training throughput over steps, which only `step` records measure. */
function throughputDraft(runs: readonly CurveRun[]): ChartDraft {
  return stepMetricDraft(
    runs,
    { id: 'throughput', title: 'Throughput', yLabel: 'images/s' },
    { id: 'throughput.imagesPerSecond', label: 'images/s', colour: 'green' },
    (record) => (record.kind === 'step' ? record.imagesPerSecond : undefined),
  );
}

/** Evaluation metrics over epochs, as percentages. */
function evalDraft(runs: readonly CurveRun[]): ChartDraft {
  const ordered = orderRuns(runs);
  const present = evalMetrics.filter((metric) =>
    ordered.some((run) => run.evals.some((record) => metric.value(record) !== undefined)),
  );
  const metrics = present.map(
    (metric): MetricSpec => ({ id: `eval.${metric.key}`, label: metric.label, colour: metric.colour }),
  );
  const pending: PendingSeries[] = [];
  ordered.forEach((run, runIndex) => {
    present.forEach((metric, index) => {
      // The best checkpoint's test figures sit at its epoch, which eval.everyEpochs may not have measured.
      const best = metric.validation ? [] : run.evals.flatMap((record) => (record.best ? [record.best] : []));
      const points = [...best, ...run.evals].flatMap((record) => {
        const value = metric.value(record);
        return value === undefined ? [] : [{ x: record.epoch, y: value * 100 }];
      });
      const style = metric.validation ? 'markers' : 'line';
      pending.push({ metric: metrics[index]!, run, runIndex, style, points });
    });
  });
  return { base: { id: 'eval', title: 'Evaluation', xLabel: 'epoch', yLabel: '%', metrics }, pending };
}

/** The four charts: losses, learning rate and throughput over one shared step axis; evaluation over epochs. */
export function buildCharts(runs: readonly CurveRun[], options: { logScale: boolean }): ChartModel[] {
  return [
    ...assembleTogether([lossesDraft(runs, options), learningRateDraft(runs), throughputDraft(runs)]),
    ...assembleTogether([evalDraft(runs)]),
  ];
}

/**
 * What decides a chart's uPlot series and scales: while it stays the same, new records only replace the
 * data; when it changes (a run overlaid, a loss term that starts later, the log scale), the chart is rebuilt.
 */
export function chartSignature(chart: ChartModel, options: { logScale: boolean }): string {
  const series = chart.series.map(
    (s) => `${s.run.runDir}\u0000${s.metric.id}\u0000${s.style}\u0000${s.runIndex}`,
  );
  return JSON.stringify([chart.id, chart.id === 'losses' && options.logScale, series]);
}

/** Numbers short enough for an axis or a read-out: 4 significant digits, exponents outside [1e-3, 1e5). */
export function formatValue(value: number): string {
  if (value === 0 || !Number.isFinite(value)) {
    return String(value);
  }
  const magnitude = Math.abs(value);
  if (magnitude < 1e-3 || magnitude >= 1e5) {
    return value
      .toExponential(2)
      .replace(/\.?0+e/, 'e')
      .replace('e+', 'e');
  }
  return String(Number(value.toPrecision(4)));
}

const csvEvalColumns = evalMetrics.map((metric) => metric.key);

/** One CSV field: quoted when it holds a separator, a quote or a line break (RFC 4180), quotes doubled. */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) {
    return '';
  }
  const text = String(value);
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Every record of every run in one table, so a spreadsheet can filter it by `run` and `kind`: first each
 * run's metrics.jsonl lines (`kind` step or epoch) in file order, then its eval.jsonl lines (`kind` eval,
 * no step). Columns: run, kind, epoch, step, time, each loss term any run logged, lr, imagesPerSecond, and
 * the evaluation metrics as the files hold them (fractions in [0, 1], not the chart's percentages). A cell
 * is empty where the record has no such value. Lines end with CRLF, as RFC 4180 has them.
 */
export function curvesCsv(runs: readonly CurveRun[]): string {
  const ordered = orderRuns(runs);
  const terms = lossTerms(ordered);
  const header = [
    'run',
    'kind',
    'epoch',
    'step',
    'time',
    ...terms,
    'lr',
    'imagesPerSecond',
    ...csvEvalColumns,
  ];
  const metricsRow = (run: CurveRun, record: MetricsRecord) => [
    run.label,
    record.kind,
    record.epoch,
    record.step,
    record.time,
    ...terms.map((term) => record.losses[term]),
    record.lr,
    record.imagesPerSecond,
    ...csvEvalColumns.map(() => undefined),
  ];
  const evalRow = (run: CurveRun, record: EvalRecord) => [
    run.label,
    'eval',
    record.epoch,
    undefined,
    record.time,
    ...terms.map(() => undefined),
    undefined,
    undefined,
    ...evalMetrics.map((metric) => metric.value(record)),
  ];
  const rows = ordered.flatMap((run) => [
    ...run.metrics.map((record) => metricsRow(run, record)),
    ...run.evals.map((record) => evalRow(run, record)),
  ]);
  return [header, ...rows].map((row) => row.map(csvField).join(',') + '\r\n').join('');
}
