import * as z from 'zod/mini';
import { colormapNames } from '../colormaps';
import { heatmapVariants } from '../config/experiment/choices';
import { backendReport } from './backend';
import { analysisManifest, evalRecord, metricsRecord, runState } from './runFiles';
import { perturbedSynthesis, synthesisOverrideKeys, synthesisResult, wireError } from './worker';
import './zodLocale';

export const workerState = z.enum(['stopped', 'starting', 'ready', 'crashed']);
export type WorkerState = z.infer<typeof workerState>;

/** A value a panel may write into the experiment file: the config keys the panels edit are all scalars. */
export const configScalar = z.union([z.string(), z.number(), z.boolean()]);
export type ConfigScalar = z.infer<typeof configScalar>;

/** One run of the bound experiment, as the run picker lists it. */
export const dashboardRun = z.object({
  /** The run folder, absolute: the run's identity in every message. */
  runDir: z.string(),
  /** The folder's name, e.g. `example-20261130-134015`. */
  label: z.string(),
  state: runState,
  /** Epochs finished, of `epochs` configured. */
  epoch: z.int().check(z.nonnegative()),
  epochs: z.optional(z.int().check(z.nonnegative())),
  startedAt: z.string(),
});
export type DashboardRun = z.infer<typeof dashboardRun>;

/**
 * One analysis step of a run: its manifest and where the webview fetches its arrays and grids from
 * (`folderUri` + '/' + file, a `webview.asWebviewUri` of the step's folder, so it works over remote too).
 */
export const analysisStepRef = z.object({
  epoch: z.int().check(z.nonnegative()),
  folderUri: z.string(),
  manifest: analysisManifest,
});
export type AnalysisStepRef = z.infer<typeof analysisStepRef>;

/**
 * The config keys the panels show and edit, as the editor holds them now (saved or not): exactly those a
 * pair redraw can take, so every edit in a panel can redraw the grid.
 */
export const panelConfigKeys = synthesisOverrideKeys;
export type PanelConfigKey = (typeof panelConfigKeys)[number];
export const panelConfigKey = z.enum(panelConfigKeys);

export const dashboardTab = z.enum(['curves', 'heatmaps', 'dimensions', 'pairs', 'engine']);
export type DashboardTab = z.infer<typeof dashboardTab>;

/** Messages the extension host posts to the dashboard webview. */
export const hostToDashboard = z.discriminatedUnion('type', [
  z.object({ type: z.literal('backendReport'), report: backendReport }),
  z.object({ type: z.literal('backendError'), error: wireError }),
  z.object({ type: z.literal('workerState'), state: workerState, detail: z.optional(z.string()) }),
  /**
   * Which experiment the dashboard shows and its runs, newest first. `configFile` is null when no experiment
   * file has been active yet; `selectedRun` is null when the experiment has no run.
   */
  z.object({
    type: z.literal('binding'),
    configFile: z.nullable(z.string()),
    /** The file's name relative to its workspace folder, for the title. */
    configLabel: z.nullable(z.string()),
    locked: z.boolean(),
    /** Whether this window may start runs (Restricted Mode may not). */
    canRun: z.boolean(),
    runs: z.array(dashboardRun),
    selectedRun: z.nullable(z.string()),
    /** Runs drawn together with the selected one in the curves. */
    overlaidRuns: z.array(z.string()),
  }),
  /**
   * The panel keys as the experiment file holds them now, defaults filled in; `problem` when the text does
   * not parse, in which case `values` are the last ones that did. `version` is the document's version.
   */
  z.object({
    type: z.literal('configValues'),
    configFile: z.string(),
    version: z.int(),
    values: z.record(z.string(), configScalar),
    problem: z.optional(z.string()),
  }),
  /**
   * A run's metrics.jsonl and eval.jsonl records. `reset` replaces what the webview holds for the run;
   * otherwise the records follow the ones sent before (a live run's new lines).
   */
  z.object({
    type: z.literal('runMetrics'),
    runDir: z.string(),
    reset: z.boolean(),
    metrics: z.array(metricsRecord),
    evals: z.array(evalRecord),
  }),
  /** Every analysis step of the selected run, oldest first. */
  z.object({ type: z.literal('analyses'), runDir: z.string(), steps: z.array(analysisStepRef) }),
  /**
   * How many files of its data set the selected run left out, and `listFile`, its skipped.json, which names
   * every one with the reason; 0 when none was, or the run is older than the list.
   */
  z.object({
    type: z.literal('skippedFiles'),
    runDir: z.string(),
    count: z.int().check(z.nonnegative()),
    listFile: z.string(),
  }),
  /**
   * A pair grid redrawn in the worker for config `version`. `requestId` comes back in `synthesisRendered`
   * so the host can time an edit to the pixels on screen. The webview keeps its originals and reconstructions
   * as base `baseId`.
   */
  z.object({
    type: z.literal('synthesis'),
    requestId: z.int(),
    version: z.int(),
    baseId: z.int(),
    result: synthesisResult,
  }),
  /**
   * A pair grid whose originals and reconstructions are those of base `baseId`, which the webview was sent
   * last; one that does not hold that base answers `pairsBaseMissing`.
   */
  z.object({
    type: z.literal('synthesisSameBase'),
    requestId: z.int(),
    version: z.int(),
    baseId: z.int(),
    result: perturbedSynthesis,
  }),
  /** Brings a tab to the front, e.g. for a command that opens the dashboard on the pairs. */
  z.object({ type: z.literal('showTab'), tab: dashboardTab }),
  /** Why there is no new pair grid: redrawing, superseded, failed, or the run cannot be redrawn. */
  z.object({
    type: z.literal('synthesisState'),
    requestId: z.int(),
    state: z.enum(['pending', 'cancelled', 'failed', 'unavailable']),
    message: z.optional(z.string()),
  }),
]);
export type HostToDashboard = z.infer<typeof hostToDashboard>;

