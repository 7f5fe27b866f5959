// The GPU check's children, each a process of its own started by bench/gpu-check/orchestrate.ts: a crash
// or a hung driver then costs one item of the check, and each step's first run compiles its shaders from
// nothing, so the time it takes is what a fresh training run pays. Each prints one JSON line and exits.
//
//   adapter                        what Dawn finds (AdapterOutcome)
//   parity <case> [--allow-software]
//                                  one step of a test/support/webgpuParity.ts case on cpu and webgpu
//   step --step <kind> --warmup N --min-timed N --max-timed N --timed-seconds S --deadline <epoch ms>
//        [--flops] [--allow-software]
//                                  times one of bench/stepBench.ts's steps on webgpu
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type AdapterInfoFacts,
  noAdapterAdvice,
  softwareAdapterEvidence,
  vulkanLoaderInstalled,
} from '../../src/engine/backends/webgpu/adapters';
import { tryWebGpu } from '../../src/engine/backends/webgpu/webgpuBackend';
import {
  compareCase,
  parityCases,
  parityMargins,
  parityProblems,
  parityTolerance,
} from '../../test/support/webgpuParity';
import { stepKinds } from '../stepBench';
import { buildStep, profileStep } from '../stepBuild';
import { stepFlops } from '../stepFlops';
import type {
  AdapterOutcome,
  ParityChildOutcome,
  WebGpuStepMeasurement,
  WebGpuStepOutcome,
} from './protocol';

/** The limits the webgpu backend raises its device to (webgpuBackend.ts's deviceDescriptor), and one more. */
const reportedLimits = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * Dawn's package as the engine finds it, beside the code (webgpuBackend.ts's loadDawn, which is not
 * exported): the prepared bundle carries it in its own node_modules.
 */
async function loadDawn(): Promise<{ create(flags: string[]): GPU; entry: string; version: string }> {
  const entry = createRequire(path.join(__dirname, 'package.json')).resolve('webgpu');
  const { version } = JSON.parse(readFileSync(path.join(path.dirname(entry), 'package.json'), 'utf8'));
  const dawn = (await import(pathToFileURL(entry).href)) as { create(flags: string[]): GPU };
  return { create: dawn.create, entry, version };
}

async function probeAdapter(): Promise<AdapterOutcome> {
  let dawn: Awaited<ReturnType<typeof loadDawn>>;
  try {
    dawn = await loadDawn();
  } catch (error) {
    return { status: 'none', reason: `the webgpu package did not load: ${(error as Error).message}` };
  }
  const gpu = dawn.create([]);
  // As tryWebGpuOn asks: a hardware adapter first, a software one only when there is none.
  const adapter = ((await gpu.requestAdapter({ powerPreference: 'high-performance' })) ??
    (await gpu.requestAdapter({ forceFallbackAdapter: true }))) as
    | (GPUAdapter & { info: GPUAdapterInfo & AdapterInfoFacts })
    | null;
  if (!adapter) {
    const loader = process.platform === 'linux' ? vulkanLoaderInstalled() : undefined;
    return {
      status: 'none',
      reason: `Dawn found no WebGPU adapter: ${noAdapterAdvice(process.platform, loader)}`,
    };
  }
  const { info } = adapter;
  const softwareEvidence = softwareAdapterEvidence(adapter);
  const limits = adapter.limits as unknown as Record<string, number>;
  return {
    status: 'found',
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
    ...(softwareEvidence ? { softwareEvidence } : {}),
    limits: Object.fromEntries(reportedLimits.map((name) => [name, limits[name]!])),
    features: [...adapter.features].sort(),
    dawn: `webgpu ${dawn.version} (${path.dirname(dawn.entry)})`,
  };
}

async function parity(caseName: string | undefined, allowSoftware: boolean): Promise<ParityChildOutcome> {
  if (!caseName || !(caseName in parityCases)) {
    return {
      status: 'unavailable',
      reason: `no parity case '${caseName}'; the cases: ${Object.keys(parityCases).join(', ')}`,
    };
  }
  const attempt = await tryWebGpu({ forced: allowSoftware });
  if (attempt.outcome !== 'selected') {
    return { status: 'unavailable', reason: attempt.reason };
  }
  const started = performance.now();
  const comparison = await compareCase(caseName);
  return {
    status: 'ok',
    adapter: attempt.details?.webgpu?.adapter ?? '',
    comparison,
    problems: parityProblems(comparison),
    margins: parityMargins(comparison),
    tolerance: parityTolerance,
    ms: performance.now() - started,
  };
}

interface StepPlan {
  warmup: number;
  minTimed: number;
  maxTimed: number;
  timedSeconds: number;
  /** Epoch milliseconds by which the child must have answered; its parent ends it soon after. */
  deadline: number;
  flops: boolean;
}

/** What the process needs after its last step: disposing the models and writing its line. */
const closingMs = 2000;

