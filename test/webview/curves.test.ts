import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decode } from 'fast-png';
import type { Browser, ElementHandle, Page } from 'playwright-core';
import { type FixtureRun, trainedFixtureRun } from '../support/fixtureRun';
import { bindingMessage, listedRun, type RunRecords, runMetricsMessage, runRecords } from './fixtureMessages';
import {
  assertBundleBuilt,
  assertNoErrors,
  launchChromium,
  type OpenedWebview,
  openDashboard,
  screenshot,
  screenshotDir,
} from './harness';
import { type ThemeName, themes } from './themes';

/** A fixture run under the name the run picker shows, with the records its curves are drawn from. */
interface NamedRun extends RunRecords {
  runDir: string;
  label: string;
}

function namedRun(fixture: FixtureRun, label: string): NamedRun {
  return { runDir: fixture.runDir, label, ...runRecords(fixture.runDir) };
}

/** The binding of `fixture`'s experiment, listing `runs` under their names; `fixture` is the run shown. */
function binding(fixture: FixtureRun, runs: NamedRun[], overlaid: NamedRun[] = []) {
  return bindingMessage(fixture, {
    runs: runs.map((run) => listedRun(run.runDir, run.label)),
    overlaidRuns: overlaid.map((run) => run.runDir),
  });
}

const card = (chart: string) => `sp-curves .curve-card[data-chart="${chart}"]`;
const canvasOf = (chart: string) => `${card(chart)} .curve-plot canvas`;

/** Pixels of the chart's canvas within `tolerance` (sum of channel differences) of `#rrggbb`, of an opacity in `alpha`. */
async function pixelsOfColour(
  page: Page,
  chart: string,
  hex: string,
  { tolerance = 30, alpha = [201, 255] }: { tolerance?: number; alpha?: [number, number] } = {},
): Promise<number> {
  const rgb = [1, 3, 5].map((offset) => Number.parseInt(hex.slice(offset, offset + 2), 16));
  return page.evaluate(
    ({ selector, rgb, tolerance, alpha }) => {
      const canvas = document.querySelector<HTMLCanvasElement>(selector)!;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let count = 0;
      for (let offset = 0; offset < data.length; offset += 4) {
        const distance =
          Math.abs(data[offset]! - rgb[0]!) +
          Math.abs(data[offset + 1]! - rgb[1]!) +
          Math.abs(data[offset + 2]! - rgb[2]!);
        if (data[offset + 3]! >= alpha[0]! && data[offset + 3]! <= alpha[1]! && distance <= tolerance)
          count++;
      }
      return count;
    },
    { selector: canvasOf(chart), rgb, tolerance, alpha },
  );
}

function savedExports(posted: unknown[]) {
  return posted.filter(
    (message): message is { type: 'saveExport'; format: string; base64: string; suggestedName: string } =>
      (message as { type?: string }).type === 'saveExport',
  );
}

/** Waits until a chart's x array no longer has `previous` values, and returns how many it has now. */
async function waitForPoints(page: Page, chart: string, previous: string | null): Promise<string> {
  const plot = page.locator(`${card(chart)} .curve-plot`);
  await page.waitForFunction(
    ([selector, before]) => document.querySelector<HTMLElement>(selector!)?.dataset['points'] !== before,
    [`${card(chart)} .curve-plot`, previous] as const,
  );
  return (await plot.getAttribute('data-points'))!;
}

/** Whether the chart still draws on a canvas held from before: updated or resized in place, not rebuilt. */
function drawsOn(page: Page, chart: string, held: ElementHandle): Promise<boolean> {
  return page.evaluate(([held, selector]) => held === document.querySelector(selector as string), [
    held,
    canvasOf(chart),
  ] as const);
}

/** Drags across the plot area of a chart, from one fraction of its width to another. */
async function dragAcross(page: Page, chart: string, from: number, to: number): Promise<void> {
  const box = (await page.locator(`${card(chart)} .u-over`).boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * from, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * to, y, { steps: 8 });
  await page.mouse.up();
}

