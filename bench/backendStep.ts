// Times one training step on one TF.js backend in a process of its own, for bench/backends.ts: a backend's
// memory and threads cannot then sway another's times, nor can one that crashes take the bench with it.
// Run: node --import tsx bench/backendStep.ts --backend wasm --step encoder --warmup 1 --min-timed 3
// --max-timed 8 --timed-seconds 8 [--kernel-profile] [--all]: after the warm-up, timed steps run until both
// the minimum count and the seconds are reached, or the maximum count is. Prints one JSON line (a
// StepOutcome) as the last line of its stdout.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type SelectedBackend, selectBackend } from '../src/engine/backends/selectBackend';
import { tf } from '../src/engine/tf';
import { type BackendName, backendNames } from '../src/shared/protocol/backend';
import { type StepKind, type StepMeasurement, type StepOutcome, stepKinds } from './stepBench';
import { buildStep, type ProfiledStep, profileStep } from './stepBuild';
import { kernelTotals, stepFlops } from './stepFlops';

const { values: flags } = parseArgs({
  options: {
    backend: { type: 'string' },
    step: { type: 'string' },
    warmup: { type: 'string' },
    'min-timed': { type: 'string' },
    'max-timed': { type: 'string' },
    'timed-seconds': { type: 'string' },
    'kernel-profile': { type: 'boolean', default: false },
    all: { type: 'boolean', default: false },
  },
});

function wholeNumber(flag: keyof typeof flags, minimum: number): number {
  const value = flags[flag];
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < minimum) {
    throw new Error(`--${flag} must be a whole number of at least ${minimum}, not ${value}`);
  }
  return parsed;
}

async function measure(backend: BackendName, kind: StepKind): Promise<StepOutcome> {
  const repoRoot = path.resolve(__dirname, '..');
  let selected: SelectedBackend;
  try {
    selected = await selectBackend({
      preference: backend,
      wasmDir: path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')),
      nativeModulePaths: [],
      synthpairVersion: JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version,
    });
  } catch (error) {
    return { status: 'unavailable', backend, step: kind, reason: (error as Error).message };
  }
  const { report } = selected;
  // A native package may bring its own copy of tfjs-core; the engine's models run on the engine's copy.
  if (tf.getBackend() !== report.tfjsBackend) {
    return {
      status: 'unavailable',
      backend,
      step: kind,
      reason: `selectBackend started '${report.tfjsBackend}', but the engine's tfjs-core runs '${tf.getBackend()}'`,
    };
  }
  if (report.webgpu?.software && !flags.all) {
    return {
      status: 'unavailable',
      backend,
      step: kind,
      reason: `only a software adapter (${report.webgpu.adapter}), which runs the GPU's work on the CPU: far too slow (--all times it)`,
    };
  }
  const warmup = wholeNumber('warmup', 1);
  const minTimed = wholeNumber('min-timed', 1);
  const maxTimed = Math.max(minTimed, wholeNumber('max-timed', 1));
  const timedSeconds = wholeNumber('timed-seconds', 0);
  const built = buildStep(kind);
  const parameters = built.variables.reduce((total, variable) => total + variable.size, 0);
  const checkLosses = (losses: Record<string, number>, step: number) => {
    const bad = Object.entries(losses).find(([, value]) => !Number.isFinite(value));
    if (bad) {
      throw new Error(`the ${kind} step's loss ${bad[0]} is ${bad[1]} at step ${step} on ${backend}`);
    }
  };
  let step = 0;
  // Without a kernel table to show, the first warm-up step is the profiled one: its FLOPs are those of any
  // step, and no extra step is paid for. The kernel table needs a step after warm-up, run apart from the
  // timed ones since recording each kernel slows the step.
  let profiled: ProfiledStep | undefined = flags['kernel-profile']
    ? undefined
    : await profileStep(built, step++);
  for (; step < warmup; step++) {
    checkLosses(await built.run(step), step);
  }
  const stepTimesMs: number[] = [];
  let losses: Record<string, number> = {};
  const timedStarted = performance.now();
  while (
    stepTimesMs.length < maxTimed &&
    (stepTimesMs.length < minTimed || performance.now() - timedStarted < timedSeconds * 1000)
  ) {
    const started = performance.now();
    losses = await built.run(step);
    stepTimesMs.push(performance.now() - started);
    checkLosses(losses, step++);
  }
  profiled ??= await profileStep(built, step);
  built.dispose();
  const attempt = report.attempts.find((entry) => entry.name === backend);
  const measurement: StepMeasurement = {
    status: 'ok',
    backend,
    step: kind,
    report: {
      selected: report.selected,
      tfjsBackend: report.tfjsBackend,
      reason: attempt?.reason ?? '',
      versions: report.versions,
      ...(report.wasm ? { wasm: report.wasm } : {}),
      ...(report.onednn ? { onednn: report.onednn } : {}),
      ...(report.webgpu ? { webgpu: report.webgpu } : {}),
    },
    parameters,
    warmup,
    stepTimesMs,
    losses,
    profile: {
      afterWarmup: flags['kernel-profile'] === true,
      stepMs: profiled.stepMs,
      flops: stepFlops(profiled.calls),
      kernels: kernelTotals(profiled.calls),
    },
    maxRssKiB: process.resourceUsage().maxRSS,
  };
  return measurement;
}

async function main(): Promise<void> {
  const backend = backendNames.find((name) => name === flags.backend);
  const kind = stepKinds.find((name) => name === flags.step);
  if (!backend || !kind) {
    throw new Error(`usage: --backend <${backendNames.join('|')}> --step <${stepKinds.join('|')}>`);
  }
  const outcome = await measure(backend, kind);
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
