import type uPlot from 'uplot';
import { formatQuantile, type QuantileKey, quantileRanges, steppedCount, thresholdLabel } from './math';

/** What a threshold line asks of the view it edits. */
export interface ThresholdOwner {
  /** The line is held at `value` of its axis. */
  dragTo(key: QuantileKey, value: number): void;
  /** Moves the threshold by one keyboard step; false for a key that does not step. */
  step(key: QuantileKey, pressed: string): boolean;
  /** The line was let go: what it previews becomes the config's. */
  commit(key: QuantileKey): void;
}

const steppingKeys = new Set([
  'ArrowLeft',
  'ArrowRight',
  'ArrowUp',
  'ArrowDown',
  'PageUp',
  'PageDown',
  'Home',
  'End',
]);

/**
 * How many of `values` a threshold that cuts `count` of them cuts after a key press: the arrows move to the next
 * distinct value, the page keys by a tenth of the dimensions, Home and End to the ends. Null for other keys.
 */
export function countAfterKey(values: Float32Array, count: number, pressed: string): number | null {
  if (!steppingKeys.has(pressed)) return null;
  const dimensions = values.length;
  const page = Math.max(1, Math.round(dimensions / 10));
  return pressed === 'ArrowRight' || pressed === 'ArrowUp'
    ? steppedCount(values, count, 1)
    : pressed === 'ArrowLeft' || pressed === 'ArrowDown'
      ? steppedCount(values, count, -1)
      : pressed === 'PageUp'
        ? Math.min(dimensions, count + page)
        : pressed === 'PageDown'
          ? Math.max(0, count - page)
          : pressed === 'Home'
            ? 0
            : dimensions;
}

/**
 * One threshold line over a chart's plot area: a focusable slider that a pointer drags along its axis and the
 * arrow keys step. It lives in uPlot's `over` layer, whose coordinates are the plot's own CSS pixels.
 */
export class ThresholdHandle {
  readonly element = document.createElement('div');
  private readonly label = document.createElement('span');
  private dragging = false;

  constructor(
    private readonly chart: uPlot,
    readonly key: QuantileKey,
    private readonly orientation: 'vertical' | 'horizontal',
    private readonly owner: ThresholdOwner,
  ) {
    const { element, label } = this;
    element.className = `dims-threshold ${orientation}`;
    element.dataset['key'] = key;
    element.tabIndex = 0;
    element.setAttribute('role', 'slider');
    element.setAttribute('aria-orientation', orientation === 'vertical' ? 'horizontal' : 'vertical');
    element.setAttribute(
      'aria-label',
      key === 'analysis.variance.quantile' ? 'Variance quantile q_v' : 'Grad-CAM importance quantile q_g',
    );
    element.setAttribute('aria-valuemin', String(quantileRanges[key].min));
    element.setAttribute('aria-valuemax', String(quantileRanges[key].max));
    label.className = 'dims-threshold-label';
    element.append(label);
    chart.over.append(element);
    element.addEventListener('pointerdown', (event) => this.beginDrag(event));
    element.addEventListener('pointermove', (event) => {
      if (this.dragging) owner.dragTo(key, this.valueAt(event));
    });
    const end = () => {
      if (!this.dragging) return;
      this.dragging = false;
      owner.commit(key);
    };
    element.addEventListener('pointerup', end);
    element.addEventListener('pointercancel', end);
    element.addEventListener('lostpointercapture', end);
    element.addEventListener('keydown', (event) => {
      if (owner.step(key, event.key)) event.preventDefault();
    });
    element.addEventListener('keyup', (event) => {
      if (steppingKeys.has(event.key)) owner.commit(key);
    });
    element.addEventListener('blur', () => owner.commit(key));
  }

  /** Starts a drag from a press on the handle, or anywhere on a histogram, which moves the line there. */
  beginDrag(event: PointerEvent): void {
    if (event.button !== 0) return;
    // The histogram's own listener would start the same drag again.
    event.stopPropagation();
    this.element.setPointerCapture(event.pointerId);
    this.dragging = true;
    // A press on the line focuses it the browser's way (no keyboard focus ring); elsewhere it moves there.
    if (event.target !== this.element && !this.element.contains(event.target as Node)) {
      event.preventDefault();
      this.element.focus({ preventScroll: true });
      this.owner.dragTo(this.key, this.valueAt(event));
    }
  }

  /** Puts the line at a value of its axis (the axis's low end when nothing is selected) and says what it cuts. */
  place(value: number | null, quantile: number, count: number, threshold: number | null): void {
    const vertical = this.orientation === 'vertical';
    const scale = vertical ? 'x' : 'y';
    const extent = vertical ? this.chart.over.clientWidth : this.chart.over.clientHeight;
    const low = vertical ? 0 : extent;
    const position = value === null ? low : Math.min(extent, Math.max(0, this.chart.valToPos(value, scale)));
    const text = thresholdLabel(quantile, count, threshold);
    if (vertical) {
      this.element.style.left = `${position}px`;
      // The label sits right of the line unless that would run off the plot.
      this.element.classList.toggle('flip', position > extent / 2);
    } else {
      this.element.style.top = `${position}px`;
      this.element.classList.toggle('flip', position < 24);
    }
    if (this.label.textContent !== text) this.label.textContent = text;
    this.element.setAttribute('aria-valuenow', formatQuantile(quantile));
    this.element.setAttribute('aria-valuetext', text);
  }

  private valueAt(event: PointerEvent): number {
    const rect = this.chart.over.getBoundingClientRect();
    if (this.orientation === 'vertical') {
      const offset = Math.min(rect.width, Math.max(0, event.clientX - rect.left));
      return this.chart.posToVal(offset, 'x');
    }
    const offset = Math.min(rect.height, Math.max(0, event.clientY - rect.top));
    return this.chart.posToVal(offset, 'y');
  }
}
