// What the GPU check's children answer its parent with: one JSON line, the last of their stdout. Free of
// tensor code, so the parent loads no TF.js backend.
import type { CaseComparison } from '../../test/support/webgpuParity';
import type { StepKind } from '../stepBench';
import type { StepFlops } from '../stepFlops';

export interface AdapterProbe {
  status: 'found';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** Why it is a software adapter, as the engine decides (src/engine/backends/webgpu/adapters.ts). */
  softwareEvidence?: string;
  /** The adapter's limits the webgpu backend sizes its work by. */
  limits: Record<string, number>;
  features: string[];
  /** The Dawn package and binary that answered. */
  dawn: string;
}

export type AdapterOutcome = AdapterProbe | { status: 'none'; reason: string };

export type ParityChildOutcome =
  | {
      status: 'ok';
      adapter: string;
      comparison: CaseComparison;
      /** Where the webgpu step leaves the tolerance; empty when it matches. */
      problems: string[];
      /** The worst relative loss difference, and gradient difference over its scale. */
      margins: { loss: number; gradient: number };
      tolerance: number;
      ms: number;
    }
  | { status: 'unavailable'; reason: string };

export interface WebGpuStepMeasurement {
  status: 'ok';
  step: StepKind;
  adapter: string;
  /** From the process's start to its first step: Node, the bundle, the backend and the models. */
  firstStepAtMs: number;
  /** Dawn, the device and TF.js's webgpu backend started, with its 2x2 matmul check. */
  backendStartMs: number;
  /** The models built and the inputs made. */
  buildMs: number;
  /** The first step: every kernel's shader compiled and pipeline made, with the step's own work. */
  firstStepMs: number;
  /** Further untimed steps after the first. */
  warmupTimesMs: number[];
  stepTimesMs: number[];
  /** Why the timed steps ended before the plan's count, when the budget ended them. */
  cutShort?: string;
  losses: Record<string, number>;
  parameters: number;
  /** From one step under tf.profile() after the timed ones, when the budget left time for it. */
  flops?: StepFlops;
  maxRssKiB: number;
}

export type WebGpuStepOutcome =
  | WebGpuStepMeasurement
  | { status: 'unavailable'; step: StepKind; reason: string };

/** bench/pytorch/ssl_step.py's line. */
export interface PytorchStep {
  imagesPerSecond: number;
  stepMillis: number;
  stepTimesMs: number[];
  warmupTimesMs: number[];
  parameters: number;
  maxRssKiB: number;
  torch: string;
  device: { type: string; name?: string; cudnnAllowTf32?: boolean; matmulAllowTf32?: boolean };
}

/** What the parent asks python3 before it times anything. */
export interface TorchProbe {
  torch: string;
  cuda: boolean;
  cudaVersion: string | null;
  device: string | null;
}
