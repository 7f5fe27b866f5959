import path from 'node:path';
import { describeDuration } from './describe';
import type { RunSummary } from './runSummary';

export interface ComparedRun {
  summary: RunSummary;
  /** config.json of the run, as it trained. */
  config: unknown;
}

/** Every leaf of a JSON value by dotted path; arrays are leaves, compared whole. */
function flatten(value: unknown, prefix = '', into = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      flatten(child, prefix ? `${prefix}.${key}` : key, into);
    }
  } else {
    into.set(prefix, JSON.stringify(value));
  }
  return into;
}

const percent = (value: number | undefined) => (value === undefined ? '—' : `${(100 * value).toFixed(2)}`);
const cell = (text: string) => text.replace(/\|/g, '\\|');

/**
 * A Markdown report of several runs side by side: their final figures, and the config keys on which they
 * differ (those on which they agree say nothing about why the figures differ).
 */
export function compareRunsMarkdown(runs: readonly ComparedRun[]): string {
  const names = runs.map(({ summary }) => path.basename(summary.dir));
  const header = (first: string) => [
    `| ${[first, ...names].map(cell).join(' | ')} |`,
    `|---|${names.map(() => '---:|').join('')}`,
  ];
  const row = (label: string, values: string[]) => `| ${[label, ...values].map(cell).join(' | ')} |`;
  const lines = [`# Comparing ${runs.length} SynthPair runs`, '', '## Results', '', ...header('')];
  const figure = (label: string, pick: (summary: RunSummary) => string) =>
    lines.push(
      row(
        label,
        runs.map(({ summary }) => pick(summary)),
      ),
    );
  figure('state', (summary) => summary.state);
  figure(
    'epochs',
    (summary) => `${summary.status.epoch}${summary.epochs === undefined ? '' : `/${summary.epochs}`}`,
  );
  const anyBest = runs.some(({ summary }) => summary.lastEval?.best !== undefined);
  // With a best checkpoint beside the last, each figure is given for both, the last one first.
  const figures = [
    ['kNN top-1 %', 'knnTop1'],
    ['linear top-1 %', 'linearTop1'],
    ['rank-1 %', 'rank1'],
    ['rank-5 %', 'rank5'],
    ['mAP %', 'mAP'],
  ] as const;
  for (const [label, key] of figures) {
    figure(anyBest ? `${label}, last` : label, (summary) => percent(summary.lastEval?.[key]));
  }
  if (anyBest) {
    figure('best epoch, by validation', (summary) => {
      const best = summary.lastEval?.best;
      return best ? `${best.epoch} (${best.by} ${percent(best.validation[best.by])})` : '—';
    });
    for (const [label, key] of figures) {
      figure(`${label}, best`, (summary) => percent(summary.lastEval?.best?.[key]));
    }
  }
  const lossNames = [
    ...new Set(runs.flatMap(({ summary }) => Object.keys(summary.lastMetrics?.losses ?? {}))),
  ];
  for (const name of lossNames) {
    figure(`last ${name}`, (summary) => summary.lastMetrics?.losses[name]?.toPrecision(4) ?? '—');
  }
  figure('backend', (summary) => summary.status.backend ?? '—');
  figure('wall time', (summary) =>
    summary.status.endedAt
      ? describeDuration(Date.parse(summary.status.endedAt) - Date.parse(summary.status.startedAt))
      : '—',
  );
  const flat = runs.map(({ config }) => flatten(config));
  const keys = [...new Set(flat.flatMap((map) => [...map.keys()]))].sort();
  const differing = keys.filter((key) => new Set(flat.map((map) => map.get(key) ?? '—')).size > 1);
  lines.push('', '## Config keys that differ', '');
  if (differing.length === 0) {
    lines.push('None: the runs trained the same config (their seeds and data order agree too).');
  } else {
    lines.push(...header('key'));
    for (const key of differing)
      lines.push(
        row(
          `\`${key}\``,
          flat.map((map) => map.get(key) ?? '—'),
        ),
      );
  }
  lines.push('', '## Folders', '', ...runs.map(({ summary }) => `- \`${summary.dir}\``), '');
  return lines.join('\n');
}
