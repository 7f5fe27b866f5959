import * as z from 'zod/mini';
import { studyCheckpoints, studyMetrics } from '../config/study/definitions';
import './zodLocale';

/**
 * The files a study folder holds besides its trials' run folders, which `synthpair study` writes and the CLI,
 * the extension and its study panel read: their shapes live here so every reader validates what it reads.
 * docs/studies.md describes them.
 */

/**
 * A trial's state: `completed`, `running`, `queued` (waiting for its scheduler), `stopped` (resumable),
 * `failed`, `cancelled` (by `study cancel` or in Slurm), `pending` (never started). Every view lists them in
 * this order: what completed, what is moving, what ended short of completing, what has not begun.
 */
export const trialStates = [
  'completed',
  'running',
  'queued',
  'stopped',
  'failed',
  'cancelled',
  'pending',
] as const;
export type TrialState = (typeof trialStates)[number];

/** `study.json`: what the study's last `run` planned, so status and tables need not re-read the study file. */
export const studyManifest = z.object({
  format: z.literal(1),
  name: z.string(),
  /** The study file, absolute. */
  studyFile: z.string(),
  /** The base experiment file, absolute. */
  experimentFile: z.string(),
  updatedAt: z.string(),
  metrics: z.array(z.enum(studyMetrics)),
  checkpoint: z.enum(studyCheckpoints),
  seeds: z.array(z.int()),
  conditions: z.array(
    z.object({
      id: z.string(),
      label: z.string(),
      baseline: z.boolean(),
    }),
  ),
  trials: z.array(
    z.object({
      /** Also the name of its run folder in the study folder: `<condition>.seed-<seed>`. */
      id: z.string(),
      condition: z.string(),
      seed: z.int(),
      /** `--set` assignments that make the base experiment this trial, relative paths against the study file's folder. */
      overrides: z.array(z.string()),
    }),
  ),
});
export type StudyManifest = z.infer<typeof studyManifest>;
export type TrialPlan = StudyManifest['trials'][number];

/** One line of `submissions.jsonl`: who was asked to train which trials; the newest line naming a trial is its. */
export const studySubmission = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('local'),
    /** The `synthpair study run` process that trains them, on `host`. */
    pid: z.int(),
    host: z.string(),
    submittedAt: z.string(),
    trials: z.array(z.string()),
  }),
  z.object({
    kind: z.literal('slurm'),
    /** The array's job id; task i trains trials[i]. */
    jobId: z.string(),
    /** The cluster, when sbatch named one (`id;cluster`). */
    cluster: z.optional(z.string()),
    submittedAt: z.string(),
    trials: z.array(z.string()),
    /** The batch script, relative to the study folder. */
    script: z.string(),
  }),
]);
export type StudySubmission = z.infer<typeof studySubmission>;

/**
 * One line of `attempts.jsonl`, written by a trial's process as it ends: how each attempt ended, which is the
 * only record of a trial that failed before its run folder existed (a missing data set, a bad node).
 */
export const trialAttempt = z.object({
  trial: z.string(),
  host: z.string(),
  /** The Slurm array task, `<jobId>_<task>`, when Slurm ran it. */
  slurmTask: z.optional(z.string()),
  startedAt: z.string(),
  endedAt: z.string(),
  /** The CLI's exit code: 0 completed, 130 stopped (resumable), anything else failed. */
  exitCode: z.int(),
  error: z.optional(z.string()),
});
export type TrialAttempt = z.infer<typeof trialAttempt>;
