import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { writeExampleDataset } from '../../src/host/newExperiment/exampleDataset';
import { colormapTable } from '../../src/shared/colormaps';
import type { HeatmapEditorState, HostToHeatmapEditor } from '../../src/shared/protocol/heatmapEditor';
import { type AnalysisManifest, analysisManifest, runStatus } from '../../src/shared/protocol/runFiles';
import type { ImageHeatmapResultMessage } from '../../src/shared/protocol/worker';
import { compositeOverlay } from '../../webview/shared/heatmapPixels';
import { makeTempDir } from '../fixtures/makeImages';
import { type CodeServer, startCodeServer } from '../integration/codeServer';
import { provisionVSCode, repoRoot } from '../integration/provision';
import { quietSettings } from '../integration/run';
import { assertCliBuilt, runCli } from '../support/cli';
import { type FixtureRun, fixtureRunConfig, trainedFixtureRun } from '../support/fixtureRun';
import {
  launchChromium,
  type OpenedWebview,
  openWebview,
  openWithFromExplorer,
  openWorkbench,
  runFromPalette,
  screenshot,
} from './harness';
import type { ThemeName } from './themes';

const root = path.join(__dirname, '..', '..');
const bundle = path.join(root, 'dist', 'webview', 'heatmapEditor.js');

type Settings = Omit<HeatmapEditorState, 'configFile'>;
type CanvasPixels = { width: number; height: number; data: number[] };

function readCanvas(page: Page): Promise<CanvasPixels> {
  return page.evaluate(() => {
    const canvas = document
      .querySelector('sp-heatmap-editor')!
      .shadowRoot!.querySelector('canvas.image') as HTMLCanvasElement;
    const { width, height } = canvas;
    return {
      width,
      height,
      data: Array.from(canvas.getContext('2d')!.getImageData(0, 0, width, height).data),
    };
  });
}

function largestDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let largest = 0;
  for (let index = 0; index < a.length; index++) largest = Math.max(largest, Math.abs(a[index]! - b[index]!));
  return largest;
}

