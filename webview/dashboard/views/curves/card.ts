import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import { html, nothing, type TemplateResult } from 'lit';
import type { CurveSettings } from '../../model';
import type { ChartId, ChartModel } from './data';

export interface CurveCardActions {
  toggleSeries(metricId: string): void;
  setLogScale(logScale: boolean): void;
  exportPng(id: ChartId): void;
}

const emptyChartText: Record<ChartId, string> = {
  losses: 'No losses logged yet.',
  lr: 'No learning rate logged yet.',
  throughput: 'No throughput yet: it is measured on logged steps.',
  eval: 'No evaluation yet: runs evaluate every eval.everyEpochs epochs and after the last one.',
};

/**
 * One chart's card: its title and buttons, a legend whose entries show or hide a series, the element its
 * uPlot is drawn into and the read-out under it, which the view fills.
 */
export function curveCard(
  model: ChartModel,
  settings: CurveSettings,
  actions: CurveCardActions,
): TemplateResult {
  const hidden = new Set(settings.hidden);
  const hasData = model.series.length > 0;
  return html`<section class="curve-card" data-chart=${model.id} aria-labelledby="curve-title-${model.id}">
      <header class="curve-header">
        <h3 id="curve-title-${model.id}">${model.title}</h3>
        ${
          model.id === 'losses'
            ? html`<vscode-checkbox
              id="curves-log-scale"
              .checked=${settings.logScale}
              @change=${(event: Event) => actions.setLogScale((event.target as HTMLInputElement).checked)}
              >Log scale</vscode-checkbox
            >`
            : nothing
        }
        <vscode-button
          class="curve-export-png"
          secondary
          ?disabled=${!hasData}
          aria-label="Export the ${model.title.toLowerCase()} chart as PNG"
          @click=${() => actions.exportPng(model.id)}
          >Export PNG</vscode-button
        >
      </header>
      <div class="curve-legend" role="group" aria-label="Series of the ${model.title.toLowerCase()} chart">
        ${model.metrics.map(
          (metric) => html`<button
            type="button"
            class="series-toggle"
            data-series=${metric.id}
            aria-pressed=${hidden.has(metric.id) ? 'false' : 'true'}
            title=${hidden.has(metric.id) ? `Show ${metric.label}` : `Hide ${metric.label}`}
            @click=${() => actions.toggleSeries(metric.id)}
          >
            <span class="series-swatch" data-colour=${metric.colour}></span>${metric.label}
          </button>`,
        )}
      </div>
      <div class="curve-plot" ?hidden=${!hasData}></div>
      ${hasData ? nothing : html`<p class="placeholder">${emptyChartText[model.id]}</p>`}
      <div class="curve-readout"></div>
    </section>`;
}
