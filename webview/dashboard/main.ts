import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-multi-select/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import './main.css';
import './views/curves/view';
import './views/dimensions/view';
import './views/pairs/view';
import { html, nothing, render, type TemplateResult } from 'lit';
import type { EvalRecord, MetricsRecord } from '../../src/shared/protocol/runFiles';
import {
  type AnalysisStepRef,
  type DashboardState,
  type DashboardTab,
  type DashboardToHost,
  dashboardState,
  dashboardTab,
  defaultHeatmapSettings,
  type HostToDashboard,
  hostToDashboard,
} from '../../src/shared/protocol/webview';
import { connectToHost } from '../shared/vscodeApi';
import type { CurveRun, CurveSettings, DashboardEvents } from './model';
import { dashboardHeader, emptyState, overlayPicker, skippedFilesNotice } from './shell';
import { errorBlock, reportBlock } from './views/engine/view';
import './views/heatmaps/view';
import type { PairsSynthesis } from './views/pairs/view';

type Binding = Extract<HostToDashboard, { type: 'binding' }>;
type ConfigValues = Extract<HostToDashboard, { type: 'configValues' }>;
type BackendMessage = Extract<HostToDashboard, { type: 'backendReport' | 'backendError' | 'workerState' }>;
type SkippedFilesMessage = Extract<HostToDashboard, { type: 'skippedFiles' }>;

const host = connectToHost<HostToDashboard, DashboardToHost, DashboardState>({
  incoming: hostToDashboard,
  state: dashboardState,
});

const tabs = dashboardTab.options;
const tabTitles: Record<DashboardTab, string> = {
  curves: 'Curves',
  heatmaps: 'Heatmaps',
  dimensions: 'Dimensions',
  pairs: 'Pairs',
  engine: 'Engine',
};

const tabHints: Record<DashboardTab, string> = {
  curves: 'Losses, learning rate, throughput and evaluation metrics over training',
  heatmaps: 'Grad-CAM heat maps of the probe images, per analysis step',
  dimensions: 'Feature dimensions: variance, Grad-CAM importance and the mask the thresholds make',
  pairs: 'Probe pairs (d(h), d(h′)) redrawn as the perturbation settings change',
  engine: 'The TF.js backend the worker runs on',
};

interface RunRecords {
  metrics: MetricsRecord[];
  evals: EvalRecord[];
}

/** Everything the page shows; each message updates it and the page is drawn again (lit patches the DOM). */
const view: {
  state: DashboardState;
  worker: Extract<BackendMessage, { type: 'workerState' }>;
  backend?: Extract<BackendMessage, { type: 'backendReport' | 'backendError' }>;
  refreshing: boolean;
  binding?: Binding;
  config?: ConfigValues;
  records: Map<string, RunRecords>;
  /** Memoised per run and record count, so the curves see a new array only when a run has new records. */
  curveRuns: Map<string, CurveRun>;
  analyses?: { runDir: string; steps: AnalysisStepRef[] };
  skippedFiles?: SkippedFilesMessage;
  synthesis: PairsSynthesis;
} = {
  state: host.restoreState() ?? {},
  worker: { type: 'workerState', state: 'stopped' },
  refreshing: true,
  records: new Map(),
  curveRuns: new Map(),
  synthesis: { status: 'idle' },
};

const app = document.getElementById('app')!;

/** The originals and reconstructions of the last grid that came whole, which later grids may reuse. */
let gridBase: { id: number; originals: Uint8Array; reconstructions: Uint8Array } | undefined;

