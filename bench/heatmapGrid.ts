// Times the dashboard's heat-map grid of 64 probes in real Chromium: the fixture run is trained with 64 probes
// (once, then reused from test-results/fixture-runs/), the dashboard bundle (dist/webview/dashboard.js, so run
// `npm run build` first) is opened with the webview's CSP, and each time is measured in the page with
// performance.now(), from the host's `analyses` message or the settings change to the element's
// `sp-heatmaps-rendered` event (every tile drawn), and to the animation frame after it (on screen).
// First renders and first visits of a step fetch and upsample their arrays; later visits reuse them.
// Run: npx tsx bench/heatmapGrid.ts [--quick]. Prints a table and writes it as JSON to
// bench/results/heatmapGrid.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { defaultHeatmapSettings, type HeatmapSettings } from '../src/shared/protocol/webview';
import { trainedFixtureRun } from '../test/support/fixtureRun';
import { analysesMessage, bindingMessage, fixtureSteps } from '../test/webview/fixtureMessages';
import { launchChromium, openWebview } from '../test/webview/harness';

const quick = process.argv.includes('--quick');
/** Fresh pages: each gives one first render and one first visit of each older step. */
const pages = quick ? 3 : 10;
/** Changes of each kind per page, once the page's arrays are loaded. */
const changesPerPage = 3;
const probes = 64;

interface Timing {
  drawnMs: number;
  frameMs: number;
}

const cases = [
  'first render (analyses message)',
  'step change, first visit',
  'step change, visited before',
  'colormap change',
  'opacity change',
] as const;
type Case = (typeof cases)[number];

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function row(name: string, timings: Timing[]): string {
  const drawn = timings.map((timing) => timing.drawnMs);
  const frame = timings.map((timing) => timing.frameMs);
  const cells = [quantile(drawn, 0.5), quantile(drawn, 0.9), quantile(frame, 0.5), quantile(frame, 0.9)];
  return `| ${name.padEnd(32)} | ${String(timings.length).padStart(3)} | ${cells.map((cell) => cell.toFixed(1).padStart(9)).join(' | ')} |`;
}

/**
 * Starts the clock in the page, makes the change there (so Playwright's round trips stay out of the time),
 * and stops it when the grid of `epoch` reports its pixels drawn and again at the next animation frame.
 */
function timeInPage(
  page: Page,
  change: { message: unknown } | { settings: HeatmapSettings },
  epoch: number,
): Promise<Timing> {
  return page.evaluate(
    ({ change, epoch }) =>
      new Promise<Timing>((resolve, reject) => {
        const element = document.querySelector('sp-heatmaps') as (HTMLElement & { settings: unknown }) | null;
        if (!element) {
          reject(new Error('no sp-heatmaps on the page'));
          return;
        }
        const timeout = setTimeout(
          () => reject(new Error(`the grid of epoch ${epoch} was not drawn`)),
          30_000,
        );
        const started = performance.now();
        element.addEventListener(
          'sp-heatmaps-rendered',
          (event) => {
            const drawnMs = performance.now() - started;
            const rendered = (event as CustomEvent<{ epoch: number }>).detail.epoch;
            requestAnimationFrame(() => {
              clearTimeout(timeout);
              if (rendered === epoch) {
                resolve({ drawnMs, frameMs: performance.now() - started });
              } else {
                reject(new Error(`drew epoch ${rendered}, not ${epoch}`));
              }
            });
          },
          { once: true },
        );
        if ('message' in change) {
          window.postMessage(change.message, '*');
        } else {
          element.settings = change.settings;
        }
      }),
    { change, epoch },
  );
}

