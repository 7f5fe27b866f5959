// Times SynthPair's training steps on every TF.js backend selectBackend can start here, side by side with
// the same steps in PyTorch on the CPU (bench/pytorch/ssl_step.py): the encoder's SimCLR step, the decoder
// learning to reconstruct from the frozen encoder, the full step of the synthesized-pair method, and the
// encoder's step at the paper's size, ResNet-50 at 224 px and batch 32, with the peak memory it takes (see
// bench/stepBench.ts). Each (backend, step) runs in a process of its own (bench/backendStep.ts). FLOPs are
// counted from the kernels tf.profile() sees TF.js run, and the encoder step's kernel profile is set against
// the machine's sgemm peak as numpy measures it.
// Run: npx tsx bench/backends.ts [--quick] [--all]; --all also times the pure-JavaScript cpu backend and a
// software WebGPU adapter. Prints tables, writes bench/results/backends.json, and ends with the line
// `synthpair/pytorch images/s ratio: X.XX` for the encoder step on the best CPU backend.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type BackendName, backendNames } from '../src/shared/protocol/backend';
import { failureReason, formatNumber, lastLine, median, percentile, printTable } from './report';
import {
  benchConfig,
  learningRate,
  maskShare,
  pytorchStepArgs,
  type StepKind,
  type StepMeasurement,
  type StepOutcome,
  stepConfig,
  stepKinds,
} from './stepBench';
import { convolutionKernels, matMulKernels } from './stepFlops';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    all: { type: 'boolean', default: false },
  },
  // The bench runner hands every bench the same arguments; those meant for others are not errors here.
  strict: false,
});
const quick = flags.quick === true;
const all = flags.all === true;
const threads = os.availableParallelism();
/** Debian's python3-torch, as the other benches use it. */
const torchPython = '/usr/bin/python3';
/** Whichever python3 comes first on the PATH: its numpy's BLAS measures the sgemm peak. */
const numpyPython = 'python3';
const sgemmSize = 2048;
// After the warm-up, timed steps run until both the minimum count and the seconds are reached, or the maximum
// count is. --quick times the headline encoder step on three steps, the paper-size step on one (it costs
// about 27 encoder steps), the others on two.
function tfjsPlan(step: StepKind) {
  if (step === 'resnet50-224') {
    return quick
      ? { warmup: 1, minTimed: 1, maxTimed: 1, timedSeconds: 0 }
      : { warmup: 1, minTimed: 3, maxTimed: 10, timedSeconds: 120 };
  }
  return quick
    ? { warmup: 1, minTimed: step === 'encoder' ? 3 : 2, maxTimed: 5, timedSeconds: 5 }
    : { warmup: 2, minTimed: 5, maxTimed: 30, timedSeconds: 60 };
}
function pytorchPlan(step: StepKind) {
  if (step === 'resnet50-224') {
    return quick ? { warmup: 1, timed: 1 } : { warmup: 1, timed: 5 };
  }
  return quick ? { warmup: 2, timed: 5 } : { warmup: 5, timed: 30 };
}
/**
 * With --quick, a backend whose encoder step takes longer than this skips the other steps, so that the quick
 * run stays within minutes: a full step costs about four encoder steps (both views, the centre view and the
 * batch of synthesized images through the encoder, twice through the decoder), a backend's decoder step can
 * cost more than its encoder step where it lacks a kernel the decoder needs, and the paper-size step is 27
 * times the encoder step's FLOPs.
 */
const quickSlowEncoderStepMs = 2000;
function childTimeoutMs(step: StepKind): number {
  return (quick ? (step === 'resnet50-224' ? 10 : 4) : 30) * 60_000;
}
/** The headline backend: the first of these the encoder step ran on. */
const cpuBackendPreference: readonly BackendName[] = ['onednn', 'node', 'wasm'];
const kernelTableRows = 10;
/** A 1-minute load average above this before the bench starts means other processes share the cores. */
const busyLoadAverage = 1;
/**
 * PyTorch and the onednn backend run on OpenMP, whose threads by default spin while they wait for each other.
 * On cores shared with other processes a spinning thread holds its partner up: both were measured three to
 * four times slower at a load of five on two cores. So the children wait passively unless the caller chose
 * a policy (`OMP_WAIT_POLICY=ACTIVE` measures spinning).
 */