/** Messages the dashboard webview posts to the extension host. */
export const dashboardToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('refreshBackend') }),
  z.object({ type: z.literal('showOutput') }),
  z.object({ type: z.literal('selectRun'), runDir: z.string() }),
  z.object({ type: z.literal('overlayRuns'), runDirs: z.array(z.string()) }),
  z.object({ type: z.literal('setLocked'), locked: z.boolean() }),
  z.object({ type: z.literal('runExperiment') }),
  z.object({ type: z.literal('openConfig') }),
  /** Opens the selected run's skipped.json in an editor. */
  z.object({ type: z.literal('openSkippedList') }),
  /** Writes one key into the experiment file as an undoable edit of its document. */
  z.object({ type: z.literal('editConfig'), key: panelConfigKey, value: configScalar }),
  /** Asks the host to save an export the webview made: PNG bytes or CSV text, base64. */
  z.object({
    type: z.literal('saveExport'),
    suggestedName: z.string(),
    format: z.enum(['png', 'csv']),
    base64: z.base64(),
  }),
  /** The pair grid of `requestId` is on screen, `renderMs` after its message arrived. */
  z.object({ type: z.literal('synthesisRendered'), requestId: z.int(), renderMs: z.number() }),
  /** A grid reused a base the webview does not hold (it missed or refused that grid): send the pairs whole. */
  z.object({ type: z.literal('pairsBaseMissing'), requestId: z.int() }),
]);
export type DashboardToHost = z.infer<typeof dashboardToHost>;

/** How the heat-map grid is drawn; persisted so a reload shows the same view. */
export const heatmapSettings = z.object({
  variant: z.enum(heatmapVariants),
  /** Which view of the probes: 0 the centre view, 1 the augmented view. */
  view: z.union([z.literal(0), z.literal(1)]),
  opacity: z.number().check(z.gte(0), z.lte(1)),
  colormap: z.enum(colormapNames),
  /** `image`: each map divided by its own maximum; `global`: by the maximum over every probe of the step. */
  normalisation: z.enum(['image', 'global']),
  /** The analysis step shown; null follows the newest. */
  epoch: z.nullable(z.int()),
});
export type HeatmapSettings = z.infer<typeof heatmapSettings>;

/** The heat-map view a new dashboard opens with: Grad-CAM of the centre view, half opaque, each map on its own scale. */
export const defaultHeatmapSettings: HeatmapSettings = {
  variant: 'gradCam',
  view: 0,
  opacity: 0.5,
  colormap: 'inferno',
  normalisation: 'image',
  epoch: null,
};

/** What the dashboard persists with `vscode.setState`, restored after a window reload. */
export const dashboardState = z.object({
  report: z.optional(backendReport),
  tab: z.optional(dashboardTab),
  /** The experiment file the panel was showing, so the revived panel binds to it again. */
  configFile: z.optional(z.nullable(z.string())),
  locked: z.optional(z.boolean()),
  selectedRun: z.optional(z.nullable(z.string())),
  heatmaps: z.optional(heatmapSettings),
  /** Curves: which series are hidden, and a log scale for the losses. */
  curves: z.optional(z.object({ hidden: z.array(z.string()), logScale: z.boolean() })),
  /** Feature dimensions: the analysis step shown, null for the newest. */
  dimensionsEpoch: z.optional(z.nullable(z.int())),
});
export type DashboardState = z.infer<typeof dashboardState>;
