// Trains SimCLR and MoCo v2 on the real bird set (cub200-subset100-96: 100 CUB species at 96x96) for a small,
// stated budget with the engine's own trainer, as `synthpair run` does, and reports training throughput,
// epoch time and the trainer's evaluation beside the same step in PyTorch on the CPU
// (bench/pytorch/ssl_step.py), so the gap to the framework most SSL code is written in is seen on real data.
// Run: npx tsx bench/birds.ts [--quick] [--data DIR] [--epochs N]. The data set is read in place from
// ../shared/datasets/cub200-subset100-96 beside the repository, or from --data or SYNTHPAIR_BIRDS_DATA.
// Prints a table and writes it as JSON to bench/results/birds.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/engine/backends/selectBackend';
import { listDataset } from '../src/engine/data/datasets';
import { createMethodFor } from '../src/engine/methods/registry';
import { train } from '../src/engine/training/trainer';
import type { ResolvedConfig } from '../src/shared/config/experiment/definitions';
import { parseExperimentConfig } from '../src/shared/config/experiment/parse';
import type { BackendName, BackendReport } from '../src/shared/protocol/backend';
import type { EvalRecord } from '../src/shared/protocol/runFiles';
import { RunDirectory } from '../src/shared/runFolder/runDirectory';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    data: { type: 'string' },
    epochs: { type: 'string' },
  },
  // The bench runner hands every bench the same arguments; those meant for others are not errors here.
  strict: false,
});
const quick = flags.quick === true;
const repoRoot = path.resolve(__dirname, '..');
const dataRoot = path.resolve(
  typeof flags.data === 'string'
    ? flags.data
    : (process.env.SYNTHPAIR_BIRDS_DATA ??
        path.join(repoRoot, '..', 'shared', 'datasets', 'cub200-subset100-96')),
);
// One full epoch is 46 steps; --quick trains one epoch of the first ten classes only (about four steps), so
// that the whole `npm run bench -- --quick` stays within five minutes with the backend comparison after it.
const epochs = typeof flags.epochs === 'string' ? Number(flags.epochs) : quick ? 1 : 3;
const quickClasses = 10;
const methods = ['simclr', 'mocov2'] as const;
const pytorchSteps = quick ? { warmup: 3, timed: 10 } : { warmup: 5, timed: 30 };
const pytorchThreads = 2;
const python = '/usr/bin/python3';
/** The experiment as `synthpair run` would read it from a file, less data.root, ssl.method and train.epochs. */
const baseExperiment = {
  name: 'bench-birds',
  seed: 0,
  backend: 'auto',
  data: { layout: 'imagefolder', imageSize: 64 },
  model: { arch: 'resnet18', width: 0.5, stem: 'imagenet', projector: { hiddenDim: 512, outDim: 128 } },
  ssl: {
    simclr: { temperature: 0.5 },
    // The default queue of 65536 keys would take this 2999-image set 11 epochs to fill; 4096 takes 1.4.
    mocov2: { temperature: 0.2, queueSize: 4096, momentum: 0.999 },
  },
  train: { batchSize: 64 },
  // lr is scaled by batchSize/256, so 0.004 is Adam's 1e-3 at batch 64, the rate ssl_step.py uses.
  optim: { name: 'adam', lr: 0.004, weightDecay: 0, warmupEpochs: 0, schedule: 'cosine' },
  // About 30 training images per class: fewer neighbours than the ImageNet-sized default of 200.
  eval: { everyEpochs: 0, knn: { k: 20 }, linear: { epochs: 100 } },
  checkpoint: { everyEpochs: 10000, keep: 1 },
};

/** A problem with how the bench was called or where its data is: reported without a stack. */
class UsageError extends Error {}