const ompWaitPolicy = process.env.OMP_WAIT_POLICY ?? 'PASSIVE';
const childEnv = { ...process.env, OMP_WAIT_POLICY: ompWaitPolicy };

interface PytorchResult {
  imagesPerSecond: number;
  stepMillis: number;
  stepTimesMs: number[];
  parameters: number;
  maxRssKiB: number;
  torch: string;
  threads: number;
  step: StepKind;
}

interface Sgemm {
  gflops: number;
  numpy: string;
  /** File names of the BLAS libraries the process had loaded. */
  blas: string[];
  threads: number;
}

interface Row {
  step: StepKind;
  backend: BackendName | 'pytorch';
  medianMs: number;
  p90Ms: number;
  timedSteps: number;
  imagesPerSecond: number;
  /** FLOPs of one step, from the TF.js kernels of the same step. */
  flops?: number;
  gflopsPerSecond?: number;
  ratioToPytorch?: number;
  maxRssKiB: number;
  parameters: number;
}

interface Skipped {
  backend: BackendName | 'pytorch';
  step?: StepKind;
  reason: string;
}

function runStep(backend: BackendName, step: StepKind): StepOutcome | { status: 'failed'; reason: string } {
  const plan = tfjsPlan(step);
  const args = [
    ...['--import', 'tsx', path.join(__dirname, 'backendStep.ts')],
    ...['--backend', backend, '--step', step, '--warmup', `${plan.warmup}`],
    ...['--min-timed', `${plan.minTimed}`, '--max-timed', `${plan.maxTimed}`],
    ...['--timed-seconds', `${plan.timedSeconds}`],
    ...(step === 'encoder' ? ['--kernel-profile'] : []),
    ...(all ? ['--all'] : []),
  ];
  const run = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    timeout: childTimeoutMs(step),
    maxBuffer: 64 * 1024 * 1024,
    env: childEnv,
  });
  if (run.status !== 0) {
    return { status: 'failed', reason: failureReason(run) };
  }
  return JSON.parse(lastLine(run.stdout)) as StepOutcome;
}

function runPytorch(step: StepKind): PytorchResult | { failed: string } {
  const script = path.join(__dirname, 'pytorch', 'ssl_step.py');
  const plan = pytorchPlan(step);
  const args = [
    script,
    ...pytorchStepArgs(step),
    ...['--steps', `${plan.timed}`, '--warmup', `${plan.warmup}`, '--threads', `${threads}`],
  ];
  const run = spawnSync(torchPython, args, {
    encoding: 'utf8',
    timeout: childTimeoutMs(step),
    env: childEnv,
  });
  if (run.status !== 0) {
    return { failed: `${torchPython} ${path.relative(process.cwd(), script)}: ${failureReason(run)}` };
  }
  return JSON.parse(lastLine(run.stdout)) as PytorchResult;
}

const sgemmScript = `
import json, os, time
import numpy as np
n = ${sgemmSize}
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
a @ b
best, runs, started = float("inf"), 0, time.perf_counter()
while runs < 2 or (runs < 5 and time.perf_counter() - started < 2):
    t = time.perf_counter()
    a @ b
    best, runs = min(best, time.perf_counter() - t), runs + 1
maps = "/proc/self/maps"
lines = open(maps).read().splitlines() if os.path.exists(maps) else []
blas = sorted({os.path.basename(l.split()[-1]) for l in lines if any(k in l.lower() for k in ("blas", "mkl", "blis"))})
print(json.dumps({"gflops": 2 * n**3 / best / 1e9, "numpy": np.__version__, "blas": blas}))
`;

/** The best of a few float32 2048² matrix products in numpy, on as many BLAS threads as PyTorch gets. */
function measureSgemm(): Sgemm | { failed: string } {
  const threadCount = `${threads}`;
  const run = spawnSync(numpyPython, ['-c', sgemmScript], {
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      OPENBLAS_NUM_THREADS: threadCount,
      OMP_NUM_THREADS: threadCount,
      MKL_NUM_THREADS: threadCount,
      BLIS_NUM_THREADS: threadCount,
    },
  });
  if (run.status !== 0) {
    return { failed: `${numpyPython} with numpy: ${failureReason(run)}` };
  }
  return { ...(JSON.parse(lastLine(run.stdout)) as Omit<Sgemm, 'threads'>), threads };
}

