import { html, nothing, svg, type TemplateResult } from 'lit';
import type { StudyTableView } from '../../src/shared/protocol/studyPanel';
import { percent, signedPoints } from '../../src/shared/study/figures';

type MetricSummary = StudyTableView['conditions'][number]['metrics'][string];
type Difference = StudyTableView['differences'][number];

/** A metric column's axis: every row of the column is drawn on it, so that rows compare at a glance. */
export interface Scale {
  low: number;
  high: number;
}

const chartWidth = 132;
const chartHeight = 18;
/** Room at either end, so that a dot at the scale's end is drawn whole. */
const inset = 5;
const dotRadius = 3.5;

/**
 * The smallest interval holding every value, widened to `minimumSpan` around its middle so that seeds a
 * hundredth of a point apart do not spread across the whole strip; undefined when there is nothing to draw.
 */
export function scaleOver(values: readonly number[], minimumSpan: number): Scale | undefined {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return undefined;
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  const half = Math.max(high - low, minimumSpan) / 2;
  const middle = (low + high) / 2;
  return { low: middle - half, high: middle + half };
}

function xOf(value: number, scale: Scale): number {
  return inset + ((value - scale.low) / (scale.high - scale.low)) * (chartWidth - 2 * inset);
}

/**
 * Vertical offsets that keep close dots apart: each dot, left to right, takes the first lane whose last dot it
 * does not touch. Three seeds on one value still show as three dots.
 */
function laneOffsets(xs: readonly number[]): number[] {
  const laneYs = [0, -4.5, 4.5];
  const lastXOfLane: number[] = [];
  const offsets = new Array<number>(xs.length);
  const order = xs.map((x, index) => ({ x, index })).sort((a, b) => a.x - b.x);
  for (const { x, index } of order) {
    let lane = lastXOfLane.findIndex((last) => x - last >= 2 * dotRadius);
    if (lane === -1) lane = lastXOfLane.length < laneYs.length ? lastXOfLane.length : 0;
    lastXOfLane[lane] = x;
    offsets[index] = laneYs[lane]!;
  }
  return offsets;
}

/**
 * The seeds behind a mean: a dot per seed, a tick at the mean, and a dashed line at the baseline's mean in
 * the other rows, on the column's scale.
 */
export function seedStrip(
  summary: MetricSummary,
  scale: Scale,
  baselineMean: number | undefined,
  description: string,
): TemplateResult {
  const middle = chartHeight / 2;
  const xs = summary.values.map(({ value }) => xOf(value, scale));
  const offsets = laneOffsets(xs);
  const spoken = summary.values.map(({ seed, value }) => `seed ${seed} ${percent(value)} %`).join(', ');
  return html`<svg
    class="strip"
    width=${chartWidth}
    height=${chartHeight}
    viewBox="0 0 ${chartWidth} ${chartHeight}"
    role="img"
    aria-label=${`${description}: ${spoken}; mean ${percent(summary.mean)} %`}
  >
    ${svg`<line class="track" x1=${inset} x2=${chartWidth - inset} y1=${middle} y2=${middle}></line>`}
    ${
      baselineMean !== undefined && Number.isFinite(baselineMean)
        ? svg`<line class="reference" x1=${xOf(baselineMean, scale)} x2=${xOf(baselineMean, scale)} y1="1" y2=${chartHeight - 1}><title>baseline mean ${percent(baselineMean)} %</title></line>`
        : nothing
    }
    ${summary.values.map(
      ({ seed, value }, index) =>
        svg`<circle class="seed" cx=${xs[index]!} cy=${middle + offsets[index]!} r=${dotRadius}><title>seed ${seed}: ${percent(value)} %</title></circle>`,
    )}
    ${
      Number.isFinite(summary.mean)
        ? svg`<line class="mean-tick" x1=${xOf(summary.mean, scale)} x2=${xOf(summary.mean, scale)} y1="2" y2=${chartHeight - 2}><title>mean ${percent(summary.mean)} %</title></line>`
        : nothing
    }
  </svg>`;
}

/** Which way a difference points once its interval leaves 0 out; `none` while it holds 0. */
export type Direction = 'positive' | 'negative' | 'none';

/** A difference's 95 % interval as a bar, its mean as a dot, and a line at 0 to read it against. */
export function intervalBar(
  difference: Difference,
  scale: Scale,
  direction: Direction,
  description: string,
): TemplateResult {
  const middle = chartHeight / 2;
  const zero = xOf(0, scale);
  const low = xOf(difference.low, scale);
  const high = xOf(difference.high, scale);
  const capHalf = 4;
  return html`<svg
    class="interval"
    data-direction=${direction}
    width=${chartWidth}
    height=${chartHeight}
    viewBox="0 0 ${chartWidth} ${chartHeight}"
    role="img"
    aria-label=${`${description}: ${signedPoints(difference.mean)} points, 95 % interval ${signedPoints(difference.low)} to ${signedPoints(difference.high)}`}
  >
    ${svg`<line class="zero" x1=${zero} x2=${zero} y1="0" y2=${chartHeight}><title>no difference</title></line>
      <line class="range" x1=${low} x2=${high} y1=${middle} y2=${middle}></line>
      <line class="range" x1=${low} x2=${low} y1=${middle - capHalf} y2=${middle + capHalf}></line>
      <line class="range" x1=${high} x2=${high} y1=${middle - capHalf} y2=${middle + capHalf}></line>
      <circle class="estimate" cx=${xOf(difference.mean, scale)} cy=${middle} r="3"></circle>`}
  </svg>`;
}