async function timeStep(
  kind: (typeof stepKinds)[number],
  plan: StepPlan,
  allowSoftware: boolean,
): Promise<WebGpuStepOutcome> {
  const startedAt = performance.now();
  const attempt = await tryWebGpu({ forced: allowSoftware });
  if (attempt.outcome !== 'selected') {
    return { status: 'unavailable', step: kind, reason: attempt.reason };
  }
  const backendStartMs = performance.now() - startedAt;
  const buildStarted = performance.now();
  const built = buildStep(kind);
  const buildMs = performance.now() - buildStarted;
  const timeOne = async (step: number) => {
    const started = performance.now();
    const losses = await built.run(step);
    const bad = Object.entries(losses).find(([, value]) => !Number.isFinite(value));
    if (bad) {
      throw new Error(`the ${kind} step's loss ${bad[0]} is ${bad[1]} at step ${step} on webgpu`);
    }
    return { ms: performance.now() - started, losses };
  };
  /**
   * A step is begun only when one more like the last would end before the deadline. The first step's time is
   * mostly compiling shaders, which the next one does not do, so that one is begun whenever time is left: if
   * it overruns, the parent keeps what the child last wrote.
   */
  const fits = (lastMs: number, factor = 1.5) => Date.now() + factor * lastMs + closingMs < plan.deadline;

  let step = 0;
  // performance.now() counts from the process's start.
  const firstStepAtMs = performance.now();
  const first = await timeOne(step++);
  let last = first;
  const parameters = built.variables.reduce((total, variable) => total + variable.size, 0);
  const measurement: WebGpuStepMeasurement = {
    status: 'ok',
    step: kind,
    adapter: attempt.details?.webgpu?.adapter ?? '',
    firstStepAtMs,
    backendStartMs,
    buildMs,
    firstStepMs: first.ms,
    warmupTimesMs: [],
    stepTimesMs: [],
    losses: first.losses,
    parameters,
    maxRssKiB: process.resourceUsage().maxRSS,
  };
  const { warmupTimesMs, stepTimesMs } = measurement;
  const record = (losses: Record<string, number>) => {
    measurement.losses = losses;
    measurement.maxRssKiB = process.resourceUsage().maxRSS;
    writeLine(measurement);
  };
  record(first.losses);
  const nextFits = () => (step === 1 ? fits(0) : fits(last.ms));
  while (warmupTimesMs.length < plan.warmup && nextFits()) {
    last = await timeOne(step++);
    warmupTimesMs.push(last.ms);
    record(last.losses);
  }
  const timedStarted = performance.now();
  while (
    stepTimesMs.length < plan.maxTimed &&
    (stepTimesMs.length < plan.minTimed || performance.now() - timedStarted < plan.timedSeconds * 1000)
  ) {
    if (!nextFits()) {
      if (warmupTimesMs.length < plan.warmup || stepTimesMs.length < plan.minTimed) {
        measurement.cutShort =
          `the budget left time for ${warmupTimesMs.length} of ${plan.warmup} further warm-up and ` +
          `${stepTimesMs.length} of ${plan.minTimed} timed steps`;
      }
      break;
    }
    last = await timeOne(step++);
    stepTimesMs.push(last.ms);
    record(last.losses);
  }
  // Recording every kernel slows a step down, so the FLOPs come from a step apart from the timed ones.
  if (plan.flops && fits(last.ms, 3)) {
    measurement.flops = stepFlops((await profileStep(built, step)).calls);
  }
  built.dispose();
  return measurement;
}

function writeLine(outcome: unknown): void {
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

function count(value: string | undefined, flag: string): number {
  const parsed = Number(value);
  if (value === undefined || !Number.isFinite(parsed) || parsed < 0) {
    throw new Error(`--${flag} must be a number of at least 0, not ${value}`);
  }
  return parsed;
}

/** Runs the child named by args[0] and prints its line. */
export async function runChild(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      'allow-software': { type: 'boolean', default: false },
      step: { type: 'string' },
      warmup: { type: 'string' },
      'min-timed': { type: 'string' },
      'max-timed': { type: 'string' },
      'timed-seconds': { type: 'string' },
      deadline: { type: 'string' },
      flops: { type: 'boolean', default: false },
    },
  });
  const allowSoftware = values['allow-software'] === true;
  let outcome: unknown;
  if (command === 'adapter') {
    outcome = await probeAdapter();
  } else if (command === 'parity') {
    outcome = await parity(positionals[0], allowSoftware);
  } else {
    const kind = stepKinds.find((name) => name === values.step);
    if (!kind) {
      throw new Error(`--step must be one of ${stepKinds.join(', ')}, not ${values.step}`);
    }
    outcome = await timeStep(
      kind,
      {
        warmup: count(values.warmup, 'warmup'),
        minTimed: Math.max(1, count(values['min-timed'], 'min-timed')),
        maxTimed: Math.max(1, count(values['max-timed'], 'max-timed')),
        timedSeconds: count(values['timed-seconds'], 'timed-seconds'),
        deadline: count(values.deadline, 'deadline'),
        flops: values.flops === true,
      },
      allowSoftware,
    );
  }
  writeLine(outcome);
}