/** selectBackend's "No TF.js backend could be started (name: reason)" for a forced backend, as the reason. */
function unavailableReason(backend: BackendName, message: string): string {
  const forced = /^No TF\.js backend could be started \((.*)\)$/s.exec(message)?.[1];
  return forced?.startsWith(`${backend}: `) ? forced.slice(backend.length + 2) : message;
}

interface Measured {
  measurements: StepMeasurement[];
  skipped: Skipped[];
  failed: boolean;
}

/** Each backend's steps in turn; a backend that is not available here, or whose encoder step fails, is left. */
function measureBackends(): Measured {
  const measured: Measured = { measurements: [], skipped: [], failed: false };
  const skip = (entry: Skipped) => {
    measured.skipped.push(entry);
    console.log(`${entry.backend}${entry.step ? ` ${entry.step} step` : ''} skipped: ${entry.reason}`);
  };
  for (const backend of backendNames) {
    if (backend === 'cpu' && !all) {
      skip({ backend, reason: 'pure JavaScript, far too slow (--all times it)' });
      continue;
    }
    for (const step of stepKinds) {
      const encoder = measured.measurements.find((m) => m.backend === backend && m.step === 'encoder');
      if (step !== 'encoder' && !encoder) {
        break;
      }
      if (quick && encoder && median(encoder.stepTimesMs) > quickSlowEncoderStepMs) {
        const reason =
          `--quick, as its encoder step takes ${(median(encoder.stepTimesMs) / 1000).toFixed(1)} s ` +
          `(over ${quickSlowEncoderStepMs / 1000} s; run without --quick to time them)`;
        const steps = stepKinds.filter((kind) => kind !== 'encoder');
        measured.skipped.push(...steps.map((kind) => ({ backend, step: kind, reason })));
        console.log(`${backend} ${steps.join(' and ')} steps skipped: ${reason}`);
        break;
      }
      const started = performance.now();
      const outcome = runStep(backend, step);
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      if (outcome.status === 'failed') {
        measured.failed = true;
        skip({ backend, step, reason: `failed after ${seconds} s: ${outcome.reason}` });
        continue;
      }
      if (outcome.status === 'unavailable') {
        skip({ backend, reason: unavailableReason(backend, outcome.reason) });
        break;
      }
      if (step === 'encoder') {
        const { report } = outcome;
        console.log(
          `${backend}: ${report.reason} (TF.js ${report.versions.tfjs}, backend '${report.tfjsBackend}')`,
        );
      }
      measured.measurements.push(outcome);
      console.log(
        `  ${step} step: ${median(outcome.stepTimesMs).toFixed(0)} ms, median of ${outcome.stepTimesMs.length} ` +
          `after ${outcome.warmup} warm-up (${seconds} s in all)`,
      );
    }
  }
  return measured;
}

/** PyTorch's step of every kind some TF.js backend ran: another would have nothing to be compared with. */
function measurePytorch(measured: Measured): Map<StepKind, PytorchResult> {
  const results = new Map<StepKind, PytorchResult>();
  if (!existsSync(torchPython)) {
    measured.skipped.push({ backend: 'pytorch', reason: `${torchPython} not found` });
    console.log(`PyTorch skipped: ${torchPython} not found`);
    return results;
  }
  for (const step of stepKinds.filter((kind) => measured.measurements.some((m) => m.step === kind))) {
    const started = performance.now();
    const result = runPytorch(step);
    if ('failed' in result) {
      measured.failed = true;
      measured.skipped.push({ backend: 'pytorch', step, reason: `failed: ${result.failed}` });
      console.log(`PyTorch ${step} step failed: ${result.failed}`);
      continue;
    }
    results.set(step, result);
    console.log(
      `PyTorch ${step} step: ${result.stepMillis.toFixed(0)} ms, median of ${result.stepTimesMs.length} after ` +
        `${pytorchPlan(step).warmup} warm-up (${((performance.now() - started) / 1000).toFixed(0)} s in all)`,
    );
  }
  return results;
}

/**
 * The table's rows, each step's TF.js backends then PyTorch. PyTorch's FLOPs are those TF.js's kernels of
 * the same step count: the first backend's, which the others match unless a backend fuses or splits kernels.
 */