interface Row {
  method: string;
  backend: BackendName;
  parameters: number;
  steps: number;
  /**
   * Median over the trainer's step records, data loading included. Each is the rate over the steps since the
   * previous one: up to 10, and the rest of an epoch at its last step, so every epoch gives at least one.
   */
  imagesPerSecond: number;
  stepRecordRates: number[];
  /** Median over epochs of the time from one epoch's last step to the next's, evaluation excluded. */
  epochSeconds: number;
  epochTimes: number[];
  /** From the last step to the end: the evaluation and the final checkpoint. */
  evalSeconds: number;
  evaluation: EvalRecord;
  pytorch?: { imagesPerSecond: number; stepMillis: number; torch: string; threads: number };
  ratio?: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function resolveConfig(root: string, method: string): ResolvedConfig {
  const text = JSON.stringify({ ...baseExperiment, data: { ...baseExperiment.data, root } });
  const { config, diagnostics } = parseExperimentConfig(text, {
    overrides: [`ssl.method=${method}`, `train.epochs=${epochs}`],
  });
  if (!config) {
    throw new Error(
      `the bench config is invalid: ${diagnostics.map((d) => `${d.path}: ${d.message}`).join('; ')}`,
    );
  }
  return config;
}

/** The first classes of the set as a temporary ImageFolder of links, so --quick reads the same files in place. */
async function linkClasses(root: string, classes: string[]): Promise<string> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'synthpair-birds-'));
  for (const split of ['train', 'test']) {
    mkdirSync(path.join(folder, split));
    for (const name of classes) {
      await symlink(path.join(root, split, name), path.join(folder, split, name), 'dir');
    }
  }
  return folder;
}

async function trainSynthPair(config: ResolvedConfig, report: BackendReport): Promise<Omit<Row, 'method'>> {
  const backend = report.selected;
  const runFolder = await mkdtemp(path.join(os.tmpdir(), `synthpair-birds-${config.ssl.method}-`));
  try {
    const run = await RunDirectory.create(runFolder, config, {
      name: config.name,
      pid: process.pid,
      seed: config.seed,
      startedAt: new Date().toISOString(),
      backend,
      versions: { synthpair: 'bench', tfjs: report.versions.tfjs, node: process.versions.node },
    });
    const method = createMethodFor(config);
    const parameters = method.trainableVariables().reduce((total, variable) => total + variable.size, 0);
    method.dispose();

    // The trainer's last log before its first step reports the loaded data: training starts there.
    let lastLog = performance.now();
    let epochStart: number | undefined;
    let lastStep = 0;
    let lastProgress = 0;
    let currentEpoch = 1;
    const epochTimes: number[] = [];
    const outcome = await train(
      config,
      { run, cacheFolder: path.join(repoRoot, '.synthpair', 'cache'), resume: false },
      {
        log(level, message) {
          lastLog = performance.now();
          console.log(`  ${config.ssl.method}: ${level === 'warn' ? 'warning: ' : ''}${message}`);
        },
        progress(progress) {
          const now = performance.now();
          epochStart ??= lastLog;
          if (progress.epoch !== currentEpoch) {
            epochTimes.push((lastProgress - epochStart) / 1000);
            epochStart = lastProgress;
            currentEpoch = progress.epoch;
          }
          lastProgress = now;
          lastStep = progress.step;
        },
        shouldStop: () => false,
      },
    );
    epochTimes.push((lastProgress - epochStart!) / 1000);
    const evalSeconds = (performance.now() - lastProgress) / 1000;
    if (!outcome.evaluation) {
      throw new Error(`the ${config.ssl.method} run ended ${outcome.state} without an evaluation`);
    }
    const { records } = await run.readMetrics();
    const stepRecordRates = records.flatMap((record) =>
      record.kind === 'step' && record.imagesPerSecond !== undefined ? [record.imagesPerSecond] : [],
    );
    if (stepRecordRates.length === 0) {
      throw new Error(`the ${config.ssl.method} run logged no step record in its ${lastStep} steps`);
    }
    return {
      backend,
      parameters,
      steps: lastStep,
      imagesPerSecond: median(stepRecordRates),
      stepRecordRates,
      epochSeconds: median(epochTimes),
      epochTimes,
      evalSeconds,
      evaluation: outcome.evaluation,
    };
  } finally {
    await rm(runFolder, { recursive: true, force: true });
  }
}