describe('heat-map editor in Chromium', function () {
  this.timeout(180_000);
  let browser: Browser;
  let run: FixtureRun;
  let manifest: AnalysisManifest;
  let step: string;
  /** The probe the messages show: its saved centre view and maps, as the worker answers for it. */
  const probe = 2;
  let pixels: Buffer;
  let gradCam: Buffer;
  let otherMap: Buffer;

  before(async () => {
    if (!existsSync(bundle)) {
      throw new Error('dist/webview/heatmapEditor.js is missing: run `npm run build` first');
    }
    run = await trainedFixtureRun();
    step = path.join(run.runDir, 'analysis', 'epoch-0003');
    manifest = analysisManifest.parse(JSON.parse(readFileSync(path.join(step, 'analysis.json'), 'utf8')));
    const tile = manifest.imageSize ** 2;
    pixels = readFileSync(path.join(step, 'probes.centre.bin')).subarray(
      probe * tile * 3,
      (probe + 1) * tile * 3,
    );
    const maps = readFileSync(path.join(step, 'heatmap.gradCam.bin'));
    gradCam = maps.subarray(probe * tile, (probe + 1) * tile);
    // The fixture's encoder pools its feature map by its mean, so its two variants coincide; the augmented
    // view's map stands in for the second one, so that which array is drawn can be told apart.
    const augmentedView = manifest.probes.testPositions.length + probe;
    otherMap = maps.subarray(augmentedView * tile, (augmentedView + 1) * tile);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
  });

  const experiment = () => ({ configFile: run.configFile, label: 'fixture.synthpair.json' });
  const image = 'data/test/ocellia-bioculata/ocellia-bioculata-001.png';

  function runRef(live = false) {
    const status = runStatus.parse(JSON.parse(readFileSync(path.join(run.runDir, 'run.json'), 'utf8')));
    return { runDir: run.runDir, label: 'run', state: status.state, live };
  }

  function heatmapResult(): ImageHeatmapResultMessage {
    return {
      runDir: run.runDir,
      imageFile: path.join(run.workspace, image),
      checkpoint: 'epoch-0003',
      epoch: 3,
      analysisEpoch: 3,
      split: 'test',
      position: manifest.probes.testPositions[probe]!,
      probe,
      imageSize: manifest.imageSize,
      pixels: pixels.toString('base64'),
      gradCam: gradCam.toString('base64'),
      gradientTimesActivation: otherMap.toString('base64'),
      loss: manifest.probes.loss,
      batchImages: manifest.probes.testPositions.length,
      elapsedMs: 412.6,
    };
  }

  function heatmapMessage(experiments = [experiment()]): HostToHeatmapEditor {
    return {
      type: 'heatmap',
      image,
      experiment: experiment(),
      experiments,
      run: runRef(),
      heatmap: heatmapResult(),
    };
  }

  async function open(
    options: { theme?: ThemeName; state?: unknown; width?: number } = {},
  ): Promise<OpenedWebview> {
    return openWebview(browser, {
      bundle: 'heatmapEditor',
      title: 'SynthPair: Heatmap',
      theme: options.theme ?? 'dark',
      state: options.state,
      width: options.width ?? 760,
      height: 720,
    });
  }

  async function renderedAs(page: Page, settings: Settings): Promise<void> {
    const key = `epoch-0003|${settings.variant}|${settings.colormap}|${settings.opacity}`;
    await page.waitForFunction(
      (wanted) => document.querySelector('sp-heatmap-editor')?.getAttribute('data-rendered') === wanted,
      key,
      { timeout: 10_000 },
    );
  }

  /** The canvas shows the message's image with the chosen map over it, as the engine's grid colours it. */
  async function assertDraws(page: Page, map: Buffer, settings: Settings): Promise<void> {
    const canvas = await readCanvas(page);
    assert.deepEqual([canvas.width, canvas.height], [manifest.imageSize, manifest.imageSize]);
    const expected = new Uint8ClampedArray(manifest.imageSize ** 2 * 4);
    compositeOverlay(pixels, 0, map, 0, colormapTable(settings.colormap), settings.opacity, expected);
    const worst = largestDifference(canvas.data, expected);
    assert.ok(worst <= 1, `the canvas differs from the expected overlay by ${worst} levels`);
  }

  async function assertClean(webview: OpenedWebview): Promise<void> {
    assert.deepEqual(
      webview.consoleMessages.filter((line) => line.startsWith('error') || line.includes('refused')),
      [],
    );
    assert.deepEqual(await webview.cspViolations(), []);
  }

  const defaults: Settings = { variant: 'gradCam', colormap: 'inferno', opacity: 0.5 };

  it('asks the host for the maps once loaded, naming no experiment until one was chosen', async () => {
    const webview = await open();
    await webview.page.locator('sp-heatmap-editor vscode-progress-ring').waitFor();
    assert.deepEqual(await webview.posted(), [{ type: 'ready', configFile: null }]);
    await assertClean(webview);
    await webview.page.close();
  });

  for (const theme of ['dark', 'light', 'high-contrast'] as const) {
    it(`draws the image with its map, and says which run, epoch and probes it came from (${theme})`, async () => {
      const webview = await open({ theme });
      const { page } = webview;
      await webview.postFromHost(heatmapMessage());
      await renderedAs(page, defaults);
      await assertDraws(page, gradCam, defaults);
      const text = async (selector: string) =>
        ((await page.locator(`sp-heatmap-editor ${selector}`).textContent()) ?? '')
          .replace(/\s+/g, ' ')
          .trim();
      assert.equal(await text('h1'), image);
      assert.equal(await text('#open-experiment'), 'fixture.synthpair.json');
      assert.equal(await text('#run'), 'Run run');
      assert.equal(await text('#checkpoint'), 'Checkpoint epoch 3');
      assert.equal(
        await text('#probe-info'),
        `probe ${probe + 1} of the analysis after epoch 3, with the other 7 probes`,
      );
      assert.match(
        await text('#image-info'),
        /^test split, position \d+; the centre 32×32 crop evaluation sees$/,
      );
      assert.equal(await text('#elapsed'), 'in 413 ms');
      await screenshot(page, `heatmap-editor-${theme}`);
      await assertClean(webview);
      await page.close();
    });
  }

  it('redraws in place and saves the settings when opacity, colormap or map variant change', async () => {
    const webview = await open();
    const { page } = webview;
    await webview.postFromHost(heatmapMessage());
    await renderedAs(page, defaults);
    const canvasBefore = await page.evaluate(() =>
      document.querySelector('sp-heatmap-editor')!.shadowRoot!.querySelector('canvas.image'),
    );
    assert.ok(canvasBefore);

    await page.locator('sp-heatmap-editor #opacity').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    let settings: Settings = { ...defaults, opacity: 0.6 };
    await renderedAs(page, settings);
    await assertDraws(page, gradCam, settings);
    assert.equal((await page.locator('sp-heatmap-editor .value').textContent())?.trim(), '60 %');
    assert.deepEqual(await webview.state(), { ...settings, configFile: null });

    await page.locator('sp-heatmap-editor #colormap').click();
    await page.locator('sp-heatmap-editor #colormap').getByRole('option', { name: 'viridis' }).click();
    settings = { ...settings, colormap: 'viridis' };
    await renderedAs(page, settings);
    await assertDraws(page, gradCam, settings);

    await page.locator('sp-heatmap-editor vscode-radio[value="gradientTimesActivation"]').click();
    settings = { ...settings, variant: 'gradientTimesActivation' };
    await renderedAs(page, settings);
    await assertDraws(page, otherMap, settings);
    assert.deepEqual(await webview.state(), { ...settings, configFile: null });
    // The same canvas throughout: updates draw into it rather than replacing it.
    assert.ok(
      await page.evaluate(
        () =>
          document.querySelector('sp-heatmap-editor')!.shadowRoot!.querySelectorAll('canvas.image').length ===
          1,
      ),
    );
    await assertClean(webview);
    await page.close();
  });

  it('reads the value under a marker the arrow keys move, and under the pointer', async () => {
    const webview = await open();
    const { page } = webview;
    await webview.postFromHost(heatmapMessage());
    await renderedAs(page, defaults);
    const size = manifest.imageSize;
    const canvas = page.locator('sp-heatmap-editor canvas.image');
    const readout = page.locator('sp-heatmap-editor #readout');
    const value = page.locator('sp-heatmap-editor #value');
    const valueAt = (x: number, y: number) => (gradCam[y * size + x]! / 255).toFixed(2);
    const readsAt = async (x: number, y: number) => {
      await page.waitForFunction(
        (wanted) =>
          document
            .querySelector('sp-heatmap-editor')
            ?.shadowRoot?.querySelector('#readout')
            ?.textContent?.includes(wanted),
        `x ${x}, y ${y}`,
      );
      assert.equal((await value.textContent())?.trim(), valueAt(x, y));
    };
    assert.match((await readout.textContent()) ?? '', /Point at the image/);

    // The first key press lands on the centre, the next ones move from there.
    await canvas.focus();
    await page.keyboard.press('ArrowRight');
    await readsAt(size / 2, size / 2);
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await readsAt(size / 2, size / 2 - 2);
    assert.equal(await page.locator('sp-heatmap-editor .marker').count(), 1);

    const box = (await canvas.boundingBox())!;
    const [x, y] = [20, 9];
    await page.mouse.move(box.x + ((x + 0.5) * box.width) / size, box.y + ((y + 0.5) * box.height) / size);
    await readsAt(x, y);
    await screenshot(page, 'heatmap-editor-pointer-dark');
    await assertClean(webview);
    await page.close();
  });

  it('explains an image no experiment holds', async () => {
    const webview = await open({ theme: 'light' });
    const { page } = webview;
    await webview.postFromHost({ type: 'noExperiment', image: 'photos/cat.png' });
    const notice = page.locator('sp-heatmap-editor #no-experiment');
    await notice.waitFor();
    assert.match(
      ((await notice.textContent()) ?? '').replace(/\s+/g, ' '),
      /This image is not in the dataset of any \*\.synthpair\.json experiment in the workspace\./,
    );
    assert.equal(await page.locator('sp-heatmap-editor canvas.image').count(), 0);
    await screenshot(page, 'heatmap-editor-no-experiment-light');
    await assertClean(webview);
    await page.close();
  });

  it('asks for a run when the experiment has none, and runs it from its button', async () => {
    const webview = await open();
    const { page } = webview;
    await webview.postFromHost({
      type: 'noRun',
      image,
      experiment: experiment(),
      experiments: [experiment()],
      canRun: true,
      training: false,
    });
    const notice = page.locator('sp-heatmap-editor #no-run');
    await notice.waitFor();
    assert.match((await notice.textContent()) ?? '', /Run the experiment first\./);
    await screenshot(page, 'heatmap-editor-no-run-dark');
    await page.locator('sp-heatmap-editor #run-experiment').click();
    assert.deepEqual((await webview.posted()).at(-1), { type: 'runExperiment', configFile: run.configFile });

    // In Restricted Mode there is no button to press, and while a run trains a ring says it is coming.
    await webview.postFromHost({
      type: 'noRun',
      image,
      experiment: experiment(),
      experiments: [experiment()],
      canRun: false,
      training: false,
    });
    await page.locator('sp-heatmap-editor #run-experiment').waitFor({ state: 'detached' });
    assert.match((await notice.textContent()) ?? '', /Restricted Mode/);
    await webview.postFromHost({
      type: 'noRun',
      image,
      experiment: experiment(),
      experiments: [experiment()],
      canRun: true,
      training: true,
    });
    await page.locator('sp-heatmap-editor #no-run vscode-progress-ring').waitFor();
    assert.match(((await notice.textContent()) ?? '').replace(/\s+/g, ' '), /first checkpoint/);
    await assertClean(webview);
    await page.close();
  });

  it('shows a ring while computing, keeps the picture while a newer checkpoint is computed, and offers a retry', async () => {
    const webview = await open();
    const { page } = webview;
    const computing: HostToHeatmapEditor = {
      type: 'computing',
      image,
      experiment: experiment(),
      experiments: [experiment()],
      run: runRef(true),
    };
    await webview.postFromHost(computing);
    await page.locator('sp-heatmap-editor #computing vscode-progress-ring').waitFor();
    assert.equal(await page.locator('#app').getAttribute('aria-busy'), 'true');
    await screenshot(page, 'heatmap-editor-computing-dark');

    await webview.postFromHost(heatmapMessage());
    await renderedAs(page, defaults);
    await webview.postFromHost(computing);
    await page.locator('sp-heatmap-editor #refreshing').waitFor();
    // Still the previous picture, dimmed, with the run marked as training.
    await assertDraws(page, gradCam, defaults);
    assert.match((await page.locator('sp-heatmap-editor #run').textContent()) ?? '', /training/);

    await webview.postFromHost({
      type: 'error',
      image,
      experiment: experiment(),
      experiments: [experiment()],
      run: runRef(),
      message: `${run.runDir}: has no checkpoint yet (one is saved every checkpoint.everyEpochs epochs and at the end)`,
    });
    const error = page.locator('sp-heatmap-editor #error');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /has no checkpoint yet/);
    assert.equal(await page.locator('sp-heatmap-editor canvas.image').count(), 0);
    await screenshot(page, 'heatmap-editor-error-dark');
    await page.locator('sp-heatmap-editor #retry').click();
    assert.deepEqual((await webview.posted()).at(-1), { type: 'retry' });
    await assertClean(webview);
    await page.close();
  });

  it('restores its settings and chosen experiment, and switches between experiments that hold the image', async () => {
    const other = {
      configFile: path.join(run.workspace, 'other.synthpair.json'),
      label: 'other.synthpair.json',
    };
    const restored: HeatmapEditorState = {
      variant: 'gradientTimesActivation',
      colormap: 'turbo',
      opacity: 0.8,
      configFile: run.configFile,
    };
    const webview = await open({ state: restored, theme: 'high-contrast' });
    const { page } = webview;
    await page.waitForFunction(
      () => (window as unknown as { __synthpair: { posted: unknown[] } }).__synthpair.posted.length > 0,
    );
    assert.deepEqual(await webview.posted(), [{ type: 'ready', configFile: run.configFile }]);
    await webview.postFromHost(heatmapMessage([experiment(), other]));
    const { configFile: _, ...settings } = restored;
    await renderedAs(page, settings);
    await assertDraws(page, otherMap, settings);
    assert.equal((await page.locator('sp-heatmap-editor .value').textContent())?.trim(), '80 %');

    await page.locator('sp-heatmap-editor #experiment').click();
    await page
      .locator('sp-heatmap-editor #experiment')
      .getByRole('option', { name: 'other.synthpair.json' })
      .click();
    assert.deepEqual((await webview.posted()).at(-1), {
      type: 'selectExperiment',
      configFile: other.configFile,
    });
    assert.deepEqual(await webview.state(), { ...settings, configFile: other.configFile });
    await page.locator('sp-heatmap-editor #open-experiment').click();
    assert.deepEqual((await webview.posted()).at(-1), { type: 'openExperiment', configFile: run.configFile });
    await assertClean(webview);
    await page.close();
  });

  it('fits a narrow editor group without scrolling sideways', async () => {
    const webview = await open({ width: 320 });
    const { page } = webview;
    await webview.postFromHost(
      heatmapMessage([
        experiment(),
        { configFile: '/elsewhere/b.synthpair.json', label: 'b.synthpair.json' },
      ]),
    );
    await renderedAs(page, defaults);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the editor`);
    await screenshot(page, 'heatmap-editor-narrow-dark');
    await assertClean(webview);
    await page.close();
  });
});

/**
 * The editor and the probe hover as a user reaches them: Open With on an image of the data set, and a hover on
 * `analysis.probes`, in a real workbench with the real extension host and engine worker behind them.
 */
describe('heat maps in a real VS Code workbench', function () {
  this.timeout(300_000);
  let browser: Browser;
  let workspace: string;
  let experimentText: string;
  let server: CodeServer;
  let page: Page;

  before(async () => {
    assertCliBuilt();
    workspace = await makeTempDir('heatmap-workbench');
    await writeExampleDataset(path.join(workspace, 'data'), { trainPerClass: 8, testPerClass: 2 });
    experimentText = JSON.stringify(fixtureRunConfig({ train: { epochs: 2 } }), null, 2);
    await writeFile(path.join(workspace, 'insects.synthpair.json'), experimentText);
    // Trained where the workspace is, so the run names this experiment file as its own.
    const trained = runCli(workspace, 'run', 'insects.synthpair.json');
    assert.equal(trained.code, 0, trained.stderr);
    const version = (
      JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }
    ).version;
    const { codeServerBin, env } = await provisionVSCode();
    server = await startCodeServer({
      codeServerBin,
      env,
      folder: workspace,
      settings: quietSettings,
      linkedExtensions: [{ id: 'synthpair.synthpair', version, location: repoRoot }],
    });
    browser = await launchChromium();
    page = await openWorkbench(browser, server.url, { width: 1300, height: 860 });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await rm(workspace, { recursive: true, force: true });
  });

  async function quickOpen(name: string): Promise<void> {
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(name);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor();
    await page.keyboard.press('Enter');
  }

  it('renders the latest run’s probe grid in the hover of analysis.probes', async () => {
    await quickOpen('insects.synthpair.json');
    // The editor draws only the lines in view: go to the key's line, wherever the config puts it.
    const probesLine = experimentText.split('\n').findIndex((line) => line.includes('"probes"')) + 1;
    await page.locator('.view-line').first().waitFor();
    await page.keyboard.press('Control+G');
    await page.locator('.quick-input-widget input').waitFor();
    await page.keyboard.type(String(probesLine));
    await page.keyboard.press('Enter');
    const probesKey = page.locator('.view-line span', { hasText: '"probes"' }).first();
    await probesKey.waitFor({ timeout: 30_000 });
    // Hover again until the extension has activated and its provider answers.
    const grid = page.locator('.monaco-hover img[alt^="Heat maps of the 8 probes"]');
    for (let attempt = 0; ; attempt++) {
      await page.mouse.move(0, 0);
      await probesKey.hover();
      try {
        await grid.waitFor({ timeout: 5000 });
        break;
      } catch (error) {
        if (attempt === 10) throw error;
      }
    }
    await page.waitForFunction(
      () => {
        const image = document.querySelector<HTMLImageElement>('.monaco-hover img[alt^="Heat maps"]');
        return image?.complete && image.naturalWidth > 0;
      },
      undefined,
      { timeout: 10_000 },
    );
    // The grid file as the engine wrote it: six 32-pixel tiles and five 2-pixel gaps per row, one row per probe.
    const size = await grid.evaluate((image) => [
      (image as HTMLImageElement).naturalWidth,
      (image as HTMLImageElement).naturalHeight,
    ]);
    assert.deepEqual(size, [6 * 32 + 5 * 2, 8 * 32 + 7 * 2]);
    assert.match((await page.locator('.monaco-hover').first().textContent()) ?? '', /analysis after epoch 2/);
    await screenshot(page, 'heatmap-workbench-hover-dark');
    await page.keyboard.press('Escape');
  });

  it('opens an image of the data set with SynthPair: Heatmap, and comes back after a reload with its settings', async () => {
    await quickOpen('ocellia-alta-001.png');
    // Open With from the Explorer: the image preview's webview would keep the keyboard from the palette.
    await openWithFromExplorer(page, 'ocellia-alta-001.png', 'SynthPair: Heatmap');
    const editor = page
      .frameLocator('iframe.webview.ready')
      .frameLocator('iframe#active-frame')
      .locator('sp-heatmap-editor');
    // The webview lives in nested frames, so its attribute is polled from here.
    const shows = async (wanted: string) => {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const value = await editor.getAttribute('data-rendered', { timeout: 90_000 }).catch(() => null);
        if (value === wanted) return;
        if (Date.now() > deadline) assert.fail(`the editor shows ${value}, not ${wanted}`);
        await page.waitForTimeout(200);
      }
    };
    await shows('epoch-0002|gradCam|inferno|0.5');
    assert.match(
      (await editor.locator('#probe-info').textContent()) ?? '',
      /probe 1 of the analysis after epoch 2/,
    );
    await editor.locator('#opacity').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await shows('epoch-0002|gradCam|inferno|0.6');
    await screenshot(page, 'heatmap-workbench-editor-dark');

    await runFromPalette(page, 'Developer: Reload Window');
    await page.waitForEvent('load');
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    // Resolved again by VS Code in a fresh extension host, with the state the webview saved.
    await shows('epoch-0002|gradCam|inferno|0.6');
  });
});