function tableRows(measurements: readonly StepMeasurement[], pytorch: Map<StepKind, PytorchResult>): Row[] {
  return stepKinds.flatMap((step) => {
    const batch = stepConfig(step).train.batchSize;
    const reference = pytorch.get(step);
    const tfjsRows = measurements
      .filter((m) => m.step === step)
      .map((measurement): Row => {
        const medianMs = median(measurement.stepTimesMs);
        const imagesPerSecond = (batch * 1000) / medianMs;
        return {
          step,
          backend: measurement.backend,
          medianMs,
          p90Ms: percentile(measurement.stepTimesMs, 0.9),
          timedSteps: measurement.stepTimesMs.length,
          imagesPerSecond,
          flops: measurement.profile.flops.total,
          gflopsPerSecond: measurement.profile.flops.total / medianMs / 1e6,
          ...(reference ? { ratioToPytorch: imagesPerSecond / reference.imagesPerSecond } : {}),
          maxRssKiB: measurement.maxRssKiB,
          parameters: measurement.parameters,
        };
      });
    if (!reference) {
      return tfjsRows;
    }
    const flops = tfjsRows[0]?.flops;
    const pytorchRow: Row = {
      step,
      backend: 'pytorch',
      medianMs: reference.stepMillis,
      p90Ms: percentile(reference.stepTimesMs, 0.9),
      timedSteps: reference.stepTimesMs.length,
      imagesPerSecond: reference.imagesPerSecond,
      ...(flops !== undefined ? { flops, gflopsPerSecond: flops / reference.stepMillis / 1e6 } : {}),
      ratioToPytorch: 1,
      maxRssKiB: reference.maxRssKiB,
      parameters: reference.parameters,
    };
    return [...tfjsRows, pytorchRow];
  });
}

/** Steps whose PyTorch model trains another number of parameters than a TF.js backend's. */
function parameterMismatches(rows: readonly Row[]): string[] {
  return stepKinds.flatMap((step) => {
    const stepRows = rows.filter((row) => row.step === step);
    const counts = new Set(stepRows.map((row) => row.parameters));
    return counts.size > 1
      ? [`${step}: ${stepRows.map((row) => `${row.backend} ${row.parameters}`).join(', ')}`]
      : [];
  });
}

function printStepTable(rows: readonly Row[], mismatches: readonly string[]): void {
  console.log('');
  printTable(
    [
      'step',
      'backend',
      'ms/step',
      'p90 ms',
      'steps',
      'images/s',
      'GFLOP/s',
      'vs PyTorch',
      'peak RSS MiB',
      'parameters',
    ],
    rows.map((row) => [
      row.step,
      row.backend,
      row.medianMs.toFixed(0),
      row.p90Ms.toFixed(0),
      `${row.timedSteps}`,
      row.imagesPerSecond.toFixed(1),
      formatNumber(row.gflopsPerSecond, 1),
      formatNumber(row.ratioToPytorch, 2),
      (row.maxRssKiB / 1024).toFixed(0),
      `${row.parameters}${mismatches.some((line) => line.startsWith(`${row.step}:`)) ? ' ≠' : ''}`,
    ]),
    2,
  );
  const plan = tfjsPlan('encoder');
  const paperPlan = tfjsPlan('resnet50-224');
  const paper = stepConfig('resnet50-224').train.batchSize;
  const flopsPerStep = stepKinds.flatMap((step) => {
    const counts = [
      ...new Set(rows.filter((row) => row.step === step && row.flops).map((row) => row.flops!)),
    ];
    return counts.length ? [`${step} ${counts.map((flops) => (flops / 1e9).toFixed(2)).join(' or ')}`] : [];
  });
  console.log(
    `ms/step: median and p90 (nearest rank) of the timed steps ("steps") after warm-up: TF.js ${plan.warmup} ` +
      `warm-up, then steps until at least ${quick ? '3 (encoder) or 2' : plan.minTimed} and ${plan.timedSeconds} s ` +
      `(at most ${plan.maxTimed}), resnet50-224 ${paperPlan.warmup} warm-up, then at least ${paperPlan.minTimed} ` +
      `and ${paperPlan.timedSeconds} s (at most ${paperPlan.maxTimed}); PyTorch ${pytorchPlan('encoder').warmup} warm-up, ` +
      `${pytorchPlan('encoder').timed} timed, resnet50-224 ${pytorchPlan('resnet50-224').warmup} and ` +
      `${pytorchPlan('resnet50-224').timed}, ${threads} threads. images/s = batch / median, the batch ` +
      `${benchConfig.train.batchSize} (resnet50-224: ${paper}); each image is two views in the encoder and ` +
      'resnet50-224 steps, its centre view in the decoder step, and both views, the centre view and two ' +
      "synthesized images in the full step. vs PyTorch: images/s over PyTorch's. Peak RSS: maxRSS of the " +
      'process (PyTorch: ru_maxrss).',
  );
  console.log(
    'GFLOP/s: FLOPs per step from the kernels tf.profile() saw TF.js run in one step, counting Conv2D ' +
      '(FusedConv2D), Conv2DBackpropInput and Conv2DBackpropFilter (each as much as the forward convolution) and ' +
      'BatchMatMul (_FusedMatMul) only; every other kernel counts zero. GFLOP per step: ' +
      `${flopsPerStep.join(', ') || 'none'}. PyTorch's row uses the same count.`,
  );
  for (const mismatch of mismatches) {
    console.log(`the models differ in trainable parameters: ${mismatch}`);
  }
}

