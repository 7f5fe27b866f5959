import { type StudyMetric, studyMetricLabels } from '../config/study/definitions';
import type { StudyManifest } from '../protocol/studyFiles';
import { excludesZero, missing, percent, signedPoints } from './figures';
import { holmAdjusted, meanAndStd, pairedDifference } from './statistics';

/** A completed trial's figures on the test split, as fractions (the run's eval record's, or its best checkpoint's). */
export type TrialFigures = Partial<Record<StudyMetric, number>>;

export interface MetricSummary {
  /** Percent; NaN when no trial of the condition has completed. */
  mean: number;
  std: number;
  /** Each completed seed's figure, in percent: the points behind the mean. */
  values: { seed: number; value: number }[];
}

export interface ConditionSummary {
  id: string;
  label: string;
  baseline: boolean;
  /** Trials of the condition that completed, and all of them. */
  completed: number;
  trials: number;
  metrics: Record<string, MetricSummary>;
}

export interface BaselineDifference {
  condition: string;
  metric: StudyMetric;
  /** Seeds where both this condition and the baseline completed. */
  n: number;
  /** Percentage points. */
  mean: number;
  low: number;
  high: number;
  p: number;
  /** p adjusted by Holm over the conditions compared on this metric. */
  pHolm: number;
}

export interface StudyTable {
  name: string;
  metrics: StudyMetric[];
  checkpoint: StudyManifest['checkpoint'];
  baseline: string;
  conditions: ConditionSummary[];
  differences: BaselineDifference[];
  /** How the differences were tested, in words, for every rendering of the table. */
  method: string;
}

export const differenceMethod =
  "mean paired difference to the baseline over seeds, in percentage points, with its 95 % interval by Student's t (n − 1 degrees of freedom); p by the paired t test, Holm-adjusted over the conditions compared on each metric";

/** The table of a study: mean ± std per condition and metric, and each condition's paired difference to the baseline. */
export function studyTable(manifest: StudyManifest, figures: ReadonlyMap<string, TrialFigures>): StudyTable {
  const baseline = manifest.conditions.find((condition) => condition.baseline) ?? manifest.conditions[0]!;
  // Rounded far below any real difference (one test image in a million), so that equal figures stored as
  // fractions give differences of exactly 0, not float noise a t test would call significant.
  const percentOf = (trial: string, metric: StudyMetric) => {
    const value = figures.get(trial)?.[metric];
    return value === undefined ? undefined : Math.round(value * 1e11) / 1e9;
  };
  const conditions = manifest.conditions.map((condition): ConditionSummary => {
    const trials = manifest.trials.filter((trial) => trial.condition === condition.id);
    const metrics = Object.fromEntries(
      manifest.metrics.map((metric) => {
        const values = trials.flatMap((trial) => {
          const value = percentOf(trial.id, metric);
          return value === undefined || Number.isNaN(value) ? [] : [{ seed: trial.seed, value }];
        });
        const { mean, std } =
          values.length > 0
            ? meanAndStd(values.map(({ value }) => value))
            : { mean: Number.NaN, std: Number.NaN };
        return [metric, { mean, std, values }];
      }),
    );
    return {
      id: condition.id,
      label: condition.label,
      baseline: condition.baseline,
      completed: trials.filter((trial) => figures.has(trial.id)).length,
      trials: trials.length,
      metrics,
    };
  });
  const compared = conditions.filter((condition) => condition.id !== baseline.id);
  const differences = manifest.metrics.flatMap((metric) => {
    const reference = new Map(
      conditions
        .find((c) => c.id === baseline.id)!
        .metrics[metric]!.values.map(({ seed, value }) => [seed, value]),
    );
    const raw = compared.map((condition) => {
      const pairs = condition.metrics[metric]!.values.filter(({ seed }) => reference.has(seed));
      return {
        condition: condition.id,
        metric,
        ...pairedDifference(
          pairs.map(({ value }) => value),
          pairs.map(({ seed }) => reference.get(seed)!),
        ),
      };
    });
    const adjusted = holmAdjusted(raw.map(({ p }) => p));
    return raw.map((difference, index) => ({ ...difference, pHolm: adjusted[index]! }));
  });
  return {
    name: manifest.name,
    metrics: manifest.metrics,
    checkpoint: manifest.checkpoint,
    baseline: baseline.id,
    conditions,
    differences,
    method: differenceMethod,
  };
}

