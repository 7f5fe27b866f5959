import * as z from 'zod/mini';
import { studyCheckpoints, studyMetrics } from '../config/study/definitions';
import { trialStates } from './studyFiles';
import './zodLocale';

/**
 * A figure of the table: NaN where nothing has been measured yet (no completed trial, fewer than two pairs).
 * VS Code carries a webview message as JSON, which writes NaN as null: null is read back as NaN.
 */
const figure = z.pipe(
  z.union([z.number(), z.nan(), z.null()]),
  z.transform((value) => value ?? Number.NaN),
);

export const studyTrialView = z.object({
  id: z.string(),
  condition: z.string(),
  seed: z.int(),
  dir: z.string(),
  log: z.string(),
  state: z.enum(trialStates),
  epoch: z.optional(z.int()),
  epochs: z.optional(z.int()),
  reason: z.optional(z.string()),
  scheduler: z.optional(z.string()),
  figures: z.optional(z.partialRecord(z.enum(studyMetrics), z.number())),
});
export type StudyTrialView = z.infer<typeof studyTrialView>;

export const studyTableView = z.object({
  name: z.string(),
  metrics: z.array(z.enum(studyMetrics)),
  checkpoint: z.enum(studyCheckpoints),
  baseline: z.string(),
  conditions: z.array(
    z.object({
      id: z.string(),
      label: z.string(),
      baseline: z.boolean(),
      completed: z.int(),
      trials: z.int(),
      metrics: z.record(
        z.string(),
        z.object({
          mean: figure,
          std: figure,
          values: z.array(z.object({ seed: z.int(), value: z.number() })),
        }),
      ),
    }),
  ),
  differences: z.array(
    z.object({
      condition: z.string(),
      metric: z.enum(studyMetrics),
      n: z.int(),
      mean: figure,
      low: figure,
      high: figure,
      p: figure,
      pHolm: figure,
    }),
  ),
  method: z.string(),
});
export type StudyTableView = z.infer<typeof studyTableView>;

/** Messages the extension host posts to the study panel. */
export const hostToStudyPanel = z.discriminatedUnion('type', [
  /** The study as its folder (and its scheduler) tell it now; sent again whenever a trial moves. */
  z.object({
    type: z.literal('study'),
    studyFile: z.string(),
    studyDir: z.string(),
    /** Whether a local queue or a Slurm array of the study is still working: Cancel is offered then. */
    active: z.boolean(),
    executor: z.enum(['local', 'slurm']),
    trials: z.array(studyTrialView),
    table: studyTableView,
  }),
  /** The study file has not run yet, or cannot be read; `reason` says which, for the user. */
  z.object({ type: z.literal('noStudy'), studyFile: z.string(), reason: z.string() }),
]);
export type HostToStudyPanel = z.infer<typeof hostToStudyPanel>;

/** Messages the study panel posts to the extension host. */
export const studyPanelToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('runStudy') }),
  z.object({ type: z.literal('cancelStudy') }),
  /** Opens a trial's run folder in the dashboard. */
  z.object({ type: z.literal('openTrial'), trial: z.string() }),
  z.object({ type: z.literal('openLog'), trial: z.string() }),
  z.object({ type: z.literal('exportTable'), format: z.enum(['md', 'csv', 'json']) }),
]);
export type StudyPanelToHost = z.infer<typeof studyPanelToHost>;
