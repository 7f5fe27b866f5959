import type uPlot from 'uplot';
import { chartFont, resolveColours } from '../../../shared/charts/theme';
import { themedAxis, tickLabels } from '../../../shared/charts/uplot';
import { formatValue, logTicks, spacedLabels } from './math';

/** Colours of the canvases, from the theme through the CSS variables of the view's stylesheet. */
export interface Palette {
  axis: string;
  grid: string;
  bar: string;
  barSelected: string;
  kept: string;
  keptFill: string;
  masked: string;
  maskedFill: string;
  focus: string;
  font: string;
}

const paletteColours: Record<Exclude<keyof Palette, 'font'>, string> = {
  axis: 'var(--sp-dims-axis)',
  grid: 'var(--sp-dims-grid)',
  bar: 'var(--sp-dims-bar)',
  barSelected: 'var(--sp-dims-bar-selected)',
  kept: 'var(--sp-dims-kept)',
  keptFill: 'var(--sp-dims-kept-fill)',
  masked: 'var(--sp-dims-masked)',
  maskedFill: 'var(--sp-dims-masked-fill)',
  focus: 'var(--sp-dims-focus)',
};

export function readPalette(view: HTMLElement): Palette {
  return { ...resolveColours(view, paletteColours), font: chartFont(view) };
}

/** What every chart of the view shares: the pointer drags thresholds, so uPlot draws no cursor and never zooms. */
export const chartBase = {
  cursor: {
    x: false,
    y: false,
    points: { show: false },
    drag: { x: false, y: false, setScale: false },
  },
  padding: [12, 12, 0, 0] as uPlot.Padding,
} satisfies Partial<uPlot.Options>;

/** An axis; an arcsinh one gets ticks within each decade too, and labels wherever they fit. */
export function dimensionAxis(
  palette: () => Palette,
  label: string,
  size: number,
  scaleKey: 'x' | 'y',
  logarithmic: boolean,
): uPlot.Axis {
  const themed = themedAxis(() => ({ text: palette().axis, grid: palette().grid }), palette().font);
  return {
    ...themed,
    label,
    ...(logarithmic && {
      splits: (plot: uPlot, _axis: number, min: number, max: number) => {
        const length = scaleKey === 'x' ? plot.bbox.width : plot.bbox.height;
        const spacing = (scaleKey === 'x' ? 56 : 28) * devicePixelRatio;
        return logTicks(min, max, plot.scales[scaleKey]!.asinh!, Math.max(2, Math.floor(length / spacing)));
      },
      // uPlot labels only the decades of a logarithmic axis; these label whatever fits.
      filter: (plot: uPlot, splits: number[]) => {
        const positions = splits.map((split) => plot.valToPos(split, scaleKey));
        const shown = spacedLabels(splits, positions, scaleKey === 'x' ? 44 : 18);
        return splits.map((split, index) => (shown[index] ? split : null));
      },
    }),
    labelSize: 16,
    size,
    gap: 3,
    ticks: { ...themed.ticks, size: 4 },
    values: tickLabels(formatValue),
  };
}

/** A linear scale, or an arcsinh one (linear within ±`threshold`, logarithmic beyond) when a threshold is given. */
export function dimensionScale(threshold: number | null, range: uPlot.Scale.Range): uPlot.Scale {
  return threshold === null ? { time: false, range } : { time: false, distr: 4, asinh: threshold, range };
}
