import * as z from 'zod/mini';
import {
  importanceVariants,
  maskCombines,
  perturbModes,
  validationMetrics,
} from '../config/experiment/choices';
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
  /** The experiment file the run was started from, absolute; absent on runs started before it was recorded. */
  configFile: z.optional(z.string()),
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

/** The figures on the test split of the encoder at one epoch; those of the evaluations enabled. */
const testFigures = {
  knnTop1: z.optional(z.number()),
  linearTop1: z.optional(z.number()),
  rank1: z.optional(z.number()),
  rank5: z.optional(z.number()),
  mAP: z.optional(z.number()),
};

/** Retrieval within the validation images (`data.validation`), by which the best checkpoint is chosen. */
export const validationFigures = z.object({
  rank1: z.number(),
  rank5: z.number(),
  mAP: z.number(),
});
export type ValidationFigures = z.infer<typeof validationFigures>;

/** The checkpoint chosen by validation, evaluated on the test split when the run ended. */
export const bestCheckpointRecord = z.object({
  epoch: z.int().check(z.nonnegative()),
  checkpoint: z.string(),
  by: z.enum(validationMetrics),
  validation: validationFigures,
  ...testFigures,
});
export type BestCheckpointRecord = z.infer<typeof bestCheckpointRecord>;

/**
 * One line of eval.jsonl: after an epoch, the test figures when `eval.everyEpochs` was due, the validation
 * figures when `eval.validation.everyEpochs` was; the last epoch's line also holds the best checkpoint's.
 */
export const evalRecord = z.object({
  epoch: z.int().check(z.nonnegative()),
  time: z.string(),
  ...testFigures,
  validation: z.optional(validationFigures),
  best: z.optional(bestCheckpointRecord),
});
export type EvalRecord = z.infer<typeof evalRecord>;

/** `checkpoints/best.json`: the checkpoint with the best validation figure so far, kept beside the latest. */
export const bestCheckpointPointer = z.object({
  checkpoint: z.string(),
  epoch: z.int().check(z.nonnegative()),
  by: z.enum(validationMetrics),
  value: z.number(),
});
export type BestCheckpointPointer = z.infer<typeof bestCheckpointPointer>;

/** Where a file of the data set was left out: when the data set was listed, or when its split was decoded. */
export const skipStages = ['listing', 'train', 'test'] as const;

/**
 * `skipped.json`: every file of the data set the run left out and why, replaced each time the run loads its
 * data (when it starts and at every resume), so it lists what the run trains and evaluates without.
 */
export const skippedFiles = z.object({
  /** When the data was loaded. */
  time: z.string(),
  files: z.array(
    z.object({
      path: z.string(),
      stage: z.enum(skipStages),
      reason: z.string(),
    }),
  ),
});
export type SkippedFiles = z.infer<typeof skippedFiles>;

/** A binary array of an analysis step: little-endian, row-major, its shape here. */
export const analysisArray = z.object({
  file: z.string(),
  dtype: z.enum(['float32', 'uint8']),
  shape: z.array(z.int().check(z.nonnegative())),
});
export type AnalysisArray = z.infer<typeof analysisArray>;

/** A lowest-quantile criterion of the mask as it was cut. */
export const quantileCriterion = z.object({
  quantile: z.number(),
  /** Dimensions the criterion alone selects: ⌊q·C⌋. */
  count: z.int().check(z.nonnegative()),
  /** The largest value among the selected dimensions, where a histogram draws the cut; null when none is. */
  threshold: z.nullable(z.number()),
});

/**
 * `analysis/epoch-NNNN/analysis.json`: what an analysis step measured, the mask it made, and where its
 * arrays and grids are. Epoch 0 is an analysis before the first epoch.
 */
export const analysisManifest = z.object({
  format: z.literal(1),
  epoch: z.int().check(z.nonnegative()),
  step: z.int().check(z.nonnegative()),
  time: z.string(),
  dimensions: z.int().check(z.positive()),
  imageSize: z.int().check(z.positive()),
  featureMapSize: z.tuple([z.int(), z.int()]),
  variance: z.extend(quantileCriterion, { images: z.int().check(z.positive()) }),
  gradcam: z.extend(quantileCriterion, {
    variant: z.enum(importanceVariants),
    images: z.int().check(z.positive()),
    /** Mean SSL loss L_C of the batches the importances were averaged over. */
    loss: z.number(),
  }),
  combine: z.enum(maskCombines),
  /** Dimensions in the mask. */
  masked: z.int().check(z.nonnegative()),
  probes: z.object({
    /** Positions in the test split, in the order of the arrays' first axis. */
    testPositions: z.array(z.int().check(z.nonnegative())),
    labels: z.array(z.int().check(z.nonnegative())),
    classNames: z.array(z.string()),
    /** L_C of the probes' two views, whose gradient the heat maps show. */
    loss: z.number(),
  }),
  /** The perturbation the probes' d(h′) were drawn with; absent on a run without a decoder. */
  perturb: z.optional(
    z.object({
      mode: z.enum(perturbModes),
      strength: z.number(),
      fraction: z.number(),
      samples: z.int().check(z.positive()),
    }),
  ),
  arrays: z.record(z.string(), analysisArray),
  /** PNG grids a person can open, by name. */
  grids: z.record(z.string(), z.string()),
});
export type AnalysisManifest = z.infer<typeof analysisManifest>;
