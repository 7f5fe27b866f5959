import * as z from 'zod/mini';
import { runState } from './runFiles';
import { heatmapSettings } from './webview';
import { imageHeatmapResult } from './worker';
import './zodLocale';

/** An experiment file whose `data.root` holds the image. */
export const heatmapExperiment = z.object({
  configFile: z.string(),
  /** The file's path relative to its workspace folder. */
  label: z.string(),
});
export type HeatmapExperiment = z.infer<typeof heatmapExperiment>;

/** The run whose latest checkpoint draws the maps. */
export const heatmapRun = z.object({
  runDir: z.string(),
  /** The run folder's name. */
  label: z.string(),
  state: runState,
  /** Another process is training it: the maps follow its checkpoints. */
  live: z.boolean(),
});
export type HeatmapRun = z.infer<typeof heatmapRun>;

/** What every message says about the image and the experiments that hold it. */
const about = {
  /** The image's path relative to its workspace folder. */
  image: z.string(),
  experiment: heatmapExperiment,
  /** Every experiment whose data set holds the image, to switch between; `experiment` is one of them. */
  experiments: z.array(heatmapExperiment),
};

/** Messages the extension host posts to the heat-map editor's webview. */
export const hostToHeatmapEditor = z.discriminatedUnion('type', [
  /** No experiment file of the workspace has a `data.root` that holds the image. */
  z.object({ type: z.literal('noExperiment'), image: z.string() }),
  /** The experiment has no run with a checkpoint yet; `training` when one is being trained or queued. */
  z.object({ type: z.literal('noRun'), ...about, canRun: z.boolean(), training: z.boolean() }),
  z.object({ type: z.literal('computing'), ...about, run: heatmapRun }),
  z.object({ type: z.literal('heatmap'), ...about, run: heatmapRun, heatmap: imageHeatmapResult }),
  /** Drawing failed: the worker's message, which names what to fix. */
  z.object({
    type: z.literal('error'),
    ...about,
    run: z.nullable(heatmapRun),
    message: z.string(),
  }),
]);
export type HostToHeatmapEditor = z.infer<typeof hostToHeatmapEditor>;

/** Messages the heat-map editor's webview posts to the extension host. */
export const heatmapEditorToHost = z.discriminatedUnion('type', [
  /** The page is listening; `configFile` is the experiment it showed before a reload, if any. */
  z.object({ type: z.literal('ready'), configFile: z.nullable(z.string()) }),
  z.object({ type: z.literal('selectExperiment'), configFile: z.string() }),
  /** Runs `synthpair.runExperiment` on the experiment file. */
  z.object({ type: z.literal('runExperiment'), configFile: z.string() }),
  z.object({ type: z.literal('openExperiment'), configFile: z.string() }),
  /** Draws the maps again after an error. */
  z.object({ type: z.literal('retry') }),
]);
export type HeatmapEditorToHost = z.infer<typeof heatmapEditorToHost>;

/** What the webview persists with `vscode.setState`, restored when VS Code resolves the editor again. */
export const heatmapEditorState = z.object({
  variant: heatmapSettings.shape.variant,
  colormap: heatmapSettings.shape.colormap,
  opacity: heatmapSettings.shape.opacity,
  /** The experiment chosen when several hold the image. */
  configFile: z.nullable(z.string()),
});
export type HeatmapEditorState = z.infer<typeof heatmapEditorState>;
