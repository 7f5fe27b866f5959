// The GPU check: which WebGPU adapter Dawn finds, one training step on webgpu against the cpu backend, and
// the bench's steps (bench/stepBench.ts) timed on webgpu beside the same steps in PyTorch on CUDA, all
// within a time budget. Each item runs in a child process (bench/gpu-check/children.ts, or
// bench/pytorch/ssl_step.py) that is given its share of the time left and ended when it overruns it, so
// that a slow or hung step costs its share and the items after it still run. Writes one JSON file and
// prints a table. bench/gpu-check.sh runs it from the prepared bundle; docs/performance.md says how.
import { type SpawnSyncOptions, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { failureReason, formatNumber, lastLine, median, percentile, printTable } from '../report';
import { pytorchStepArgs, type StepKind, stepConfig, stepKinds } from '../stepBench';
import type {
  AdapterOutcome,
  AdapterProbe,
  ParityChildOutcome,
  PytorchStep,
  TorchProbe,
  WebGpuStepMeasurement,
  WebGpuStepOutcome,
} from './protocol';

const usage = `usage: gpu-check [options]
  --allow-software        time a software adapter (SwiftShader, llvmpipe) too: for dry runs without a GPU
  --budget SECONDS        the whole check's time, counted from --started-at (default 330)
  --started-at EPOCH_MS   when the check began (bench/gpu-check.sh passes its own start)
  --steps LIST            comma-separated, of ${stepKinds.join(', ')} (default all)
  --parity-case NAME      the step compared with the cpu backend (default 'full method step'; 'none' skips)
  --quick                 one step after the first, no further warm-up, no FLOP count: for dry runs
  --pytorch-device DEVICE cuda (default), cuda:N, cpu, or none to skip PyTorch
  --python PATH           the Python with torch (default $GPU_CHECK_PYTHON or python3)
  --out FILE              the JSON file (default $OUT/gpu-check.json when OUT is set, else
                          bench/results/gpu-check.json)
  --repo DIR              the repository, for bench/pytorch/ssl_step.py (default: beside this file)
  --manifest FILE         the prepared bundle's manifest.json, copied into the JSON`;

/** What is left at the end for the table and the JSON file. */
const closingReserveMs = 5_000;
/**
 * How long a child may overrun its share before it is ended, the budget's end permitting: it stops its own
 * timing at its share.
 */
const overrunGraceMs = 10_000;
/** Below these a child is not started: the time would not buy one measured step. */
const minimumShareMs = { webgpu: 15_000, pytorch: 10_000, parity: 15_000 };
const probeTimeoutMs = 60_000;

/**
 * Each item's claim on the time left, in proportion: the paper-size step costs about 50 encoder steps'
 * FLOPs, the full step about three, and a PyTorch item is mostly starting Python and CUDA.
 */
const weights: Record<'webgpu' | 'pytorch', Record<StepKind, number>> = {
  webgpu: { encoder: 2, decoder: 1.5, full: 3, 'resnet50-224': 6 },
  pytorch: { encoder: 1, decoder: 1, full: 1, 'resnet50-224': 1.5 },
};
const parityWeight = 2;

interface WebGpuPlan {
  warmup: number;
  minTimed: number;
  maxTimed: number;
  timedSeconds: number;
  flops: boolean;
}

function webgpuPlan(step: StepKind, quick: boolean): WebGpuPlan {
  if (quick) {
    return { warmup: 0, minTimed: 1, maxTimed: 1, timedSeconds: 0, flops: false };
  }
  return step === 'resnet50-224'
    ? { warmup: 1, minTimed: 3, maxTimed: 20, timedSeconds: 12, flops: true }
    : { warmup: 2, minTimed: 5, maxTimed: 50, timedSeconds: 8, flops: true };
}

function pytorchPlan(step: StepKind, quick: boolean): { warmup: number; timed: number } {
  if (quick) {
    return { warmup: 1, timed: 1 };
  }
  return step === 'resnet50-224' ? { warmup: 3, timed: 10 } : { warmup: 3, timed: 20 };
}

interface Skipped {
  item: string;
  reason: string;
}

interface Row {
  step: StepKind;
  side: string;
  /** From the process's start to its first step: runtime, device, models. */
  startMs?: number;
  firstStepMs: number;
  /** Median of the untimed steps after the first. */
  warmupMs?: number;
  medianMs?: number;
  p90Ms?: number;
  timedSteps: number;
  imagesPerSecond?: number;
  gflopsPerSecond?: number;
  /** webgpu's images/s over PyTorch's. */
  ratioToPytorch?: number;
  maxRssKiB: number;
  note?: string;
}

type ChildResult =
  | { status: 'ok'; line: unknown; wallMs: number; stderr: string }
  /** `line`: the last whole line it wrote before it was ended, if any. */
  | { status: 'overran'; line?: unknown; wallMs: number; stderr: string }
  | { status: 'failed'; reason: string; wallMs: number; stderr: string };

/** The last JSON line a process ended mid-write finished: the text after the last newline is cut off. */
function lastWholeLine(stdout: string): unknown {
  for (const line of stdout.split('\n').slice(0, -1).reverse()) {
    try {
      return JSON.parse(line);
    } catch {}
  }
  return undefined;
}

/** Runs a child to its end or its time limit; its standard error is kept for the log. */
function runChild(
  command: string,
  args: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): ChildResult {
  const started = Date.now();
  const options: SpawnSyncOptions = {
    encoding: 'utf8',
    timeout: Math.max(1, Math.round(timeoutMs)),
    // A process stuck in a driver call may not answer SIGTERM.
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
    env,
  };
  const run = spawnSync(command, args, options);
  const wallMs = Date.now() - started;
  const stderr = String(run.stderr ?? '');
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
    return { status: 'overran', line: lastWholeLine(String(run.stdout ?? '')), wallMs, stderr };
  }
  if (run.signal === 'SIGKILL') {
    // Not this check's kill, which ETIMEDOUT marks: the kernel's, when memory ran out.
    return { status: 'failed', reason: 'killed by SIGKILL, most likely out of memory', wallMs, stderr };
  }
  if (run.status !== 0) {
    return { status: 'failed', reason: failureReason(run), wallMs, stderr };
  }
  try {
    return { status: 'ok', line: JSON.parse(lastLine(String(run.stdout))), wallMs, stderr };
  } catch {
    return {
      status: 'failed',
      reason: `no JSON line on its stdout: ${lastLine(String(run.stdout))}`,
      wallMs,
      stderr,
    };
  }
}