/** Times the same step in PyTorch, on random tensors: the step alone. */
function timePytorch(config: ResolvedConfig): NonNullable<Row['pytorch']> & { parameters: number } {
  const script = path.join(__dirname, 'pytorch', 'ssl_step.py');
  const method = config.ssl.method;
  const args = [
    script,
    ...['--method', method, '--batch', `${config.train.batchSize}`, '--size', `${config.data.imageSize}`],
    ...['--width', `${config.model.width}`, '--threads', `${pytorchThreads}`],
    ...['--steps', `${pytorchSteps.timed}`, '--warmup', `${pytorchSteps.warmup}`],
    ...(method === 'mocov2'
      ? [
          '--temperature',
          `${config.ssl.mocov2.temperature}`,
          '--queue-size',
          `${config.ssl.mocov2.queueSize}`,
        ]
      : ['--temperature', `${config.ssl.simclr.temperature}`]),
    ...(method === 'mocov2' ? ['--momentum', `${config.ssl.mocov2.momentum}`] : []),
  ];
  const run = spawnSync(python, args, { encoding: 'utf8' });
  if (run.error || run.status !== 0) {
    throw new Error(
      `${python} ${path.relative(process.cwd(), script)} failed: ${run.error?.message ?? run.stderr.trim().split('\n').at(-1)}`,
    );
  }
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!);
}

function percent(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? '—' : `${(value * 100).toFixed(1)}%`;
}