const pText = (value: number) =>
  Number.isNaN(value) ? missing : value < 0.001 ? '<0.001' : value.toFixed(3);

/** The table as Markdown: the figures, then the differences to the baseline, with how they were tested. */
export function tableMarkdown(table: StudyTable): string {
  const labels = table.metrics.map((metric) => studyMetricLabels[metric]);
  const baselineLabel =
    table.conditions.find((condition) => condition.id === table.baseline)?.label ?? table.baseline;
  const figures = [
    `| condition | seeds | ${labels.map((label) => `${label} (%)`).join(' | ')} |`,
    `|---|---:|${table.metrics.map(() => '---:').join('|')}|`,
    ...table.conditions.map((condition) => {
      const cells = table.metrics.map((metric) => {
        const { mean, std } = condition.metrics[metric]!;
        return Number.isNaN(mean) ? '–' : `${percent(mean)} ± ${percent(std)}`;
      });
      const name = condition.baseline ? `${condition.label} (baseline)` : condition.label;
      return `| ${name} | ${condition.completed}/${condition.trials} | ${cells.join(' | ')} |`;
    }),
  ];
  const compared = table.conditions.filter((condition) => condition.id !== table.baseline);
  const differences = [
    `| Δ to ${baselineLabel}, points [95 % CI] (Holm p) | ${labels.join(' | ')} |`,
    `|---|${table.metrics.map(() => '---:').join('|')}|`,
    ...compared.map((condition) => {
      const cells = table.metrics.map((metric) => {
        const difference = table.differences.find(
          (d) => d.condition === condition.id && d.metric === metric,
        )!;
        if (difference.n === 0) return '–';
        const text = `${signedPoints(difference.mean)} [${signedPoints(difference.low)}, ${signedPoints(difference.high)}] (${pText(difference.pHolm)})`;
        return excludesZero(difference) ? `**${text}**` : text;
      });
      return `| ${condition.label} | ${cells.join(' | ')} |`;
    }),
  ];
  const checkpoint =
    table.checkpoint === 'best'
      ? "the checkpoint validation chose (the last epoch's where a run chose none)"
      : "the last epoch's checkpoint";
  return [
    ...figures,
    '',
    ...(compared.length > 0 ? [...differences, ''] : []),
    `Test split, ${checkpoint}. Mean ± sample std over the seeds completed; Δ: ${table.method}. Bold where the interval excludes 0.`,
    '',
  ].join('\n');
}

/** The table as CSV, a row per condition and metric, for a spreadsheet or pandas. */
export function tableCsv(table: StudyTable): string {
  const header =
    'condition,label,baseline,metric,completed,trials,mean,std,values,diff_n,diff_mean,diff_low,diff_high,p,p_holm';
  const number = (value: number | undefined) =>
    value === undefined || Number.isNaN(value) ? '' : String(value);
  const quoted = (text: string) => (/[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  const rows = table.conditions.flatMap((condition) =>
    table.metrics.map((metric) => {
      const summary = condition.metrics[metric]!;
      const difference = table.differences.find((d) => d.condition === condition.id && d.metric === metric);
      return [
        quoted(condition.id),
        quoted(condition.label),
        String(condition.baseline),
        metric,
        String(condition.completed),
        String(condition.trials),
        number(summary.mean),
        number(summary.std),
        quoted(summary.values.map(({ seed, value }) => `${seed}:${value}`).join(' ')),
        number(difference?.n),
        number(difference?.mean),
        number(difference?.low),
        number(difference?.high),
        number(difference?.p),
        number(difference?.pHolm),
      ].join(',');
    }),
  );
  return `${[header, ...rows].join('\n')}\n`;
}