function printSgemm(peak: Sgemm | undefined, measurements: (Sgemm | { failed: string })[]): void {
  if (!peak) {
    const reasons = measurements.map((result) => ('failed' in result ? result.failed : ''));
    console.log(`\nsgemm peak not measured: ${[...new Set(reasons)].join('; ')}`);
    return;
  }
  const reference = peak.blas.some((name) => /^libblas\.so/.test(name));
  const each = measurements.map((result) => ('failed' in result ? '—' : result.gflops.toFixed(1)));
  console.log(
    `\nsgemm peak: ${peak.gflops.toFixed(1)} GFLOP/s, the better of ${each.join(' before and ')} after the ` +
      `steps (numpy ${peak.numpy} float32 matmul n=${sgemmSize}, ${peak.threads} threads, ` +
      `${peak.blas.join(', ') || 'BLAS unknown'}` +
      `${reference ? ': the reference BLAS, far below what the cores can do' : ''})`,
  );
}

function printKernelProfile(measurement: StepMeasurement, sgemm: Sgemm | undefined): void {
  const { profile, report } = measurement;
  const kernelMs = profile.kernels.reduce((total, kernel) => total + kernel.totalMs, 0);
  const calls = profile.kernels.reduce((total, kernel) => total + kernel.calls, 0);
  const threadCount = report.wasm?.threadCount ?? report.onednn?.threads;
  console.log(
    `\nkernel profile, encoder step on ${measurement.backend}` +
      `${threadCount ? ` (${threadCount} thread${threadCount === 1 ? '' : 's'})` : ''}: one step under ` +
      `tf.profile() took ${profile.stepMs.toFixed(0)} ms, its ${calls} kernel calls ${formatNumber(kernelMs, 0)} ms`,
  );
  const counted = [...convolutionKernels, ...matMulKernels];
  printTable(
    ['kernel', 'calls', 'total ms', 'share', 'GFLOP/s'],
    profile.kernels
      .slice(0, kernelTableRows)
      .map((kernel) => [
        kernel.name,
        `${kernel.calls}`,
        formatNumber(kernel.totalMs, 0),
        `${formatNumber((100 * kernel.totalMs) / profile.stepMs, 1)} %`,
        counted.includes(kernel.name) ? formatNumber(kernel.flops / kernel.totalMs / 1e6, 1) : '',
      ]),
    1,
  );
  const { convolution } = profile.flops;
  const convGflops = convolution.flops / convolution.ms / 1e6;
  console.log(
    `conv layers: ${formatNumber(convGflops, 1)} GFLOP/s` +
      (sgemm
        ? ` = ${formatNumber((100 * convGflops) / sgemm.gflops, 1)} % of sgemm peak`
        : ' (no sgemm peak)'),
  );
}