async function main(): Promise<void> {
  if (!existsSync(path.join(dataRoot, 'train')) || !existsSync(path.join(dataRoot, 'test'))) {
    throw new UsageError(
      `the bird set is not at ${dataRoot} (expected train/<class>/*.jpg and test/<class>/*.jpg there): ` +
        'put cub200-subset100-96 in ../shared/datasets beside the repository, or pass --data DIR or set ' +
        'SYNTHPAIR_BIRDS_DATA',
    );
  }
  if (!Number.isInteger(epochs) || epochs < 1) {
    throw new UsageError(`--epochs must be a positive whole number, not ${flags.epochs}`);
  }
  const listing = await listDataset(dataRoot, 'imagefolder');
  const classes = quick ? listing.classes.slice(0, quickClasses) : listing.classes;
  const trainRoot = quick ? await linkClasses(dataRoot, classes) : dataRoot;
  try {
    const used = await listDataset(trainRoot, 'imagefolder');
    const base = resolveConfig(trainRoot, 'simclr');
    const { report } = await selectBackend({
      preference: base.backend,
      wasmDir: path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')),
      nativeModulePaths: [],
      synthpairVersion: JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version,
    });
    const steps = Math.floor(used.train.length / base.train.batchSize) * epochs;
    const budget =
      `${path.basename(dataRoot)}: ${classes.length} of ${listing.classes.length} species, ${used.train.length} train / ` +
      `${used.test.length} test images; ResNet-18 (width ${base.model.width}, ${base.model.stem} stem) + projector ` +
      `${base.model.projector.hiddenDim}→${base.model.projector.outDim}, ${base.data.imageSize}x${base.data.imageSize}, ` +
      `batch ${base.train.batchSize}, Adam 1e-3 (cosine, no warm-up, no weight decay), ${epochs} epoch${epochs === 1 ? '' : 's'} ` +
      `(${steps} steps) per method; SimCLR τ=${base.ssl.simclr.temperature}; MoCo v2 τ=${base.ssl.mocov2.temperature}, ` +
      `queue ${base.ssl.mocov2.queueSize}, momentum ${base.ssl.mocov2.momentum}; then kNN (k=${base.eval.knn.k}), ` +
      `linear probe (${base.eval.linear.epochs} epochs), rank-1/5 and mAP on the test images`;
    // Another process busy on the same cores slows both sides unevenly, so the load goes into the results.
    const loadBefore = os.loadavg()[0]!;
    console.log(`Birds: ${budget}`);
    console.log(
      `backend ${report.selected}; ${os.cpus().length} CPUs, load average ${loadBefore.toFixed(2)}`,
    );

    const rows: Row[] = [];
    for (const method of methods) {
      const config = resolveConfig(trainRoot, method);
      const synthPair = await trainSynthPair(config, report);
      const pytorch = existsSync(python) ? timePytorch(config) : undefined;
      if (!pytorch) {
        console.log(`  ${method}: PyTorch skipped: ${python} not found`);
      } else if (pytorch.parameters !== synthPair.parameters) {
        throw new Error(
          `the models differ: SynthPair's ${method} trains ${synthPair.parameters} parameters, PyTorch's ${pytorch.parameters}`,
        );
      }
      rows.push({
        method,
        ...synthPair,
        ...(pytorch
          ? {
              pytorch: {
                imagesPerSecond: pytorch.imagesPerSecond,
                stepMillis: pytorch.stepMillis,
                torch: pytorch.torch,
                threads: pytorch.threads,
              },
              ratio: synthPair.imagesPerSecond / pytorch.imagesPerSecond,
            }
          : {}),
      });
    }

    const columns = [
      ['method', 8],
      ['backend', 8],
      ['images/s', 9],
      ['epoch s', 8],
      ['kNN', 7],
      ['linear', 7],
      ['rank-1', 7],
      ['rank-5', 7],
      ['mAP', 7],
      ['PyTorch img/s', 14],
      ['ratio', 7],
    ] as const;
    const line = (cells: string[]) =>
      cells
        .map((cell, index) =>
          index < 2 ? cell.padEnd(columns[index]![1]) : cell.padStart(columns[index]![1]),
        )
        .join(' ');
    console.log(`\n${line(columns.map(([name]) => name))}`);
    for (const row of rows) {
      console.log(
        line([
          row.method,
          row.backend,
          row.imagesPerSecond.toFixed(1),
          row.epochSeconds.toFixed(0),
          percent(row.evaluation.knnTop1),
          percent(row.evaluation.linearTop1),
          percent(row.evaluation.rank1),
          percent(row.evaluation.rank5),
          percent(row.evaluation.mAP),
          row.pytorch ? row.pytorch.imagesPerSecond.toFixed(1) : '—',
          row.ratio === undefined ? '—' : row.ratio.toFixed(2),
        ]),
      );
    }
    const torch = rows.find((row) => row.pytorch)?.pytorch;
    console.log(
      'images/s: SynthPair, median of its step records (each over the steps since the previous one: up to 10, ' +
        'and the rest of an epoch at its end; decoding cached, augmentation and batching included); ' +
        (torch
          ? `PyTorch ${torch.torch} CPU, ${torch.threads} threads, median of ${pytorchSteps.timed} steps after ` +
            `${pytorchSteps.warmup} warm-up on random tensors (the step alone); ratio = SynthPair / PyTorch. `
          : '') +
        'epoch s: median over epochs, the first including warm-up; evaluation excluded.',
    );

    const resultsDir = path.join(__dirname, 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      path.join(resultsDir, 'birds.json'),
      `${JSON.stringify(
        {
          budget,
          config: baseExperiment,
          epochs,
          quick,
          data: dataRoot,
          classes: classes.length,
          trainImages: used.train.length,
          testImages: used.test.length,
          statistic: 'median',
          cpus: os.cpus().length,
          loadAverage: { before: loadBefore, after: os.loadavg()[0] },
          pytorchSteps,
          rows,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    if (trainRoot !== dataRoot) {
      await rm(trainRoot, { recursive: true, force: true });
    }
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? `birds bench: ${error.message}` : error);
  process.exitCode = 1;
});