async function main(): Promise<void> {
  const trainStarted = performance.now();
  const run = await trainedFixtureRun({ analysis: { probes: { count: probes } } }, { testPerClass: 8 });
  console.log(
    `fixture run ${run.runDir} ready in ${((performance.now() - trainStarted) / 1000).toFixed(1)} s`,
  );
  const steps = await fixtureSteps(run.runDir);
  const newest = steps.at(-1)!;
  if (newest.manifest.probes.labels.length !== probes || steps.length < 3) {
    throw new Error(
      `the fixture run has ${steps.length} steps of ${newest.manifest.probes.labels.length} probes`,
    );
  }
  const binding = bindingMessage(run);
  const analyses = analysesMessage(run.runDir, steps);
  const base = defaultHeatmapSettings;

  const timings = new Map<Case, Timing[]>(cases.map((name) => [name, []]));
  const record = (name: Case, timing: Timing) => timings.get(name)!.push(timing);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    for (let pageIndex = 0; pageIndex < pages; pageIndex++) {
      const webview = await openWebview(browser, {
        bundle: 'dashboard',
        title: 'SynthPair Dashboard',
        theme: 'dark',
        width: 1280,
        height: 900,
      });
      const { page } = webview;
      await webview.postFromHost(binding);
      await page.locator('#tab-heatmaps').click();
      await page.locator('sp-heatmaps').waitFor();
      record('first render (analyses message)', await timeInPage(page, { message: analyses }, newest.epoch));
      const tiles = await page.locator('sp-heatmaps .tile').count();
      if (tiles !== probes) {
        throw new Error(`the grid shows ${tiles} tiles, not ${probes}`);
      }
      let settings = base;
      const change = async (name: Case, patch: Partial<HeatmapSettings>, epoch: number) => {
        settings = { ...settings, ...patch };
        record(name, await timeInPage(page, { settings }, epoch));
      };
      for (const step of steps.slice(0, -1).reverse()) {
        await change('step change, first visit', { epoch: step.epoch }, step.epoch);
      }
      for (let index = 0; index < changesPerPage; index++) {
        // From the oldest step, which the first visits ended on, to the next one each time.
        const step = steps[(index + 1) % steps.length]!;
        await change('step change, visited before', { epoch: step.epoch }, step.epoch);
      }
      const shownEpoch = settings.epoch ?? newest.epoch;
      for (let index = 0; index < changesPerPage; index++) {
        await change('colormap change', { colormap: index % 2 === 0 ? 'viridis' : 'turbo' }, shownEpoch);
        await change('opacity change', { opacity: [0.3, 0.7, 0.4][index % 3]! }, shownEpoch);
      }
      const problems = webview.consoleMessages.filter((line) => line.startsWith('error'));
      if (problems.length > 0) {
        throw new Error(`the page logged errors:\n${problems.join('\n')}`);
      }
      await page.close();
    }
  } finally {
    await browser?.close();
  }

  const size = newest.manifest.imageSize;
  const [mapHeight, mapWidth] = newest.manifest.featureMapSize;
  console.log(
    `${probes} probes of ${size}×${size}, maps of ${mapHeight}×${mapWidth}, ${steps.length} steps; ` +
      `${pages} fresh pages in headless Chromium, ${os.cpus().length} CPUs`,
  );
  console.log("(milliseconds: drawn = every tile's pixels written, frame = the next animation frame)");
  console.log(
    `| ${'heat-map grid, 64 probes'.padEnd(32)} |   n | drawn p50 | drawn p90 | frame p50 | frame p90 |`,
  );
  console.log(`| ${'-'.repeat(32)} | --: | --------: | --------: | --------: | --------: |`);
  for (const name of cases) {
    console.log(row(name, timings.get(name)!));
  }
  const resultsDir = path.join(__dirname, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const summary = (values: Timing[]) => ({
    drawnMs: {
      median: quantile(
        values.map((timing) => timing.drawnMs),
        0.5,
      ),
      p90: quantile(
        values.map((timing) => timing.drawnMs),
        0.9,
      ),
    },
    frameMs: {
      median: quantile(
        values.map((timing) => timing.frameMs),
        0.5,
      ),
      p90: quantile(
        values.map((timing) => timing.frameMs),
        0.9,
      ),
    },
    all: values,
  });
  writeFileSync(
    path.join(resultsDir, 'heatmapGrid.json'),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        cpus: os.cpus().length,
        loadAverage: os.loadavg(),
        probes,
        imageSize: size,
        featureMapSize: newest.manifest.featureMapSize,
        pages,
        cases: Object.fromEntries(cases.map((name) => [name, summary(timings.get(name)!)])),
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