host.onMessage((message) => {
  switch (message.type) {
    case 'backendReport':
      view.backend = message;
      view.refreshing = false;
      saveState({ report: message.report });
      break;
    case 'backendError':
      view.backend = message;
      view.refreshing = false;
      break;
    case 'workerState':
      view.worker = message;
      break;
    case 'binding':
      bind(message);
      break;
    case 'configValues':
      view.config = message;
      break;
    case 'runMetrics': {
      const held = view.records.get(message.runDir);
      view.records.set(
        message.runDir,
        message.reset || !held
          ? { metrics: message.metrics, evals: message.evals }
          : { metrics: [...held.metrics, ...message.metrics], evals: [...held.evals, ...message.evals] },
      );
      break;
    }
    case 'showTab':
      saveState({ tab: message.tab });
      break;
    case 'analyses':
      view.analyses = { runDir: message.runDir, steps: message.steps };
      break;
    case 'skippedFiles':
      view.skippedFiles = message;
      break;
    case 'synthesis': {
      const { originals, reconstructions } = message.result;
      gridBase = { id: message.baseId, originals, reconstructions };
      view.synthesis = {
        status: 'ready',
        requestId: message.requestId,
        result: message.result,
        receivedAt: performance.now(),
      };
      break;
    }
    case 'synthesisSameBase':
      if (gridBase?.id !== message.baseId) {
        post({ type: 'pairsBaseMissing', requestId: message.requestId });
        break;
      }
      view.synthesis = {
        status: 'ready',
        requestId: message.requestId,
        result: {
          ...message.result,
          originals: gridBase.originals,
          reconstructions: gridBase.reconstructions,
        },
        receivedAt: performance.now(),
      };
      break;
    case 'synthesisState':
      view.synthesis =
        message.state === 'pending'
          ? { ...shownGrid(view.synthesis), status: 'pending', pendingId: message.requestId }
          : message.state === 'cancelled'
            ? view.synthesis
            : { ...shownGrid(view.synthesis), status: message.state, message: message.message ?? '' };
      break;
  }
  draw();
});

/** The grid on screen, which stays there while the next one is drawn or when it cannot be. */
function shownGrid(
  synthesis: PairsSynthesis,
): Pick<Extract<PairsSynthesis, { status: 'pending' }>, 'requestId' | 'result' | 'receivedAt'> {
  return synthesis.status === 'idle'
    ? {}
    : { requestId: synthesis.requestId, result: synthesis.result, receivedAt: synthesis.receivedAt };
}

function bind(binding: Binding): void {
  const previous = view.binding;
  view.binding = binding;
  if (previous?.configFile !== binding.configFile) {
    view.config = undefined;
  }
  if (previous?.selectedRun !== binding.selectedRun) {
    view.analyses = undefined;
    view.synthesis = { status: 'idle' };
  }
  // Records of runs no longer shown are dropped; the host resends a run's records whenever it shows it again.
  const shown = new Set([binding.selectedRun, ...binding.overlaidRuns]);
  for (const runDir of view.records.keys()) {
    if (!shown.has(runDir)) view.records.delete(runDir);
  }
  saveState({ configFile: binding.configFile, locked: binding.locked, selectedRun: binding.selectedRun });
}

function saveState(patch: Partial<DashboardState>): void {
  view.state = { ...view.state, ...patch };
  host.saveState(view.state);
}

function post(message: DashboardToHost): void {
  host.post(message);
}

function selectTab(tab: DashboardTab | undefined): void {
  if (tab && tab !== view.state.tab) {
    saveState({ tab });
    draw();
  }
}

function refreshBackend(): void {
  view.refreshing = true;
  draw();
  post({ type: 'refreshBackend' });
}

function curveRuns(): CurveRun[] {
  const binding = view.binding;
  if (!binding?.selectedRun) return [];
  const labels = new Map(binding.runs.map((run) => [run.runDir, run.label]));
  const runs: CurveRun[] = [];
  for (const runDir of [
    binding.selectedRun,
    ...binding.overlaidRuns.filter((dir) => dir !== binding.selectedRun),
  ]) {
    const records = view.records.get(runDir);
    if (!records) continue;
    const selected = runDir === binding.selectedRun;
    const held = view.curveRuns.get(runDir);
    const current =
      held && held.metrics === records.metrics && held.evals === records.evals && held.selected === selected
        ? held
        : {
            runDir,
            label: labels.get(runDir) ?? runDir,
            selected,
            metrics: records.metrics,
            evals: records.evals,
          };
    view.curveRuns.set(runDir, current);
    runs.push(current);
  }
  return runs;
}

function stepsOfSelectedRun(): AnalysisStepRef[] {
  const { analyses, binding } = view;
  return analyses && analyses.runDir === binding?.selectedRun ? analyses.steps : [];
}

/** The probes' class names of the newest analysis step, which the pair grid's rows are. */
function probeClassNames(steps: readonly AnalysisStepRef[]): string[] {
  const probes = steps.at(-1)?.manifest.probes;
  return probes ? probes.labels.map((label) => probes.classNames[label] ?? String(label)) : [];
}