/** Hovers a fraction of the way across a chart's plot and returns what its read-out says. */
async function readoutAt(page: Page, chart: string, fraction: number): Promise<string> {
  const box = (await page.locator(`${card(chart)} .u-over`).boundingBox())!;
  await page.mouse.move(box.x + box.width * fraction, box.y + box.height / 2);
  return (await page.locator(`${card(chart)} .curve-readout`).textContent()) ?? '';
}

describe('training curves in the dashboard, in Chromium', function () {
  this.timeout(240_000);
  let browser: Browser;
  let fixture: FixtureRun;
  let main: NamedRun;
  let smallBatches: NamedRun;

  before(async () => {
    assertBundleBuilt('dashboard');
    fixture = await trainedFixtureRun();
    main = namedRun(fixture, 'fixture-main');
    // Batches of 8 take twice the steps, logged at other step numbers than the main run's.
    smallBatches = namedRun(await trainedFixtureRun({ train: { batchSize: 8 } }), 'fixture-batch8');
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
  });

  async function openCurves(
    options: { theme?: ThemeName; width?: number; overlay?: boolean; state?: unknown } = {},
  ): Promise<OpenedWebview> {
    const webview = await openDashboard(browser, {
      theme: options.theme ?? 'dark',
      width: options.width ?? 1100,
      height: 900,
      state: options.state,
    });
    const overlaid = options.overlay ? [smallBatches] : [];
    await webview.postFromHost(binding(fixture, [main, smallBatches], overlaid));
    await webview.postFromHost(runMetricsMessage(main.runDir));
    for (const run of overlaid) {
      await webview.postFromHost(runMetricsMessage(run.runDir));
    }
    await webview.page.locator('#tab-curves').click();
    await webview.page.locator(canvasOf('eval')).waitFor();
    return webview;
  }

  it('draws the losses, learning rate, throughput and evaluation of the run', async () => {
    const webview = await openCurves();
    const { page } = webview;
    const legend = (chart: string) =>
      page
        .locator(`${card(chart)} .series-toggle`)
        .evaluateAll((toggles) => toggles.map((t) => t.textContent?.trim()));
    assert.deepEqual(await legend('losses'), ['L_C', 'L_R', 'L_Cp', 'total']);
    assert.equal(
      await page
        .locator(`${card('losses')} .series-toggle[data-series="losses.contrastive"] .series-swatch`)
        .evaluate((swatch) => getComputedStyle(swatch).backgroundColor),
      'rgb(55, 148, 255)',
      'the legend shows the colour of the line',
    );
    assert.deepEqual(await legend('lr'), ['learning rate']);
    assert.deepEqual(await legend('throughput'), ['images/s']);
    assert.deepEqual(await legend('eval'), ['kNN top-1', 'linear top-1', 'rank-1', 'rank-5', 'mAP']);
    const seriesCounts = await page
      .locator('sp-curves .curve-plot')
      .evaluateAll((plots) =>
        plots.map((plot) => [plot.parentElement?.dataset['chart'], plot.dataset['series']]),
      );
    // Each loss term has a line through its logged steps and markers for its epoch means.
    assert.deepEqual(seriesCounts, [
      ['losses', '8'],
      ['lr', '1'],
      ['throughput', '1'],
      ['eval', '5'],
    ]);
    // The dark theme sets no --vscode-charts-blue: VS Code's default blue stands in; green comes from the theme.
    assert.ok((await pixelsOfColour(page, 'losses', '#3794ff')) > 20, 'L_C is drawn in blue');
    assert.ok((await pixelsOfColour(page, 'eval', '#3794ff')) > 20, 'kNN top-1 is drawn in blue');
    assert.ok(
      (await pixelsOfColour(page, 'throughput', '#89d185')) > 5,
      'images/s is drawn in the theme green',
    );
    assert.ok(
      (await pixelsOfColour(page, 'lr', '#cca700')) > 20,
      'the learning rate is drawn in the theme yellow',
    );
    const readout = await readoutAt(page, 'eval', 0.999);
    const last = main.evals.at(-1)!;
    assert.match(readout, new RegExp(`^epoch ${last.epoch}: kNN top-1 ${last.knnTop1! * 100}%`));
    await assertNoErrors(webview);
    await page.close();
  });

  it('says there is nothing to draw before the first logged step', async () => {
    const webview = await openDashboard(browser, { theme: 'dark' });
    await webview.postFromHost(binding(fixture, [main]));
    await webview.postFromHost(runMetricsMessage(main.runDir, { records: { metrics: [], evals: [] } }));
    await webview.page.locator('#tab-curves').click();
    await webview.page.getByText('No metrics yet: the curves appear after the first logged step').waitFor();
    assert.equal(await webview.page.locator('sp-curves canvas').count(), 0);
    await webview.page.close();
  });

  it('draws again after the user comes back from another tab', async () => {
    const webview = await openCurves({
      state: { curves: { hidden: ['losses.contrastive'], logScale: false } },
    });
    const { page } = webview;
    await page.locator('#tab-engine').click();
    await page.locator('sp-curves').waitFor({ state: 'detached' });
    await page.locator('#tab-curves').click();
    await page.locator(canvasOf('losses')).waitFor();
    assert.equal(await page.locator(`${card('losses')} .curve-plot`).getAttribute('data-series'), '8');
    assert.ok((await pixelsOfColour(page, 'losses', '#d18616')) > 5, 'L_R is drawn');
    assert.equal(await pixelsOfColour(page, 'losses', '#3794ff'), 0, 'L_C stays hidden');
    await page.close();
  });

  it('hides a series from its legend, with the mouse or the keyboard, and saves it in the state', async () => {
    const webview = await openCurves();
    const { page } = webview;
    const orange = '#d18616';
    assert.ok((await pixelsOfColour(page, 'losses', orange)) > 5, 'L_R is drawn in orange');
    const reconstruction = page.locator(
      `${card('losses')} .series-toggle[data-series="losses.reconstruction"]`,
    );
    await reconstruction.click();
    assert.equal(await reconstruction.getAttribute('aria-pressed'), 'false');
    assert.equal(await pixelsOfColour(page, 'losses', orange), 0, 'L_R is no longer drawn');
    const state = (await webview.state()) as { curves?: { hidden: string[]; logScale: boolean } };
    assert.deepEqual(state.curves, { hidden: ['losses.reconstruction'], logScale: false });

    // From the log-scale box, Tab passes the chart's export button and reaches the first series toggle.
    await page.locator('#curves-log-scale').focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(
      await page.evaluate(() => (document.activeElement as HTMLElement).dataset['series']),
      'losses.contrastive',
    );
    await page.keyboard.press('Space');
    assert.deepEqual(((await webview.state()) as { curves: unknown }).curves, {
      hidden: ['losses.reconstruction', 'losses.contrastive'],
      logScale: false,
    });
    assert.equal(await pixelsOfColour(page, 'losses', '#3794ff'), 0, 'L_C is no longer drawn');
    await reconstruction.press('Enter');
    assert.ok((await pixelsOfColour(page, 'losses', orange)) > 5, 'L_R is drawn again');
    await page.close();
  });

  it('restores hidden series and the log scale from the saved state', async () => {
    const webview = await openCurves({
      state: { tab: 'curves', curves: { hidden: ['eval.knnTop1'], logScale: true } },
    });
    const { page } = webview;
    assert.equal(
      await page
        .locator(`${card('eval')} .series-toggle[data-series="eval.knnTop1"]`)
        .getAttribute('aria-pressed'),
      'false',
    );
    assert.equal(await pixelsOfColour(page, 'eval', '#3794ff'), 0);
    assert.equal(
      await page.locator('#curves-log-scale').evaluate((box) => (box as HTMLInputElement).checked),
      true,
    );
    await screenshot(page, 'curves-log-scale');
    await page.locator('#curves-log-scale').click();
    const state = (await webview.state()) as { curves: unknown };
    assert.deepEqual(state.curves, { hidden: ['eval.knnTop1'], logScale: false });
    assert.ok((await pixelsOfColour(page, 'losses', '#3794ff')) > 20, 'the linear chart draws L_C');
    await page.close();
  });

  it('exports every record as CSV through the host', async () => {
    const webview = await openCurves({ overlay: true });
    await webview.page.locator('#curves-export-csv').click();
    const [saved] = savedExports(await webview.posted());
    assert.ok(saved, 'a saveExport message');
    assert.equal(saved.format, 'csv');
    assert.equal(saved.suggestedName, 'fixture-main-curves.csv');
    const lines = Buffer.from(saved.base64, 'base64').toString('utf8').trimEnd().split('\r\n');
    assert.equal(
      lines[0],
      'run,kind,epoch,step,time,contrastive,reconstruction,pairs,total,lr,imagesPerSecond,knnTop1,linearTop1,rank1,rank5,mAP,validationRank1,validationMAP',
    );
    const rows = [main, smallBatches].reduce((sum, run) => sum + run.metrics.length + run.evals.length, 0);
    assert.equal(lines.length, 1 + rows);
    assert.ok(lines[1]!.startsWith('fixture-main,'), 'the selected run comes first');
    assert.equal(
      lines.filter((line) => line.startsWith('fixture-batch8,eval,')).length,
      smallBatches.evals.length,
    );
    await webview.page.close();
  });

  it('exports a chart as a PNG with its title and legend', async () => {
    const webview = await openCurves();
    const { page } = webview;
    const plotCanvas = await page
      .locator(canvasOf('losses'))
      .evaluate((canvas) => [(canvas as HTMLCanvasElement).width, (canvas as HTMLCanvasElement).height]);
    await page.locator(`${card('losses')} .curve-export-png`).click();
    await page.waitForFunction(() =>
      (window as unknown as { __synthpair: { posted: { type: string }[] } }).__synthpair.posted.some(
        (message) => message.type === 'saveExport',
      ),
    );
    const [saved] = savedExports(await webview.posted());
    assert.equal(saved!.format, 'png');
    assert.equal(saved!.suggestedName, 'fixture-main-losses.png');
    const bytes = Buffer.from(saved!.base64, 'base64');
    mkdirSync(screenshotDir, { recursive: true });
    writeFileSync(path.join(screenshotDir, 'curves-export-losses.png'), bytes);
    const image = decode(bytes);
    assert.ok(
      image.width > plotCanvas[0]! && image.height > plotCanvas[1]!,
      'the chart plus a title and legend',
    );
    // The background is the editor's (#1f1f1f in the dark theme), not transparent.
    assert.deepEqual([...image.data.slice(0, 4)], [31, 31, 31, 255]);
    let blue = 0;
    for (let offset = 0; offset < image.data.length; offset += image.channels) {
      const [r, g, b] = [image.data[offset]!, image.data[offset + 1]!, image.data[offset + 2]!];
      if (Math.abs(r - 0x37) + Math.abs(g - 0x94) + Math.abs(b - 0xff) < 30) blue++;
    }
    assert.ok(blue > 20, 'L_C in the picture');
    await page.close();
  });

  it('grows the curves in place as records arrive and keeps the zoom, synced across the step charts', async () => {
    const webview = await openDashboard(browser, { theme: 'dark', width: 1100, height: 900 });
    const { page } = webview;
    // The last step has a step record and the epoch's summary: both arrive later.
    const lastStep = main.metrics.at(-1)!;
    const atLastStep = main.metrics.filter((record) => record.step === lastStep.step);
    await webview.postFromHost(binding(fixture, [main]));
    await webview.postFromHost(
      runMetricsMessage(main.runDir, {
        records: {
          metrics: main.metrics.filter((record) => record.step < lastStep.step),
          evals: main.evals.slice(0, -1),
        },
      }),
    );
    await page.locator('#tab-curves').click();
    await page.locator(canvasOf('eval')).waitFor();
    const canvas = await page.locator(canvasOf('losses')).elementHandle();
    const pointsBefore = await page.locator(`${card('losses')} .curve-plot`).getAttribute('data-points');
    const before = await readoutAt(page, 'losses', 0.999);
    assert.doesNotMatch(before, new RegExp(`^step ${lastStep.step}\\b`));

    await webview.postFromHost(
      runMetricsMessage(main.runDir, {
        reset: false,
        records: { metrics: atLastStep, evals: [main.evals.at(-1)!] },
      }),
    );
    const pointsAfter = await waitForPoints(page, 'losses', pointsBefore);
    assert.ok(await drawsOn(page, 'losses', canvas), 'the same canvas draws the longer curve');
    assert.match(await readoutAt(page, 'losses', 0.999), new RegExp(`^step ${lastStep.step}: `));
    assert.match(await readoutAt(page, 'eval', 0.999), new RegExp(`^epoch ${main.evals.at(-1)!.epoch}: `));

    // Zoom onto the first half of the steps: the learning-rate chart follows, and new records keep the zoom.
    await dragAcross(page, 'losses', 0.02, 0.5);
    const zoomedLosses = await readoutAt(page, 'losses', 0.999);
    const zoomedLr = await readoutAt(page, 'lr', 0.999);
    assert.doesNotMatch(zoomedLosses, new RegExp(`^step ${lastStep.step}\\b`));
    assert.doesNotMatch(zoomedLr, new RegExp(`^step ${lastStep.step}\\b`));
    assert.equal(zoomedLr.split(':')[0], zoomedLosses.split(':')[0]);
    const more = { ...lastStep, step: lastStep.step + 10, epoch: lastStep.epoch + 1 };
    await webview.postFromHost(
      runMetricsMessage(main.runDir, { reset: false, records: { metrics: [more], evals: [] } }),
    );
    await waitForPoints(page, 'losses', pointsAfter);
    assert.equal((await readoutAt(page, 'losses', 0.999)).split(':')[0], zoomedLosses.split(':')[0]);
    // A double click shows everything again, in both charts.
    const box = (await page.locator(`${card('losses')} .u-over`).boundingBox())!;
    await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
    assert.match(await readoutAt(page, 'losses', 0.999), new RegExp(`^step ${more.step}: `));
    assert.match(await readoutAt(page, 'lr', 0.999), new RegExp(`^step ${more.step}: `));
    await page.close();
  });

  it('overlays a second run on the same axes, fainter and dashed, and names both', async () => {
    const webview = await openCurves({ overlay: true });
    const { page } = webview;
    const runKey = await page
      .locator('sp-curves .curves-run')
      .evaluateAll((items) => items.map((item) => item.textContent?.replace(/\s+/g, ' ').trim()));
    assert.deepEqual(runKey, ['fixture-main (selected)', 'fixture-batch8']);
    const lrSeries = await page.locator(`${card('lr')} .curve-plot`).getAttribute('data-series');
    assert.equal(lrSeries, '2');
    const steps = [...main.metrics, ...smallBatches.metrics].map((record) => record.step);
    assert.equal(
      await page.locator(`${card('lr')} .curve-plot`).getAttribute('data-points'),
      String(new Set(steps).size),
    );
    // The overlaid run is drawn with the same colour at lower opacity.
    assert.ok(
      (await pixelsOfColour(page, 'lr', '#cca700', { alpha: [130, 200] })) > 20,
      'the fainter lr line',
    );
    // The read-out names the run a value belongs to.
    const [first, last] = [Math.min(...steps), Math.max(...steps)];
    const loggedByBoth = main.metrics.find(
      (record) =>
        record.kind === 'step' &&
        smallBatches.metrics.some((other) => other.kind === 'step' && other.step === record.step),
    )!;
    await readoutAt(page, 'throughput', (loggedByBoth.step - first) / (last - first));
    const lines = await page.locator(`${card('throughput')} .curve-readout > div`).allTextContents();
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0]!, new RegExp(`^step ${loggedByBoth.step} · fixture-main: images/s [\\d.]+$`));
    assert.match(lines[1]!, new RegExp(`^step ${loggedByBoth.step} · fixture-batch8: images/s [\\d.]+$`));
    // The read-out keeps a row per run whether or not the cursor is on a value, so the page does not shift.
    const height = await page
      .locator(`${card('throughput')} .curve-readout`)
      .evaluate((readout) => readout.clientHeight);
    await page.mouse.move(0, 0);
    assert.equal(await page.locator(`${card('throughput')} .curve-readout`).textContent(), '');
    assert.equal(
      await page.locator(`${card('throughput')} .curve-readout`).evaluate((readout) => readout.clientHeight),
      height,
    );
    await page.close();
  });

  for (const theme of ['dark', 'light', 'high-contrast'] as const) {
    it(`follows the ${theme} theme`, async () => {
      const webview = await openCurves({ theme, overlay: true });
      const { page } = webview;
      const textColour = await page
        .locator(`${card('losses')} h3`)
        .evaluate((heading) => getComputedStyle(heading).color);
      const foreground = themes[theme].variables['--vscode-foreground'];
      const [r, g, b] = [1, 3, 5].map((offset) => Number.parseInt(foreground.slice(offset, offset + 2), 16));
      assert.equal(textColour, `rgb(${r}, ${g}, ${b})`);
      // With the cursor on a step, so the read-out and the synced cursor show in the picture.
      assert.match(await readoutAt(page, 'losses', 0.13), /^step \d+ · fixture-main: /);
      await screenshot(page, `curves-${theme}`);
      await page.close();
    });
  }

  it('redraws in the new colours when the theme changes', async () => {
    const webview = await openCurves({ theme: 'dark' });
    const { page } = webview;
    assert.ok((await pixelsOfColour(page, 'throughput', '#89d185')) > 5);
    await page.evaluate((variables) => {
      for (const [name, value] of Object.entries(variables)) {
        document.documentElement.style.setProperty(name, value);
      }
      document.body.classList.replace('vscode-dark', 'vscode-light');
    }, themes.light.variables);
    await page.waitForFunction((selector) => {
      const canvas = document.querySelector<HTMLCanvasElement>(selector)!;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let offset = 0; offset < data.length; offset += 4) {
        if (data[offset] === 0x38 && data[offset + 1] === 0x8a && data[offset + 2] === 0x34) return true;
      }
      return false;
    }, canvasOf('throughput'));
    assert.equal(
      await pixelsOfColour(page, 'throughput', '#89d185', { tolerance: 10 }),
      0,
      'no dark-theme green is left',
    );
    await page.close();
  });

  it('resizes with the editor group and stacks the charts in one column when narrow', async () => {
    const webview = await openCurves({ overlay: true });
    const { page } = webview;
    const canvas = await page.locator(canvasOf('losses')).elementHandle();
    const lefts = async () =>
      new Set(
        await page
          .locator('sp-curves .curve-card')
          .evaluateAll((cards) => cards.map((card) => Math.round(card.getBoundingClientRect().left))),
      ).size;
    assert.equal(await lefts(), 2, 'two columns when wide');
    await page.setViewportSize({ width: 360, height: 900 });
    await page.waitForFunction(
      (selector) => document.querySelector(selector)!.getBoundingClientRect().width < 340,
      canvasOf('losses'),
    );
    assert.ok(await drawsOn(page, 'losses', canvas), 'resized, not rebuilt');
    const boxes = await page
      .locator('sp-curves .curve-card')
      .evaluateAll((cards) => cards.map((card) => card.getBoundingClientRect().toJSON() as DOMRect));
    assert.equal(new Set(boxes.map((box) => Math.round(box.left))).size, 1, 'one column');
    const canvasWidth = await page
      .locator(canvasOf('losses'))
      .evaluate((canvas) => canvas.getBoundingClientRect().width);
    assert.ok(
      canvasWidth <= boxes[0]!.width,
      `the chart fits its card (${canvasWidth} of ${boxes[0]!.width})`,
    );
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.equal(overflow, 0, 'no horizontal scrolling');
    await screenshot(page, 'curves-narrow');
    await page.close();
  });
});
