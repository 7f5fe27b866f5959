import * as z from 'zod/mini';
import './zodLocale';

/** SynthPair's names for the TF.js backends, in the order the worker tries them. */
export const backendNames = ['node-gpu', 'webgpu', 'onednn', 'node', 'wasm', 'cpu'] as const;
export const backendName = z.enum(backendNames);
export type BackendName = z.infer<typeof backendName>;

export const backendPreference = z.enum(['auto', ...backendNames]);
export type BackendPreference = z.infer<typeof backendPreference>;

export const backendAttempt = z.object({
  name: backendName,
  outcome: z.enum(['selected', 'not-installed', 'failed', 'unusable', 'not-tried']),
  /** Why the backend was skipped or chosen, in words a user can act on. */
  reason: z.string(),
  /** Milliseconds spent loading and initialising it. */
  millis: z.optional(z.number().check(z.nonnegative())),
});
export type BackendAttempt = z.infer<typeof backendAttempt>;

export const backendReport = z.object({
  selected: backendName,
  /** The backend name TF.js itself reports (`tensorflow`, `wasm`, `cpu`). */
  tfjsBackend: z.string(),
  preference: backendPreference,
  attempts: z.array(backendAttempt),
  wasm: z.optional(
    z.object({
      simd: z.boolean(),
      threads: z.boolean(),
      threadCount: z.int().check(z.positive()),
      /** Kernels SynthPair registers because stock tfjs-backend-wasm lacks or slows training. */
      trainingKernels: z.array(z.string()),
    }),
  ),
  onednn: z.optional(
    z.object({
      /** oneDNN's own version string, e.g. `2.6.3 (cpu_runtime: OMP, isa: AVX-512 with ...)`. */
      library: z.string(),
      /** Where that libdnnl was loaded from: beside the addon in a packaged extension, else the system's. */
      libraryFile: z.optional(z.string()),
      threads: z.int().check(z.positive()),
      /** TF.js kernels the addon runs natively; every other kernel runs the cpu backend's JavaScript. */
      nativeKernels: z.array(z.string()),
    }),
  ),
  webgpu: z.optional(
    z.object({
      /** Vendor, architecture and description as the adapter reports them. */
      adapter: z.string(),
      /** Whether it is a software (CPU) adapter, used only when the backend is forced to webgpu. */
      software: z.boolean(),
    }),
  ),
  versions: z.object({
    tfjs: z.string(),
    node: z.string(),
    synthpair: z.string(),
  }),
  platform: z.object({
    os: z.string(),
    arch: z.string(),
    cpus: z.int().check(z.nonnegative()),
    cpuModel: z.string(),
  }),
  /** Milliseconds from worker start until the backend was ready. */
  startupMillis: z.number().check(z.nonnegative()),
});
export type BackendReport = z.infer<typeof backendReport>;
