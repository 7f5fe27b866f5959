import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import type { MaskCombine } from '../../src/shared/config/experiment/choices';
import { nonDiscriminativeMask } from '../../src/shared/mask';
import type { AnalysisManifest } from '../../src/shared/protocol/runFiles';
import type { ConfigScalar } from '../../src/shared/protocol/webview';
import { formatValue, quantileForCount } from '../../webview/dashboard/views/dimensions/math';
import type { FixtureRun } from '../support/fixtureRun';
import {
  analysesMessage,
  bindingMessage,
  byteArray,
  type FixtureStep,
  fixtureDashboard,
  floatArray,
} from './fixtureMessages';
import { assertNoErrors, type OpenedWebview, openDashboard, screenshot } from './harness';
import type { ThemeName } from './themes';

function settingsOf(manifest: AnalysisManifest): Record<string, ConfigScalar> {
  return {
    'analysis.variance.quantile': manifest.variance.quantile,
    'analysis.gradcam.quantile': manifest.gradcam.quantile,
    'analysis.gradcam.variant': manifest.gradcam.variant,
    'analysis.combine': manifest.combine,
    'analysis.probes.samples': 3,
  };
}

describe('feature-dimension view in Chromium', function () {
  this.timeout(240_000);
  let browser: Browser;
  let run: FixtureRun;
  let steps: FixtureStep[];
  let version = 1;

  before(async () => {
    ({ run, steps, browser } = await fixtureDashboard());
    assert.deepEqual(
      steps.map((step) => step.epoch),
      [1, 2, 3],
    );
  });

  after(async () => {
    await browser?.close();
  });

  const newest = () => steps.at(-1)!;

  function configValues(values: Record<string, ConfigScalar>) {
    return { type: 'configValues', configFile: run.configFile, version: version++, values };
  }

  async function openDimensions(
    options: { theme?: ThemeName; state?: unknown; shown?: FixtureStep[]; width?: number } = {},
  ): Promise<OpenedWebview> {
    const webview = await openDashboard(browser, {
      theme: options.theme ?? 'dark',
      state: options.state,
      width: options.width,
      height: 1000,
    });
    await webview.postFromHost(bindingMessage(run));
    await webview.postFromHost(analysesMessage(run.runDir, options.shown ?? steps));
    await webview.postFromHost(configValues(settingsOf(newest().manifest)));
    await webview.page.locator('#tab-dimensions').click();
    return webview;
  }

  async function maskedCount(page: Page): Promise<number> {
    const shown = page.locator('sp-dimensions #dims-masked-count');
    await shown.waitFor();
    return Number(await shown.getAttribute('data-masked'));
  }

  async function maskedCountBecomes(page: Page, count: number): Promise<void> {
    await page.waitForFunction(
      (wanted) =>
        document.querySelector('sp-dimensions #dims-masked-count')?.getAttribute('data-masked') ===
        String(wanted),
      count,
    );
  }

  /** The mask the engine would cut from the newest step with these settings. */
  function newestStepMask(settings: {
    importance: 'absolute' | 'positive';
    varianceQuantile: number;
    gradcamQuantile: number;
    combine: MaskCombine;
  }) {
    const { importance, ...quantilesAndCombine } = settings;
    return nonDiscriminativeMask({
      variance: floatArray(newest(), 'variance'),
      importance: floatArray(newest(), `importance.${importance}`),
      ...quantilesAndCombine,
    });
  }

  /** Marks the charts' canvases, so that `canvasesKept` tells whether a later update drew into the same ones. */
  async function markCanvases(page: Page): Promise<void> {
    await page.evaluate(() => {
      for (const canvas of document.querySelectorAll('sp-dimensions canvas')) {
        (canvas as HTMLCanvasElement & { drawnBefore?: boolean }).drawnBefore = true;
      }
    });
  }

  function canvasesKept(page: Page): Promise<boolean> {
    return page.evaluate(() =>
      [...document.querySelectorAll('sp-dimensions canvas')].every(
        (canvas) => (canvas as HTMLCanvasElement & { drawnBefore?: boolean }).drawnBefore,
      ),
    );
  }

  /** Waits until the three charts are drawn with their threshold lines. */
  async function chartsDrawn(page: Page): Promise<void> {
    await page.waitForFunction(() => document.querySelectorAll('sp-dimensions .dims-threshold').length === 4);
  }

  const varianceHandle = (page: Page): Locator =>
    page.locator('sp-dimensions .dims-plot[data-chart="variance"] .dims-threshold');

  /** How many pixels of a chart's canvas have exactly the colour of one of the view's palette variables. */
  function pixelsOf(page: Page, chart: string, variable: string): Promise<number> {
    return page.evaluate(
      ([chart, variable]) => {
        const view = document.querySelector('sp-dimensions')!;
        const probe = document.createElement('span');
        probe.style.color = `var(${variable})`;
        view.append(probe);
        const [r, g, b] = getComputedStyle(probe).color.match(/\d+/g)!.map(Number);
        probe.remove();
        const canvas = view.querySelector<HTMLCanvasElement>(`[data-chart="${chart}"] canvas`)!;
        const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
        let count = 0;
        for (let at = 0; at < data.length; at += 4) {
          if (data[at] === r && data[at + 1] === g && data[at + 2] === b && data[at + 3] === 255) count++;
        }
        return count;
      },
      [chart, variable],
    );
  }

  async function edits(webview: OpenedWebview): Promise<unknown[]> {
    return (await webview.posted()).filter((message) => (message as { type: string }).type === 'editConfig');
  }

  it('says when the dimensions appear while the run has no analysis step', async () => {
    const webview = await openDimensions({ shown: [] });
    const empty = webview.page.locator('sp-dimensions #dims-empty');
    await empty.waitFor();
    assert.match((await empty.textContent()) ?? '', /No analysis step yet[\s\S]*analysis\.everyEpochs/);
    assert.equal(await webview.page.locator('sp-dimensions canvas').count(), 0);
    await assertNoErrors(webview);
    await webview.page.close();
  });

  for (const theme of ['dark', 'light', 'high-contrast'] as const) {
    it(`shows the mask the run cut, for the same settings, with its thresholds (${theme})`, async () => {
      const webview = await openDimensions({ theme });
      const { page } = webview;
      const { manifest } = newest();
      assert.equal(await maskedCount(page), manifest.masked);
      await chartsDrawn(page);
      assert.equal(
        await varianceHandle(page).getAttribute('aria-valuetext'),
        `q = 0.25 → ${manifest.variance.count} dims ≤ ${formatValue(manifest.variance.threshold!)}`,
      );
      assert.equal(
        await page
          .locator('sp-dimensions .dims-plot[data-chart="importance"] .dims-threshold')
          .getAttribute('aria-valuetext'),
        `q = 0.25 → ${manifest.gradcam.count} dims ≤ ${formatValue(manifest.gradcam.threshold!)}`,
      );
      assert.match(
        (await page.locator('sp-dimensions #dims-saved').textContent()) ?? '',
        new RegExp(`Epoch 3 was cut with variance q = 0\\.25[\\s\\S]*${manifest.masked}\\s+of 64 masked`),
      );
      assert.equal(await page.locator('sp-dimensions #dims-differs').count(), 0);
      const listed = ((await page.locator('sp-dimensions #dims-masked-list').textContent()) ?? '').split(
        ', ',
      );
      const savedMask = byteArray(newest(), 'mask');
      assert.deepEqual(
        listed.map(Number),
        [...savedMask.keys()].filter((dimension) => savedMask[dimension] === 1),
      );
      // Hovering a point of the scatter reads its dimension out.
      const scatter = page.locator('sp-dimensions .dims-plot[data-chart="scatter"] .u-over');
      const box = (await scatter.boundingBox())!;
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
      for (let step = 0; step < 40; step++) {
        const text = (await page.locator('sp-dimensions #dims-readout').textContent()) ?? '';
        if (text.startsWith('Dimension')) break;
        await page.mouse.move(
          box.x + box.width * (0.1 + step * 0.02),
          box.y + box.height * (0.2 + (step % 7) * 0.1),
        );
      }
      assert.match(
        (await page.locator('sp-dimensions #dims-readout').textContent()) ?? '',
        /^Dimension \d+: variance [-\d.e]+, α [-\d.e]+, (masked|kept)/,
      );
      await screenshot(page, `dimensions-${theme}`);
      await assertNoErrors(webview);
      await page.close();
    });
  }

  it('previews a dragged variance threshold live and writes one quantile on release', async () => {
    const webview = await openDimensions();
    const { page } = webview;
    await chartsDrawn(page);
    const before = await maskedCount(page);
    const handle = varianceHandle(page);
    const startLabel = await handle.getAttribute('aria-valuetext');
    const selectedBars = await pixelsOf(page, 'variance', '--sp-dims-bar-selected');
    const maskedPoints = await pixelsOf(page, 'scatter', '--sp-dims-masked');
    const box = (await handle.boundingBox())!;
    const start = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    await page.mouse.move(start.x, start.y);
    await page.mouse.down();
    for (let step = 1; step <= 10; step++) {
      await page.mouse.move(start.x + step * 8, start.y);
    }
    // Mid-drag: the counts and the scatter's colouring follow, and nothing is written yet.
    const during = await maskedCount(page);
    assert.ok(during > before, `masked ${during} while dragging, ${before} before`);
    assert.ok(
      (await pixelsOf(page, 'variance', '--sp-dims-bar-selected')) > selectedBars * 1.5,
      'bars recoloured',
    );
    assert.ok(
      (await pixelsOf(page, 'scatter', '--sp-dims-masked')) > maskedPoints * 1.2,
      'points recoloured',
    );
    const scatterHandle = page.locator(
      'sp-dimensions .dims-plot[data-chart="scatter"] .dims-threshold[data-key="analysis.variance.quantile"]',
    );
    assert.equal(
      await scatterHandle.getAttribute('aria-valuetext'),
      await handle.getAttribute('aria-valuetext'),
    );
    assert.deepEqual(await edits(webview), []);
    await screenshot(page, 'dimensions-dragging');
    await page.mouse.up();
    const posted = await edits(webview);
    assert.equal(posted.length, 1, JSON.stringify(posted));
    const { key, value } = posted[0] as { key: string; value: number };
    assert.equal(key, 'analysis.variance.quantile');
    assert.ok(value > 0.25 && value < 1, `q = ${value}`);
    assert.equal(value, Number(value.toFixed(3)), `q = ${value} has more decimals than 64 dimensions need`);
    // The quantile cuts exactly what the line showed on release, as the engine would cut it.
    const label = (await handle.getAttribute('aria-valuetext')) ?? '';
    const [, quantile, count] = /^q = ([\d.]+) → (\d+) dims/.exec(label) ?? [];
    assert.equal(Number(quantile), value);
    assert.equal(Math.floor(value * 64), Number(count));
    const variance = floatArray(newest(), 'variance');
    const sorted = [...variance].sort((a, b) => a - b);
    assert.ok(label.endsWith(`≤ ${formatValue(sorted[Number(count) - 1]!)}`), label);
    assert.equal(quantileForCount(Number(count), 64, 'analysis.variance.quantile'), value);
    // Until the host answers, the line stays where it was released.
    assert.equal(await maskedCount(page), during);
    // The host's echo of the edit keeps it there; an undo brings the line back.
    await webview.postFromHost(configValues({ ...settingsOf(newest().manifest), [key]: value }));
    await page.locator('sp-dimensions #dims-differs').waitFor();
    assert.equal(await maskedCount(page), during);
    await webview.postFromHost(configValues(settingsOf(newest().manifest)));
    await page.locator('sp-dimensions #dims-differs').waitFor({ state: 'detached' });
    assert.equal(await maskedCount(page), before);
    assert.equal(await handle.getAttribute('aria-valuetext'), startLabel);
    await assertNoErrors(webview);
    await page.close();
  });

  it('moves the line and recounts in place when the config changes', async () => {
    const webview = await openDimensions();
    const { page } = webview;
    await chartsDrawn(page);
    const handle = varianceHandle(page);
    const leftBefore = (await handle.boundingBox())!.x;
    await markCanvases(page);
    const values = { ...settingsOf(newest().manifest), 'analysis.variance.quantile': 0.5 };
    await webview.postFromHost(configValues(values));
    const expected = newestStepMask({
      importance: 'absolute',
      varianceQuantile: 0.5,
      gradcamQuantile: 0.25,
      combine: 'union',
    });
    await maskedCountBecomes(page, expected.count);
    assert.notEqual(expected.count, newest().manifest.masked);
    assert.ok((await handle.boundingBox())!.x > leftBefore + 10, 'the variance line moved right');
    assert.match(
      (await handle.getAttribute('aria-valuetext')) ?? '',
      new RegExp(`^q = 0\\.5 → 32 dims ≤ ${formatValue(expected.variance.threshold!).replace('.', '\\.')}$`),
    );
    assert.match(
      (await page.locator('sp-dimensions #dims-differs').textContent()) ?? '',
      new RegExp(`variance q 0\\.25 → 0\\.5: ${expected.count} masked`),
    );
    // Updated in place: the same canvases, no new chart.
    assert.equal(await canvasesKept(page), true);
    // Another variant and combine: the importance of that variant is read and the mask recut.
    await webview.postFromHost(
      configValues({ ...values, 'analysis.gradcam.variant': 'positive', 'analysis.combine': 'intersection' }),
    );
    const positive = newestStepMask({
      importance: 'positive',
      varianceQuantile: 0.5,
      gradcamQuantile: 0.25,
      combine: 'intersection',
    });
    await maskedCountBecomes(page, positive.count);
    // The title follows in a render of its own, so it is waited for rather than read at once.
    await page.locator('sp-dimensions #dims-importance-title', { hasText: 'positive' }).waitFor();
    await assertNoErrors(webview);
    await page.close();
  });

  it('follows a new analysis step of a live run and a new colour theme in place', async () => {
    const webview = await openDimensions({ shown: steps.slice(0, 2) });
    const { page } = webview;
    await chartsDrawn(page);
    assert.equal(await maskedCount(page), steps[1]!.manifest.masked);
    await markCanvases(page);
    await webview.postFromHost(analysesMessage(run.runDir, steps));
    await page.waitForFunction(() =>
      /Epoch 3 was cut/.test(document.querySelector('sp-dimensions #dims-saved')?.textContent ?? ''),
    );
    assert.notEqual(steps[1]!.manifest.masked, newest().manifest.masked);
    assert.equal(await maskedCount(page), newest().manifest.masked);
    assert.equal(await canvasesKept(page), true);
    // VS Code restyles <html> when the theme changes: the canvases take the new colours without a reload.
    const redPixels = () => {
      const canvas = document.querySelector<HTMLCanvasElement>(
        'sp-dimensions [data-chart="variance"] canvas',
      )!;
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      let count = 0;
      for (let at = 0; at < data.length; at += 4) {
        if (data[at] === 255 && data[at + 1] === 0 && data[at + 2] === 0) count++;
      }
      return count;
    };
    assert.equal(await page.evaluate(redPixels), 0);
    await page.evaluate(() =>
      document.documentElement.style.setProperty('--vscode-charts-orange', '#ff0000'),
    );
    await page.waitForFunction(redPixels);
    assert.ok(
      (await page.evaluate(redPixels)) > 100,
      'the bars at or below the threshold are drawn in the new colour',
    );
    await assertNoErrors(webview);
    await page.close();
  });

  it('steps a threshold with the arrow keys on its focused handle, one edit per press', async () => {
    const webview = await openDimensions();
    const { page } = webview;
    await chartsDrawn(page);
    const handle = varianceHandle(page);
    await handle.focus();
    await page.keyboard.press('ArrowRight');
    assert.deepEqual(await edits(webview), [
      {
        type: 'editConfig',
        key: 'analysis.variance.quantile',
        value: quantileForCount(17, 64, 'analysis.variance.quantile'),
      },
    ]);
    assert.match((await handle.getAttribute('aria-valuetext')) ?? '', /→ 17 dims/);
    await page.keyboard.press('Home');
    assert.deepEqual((await edits(webview)).at(-1), {
      type: 'editConfig',
      key: 'analysis.variance.quantile',
      value: 0,
    });
    assert.equal(await handle.getAttribute('aria-valuetext'), 'q = 0 → no dims');
    // The scatter's horizontal line is the Grad-CAM quantile; up selects more dimensions.
    const importanceLine = page.locator(
      'sp-dimensions .dims-plot[data-chart="scatter"] .dims-threshold[data-key="analysis.gradcam.quantile"]',
    );
    await importanceLine.focus();
    await page.keyboard.press('ArrowDown');
    assert.deepEqual((await edits(webview)).at(-1), {
      type: 'editConfig',
      key: 'analysis.gradcam.quantile',
      value: quantileForCount(15, 64, 'analysis.gradcam.quantile'),
    });
    assert.equal((await edits(webview)).length, 3);
    // Tab reaches the handles from the page.
    const focusable = await page.evaluate(() =>
      [...document.querySelectorAll('sp-dimensions .dims-threshold')].map(
        (element) => (element as HTMLElement).tabIndex,
      ),
    );
    assert.deepEqual(focusable, [0, 0, 0, 0]);
    await assertNoErrors(webview);
    await page.close();
  });

  it('shows the step the saved settings name and saves the one picked', async () => {
    const first = steps[0]!;
    const webview = await openDimensions({ state: { tab: 'dimensions', dimensionsEpoch: 1 } });
    const { page } = webview;
    assert.equal(await maskedCount(page), first.manifest.masked);
    assert.match(
      (await page.locator('sp-dimensions #dims-saved').textContent()) ?? '',
      /^\s*Epoch 1 was cut/,
    );
    await page.locator('sp-dimensions #dims-step').click();
    await page
      .locator('sp-dimensions #dims-step')
      .getByRole('option', { name: /^Epoch 2/ })
      .click();
    await page.waitForFunction(() =>
      /Epoch 2 was cut/.test(document.querySelector('sp-dimensions #dims-saved')?.textContent ?? ''),
    );
    assert.equal(await maskedCount(page), steps[1]!.manifest.masked);
    assert.equal(((await webview.state()) as { dimensionsEpoch?: number }).dimensionsEpoch, 2);
    await assertNoErrors(webview);
    await page.close();
  });

  it('stacks the charts in a narrow editor group and draws logarithmic axes on request', async () => {
    const webview = await openDimensions({ width: 340, theme: 'light' });
    const { page } = webview;
    await chartsDrawn(page);
    const boxes = await Promise.all(
      ['variance', 'importance', 'scatter'].map(
        async (chart) =>
          (await page.locator(`sp-dimensions .dims-plot[data-chart="${chart}"]`).boundingBox())!,
      ),
    );
    assert.ok(
      boxes[1]!.y > boxes[0]!.y + boxes[0]!.height - 1,
      'the importance histogram is below the variance one',
    );
    assert.ok(boxes[2]!.y > boxes[1]!.y + boxes[1]!.height - 1, 'the scatter is below the histograms');
    const overflowing = await page.evaluate(() => {
      const view = document.querySelector('sp-dimensions')!;
      const right = view.getBoundingClientRect().right + 0.5;
      return [...view.querySelectorAll('*')]
        .filter((element) => element.getBoundingClientRect().right > right)
        .map((element) => element.className || element.tagName);
    });
    assert.deepEqual(overflowing, [], 'nothing of the view overflows sideways');
    await screenshot(page, 'dimensions-narrow');
    await page.locator('sp-dimensions #dims-log').click();
    await chartsDrawn(page);
    assert.equal(await maskedCount(page), newest().manifest.masked);
    await page.setViewportSize({ width: 900, height: 1000 });
    await page.waitForFunction(
      () =>
        (document.querySelector('sp-dimensions .dims-plot[data-chart="scatter"] .uplot') as HTMLElement)
          .offsetWidth > 600,
    );
    await screenshot(page, 'dimensions-log');
    await assertNoErrors(webview);
    await page.close();
  });
});