function main(): void {
  const started = performance.now();
  const config = benchConfig;
  const paper = stepConfig('resnet50-224');
  const loadBefore = os.loadavg()[0]!;
  // h of ResNet-18: its last stage's channels.
  const featureDim = Math.max(8, Math.round(512 * config.model.width));
  console.log(
    `Backends: ResNet-18 (width ${config.model.width}, ${config.model.stem} stem) + projector ` +
      `${config.model.projector.hiddenDim}→${config.model.projector.outDim}, SimCLR τ=${config.ssl.simclr.temperature}, ` +
      `Adam ${learningRate}, batch ${config.train.batchSize} of ${config.data.imageSize}x${config.data.imageSize}; ` +
      `decoder width ${config.decoder.width} (${config.decoder.upsample}); full step α=${config.loss.alpha}, ` +
      `ν=${config.loss.nu}, L_Cp τ=${config.synthesis.temperature}, ${config.perturb.mode} s=${config.perturb.strength} ` +
      `on ${Math.floor(maskShare * featureDim)} of ${featureDim} dimensions, ${config.perturb.samples} copy, ` +
      `decoder ${config.synthesis.detachDecoder ? 'detached' : 'not detached'} for L_Cp; ` +
      `resnet50-224: the encoder step with ResNet-50 (width ${paper.model.width}, ${paper.model.stem} stem), ` +
      `batch ${paper.train.batchSize} of ${paper.data.imageSize}x${paper.data.imageSize}`,
  );
  console.log(
    `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), load average ${loadBefore.toFixed(2)}; ` +
      `OMP_WAIT_POLICY=${ompWaitPolicy} for PyTorch and the native backends${quick ? '; --quick' : ''}`,
  );
  if (loadBefore > busyLoadAverage) {
    console.log(
      `warning: other processes keep ${loadBefore.toFixed(1)} cores busy: the steps share them, so their ` +
        'times are slower and noisier than on an idle machine, most of all where several threads must keep pace',
    );
  }

  // Measured before and after the steps, the better one kept: a busy machine lowers the first alone.
  const sgemmBefore = measureSgemm();
  const measured = measureBackends();
  const pytorch = measurePytorch(measured);
  const rows = tableRows(measured.measurements, pytorch);
  const mismatches = parameterMismatches(rows);
  printStepTable(rows, mismatches);
  const sgemmAfter = measureSgemm();
  const sgemm = [sgemmBefore, sgemmAfter]
    .flatMap((result) => ('failed' in result ? [] : [result]))
    .reduce<Sgemm | undefined>(
      (best, result) => (best && best.gflops >= result.gflops ? best : result),
      undefined,
    );
  printSgemm(sgemm, [sgemmBefore, sgemmAfter]);
  for (const measurement of measured.measurements.filter((m) => m.step === 'encoder')) {
    printKernelProfile(measurement, sgemm);
  }

  const headline = cpuBackendPreference
    .map((backend) => rows.find((row) => row.step === 'encoder' && row.backend === backend))
    .find((row) => row !== undefined);
  const resultsDir = path.join(__dirname, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    path.join(resultsDir, 'backends.json'),
    `${JSON.stringify(
      {
        config: { experiment: config, paperExperiment: paper, maskShare, learningRate },
        quick,
        statistic: 'median',
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        loadAverage: { before: loadBefore, after: os.loadavg()[0] },
        ompWaitPolicy,
        plans: {
          tfjs: Object.fromEntries(stepKinds.map((step) => [step, tfjsPlan(step)])),
          pytorch: Object.fromEntries(stepKinds.map((step) => [step, pytorchPlan(step)])),
        },
        sgemm: { peak: sgemm ?? null, before: sgemmBefore, after: sgemmAfter },
        rows,
        measurements: measured.measurements,
        pytorch: [...pytorch.values()],
        skipped: measured.skipped,
        headline:
          headline?.ratioToPytorch !== undefined
            ? { backend: headline.backend, ratio: headline.ratioToPytorch }
            : null,
      },
      null,
      2,
    )}\n`,
  );
  console.log(
    `\nbackends bench: ${((performance.now() - started) / 1000).toFixed(0)} s, load average now ` +
      `${os.loadavg()[0]!.toFixed(2)}; results in ${path.relative(process.cwd(), resultsDir)}/backends.json`,
  );
  if (measured.failed || mismatches.length > 0) {
    process.exitCode = 1;
  }
  // The last line, which `npm run bench` ends with.
  if (headline?.ratioToPytorch !== undefined) {
    console.log(`synthpair/pytorch images/s ratio: ${headline.ratioToPytorch.toFixed(2)}`);
  } else {
    console.log(
      'synthpair/pytorch images/s ratio not measured: ' +
        (headline ? 'no PyTorch encoder step' : `no encoder step on ${cpuBackendPreference.join(', ')}`),
    );
  }
}

main();
