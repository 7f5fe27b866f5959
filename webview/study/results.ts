import { html, nothing, type TemplateResult } from 'lit';
import { type StudyMetric, studyMetricLabels } from '../../src/shared/config/study/definitions';
import type { StudyTableView } from '../../src/shared/protocol/studyPanel';
import { excludesZero, missing, percent, signedPoints } from '../../src/shared/study/figures';
import { type Direction, intervalBar, type Scale, scaleOver, seedStrip } from './charts';
import { pValue } from './format';

type Condition = StudyTableView['conditions'][number];
type Difference = StudyTableView['differences'][number];

/** Strips narrower than a point would make seed-to-seed noise look like a spread. */
const minimumStripSpan = 1;

const checkpointWords: Record<StudyTableView['checkpoint'], string> = {
  best: 'the checkpoint validation chose (the last epoch’s where a run chose none)',
  last: 'the last epoch’s checkpoint',
};

function axisText(scale: Scale | undefined): TemplateResult | typeof nothing {
  return scale
    ? html`<span class="axis" title="The strips of this column share this axis, in percent"
        >${scale.low.toFixed(1)} – ${scale.high.toFixed(1)}</span
      >`
    : nothing;
}

/** A row per condition, a column per metric: mean ± std over the seeds completed, and the seeds themselves. */
export function figuresTable(table: StudyTableView): TemplateResult {
  const baseline = table.conditions.find((condition) => condition.id === table.baseline);
  const scales = new Map(
    table.metrics.map((metric) => [
      metric,
      scaleOver(
        table.conditions.flatMap(
          (condition) => condition.metrics[metric]?.values.map(({ value }) => value) ?? [],
        ),
        minimumStripSpan,
      ),
    ]),
  );
  return html`<div class="table-scroll">
      <table id="figures" class="figures">
        <caption class="visually-hidden">
          Mean ± standard deviation over the completed seeds, in percent, per condition and metric
        </caption>
        <thead>
          <tr>
            <th scope="col">Condition</th>
            ${table.metrics.map(
              (metric) =>
                html`<th scope="col" data-metric=${metric}>
                  <span class="metric-label">${studyMetricLabels[metric]} (%)</span>${axisText(scales.get(metric))}
                </th>`,
            )}
          </tr>
        </thead>
        <tbody>
          ${table.conditions.map(
            (condition) =>
              html`<tr data-condition=${condition.id}>
                <th scope="row">${conditionName(condition, table.baseline)}</th>
                ${table.metrics.map((metric) =>
                  figureCell(
                    condition,
                    metric,
                    scales.get(metric),
                    condition.id === table.baseline ? undefined : baseline,
                  ),
                )}
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <p class="footnote">
      Test split, ${checkpointWords[table.checkpoint]}. Mean ± sample standard deviation over the seeds
      completed; a dot per seed, a tick at the mean${baseline ? ', a dashed line at the baseline’s mean' : ''}.
    </p>`;
}

function conditionName(condition: Condition, baseline: string): TemplateResult {
  return html`<span title=${condition.id}>${condition.label}</span>${
    condition.id === baseline ? html` <span class="badge baseline-badge">baseline</span>` : nothing
  }`;
}

function figureCell(
  condition: Condition,
  metric: StudyMetric,
  scale: Scale | undefined,
  baseline: Condition | undefined,
): TemplateResult {
  const summary = condition.metrics[metric];
  const seeds = summary?.values.length ?? 0;
  const count = html`<span class="seeds" title="Seeds completed of the condition’s seeds"
    >${seeds}/${condition.trials}</span
  >`;
  if (!summary || seeds === 0 || !scale) {
    return html`<td class="figure" data-metric=${metric} data-seeds="0">
      <div class="figure-line"><span class="mean">${missing}</span>${count}</div>
    </td>`;
  }
  const label = `${condition.label}, ${studyMetricLabels[metric]}`;
  return html`<td class="figure" data-metric=${metric} data-seeds=${seeds}>
    <div class="figure-line">
      <span class="mean"
        >${percent(summary.mean)}${seeds > 1 ? html`<span class="std"> ± ${percent(summary.std)}</span>` : nothing}</span
      >${count}
    </div>
    ${seedStrip(summary, scale, baseline?.metrics[metric]?.mean, label)}
  </td>`;
}

function directionOf(difference: Difference): Direction {
  if (!excludesZero(difference)) return 'none';
  return difference.mean > 0 ? 'positive' : 'negative';
}

/**
 * Each other condition against the baseline, seed by seed: the mean difference in points with its 95 %
 * interval, drawn against 0, and the Holm-adjusted p. An interval that leaves 0 out is marked.
 */
export function differencesTable(table: StudyTableView): TemplateResult | typeof nothing {
  const baseline = table.conditions.find((condition) => condition.id === table.baseline);
  const compared = table.conditions.filter((condition) => condition.id !== table.baseline);
  if (!baseline || compared.length === 0) return nothing;
  const differenceOf = (condition: string, metric: StudyMetric) =>
    table.differences.find(
      (difference) => difference.condition === condition && difference.metric === metric,
    );
  const scales = new Map(
    table.metrics.map((metric) => [
      metric,
      scaleOver(
        [
          0,
          ...table.differences
            .filter((difference) => difference.metric === metric)
            .flatMap(({ low, high, mean }) => [low, high, mean]),
        ],
        minimumStripSpan,
      ),
    ]),
  );
  return html`<section aria-labelledby="differences-heading">
    <h2 id="differences-heading">Differences to ${baseline.label}</h2>
    <div class="table-scroll">
      <table id="differences" class="differences" aria-describedby="method">
        <caption class="visually-hidden">
          Mean paired difference to ${baseline.label} in percentage points, with its 95 % interval and the
          Holm-adjusted p
        </caption>
        <thead>
          <tr>
            <th scope="col">Condition</th>
            ${table.metrics.map(
              (metric) =>
                html`<th scope="col" data-metric=${metric}>
                  <span class="metric-label">Δ ${studyMetricLabels[metric]} (points)</span>
                </th>`,
            )}
          </tr>
        </thead>
        <tbody>
          ${compared.map(
            (condition) =>
              html`<tr data-condition=${condition.id}>
                <th scope="row">${conditionName(condition, table.baseline)}</th>
                ${table.metrics.map((metric) =>
                  differenceCell(condition, metric, differenceOf(condition.id, metric), scales.get(metric)!),
                )}
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <p class="footnote" id="method">
      Δ: ${table.method}. The bar is the interval, the dot its mean, the dashed line 0; bold and coloured where
      the interval excludes 0.
    </p>
  </section>`;
}

function differenceCell(
  condition: Condition,
  metric: StudyMetric,
  difference: Difference | undefined,
  scale: Scale,
): TemplateResult {
  if (!difference || difference.n === 0 || Number.isNaN(difference.mean)) {
    return html`<td class="difference" data-metric=${metric} data-significant="false">${missing}</td>`;
  }
  const hasInterval = Number.isFinite(difference.low) && Number.isFinite(difference.high);
  const direction = hasInterval ? directionOf(difference) : 'none';
  const significant = direction !== 'none';
  return html`<td
    class="difference"
    data-metric=${metric}
    data-significant=${String(significant)}
    data-direction=${direction}
  >
    <div class="difference-line">
      <span class="estimate">${signedPoints(difference.mean)}</span>
      ${
        hasInterval
          ? html`<span>[${signedPoints(difference.low)}, ${signedPoints(difference.high)}]</span>`
          : nothing
      }
      ${significant ? html`<span class="visually-hidden">(the interval excludes 0)</span>` : nothing}
    </div>
    ${
      hasInterval
        ? intervalBar(
            difference,
            scale,
            direction,
            `${condition.label} minus the baseline, ${studyMetricLabels[metric]}`,
          )
        : nothing
    }
    <div class="p-line">
      ${
        hasInterval
          ? html`<span title="p of the paired t test, Holm-adjusted; unadjusted p ${pValue(difference.p)}"
              >p ${pValue(difference.pHolm)} (Holm)</span
            >`
          : html`<span>no interval from one pair</span>`
      }
      <span class="pairs" title="Seeds where both this condition and the baseline completed">n = ${difference.n}</span>
    </div>
  </td>`;
}
