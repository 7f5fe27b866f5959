// Times "synthesize without training" as the editor uses it: a run at 64×64 with 16 probes is trained on
// generated images, then an engine worker (dist/worker.js, so run `npm run build` first) is asked for the
// probes' pairs again and again with a changing perturb.strength. Each time is request → pixels on the host:
// the IPC round trip and validation on both sides included. The first request, which loads the run, is
// reported apart. The target is a grid that follows a slider: well under 300 ms.
// Then edit → pixels as the dashboard does it: the host's PairsSynthesis asks the same worker, and the
// dashboard bundle in Chromium (dist/webview/dashboard.js, on its Pairs tab) paints the grid and reports it;
// the time runs from the edit to the host's receipt of that report. Target: 200 ms for 16 probes. The harness
// carries messages into Chromium over a WebSocket, the grid's bytes as one binary frame; that share is printed
// too, since VS Code carries them its own way.
// Both run side by side for the backend the extension picks here and for wasm, the one that always works.
// Run: npx tsx bench/synthesize.ts [--quick]. Prints a table and writes it as JSON to
// bench/results/synthesize.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readPanelValues } from '../src/host/dashboard/configValues';
import { type EditToPixels, PairsSynthesis } from '../src/host/dashboard/pairsSynthesis';
import { WorkerProcess } from '../src/host/workers/workerProcess';
import type { BackendName } from '../src/shared/protocol/backend';
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

interface Figures {
  median: number;
  p90: number;
  all: number[];
}

function figures(values: number[]): Figures {
  return { median: quantile(values, 0.5), p90: quantile(values, 0.9), all: values };
}

/** One backend's measurements, each a list of milliseconds. */
interface BackendTimings {
  backend: BackendName;
  firstRequest: number[];
  roundTrip: number[];
  roundTripInWorker: number[];
  editToPixels: number[];
  editInWorker: number[];
  editCarrying: number[];
  editPainting: number[];
  editLessCarrying: number[];
}

const tableRows: {
  label: (count: { requests: number; edits: number }) => string;
  key: keyof Omit<BackendTimings, 'backend'>;
}[] = [
  { label: () => 'first request (loads the run)', key: 'firstRequest' },
  { label: ({ requests }) => `request → pixels (${requests} requests)`, key: 'roundTrip' },
  { label: () => '  of which in the worker', key: 'roundTripInWorker' },
  { label: ({ edits }) => `edit → pixels on screen (${edits} edits)`, key: 'editToPixels' },
  { label: () => '  of which in the worker', key: 'editInWorker' },
  { label: () => '  of which carrying it into Chromium', key: 'editCarrying' },
  { label: () => '  of which painting in the webview', key: 'editPainting' },
  { label: () => 'edit → pixels less the carrying', key: 'editLessCarrying' },
];

function printTable(measured: BackendTimings[]): void {
  const cell = (text: string) => text.padStart(10);
  console.log(
    `| ${'ms (median / p90)'.padEnd(38)} | ${measured.map(({ backend }) => `${cell(`${backend} median`)} | ${cell('p90')}`).join(' | ')} |`,
  );
  console.log(
    `| ${'-'.repeat(38)} | ${measured.map(() => `${'-'.repeat(9)}: | ${'-'.repeat(9)}:`).join(' | ')} |`,
  );
  const counts = { requests: measured[0]!.roundTrip.length, edits: measured[0]!.editToPixels.length };
  for (const { label, key } of tableRows) {
    const cells = measured.map((timings) => {
      const values = timings[key];
      return `${cell(quantile(values, 0.5).toFixed(1))} | ${cell(quantile(values, 0.9).toFixed(1))}`;
    });
    console.log(`| ${label(counts).padEnd(38)} | ${cells.join(' | ')} |`);
  }
}

function startWorker(backend: BackendName | 'auto'): WorkerProcess {
  return new WorkerProcess({
    script: path.join(root, 'dist', 'worker.js'),
    launch: { backend, wasmDir: path.join(root, 'dist', 'wasm'), nativeModulePaths: [] },
    log: () => undefined,
  });
}