const emptyCurveSettings: CurveSettings = { hidden: [], logScale: false };

function tabPanel(tab: DashboardTab, binding: Binding): TemplateResult {
  const steps = stepsOfSelectedRun();
  switch (tab) {
    case 'curves':
      return html`${overlayPicker(binding, post)}
        <sp-curves .runs=${curveRuns()} .settings=${view.state.curves ?? emptyCurveSettings}></sp-curves>`;
    case 'heatmaps':
      return html`<sp-heatmaps .steps=${steps} .settings=${view.state.heatmaps ?? defaultHeatmapSettings}></sp-heatmaps>`;
    case 'dimensions':
      return html`<sp-dimensions
        .steps=${steps}
        .epoch=${view.state.dimensionsEpoch ?? null}
        .config=${view.config?.values ?? {}}
      ></sp-dimensions>`;
    case 'pairs':
      return html`<sp-pairs
        .synthesis=${view.synthesis}
        .classNames=${probeClassNames(steps)}
        .config=${view.config?.values ?? {}}
        .problem=${view.config?.problem}
      ></sp-pairs>`;
    case 'engine':
      return engineTab();
  }
}

function engineTab(): TemplateResult {
  const backend = view.backend;
  return html`<section class="actions">
      <vscode-button id="refresh" @click=${refreshBackend} ?disabled=${view.refreshing}>Detect backend again</vscode-button>
      <vscode-button id="show-output" secondary @click=${() => post({ type: 'showOutput' })}>Show Output</vscode-button>
      ${view.refreshing ? html`<vscode-progress-ring class="busy" aria-label="Selecting a backend"></vscode-progress-ring>` : nothing}
    </section>
    ${backend?.type === 'backendError' ? errorBlock(backend.error) : nothing}
    ${
      backend?.type === 'backendReport'
        ? reportBlock(backend.report)
        : view.state.report
          ? reportBlock(view.state.report)
          : backend
            ? nothing
            : html`<p class="placeholder">Starting the engine worker…</p>`
    }`;
}

function draw(): void {
  const binding = view.binding;
  const empty = emptyState(binding, post);
  // Without a run only the Engine tab has anything to show.
  const shownTabs: readonly DashboardTab[] = empty ? ['engine'] : tabs;
  const active = shownTabs.includes(view.state.tab ?? 'curves')
    ? (view.state.tab ?? 'curves')
    : shownTabs[0]!;
  app.setAttribute('aria-busy', String(view.refreshing && !view.backend));
  render(
    html`
      ${dashboardHeader(binding, view.worker, post)}
      ${binding ? skippedFilesNotice(binding, view.skippedFiles, post) : nothing}
      ${empty ?? nothing}
      <vscode-tabs
        id="tabs"
        selected-index=${shownTabs.indexOf(active)}
        @vsc-tabs-select=${(event: CustomEvent<{ selectedIndex: number }>) =>
          selectTab(shownTabs[event.detail.selectedIndex])}
      >
        ${shownTabs.map(
          // vscode-tabs numbers its headers' and panels' own ids, so the stable ones sit inside them.
          (
            tab,
          ) => html`<vscode-tab-header slot="header"><span id=${`tab-${tab}`} title=${tabHints[tab]}>${tabTitles[tab]}</span></vscode-tab-header>
            <vscode-tab-panel data-tab=${tab}>${tab === active && binding ? tabPanel(tab, binding) : tab === active ? engineTab() : nothing}</vscode-tab-panel>`,
        )}
      </vscode-tabs>
    `,
    app,
  );
}

// The views raise these; the shell turns them into host messages and persisted state.
app.addEventListener('sp-config-edit', (event) => {
  const { key, value } = (event as DashboardEvents['sp-config-edit']).detail;
  post({ type: 'editConfig', key, value });
});
app.addEventListener('sp-settings', (event) => {
  saveState((event as DashboardEvents['sp-settings']).detail);
  draw();
});
app.addEventListener('sp-export', (event) => {
  post({ type: 'saveExport', ...(event as DashboardEvents['sp-export']).detail });
});
app.addEventListener('sp-rendered', (event) => {
  post({ type: 'synthesisRendered', ...(event as DashboardEvents['sp-rendered']).detail });
});

draw();
post({ type: 'ready' });
