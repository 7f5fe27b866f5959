// Times one SimCLR training step of SynthPair on the wasm backend against the same model, loss, optimiser and
// batch in PyTorch on the CPU (bench/pytorch/ssl_step.py), to show how far the in-editor trainer is from the
// framework most SSL code is written in.
// Run: npx tsx bench/trainStep.ts [--quick]. Prints a table and writes it as JSON to bench/results/train-step.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initWasmBackend } from '../src/engine/backends/wasm/loadWasm';
import { createSimClr } from '../src/engine/methods/simclr';
import { tf } from '../src/engine/tf';

const quick = process.argv.includes('--quick');
const batch = 64;
const imageSize = 64;
const width = 0.5;
const temperature = 0.5;
const learningRate = 1e-3;
// A TF.js step takes seconds, a PyTorch one a fraction of a second, hence the different counts.
const synthPairSteps = quick ? { warmup: 2, timed: 3 } : { warmup: 3, timed: 10 };
const pytorchSteps = quick ? { warmup: 3, timed: 10 } : { warmup: 5, timed: 30 };
const python = '/usr/bin/python3';

interface Row {
  backend: string;
  stepMillis: number;
  imagesPerSecond: number;
  parameters: number;
  detail: Record<string, unknown>;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function timeSynthPair(): Promise<Row> {
  const wasm = await initWasmBackend(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')));
  const method = createSimClr({
    seed: 0,
    encoder: { arch: 'resnet18', width, stem: 'imagenet' },
    projector: { hiddenDim: 512, outDim: 128 },
    predictor: { hiddenDim: 512 },
    simclr: { temperature },
    mocov2: { temperature: 0.2, queueSize: 4096, momentum: 0.999 },
    byol: { momentumBase: 0.996 },
  });
  const variables = method.trainableVariables();
  const parameters = variables.reduce((total, variable) => total + variable.size, 0);
  const optimizer = tf.train.adam(learningRate);
  const view1 = tf.randomNormal([batch, imageSize, imageSize, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const view2 = tf.randomNormal([batch, imageSize, imageSize, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const times: number[] = [];
  for (let step = 0; step < synthPairSteps.warmup + synthPairSteps.timed; step++) {
    const started = performance.now();
    // Reading the loss back keeps the timing honest should a backend ever queue work asynchronously.
    const loss = tf.tidy(
      () => optimizer.minimize(() => method.loss(view1, view2).total, true, variables)!.dataSync()[0]!,
    );
    const elapsed = performance.now() - started;
    if (!Number.isFinite(loss)) {
      throw new Error(`SynthPair's loss is ${loss} at step ${step}`);
    }
    if (step >= synthPairSteps.warmup) {
      times.push(elapsed);
    }
  }
  tf.dispose([view1, view2]);
  optimizer.dispose();
  method.dispose();
  const stepMillis = median(times);
  return {
    backend: `SynthPair TF.js ${tf.version_core} wasm`,
    stepMillis,
    imagesPerSecond: (batch * 1000) / stepMillis,
    parameters,
    detail: { ...wasm, warmup: synthPairSteps.warmup, timedSteps: synthPairSteps.timed, stepTimesMs: times },
  };
}

/** Runs the PyTorch script with `threads` intra-op threads; undefined when this machine has no PyTorch. */
function timePytorch(threads: number): Row | undefined {
  const script = path.join(__dirname, 'pytorch', 'ssl_step.py');
  const args = [
    script,
    ...['--batch', `${batch}`, '--size', `${imageSize}`, '--width', `${width}`],
    ...['--steps', `${pytorchSteps.timed}`, '--warmup', `${pytorchSteps.warmup}`],
    ...['--threads', `${threads}`, '--temperature', `${temperature}`],
  ];
  const run = spawnSync(python, args, { encoding: 'utf8' });
  if (run.error || run.status !== 0) {
    const reason = run.error?.message ?? run.stderr.trim().split('\n').at(-1);
    console.log(`PyTorch skipped: ${python} ${path.relative(process.cwd(), script)} failed (${reason})`);
    return undefined;
  }
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
    imagesPerSecond: number;
    stepMillis: number;
    parameters: number;
    torch: string;
    threads: number;
  };
  return {
    backend: `PyTorch ${result.torch} CPU, ${result.threads} thread${result.threads === 1 ? '' : 's'}`,
    stepMillis: result.stepMillis,
    imagesPerSecond: result.imagesPerSecond,
    parameters: result.parameters,
    detail: {
      torch: result.torch,
      threads: result.threads,
      warmup: pytorchSteps.warmup,
      timedSteps: pytorchSteps.timed,
    },
  };
}

async function main(): Promise<void> {
  // Another process busy on the same cores slows both sides unevenly, so the load goes into the results.
  const loadBefore = os.loadavg()[0]!;
  console.log(
    `SimCLR step: ResNet-18 (width ${width}, imagenet stem) + projector 512→128, NT-Xent τ=${temperature}, ` +
      `Adam ${learningRate}, batch ${batch} × 2 views of ${imageSize}x${imageSize}; ` +
      `${os.cpus().length} CPUs, load average ${loadBefore.toFixed(2)}`,
  );
  const synthPair = await timeSynthPair();
  const rows = [synthPair];
  // TF.js wasm runs one thread in Node; PyTorch at one thread too separates thread count from kernel speed.
  const hasPython = existsSync(python);
  if (!hasPython) {
    console.log(`PyTorch skipped: ${python} not found`);
  }
  const pytorchRuns = hasPython ? [timePytorch(2), timePytorch(1)] : [];
  const [pytorch, pytorchOneThread] = pytorchRuns;
  for (const row of pytorchRuns) {
    if (!row) {
      continue;
    }
    if (row.parameters !== synthPair.parameters) {
      throw new Error(
        `the models differ: SynthPair has ${synthPair.parameters} trainable parameters, ${row.backend} ` +
          `${row.parameters}`,
      );
    }
    rows.push(row);
  }

  console.log(`trainable parameters: ${synthPair.parameters} (same on both sides)`);
  console.log(
    `${'backend'.padEnd(36)}${'step ms'.padStart(10)}${'images/s'.padStart(10)}${'parameters'.padStart(12)}`,
  );
  for (const row of rows) {
    console.log(
      `${row.backend.padEnd(36)}${row.stepMillis.toFixed(0).padStart(10)}` +
        `${row.imagesPerSecond.toFixed(1).padStart(10)}${`${row.parameters}`.padStart(12)}`,
    );
  }
  console.log(
    `medians of ${synthPairSteps.timed} (SynthPair) and ${pytorchSteps.timed} (PyTorch) timed steps ` +
      'after warm-up; images/s counts images, each seen as two views',
  );
  if (pytorchOneThread) {
    console.log(
      `synthpair/pytorch (1 thread) images/s ratio: ` +
        `${(synthPair.imagesPerSecond / pytorchOneThread.imagesPerSecond).toFixed(2)}`,
    );
  }
  if (pytorch) {
    console.log(
      `synthpair/pytorch images/s ratio: ${(synthPair.imagesPerSecond / pytorch.imagesPerSecond).toFixed(2)}`,
    );
  }

  const resultsDir = path.join(__dirname, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    path.join(resultsDir, 'train-step.json'),
    `${JSON.stringify(
      {
        config: { arch: 'resnet18', width, stem: 'imagenet', batch, imageSize, temperature, learningRate },
        quick,
        statistic: 'median',
        cpus: os.cpus().length,
        loadAverage: { before: loadBefore, after: os.loadavg()[0] },
        rows,
        ratio: pytorch ? synthPair.imagesPerSecond / pytorch.imagesPerSecond : null,
      },
      null,
      2,
    )}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