async function main(): Promise<void> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'synthpair-bench-synthesize-'));
  const chosen = startWorker('auto');
  const workers: WorkerProcess[] = [chosen];
  try {
    const classes = Object.fromEntries(['a', 'b', 'c', 'd'].map((name) => [name, { train: 16, test: 5 }]));
    await makeImageFolder(path.join(folder, 'data'), classes, 72);
    const trainStarted = performance.now();
    const trained = await chosen.request('train', {
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
    const chosenBackend = (await chosen.request('backendInfo', {})).selected;
    const compared: [BackendName, WorkerProcess][] = [[chosenBackend, chosen]];
    if (chosenBackend !== 'wasm') {
      const wasm = startWorker('wasm');
      workers.push(wasm);
      compared.push(['wasm', wasm]);
    }
    const measured: BackendTimings[] = [];
    for (const [backend, worker] of compared) {
      measured.push(await measureBackend(backend, worker, trained.runDir));
    }
    printTable(measured);
    const resultsDir = path.join(__dirname, 'results');
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(
      path.join(resultsDir, 'synthesize.json'),
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          cpus: os.cpus().length,
          loadAverage: os.loadavg(),
          probes,
          imageSize,
          backends: measured.map((timings) =>
            Object.fromEntries(
              Object.entries(timings).map(([key, value]) => [
                key,
                Array.isArray(value) ? figures(value) : value,
              ]),
            ),
          ),
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await rm(folder, { recursive: true, force: true });
  }
}

async function measureBackend(
  backend: BackendName,
  worker: WorkerProcess,
  runDir: string,
): Promise<BackendTimings> {
  const synthesize = async (strength: number) => {
    const params: WorkerParams<'synthesize'> = { runDir, overrides: { 'perturb.strength': strength } };
    const started = performance.now();
    const result: WorkerResult<'synthesize'> = await worker.request('synthesize', params);
    if (result.cancelled) throw new Error('a lone request was cancelled');
    return { millis: performance.now() - started, result };
  };
  const first = await synthesize(1);
  const roundTrip: number[] = [];
  const roundTripInWorker: number[] = [];
  for (let index = 0; index < requests; index++) {
    const { millis, result } = await synthesize(0.25 + (index % 16) * 0.25);
    roundTrip.push(millis);
    roundTripInWorker.push(result.elapsedMs);
  }
  const { result } = first;
  console.log(
    `${backend}: ${result.probes} probes × ${result.samples} copies at ${result.imageSize}×${result.imageSize}, ` +
      `${result.dimensions} dimensions, ${result.masked} masked; ` +
      `${((result.originals.length + result.reconstructions.length + result.perturbed.length) / 1024).toFixed(0)} KiB of pixels per answer`,
  );
  const edits = await measureEditToPixels(worker, runDir);
  return {
    backend,
    firstRequest: [first.millis],
    roundTrip,
    roundTripInWorker,
    editToPixels: edits.map((timing) => timing.totalMs),
    editInWorker: edits.map((timing) => timing.workerMs),
    editCarrying: edits.map((timing) => timing.carryMs),
    editPainting: edits.map((timing) => timing.renderMs),
    editLessCarrying: edits.map((timing) => timing.totalMs - timing.carryMs),
  };
}

interface MeasuredEdit extends EditToPixels {
  /** How long the harness took to carry the grid's message into Chromium, which VS Code does its own way. */
  carryMs: number;
}

/**
 * Edits perturb.strength as a slider would, one edit at a time, through the host's synthesis scheduler and into
 * the real dashboard bundle, which reports each painted grid back as it does to VS Code. Messages go each way
 * as they are posted, as VS Code delivers them: nothing polls the page.
 */
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
            if (message.type === 'synthesis' || message.type === 'synthesisSameBase')
              carried.set(message.requestId, performance.now() - started);
          })
          .catch((error) => current?.failed(error));
      },
      log: () => undefined,
    });
    reported = (requestId, renderMs) => {
      const timing = synthesis.rendered(requestId, renderMs);
      // The grid's delivery can still be settling: the page's report and its acknowledgement may reach this
      // process in one read, the report handled first. The edit ends once its carrying time is known.
      const edit = current;
      if (timing) void delivery.then(() => edit?.painted(timing));
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
