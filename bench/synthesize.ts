// Times "synthesize without training" as the editor uses it: a run at 64×64 with 16 probes is trained on
// generated images, then the engine worker (dist/worker.js, so run `npm run build` first) is asked for the
// probes' pairs again and again with a changing perturb.strength. Each time is request → pixels on the host:
// the IPC round trip and validation on both sides included. The first request, which loads the run, is
// reported apart. The target is a grid that follows a slider: well under 300 ms.
// Then edit → pixels as the dashboard does it: the host's PairsSynthesis (debounce included) asks the same
// worker, and the dashboard bundle in Chromium (dist/webview/dashboard.js, on its Pairs tab) paints the grid and
// reports it; the time runs from the edit to the host's receipt of that report. Target: 200 ms for 16 probes.
// Playwright carries each message into Chromium as JSON, the grid's bytes as base64, which VS Code does not
// (it hands a webview typed arrays as bytes): that share is printed, and the edit's time without it.
// Run: npx tsx bench/synthesize.ts [--quick]. Prints a table and writes it as JSON to
// bench/results/synthesize.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readPanelValues } from '../src/host/dashboard/configValues';
import { type EditToPixels, PairsSynthesis } from '../src/host/dashboard/pairsSynthesis';
import { WorkerProcess } from '../src/host/workers/workerProcess';
import type { WorkerParams, WorkerResult } from '../src/shared/protocol/worker';
import { makeImageFolder } from '../test/fixtures/makeImages';
import { launchChromium, openWebview } from '../test/webview/harness';

const quick = process.argv.includes('--quick');
const requests = quick ? 10 : 40;
const root = path.join(__dirname, '..');
const imageSize = 64;
const probes = 16;

const config = {
  name: 'synthesize-bench',
  data: { root: 'data', imageSize },
  model: { arch: 'smallcnn', width: 0.5, projector: { hiddenDim: 64, outDim: 32 } },
  train: { epochs: 1, batchSize: 16 },
  optim: { name: 'adam', warmupEpochs: 0 },
  eval: { knn: { k: 3 }, linear: { enabled: false }, retrieval: { enabled: false } },
  analysis: { probes: { count: probes } },
};

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function row(name: string, values: number[]): string {
  return `| ${name.padEnd(34)} | ${quantile(values, 0.5).toFixed(1).padStart(8)} | ${quantile(values, 0.9).toFixed(1).padStart(8)} |`;
}

