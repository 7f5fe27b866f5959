import uPlot from 'uplot';
import uPlotCss from 'uplot/dist/uPlot.min.css' with { type: 'text' };
import { adoptIntoPage } from '../styles';

// The charts render into light DOM, so uPlot's stylesheet reaches them from the page.
adoptIntoPage(uPlotCss);

/** The colours an axis is drawn in, asked for at every redraw so that a new theme needs only a redraw. */
export interface AxisColours {
  text: string;
  grid: string;
}

/** An axis in the theme's colours and font: its labels in `text`, its grid lines and ticks in `grid`. */
export function themedAxis(colours: () => AxisColours, font: string): uPlot.Axis {
  return {
    stroke: () => colours().text,
    font,
    labelFont: font,
    grid: { stroke: () => colours().grid, width: 1 },
    ticks: { stroke: () => colours().grid, width: 1 },
  };
}

/** Tick labels written by `format`; a split uPlot leaves unlabelled (null) gets none. */
export function tickLabels(format: (value: number) => string): uPlot.Axis['values'] {
  return (_plot: uPlot, splits: number[]) => splits.map((split) => (split == null ? '' : format(split)));
}

/** A chart as the views draw them: without uPlot's legend, since each view lays out its own. */
export function createChart(
  options: Omit<uPlot.Options, 'legend'>,
  data: uPlot.AlignedData,
  host: HTMLElement,
): uPlot {
  return new uPlot({ ...options, legend: { show: false } }, data, host);
}
