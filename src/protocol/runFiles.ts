import * as z from 'zod/mini';
import './zodLocale';
import { backendName } from './backend';

/**
 * The files of a run directory, which the engine writes and the CLI, the extension and its webviews read:
 * their shapes live here so every reader validates what it reads. docs/run-directory.md describes them.
 */
export const runState = z.enum(['running', 'completed', 'failed', 'stopped']);
export type RunState = z.infer<typeof runState>;

export const runStatus = z.object({
  /** Version of this layout, raised when a reader of the old one would misread the new. */
  format: z.literal(1),
  name: z.string(),
  state: runState,
  pid: z.int(),
  backend: z.optional(backendName),
  seed: z.int(),
  /** SHA-256 of the resolved config, so a resume or a second run into the folder can tell it is the same experiment. */
  configHash: z.string(),
  startedAt: z.string(),
  updatedAt: z.string(),
  endedAt: z.optional(z.string()),
  epoch: z.int().check(z.nonnegative()),
  /** When the run failed: the message a user reads first. */
  error: z.optional(z.string()),
  versions: z.object({ synthpair: z.string(), tfjs: z.string(), node: z.string() }),
});
export type RunStatus = z.infer<typeof runStatus>;

/** One line of metrics.jsonl: a logged step or an epoch summary, with every loss term the method has. */
export const metricsRecord = z.object({
  kind: z.enum(['step', 'epoch']),
  epoch: z.int().check(z.nonnegative()),
  /** Optimiser steps taken since the run began. */
  step: z.int().check(z.nonnegative()),
  time: z.string(),
  losses: z.record(z.string(), z.number()),
  lr: z.number(),
  imagesPerSecond: z.optional(z.number()),
});
export type MetricsRecord = z.infer<typeof metricsRecord>;

/** One line of eval.jsonl. */
export const evalRecord = z.object({
  epoch: z.int().check(z.nonnegative()),
  time: z.string(),
  knnTop1: z.optional(z.number()),
  linearTop1: z.optional(z.number()),
  rank1: z.optional(z.number()),
  rank5: z.optional(z.number()),
  mAP: z.optional(z.number()),
});
export type EvalRecord = z.infer<typeof evalRecord>;