async function main(): Promise<void> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'synthpair-bench-synthesize-'));
  const worker = new WorkerProcess({
    script: path.join(root, 'dist', 'worker.js'),
    launch: { backend: 'wasm', wasmDir: path.join(root, 'dist', 'wasm'), nativeModulePaths: [] },
    log: () => undefined,
  });
  try {
    const classes = Object.fromEntries(['a', 'b', 'c', 'd'].map((name) => [name, { train: 16, test: 5 }]));
    await makeImageFolder(path.join(folder, 'data'), classes, 72);
    const trainStarted = performance.now();
    const trained = await worker.request('train', {
      start: {
        kind: 'new',
        configFile: path.join(folder, 'bench.synthpair.json'),
        text: JSON.stringify(config),
        overrides: [],
        overridesBase: folder,
        out: path.join(folder, 'run'),
        runsFolder: folder,
      },
      cacheFolder: path.join(folder, 'cache'),
    });
    console.log(`trained ${trained.runDir} in ${((performance.now() - trainStarted) / 1000).toFixed(1)} s`);

    const synthesize = async (strength: number) => {
      const params: WorkerParams<'synthesize'> = {
        runDir: trained.runDir,
        overrides: { 'perturb.strength': strength },
      };
      const started = performance.now();
      const result: WorkerResult<'synthesize'> = await worker.request('synthesize', params);
      if (result.cancelled) throw new Error('a lone request was cancelled');
      const millis = performance.now() - started;
      return { millis, result, perturbedBytes: result.perturbed.length };
    };
    const first = await synthesize(1);
    const { result } = first;
    const roundTrips: number[] = [];
    const inWorker: number[] = [];
    for (let index = 0; index < requests; index++) {
      const { millis, result: answer } = await synthesize(0.25 + (index % 16) * 0.25);
      if (answer.cancelled) throw new Error('a lone request was cancelled');
      roundTrips.push(millis);
      inWorker.push(answer.elapsedMs);
    }
    console.log(
      `${result.probes} probes × ${result.samples} copies at ${result.imageSize}×${result.imageSize}, ` +
        `${result.dimensions} dimensions, ${result.masked} masked; ${(first.perturbedBytes / 1024).toFixed(0)} KiB of perturbed pixels per answer`,
    );
    console.log(`| ${'wasm, worker protocol'.padEnd(34)} | median ms |   p90 ms |`);
    console.log(`| ${'-'.repeat(34)} | --------: | -------: |`);
    console.log(row('first request (loads the run)', [first.millis]));
    console.log(row(`request → pixels (${requests} requests)`, roundTrips));
    console.log(row('  of which in the worker', inWorker));
    const editToPixels = await measureEditToPixels(worker, trained.runDir);
    console.log(
      row(
        `edit → pixels on screen (${editToPixels.length} edits)`,
        editToPixels.map((timing) => timing.totalMs),
      ),
    );
    console.log(
      row(
        '  of which in the worker',
        editToPixels.map((timing) => timing.workerMs),
      ),
    );
    console.log(
      row(
        '  of which carrying it into Chromium',
        editToPixels.map((timing) => timing.carryMs),
      ),
    );
    console.log(
      row(
        '  of which painting in the webview',
        editToPixels.map((timing) => timing.renderMs),
      ),
    );
    const withoutCarrying = editToPixels.map((timing) => timing.totalMs - timing.carryMs);
    console.log(row('edit → pixels less the carrying', withoutCarrying));
    const resultsDir = path.join(__dirname, 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      path.join(resultsDir, 'synthesize.json'),
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          cpus: os.cpus().length,
          loadAverage: os.loadavg(),
          probes: result.probes,
          samples: result.samples,
          imageSize: result.imageSize,
          firstRequestMs: first.millis,
          roundTripMs: { median: quantile(roundTrips, 0.5), p90: quantile(roundTrips, 0.9), all: roundTrips },
          inWorkerMs: { median: quantile(inWorker, 0.5), p90: quantile(inWorker, 0.9) },
          editToPixelsMs: {
            median: quantile(
              editToPixels.map((timing) => timing.totalMs),
              0.5,
            ),
            p90: quantile(
              editToPixels.map((timing) => timing.totalMs),
              0.9,
            ),
          },
          editToPixelsLessCarryingMs: {
            median: quantile(withoutCarrying, 0.5),
            p90: quantile(withoutCarrying, 0.9),
          },
          edits: editToPixels,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await worker.stop();
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * Edits perturb.strength as a slider would, one edit at a time, through the host's synthesis scheduler and into
 * the real dashboard bundle, which reports each painted grid back as it does to VS Code. Messages go each way
 * as they are posted, as VS Code delivers them: nothing polls the page.
 */
interface MeasuredEdit extends EditToPixels {
  /** How long Playwright took to carry the grid's message into Chromium, which VS Code hands over directly. */
  carryMs: number;
}

async function measureEditToPixels(worker: WorkerProcess, runDir: string): Promise<MeasuredEdit[]> {
  const browser = await launchChromium();
  // The edit being timed: settled by the webview's report that it painted the edit's grid.
  let current: { painted(timing: EditToPixels): void; failed(error: unknown): void } | undefined;
  let reported: (requestId: number, renderMs: number) => void = () => undefined;
  try {
    const webview = await openWebview(browser, {
      bundle: 'dashboard',
      title: 'SynthPair Dashboard',
      theme: 'dark',
      state: { tab: 'pairs' },
      width: 1200,
      height: 900,
      onPosted: (message) => {
        const report = message as { type: string; requestId?: number; renderMs?: number };
        if (report.type === 'synthesisRendered') reported(report.requestId!, report.renderMs!);
      },
    });
    let delivery = Promise.resolve();
    const carried = new Map<number, number>();
    const synthesis = new PairsSynthesis({
      synthesize: (params) => worker.request('synthesize', params),
      post: (message) => {
        delivery = delivery
          .then(async () => {
            const started = performance.now();
            await webview.postFromHost(message);
            if (message.type === 'synthesis') carried.set(message.requestId, performance.now() - started);
          })
          .catch((error) => current?.failed(error));
      },
      log: () => undefined,
    });
    reported = (requestId, renderMs) => {
      const timing = synthesis.rendered(requestId, renderMs);
      if (timing) current?.painted(timing);
    };
    const configFile = path.join(runDir, 'bench.synthpair.json');
    await webview.postFromHost({
      type: 'binding',
      configFile,
      configLabel: 'bench.synthpair.json',
      locked: false,
      canRun: true,
      runs: [{ runDir, label: 'run', state: 'completed', epoch: 1, startedAt: new Date().toISOString() }],
      selectedRun: runDir,
      overlaidRuns: [],
    });
    await webview.page.locator('sp-pairs').waitFor();
    const values = readPanelValues(JSON.stringify(config));
    if (!values.ok) throw new Error(values.problem);
    const timings: MeasuredEdit[] = [];
    try {
      for (let edit = 0; edit < (quick ? 8 : 24); edit++) {
        const strength = 0.5 + (edit % 12) * 0.25;
        const shown = new Promise<EditToPixels>((painted, failed) => {
          current = { painted, failed };
          setTimeout(
            () => failed(new Error(`edit ${edit + 1}: no grid painted within a minute`)),
            60_000,
          ).unref();
        });
        synthesis.schedule(
          runDir,
          { ...values.values, 'perturb.strength': strength },
          edit + 1,
          performance.now(),
        );
        const timing = await shown;
        // The first edit's request also loads the run; the table is about the edits after it.
        if (edit > 0) timings.push({ ...timing, carryMs: carried.get(timing.requestId)! });
      }
    } finally {
      synthesis.dispose();
    }
    return timings;
  } finally {
    await browser.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
