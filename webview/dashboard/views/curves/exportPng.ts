import type { ChartTheme } from '../../../shared/charts/theme';
import { dashFor, type LiveChart, overlayAlpha } from './chart';
import type { SeriesModel } from './data';

/** One canvas holding the chart's title, its uPlot canvas and a legend of the series drawn. */
export function composeExport(
  live: LiveChart,
  theme: ChartTheme,
  label: (series: SeriesModel) => string,
): HTMLCanvasElement {
  const source = live.plot.ctx.canvas;
  const ratio = source.width / live.plot.width;
  const padding = 12 * ratio;
  const lineHeight = 20 * ratio;
  const swatch = 24 * ratio;
  const fontSize = 12 * ratio;
  const family = theme.font.replace(/^\S+\s+/, '');
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d')!;
  ctx.font = `${fontSize}px ${family}`;
  const entries = live.model.series
    .filter((_series, index) => live.plot.series[index + 1]!.show)
    .map((series) => ({ series, text: label(series), width: 0 }));
  for (const entry of entries) {
    entry.width = swatch + 6 * ratio + ctx.measureText(entry.text).width + 16 * ratio;
  }
  const rows: (typeof entries)[] = [];
  for (const entry of entries) {
    const row = rows.at(-1);
    const used = row?.reduce((sum, item) => sum + item.width, 0) ?? Number.POSITIVE_INFINITY;
    if (row && used + entry.width <= source.width) {
      row.push(entry);
    } else {
      rows.push([entry]);
    }
  }
  canvas.width = source.width + 2 * padding;
  canvas.height = padding + lineHeight + source.height + padding / 2 + rows.length * lineHeight + padding;
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.textBaseline = 'middle';
  ctx.fillStyle = theme.text;
  ctx.font = `600 ${fontSize * 1.15}px ${family}`;
  ctx.fillText(live.model.title, padding, padding + lineHeight / 2);
  ctx.drawImage(source, padding, padding + lineHeight);
  ctx.font = `${fontSize}px ${family}`;
  let y = padding + lineHeight + source.height + padding / 2 + lineHeight / 2;
  for (const row of rows) {
    let x = padding;
    for (const { series, text, width } of row) {
      const colour = theme.colours[series.metric.colour];
      ctx.globalAlpha = series.runIndex > 0 ? overlayAlpha : 1;
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      if (series.style === 'markers') {
        ctx.beginPath();
        ctx.arc(x + swatch / 2, y, 3.5 * ratio, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        ctx.lineWidth = 2 * ratio;
        ctx.setLineDash((dashFor(series.runIndex) ?? []).map((length) => length * ratio));
        ctx.beginPath();
        ctx.moveTo(x, y);
        ctx.lineTo(x + swatch, y);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      ctx.globalAlpha = 1;
      ctx.fillStyle = theme.text;
      ctx.fillText(text, x + swatch + 6 * ratio, y);
      x += width;
    }
    y += lineHeight;
  }
  return canvas;
}