/** A child's standard error, indented, its last lines only: Dawn and the driver say there what failed. */
function echoStderr(stderr: string): void {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const shown = 30;
  if (lines.length > shown) {
    console.log(`    | … ${lines.length - shown} lines of standard error before these`);
  }
  for (const line of lines.slice(-shown)) {
    console.log(`    | ${line}`);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function describeProbe(probe: AdapterProbe): string {
  const name = probe.description || probe.device || 'no description';
  return (
    `${name} (vendor '${probe.vendor}', architecture '${probe.architecture}', device '${probe.device}'), ` +
    `fallback adapter: ${probe.isFallbackAdapter ? 'yes' : 'no'}, ` +
    (probe.softwareEvidence ? `SOFTWARE: ${probe.softwareEvidence}` : 'hardware')
  );
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

const torchProbeScript = `
import json, torch
cuda = torch.cuda.is_available()
print(json.dumps({"torch": torch.__version__, "cuda": cuda, "cudaVersion": torch.version.cuda,
                  "device": torch.cuda.get_device_name(0) if cuda else None}))
`;

/** The table, with what its columns mean and the notes of steps the budget cut short. */
function printStepTable(
  rows: readonly Row[],
  measured: [StepKind, WebGpuStepMeasurement][],
  device: PytorchStep['device'] | undefined,
): void {
  printTable(
    [
      'step',
      'side',
      'start s',
      'first step ms',
      'warm-up ms',
      'ms/step',
      'p90 ms',
      'steps',
      'images/s',
      'GFLOP/s',
      'vs PyTorch',
      'peak RSS MiB',
    ],
    rows.map((row) => [
      row.step,
      row.side,
      formatNumber(row.startMs === undefined ? undefined : row.startMs / 1000, 1),
      formatNumber(row.firstStepMs, 0),
      formatNumber(row.warmupMs, 1),
      formatNumber(row.medianMs, 1),
      formatNumber(row.p90Ms, 1),
      `${row.timedSteps}`,
      formatNumber(row.imagesPerSecond, 1),
      formatNumber(row.gflopsPerSecond, 0),
      row.ratioToPytorch === undefined ? '—' : row.ratioToPytorch.toPrecision(2),
      (row.maxRssKiB / 1024).toFixed(0),
    ]),
    2,
  );
  const flopsPerStep = measured.flatMap(([step, m]) =>
    m.flops ? [`${step} ${(m.flops.total / 1e9).toFixed(1)}`] : [],
  );
  console.log(
    'start s: from the process start to its first step (the runtime, the device, the models). first step: ' +
      'the first training step, every shader compiled and every pipeline made on webgpu (the NVIDIA ' +
      "driver's shader disk cache off unless __GL_SHADER_DISK_CACHE is set), cuDNN's first choices and lazy " +
      'kernel loading in PyTorch. warm-up: median of the further untimed steps. ms/step: median of the timed ' +
      'steps ("steps"), p90 the nearest rank. images/s = batch / median (batch 64, resnet50-224 32). GFLOP/s: ' +
      `the FLOPs of the convolutions and matrix products TF.js ran in one webgpu step (GFLOP per step: ` +
      `${flopsPerStep.join(', ') || 'not counted'}), PyTorch credited with the same. vs PyTorch: webgpu's images/s ` +
      "over PyTorch's. Both sides in float32" +
      (device?.type === 'cuda'
        ? `, except where PyTorch allows TF32 (convolutions: ${device.cudnnAllowTf32}, matrix products: ${device.matmulAllowTf32})`
        : '') +
      '.',
  );
  for (const row of rows.filter((row) => row.note)) {
    console.log(`${row.step} on ${row.side}: ${row.note}`);
  }
}

export async function runCheck(args: string[]): Promise<number> {
  const { values: flags } = parseArgs({
    args,
    options: {
      'allow-software': { type: 'boolean', default: false },
      budget: { type: 'string', default: '330' },
      'started-at': { type: 'string' },
      steps: { type: 'string', default: stepKinds.join(',') },
      'parity-case': { type: 'string', default: 'full method step' },
      quick: { type: 'boolean', default: false },
      'pytorch-device': { type: 'string', default: 'cuda' },
      python: { type: 'string', default: process.env.GPU_CHECK_PYTHON || 'python3' },
      out: { type: 'string' },
      repo: { type: 'string', default: path.resolve(__dirname, '..', '..') },
      manifest: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (flags.help) {
    console.log(usage);
    return 0;
  }
  const budgetSeconds = Number(flags.budget);
  const startedAt = flags['started-at'] ? Number(flags['started-at']) : Date.now();
  const steps = flags.steps.split(',').filter(Boolean);
  const unknownSteps = steps.filter((step) => !stepKinds.includes(step as StepKind));
  if (!(budgetSeconds > 0) || !Number.isFinite(startedAt) || unknownSteps.length > 0) {
    console.error(usage);
    throw new Error(
      unknownSteps.length > 0 ? `unknown steps: ${unknownSteps.join(', ')}` : 'bad --budget or --started-at',
    );
  }
  const kinds = stepKinds.filter((kind) => steps.includes(kind));
  const allowSoftware = flags['allow-software'] === true;
  const quick = flags.quick === true;
  const parityCase = flags['parity-case'] === 'none' ? undefined : flags['parity-case'];
  const pytorchDevice = flags['pytorch-device'] === 'none' ? undefined : flags['pytorch-device'];
  const python = flags.python;
  const pytorchScript = path.join(flags.repo, 'bench', 'pytorch', 'ssl_step.py');
  const outFile = path.resolve(
    flags.out ??
      (process.env.OUT
        ? path.join(process.env.OUT, 'gpu-check.json')
        : path.join(flags.repo, 'bench', 'results', 'gpu-check.json')),
  );
  const deadline = startedAt + budgetSeconds * 1000;
  const left = () => deadline - Date.now();
  const entry = process.argv[1]!;
  const childArgs = (...rest: string[]) => [...process.execArgv, entry, ...rest];
  // NVIDIA's driver keeps compiled shaders on disk between processes; without it each child's first step
  // pays the whole compilation, as a first training run on a machine does.
  const webgpuEnv = { ...process.env, __GL_SHADER_DISK_CACHE: process.env.__GL_SHADER_DISK_CACHE ?? '0' };
  const threads = os.availableParallelism();
  const skipped: Skipped[] = [];
  let failed = false;
  const skip = (item: string, reason: string) => {
    skipped.push({ item, reason });
    console.log(`${item}: skipped: ${reason}`);
  };
  const manifest: unknown = flags.manifest ? JSON.parse(readFileSync(flags.manifest, 'utf8')) : null;

  console.log(
    `GPU check: node ${process.versions.node}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ` +
      `budget ${budgetSeconds} s of which ${seconds(Date.now() - startedAt)} spent before this process` +
      `${quick ? '; --quick' : ''}${allowSoftware ? '; --allow-software' : ''}`,
  );
  console.log(
    `  VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? '(unset)'}\n  LD_LIBRARY_PATH=${process.env.LD_LIBRARY_PATH ?? '(unset)'}`,
  );

  const adapterRun = runChild(process.execPath, childArgs('adapter'), probeTimeoutMs, webgpuEnv);
  let adapter: AdapterOutcome;
  if (adapterRun.status === 'ok') {
    adapter = adapterRun.line as AdapterOutcome;
  } else {
    adapter = {
      status: 'none',
      reason: adapterRun.status === 'failed' ? adapterRun.reason : `no answer in ${seconds(probeTimeoutMs)}`,
    };
  }
  let webgpuRefusal: string | undefined;
  if (adapter.status === 'found') {
    console.log(`\nadapter: ${describeProbe(adapter)}\n  ${adapter.dawn}`);
    console.log(
      `  limits: ${Object.entries(adapter.limits)
        .map(
          ([name, value]) => `${name} ${/Size$/.test(name) && value >= 2 ** 20 ? formatBytes(value) : value}`,
        )
        .join(', ')}`,
    );
    console.log(`  features: ${adapter.features.join(', ')}`);
    if (adapter.softwareEvidence && !allowSoftware) {
      webgpuRefusal =
        `the adapter is a software one (${adapter.softwareEvidence}), which would time the CPU, not a GPU: ` +
        '--allow-software times it anyway';
    }
  } else {
    console.log(`\nadapter: none: ${adapter.reason}`);
    webgpuRefusal = `no WebGPU adapter (${adapter.reason})`;
  }
  if (adapterRun.stderr.trim()) {
    echoStderr(adapterRun.stderr);
  }
  if (webgpuRefusal) {
    failed = true;
    console.log(`webgpu: nothing is timed on it: ${webgpuRefusal}`);
  }

  // PyTorch, before the budget is shared out, so that its items claim time only when they can run.
  let torch: TorchProbe | { failed: string } | undefined;
  let pytorchRefusal: string | undefined;
  if (!pytorchDevice) {
    pytorchRefusal = '--pytorch-device none';
  } else if (!existsSync(pytorchScript)) {
    pytorchRefusal = `${pytorchScript} not found (--repo)`;
  } else {
    const probe = runChild(python, ['-c', torchProbeScript], probeTimeoutMs);
    torch =
      probe.status === 'ok'
        ? (probe.line as TorchProbe)
        : { failed: probe.status === 'failed' ? probe.reason : `no answer in ${seconds(probeTimeoutMs)}` };
    if ('failed' in torch) {
      pytorchRefusal = `${python} could not import torch: ${torch.failed}`;
    } else if (pytorchDevice.startsWith('cuda') && !torch.cuda) {
      pytorchRefusal = `torch ${torch.torch} in ${python} sees no CUDA device (torch.cuda.is_available() is False)`;
    }
    if (!('failed' in torch)) {
      console.log(
        `\nPyTorch: torch ${torch.torch} in ${python}, CUDA ${torch.cuda ? `${torch.cudaVersion} on ${torch.device}` : 'not available'}; ` +
          `steps on ${pytorchDevice}`,
      );
    }
  }
  if (pytorchRefusal) {
    console.log(`\nPyTorch: not run: ${pytorchRefusal}`);
  }

  type Item = { kind: 'parity' } | { kind: 'webgpu'; step: StepKind } | { kind: 'pytorch'; step: StepKind };
  const items: Item[] = [
    ...(parityCase && !webgpuRefusal ? [{ kind: 'parity' as const }] : []),
    ...kinds.flatMap((step): Item[] => [
      ...(webgpuRefusal ? [] : [{ kind: 'webgpu' as const, step }]),
      ...(pytorchRefusal ? [] : [{ kind: 'pytorch' as const, step }]),
    ]),
  ];
  const weightOf = (item: Item) => (item.kind === 'parity' ? parityWeight : weights[item.kind][item.step]);
  /** This item's share of the time left, in proportion to its weight among the items still to run. */
  const shareOf = (index: number) => {
    const remaining = items.slice(index).reduce((total, item) => total + weightOf(item), 0);
    return (Math.max(0, left() - closingReserveMs) * weightOf(items[index]!)) / remaining;
  };

  let parity: ParityChildOutcome | { status: 'failed' | 'overran'; reason: string } | undefined;
  const webgpuSteps = new Map<StepKind, WebGpuStepMeasurement>();
  const pytorchSteps = new Map<StepKind, PytorchStep & { wallMs: number }>();

  /**
   * A step that overran its share sets a floor under what the steps after it on the same side cost, in
   * proportion to their weights: one that would surely overrun too is skipped rather than started.
   */
  const overrun: Partial<Record<'webgpu' | 'pytorch', { name: string; msPerWeight: number }>> = {};
  const noteOverrun = (side: 'webgpu' | 'pytorch', name: string, msPerWeight: number) => {
    if (msPerWeight > (overrun[side]?.msPerWeight ?? 0)) overrun[side] = { name, msPerWeight };
  };
  for (const [index, item] of items.entries()) {
    const share = shareOf(index);
    const name = item.kind === 'parity' ? `parity (${parityCase})` : `${item.step} on ${item.kind}`;
    if (share < minimumShareMs[item.kind]) {
      skip(
        name,
        `${seconds(share)} of the budget would be left for it, under the ${seconds(minimumShareMs[item.kind])} ` +
          `it needs at least (--budget ${budgetSeconds})`,
      );
      continue;
    }
    const floor = item.kind === 'parity' ? undefined : overrun[item.kind];
    if (floor && floor.msPerWeight * weightOf(item) > share) {
      skip(
        name,
        `${floor.name} overran its share, so this step would need over ` +
          `${seconds(floor.msPerWeight * weightOf(item))}, more than the ${seconds(share)} left for it`,
      );
      continue;
    }
    console.log(`\n${name}: up to ${seconds(share)} of the ${seconds(left())} left`);
    const limit = Math.min(share + overrunGraceMs, left());
    const overran = (wallMs: number) =>
      `it had not finished after ${seconds(wallMs)}, its share of the budget and up to ` +
      `${seconds(overrunGraceMs)} more, and was ended`;

    if (item.kind === 'parity') {
      const run = runChild(
        process.execPath,
        childArgs('parity', parityCase!, ...(allowSoftware ? ['--allow-software'] : [])),
        limit,
        webgpuEnv,
      );
      echoStderr(run.stderr);
      if (run.status === 'ok') {
        parity = run.line as ParityChildOutcome;
      } else {
        parity = { status: run.status, reason: run.status === 'failed' ? run.reason : overran(run.wallMs) };
      }
      if (parity.status === 'ok') {
        const { comparison, problems, margins } = parity;
        console.log(
          `  ${problems.length === 0 ? 'matches' : 'DIFFERS FROM'} the cpu backend on ${parity.adapter}: losses ` +
            `within ${margins.loss.toExponential(1)} (relative), ${comparison.gradients.length} gradients within ` +
            `${margins.gradient.toExponential(1)} of their scale (tolerance ${parity.tolerance}), both sides ` +
            `in ${seconds(parity.ms)}`,
        );
        for (const problem of problems) {
          console.log(`  ${problem}`);
        }
        failed ||= problems.length > 0;
      } else {
        failed = true;
        console.log(`  not checked: ${parity.reason}`);
      }
      continue;
    }

    if (item.kind === 'webgpu') {
      const plan = webgpuPlan(item.step, quick);
      const run = runChild(
        process.execPath,
        childArgs(
          'step',
          ...['--step', item.step, '--warmup', `${plan.warmup}`, '--min-timed', `${plan.minTimed}`],
          ...['--max-timed', `${plan.maxTimed}`, '--timed-seconds', `${plan.timedSeconds}`],
          ...['--deadline', `${Date.now() + share}`],
          ...(plan.flops ? ['--flops'] : []),
          ...(allowSoftware ? ['--allow-software'] : []),
        ),
        limit,
        webgpuEnv,
      );
      echoStderr(run.stderr);
      if (run.status === 'failed') {
        failed = true;
        skip(name, `failed after ${seconds(run.wallMs)}: ${run.reason}`);
        continue;
      }
      // The child writes what it has measured after every step, so one ended at its share still tells it.
      const outcome = run.line as WebGpuStepOutcome | undefined;
      if (!outcome) {
        noteOverrun('webgpu', name, share / weightOf(item));
        skip(name, `${overran(run.wallMs)} before its first step ended`);
        continue;
      }
      if (run.status === 'overran' && outcome.status === 'ok') {
        outcome.cutShort = `${overran(run.wallMs)}; what it had measured is kept`;
      }
      if (outcome.status !== 'ok') {
        failed = true;
        skip(name, outcome.reason);
        continue;
      }
      webgpuSteps.set(item.step, outcome);
      console.log(
        `  first step after ${seconds(outcome.firstStepAtMs)} (backend ${seconds(outcome.backendStartMs)}, ` +
          `models ${seconds(outcome.buildMs)}): ` +
          `${outcome.firstStepMs.toFixed(0)} ms; then ${outcome.warmupTimesMs.length} warm-up and ` +
          `${outcome.stepTimesMs.length} timed` +
          (outcome.stepTimesMs.length > 0 ? `, median ${median(outcome.stepTimesMs).toFixed(1)} ms` : '') +
          (outcome.cutShort ? ` (${outcome.cutShort})` : '') +
          `; ${seconds(run.wallMs)} in all`,
      );
      continue;
    }

    const plan = pytorchPlan(item.step, quick);
    const run = runChild(
      python,
      [
        pytorchScript,
        ...pytorchStepArgs(item.step),
        ...['--steps', `${plan.timed}`, '--warmup', `${plan.warmup}`, '--threads', `${threads}`],
        ...['--device', pytorchDevice!],
      ],
      limit,
    );
    if (run.status !== 'ok') {
      echoStderr(run.stderr);
      if (run.status === 'failed') {
        failed = true;
        skip(name, `failed after ${seconds(run.wallMs)}: ${run.reason}`);
      } else {
        noteOverrun('pytorch', name, share / weightOf(item));
        skip(name, overran(run.wallMs));
      }
      continue;
    }
    const result = run.line as PytorchStep;
    pytorchSteps.set(item.step, { ...result, wallMs: run.wallMs });
    console.log(
      `  first step ${result.warmupTimesMs[0]?.toFixed(0) ?? '—'} ms; then ${result.warmupTimesMs.length - 1} ` +
        `warm-up and ${result.stepTimesMs.length} timed, median ${result.stepMillis.toFixed(1)} ms; ` +
        `${seconds(run.wallMs)} in all`,
    );
  }

  // Budget cuts are no failure, but a check that timed nothing on an adapter it could use has told nothing.
  if (items.some((item) => item.kind === 'webgpu') && webgpuSteps.size === 0) {
    failed = true;
    console.log('\nwebgpu: no step was measured within the budget');
  }

  const rows = kinds.flatMap((step): Row[] => {
    const batch = stepConfig(step).train.batchSize;
    const gpu = webgpuSteps.get(step);
    const reference = pytorchSteps.get(step);
    const flops = gpu?.flops?.total;
    const rates = (
      times: number[],
    ): Pick<Row, 'medianMs' | 'p90Ms' | 'imagesPerSecond' | 'gflopsPerSecond'> => {
      if (times.length === 0) return {};
      const medianMs = median(times);
      return {
        medianMs,
        p90Ms: percentile(times, 0.9),
        imagesPerSecond: (batch * 1000) / medianMs,
        ...(flops ? { gflopsPerSecond: flops / medianMs / 1e6 } : {}),
      };
    };
    const result: Row[] = [];
    if (gpu) {
      const gpuRates = rates(gpu.stepTimesMs);
      result.push({
        step,
        side: 'webgpu',
        startMs: gpu.firstStepAtMs,
        firstStepMs: gpu.firstStepMs,
        ...(gpu.warmupTimesMs.length > 0 ? { warmupMs: median(gpu.warmupTimesMs) } : {}),
        ...gpuRates,
        timedSteps: gpu.stepTimesMs.length,
        ...(reference && gpuRates.imagesPerSecond
          ? { ratioToPytorch: gpuRates.imagesPerSecond / reference.imagesPerSecond }
          : {}),
        maxRssKiB: gpu.maxRssKiB,
        ...(gpu.cutShort ? { note: gpu.cutShort } : {}),
      });
    }
    if (reference) {
      const [first, ...warmups] = reference.warmupTimesMs;
      const stepsMs = [...reference.warmupTimesMs, ...reference.stepTimesMs].reduce((a, b) => a + b, 0);
      result.push({
        step,
        side: `pytorch ${reference.device.type === 'cuda' ? 'cuda' : reference.device.type}`,
        // Python, torch's import, the device's context and the model, from outside: the script does not time it.
        startMs: reference.wallMs - stepsMs,
        firstStepMs: first ?? Number.NaN,
        ...(warmups.length > 0 ? { warmupMs: median(warmups) } : {}),
        ...rates(reference.stepTimesMs),
        timedSteps: reference.stepTimesMs.length,
        maxRssKiB: reference.maxRssKiB,
      });
    }
    return result;
  });

  console.log('');
  if (rows.length === 0) {
    console.log('no step was timed');
  } else {
    printStepTable(rows, [...webgpuSteps], [...pytorchSteps.values()][0]?.device);
  }
  for (const entry of skipped) {
    console.log(`skipped: ${entry.item}: ${entry.reason}`);
  }

  const elapsedMs = Date.now() - startedAt;
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        tool: 'synthpair bench/gpu-check',
        ok: !failed,
        startedAt: new Date(startedAt).toISOString(),
        elapsedSeconds: elapsedMs / 1000,
        budgetSeconds,
        options: {
          allowSoftware,
          quick,
          steps: kinds,
          parityCase: parityCase ?? null,
          pytorchDevice: pytorchDevice ?? null,
        },
        prepared: manifest,
        environment: {
          node: process.versions.node,
          platform: `${os.type()} ${os.release()} ${os.arch()}`,
          cpus: os.cpus().length,
          cpuModel: os.cpus()[0]?.model,
          VK_DRIVER_FILES: process.env.VK_DRIVER_FILES ?? null,
          LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH ?? null,
        },
        adapter,
        webgpuRefusal: webgpuRefusal ?? null,
        torch: torch ?? null,
        pytorchRefusal: pytorchRefusal ?? null,
        parity: parity ?? null,
        plans: Object.fromEntries(
          kinds.map((step) => [step, { webgpu: webgpuPlan(step, quick), pytorch: pytorchPlan(step, quick) }]),
        ),
        rows,
        webgpu: [...webgpuSteps.values()],
        pytorch: [...pytorchSteps.values()],
        skipped,
      },
      null,
      2,
    )}\n`,
  );
  console.log(
    `\ngpu check ${failed ? 'FAILED' : 'done'}: ${seconds(elapsedMs)} of the ${budgetSeconds} s budget; ` +
      `results in ${outFile}`,
  );
  return failed ? 1 : 0;
}
