import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { FixtureRun } from '../support/fixtureRun';
import {
  analysesMessage,
  bindingMessage,
  defaultPanelValues,
  type FixtureStep,
  fixtureDashboard,
  runMetricsMessage,
  synthesisOfStep,
} from './fixtureMessages';
import { type OpenedWebview, openDashboard, screenshot } from './harness';
import type { ThemeName } from './themes';

/** The painted pair grid's pixels, to tell one grid from another. */
function gridPixels(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('#pairs-canvas')!;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    return Array.from(data.subarray(0, Math.min(data.length, 4096)));
  });
}

describe('dashboard shell and pairs in Chromium', function () {
  this.timeout(180_000);
  let browser: Browser;
  let run: FixtureRun;
  let steps: FixtureStep[];

  before(async () => {
    ({ run, steps, browser } = await fixtureDashboard());
  });

  after(async () => {
    await browser?.close();
  });

  const open = (theme: ThemeName = 'dark', state?: unknown, width?: number) =>
    openDashboard(browser, { theme, state, width });

  async function withRun(theme: ThemeName = 'dark', state?: unknown, width?: number): Promise<OpenedWebview> {
    const webview = await open(theme, state, width);
    await webview.postFromHost(bindingMessage(run));
    await webview.postFromHost({
      type: 'configValues',
      configFile: run.configFile,
      version: 1,
      values: defaultPanelValues,
    });
    await webview.postFromHost(runMetricsMessage(run.runDir));
    await webview.postFromHost(analysesMessage(run.runDir, steps));
    return webview;
  }

  /** Sends grid `requestId`, whole, drawn from `step`'s arrays. */
  async function sendGrid(webview: OpenedWebview, requestId: number, step: FixtureStep): Promise<void> {
    await webview.postFromHost({
      type: 'synthesis',
      requestId,
      baseId: requestId,
      version: requestId,
      result: await synthesisOfStep(step),
    });
  }

  /** Settles once the page has reported grid `requestId` painted. */
  async function reportedPainted(page: Page, requestId: number): Promise<void> {
    await page.waitForFunction(
      (id) =>
        (
          window as unknown as { __synthpair: { posted: { type: string; requestId?: number }[] } }
        ).__synthpair.posted.some(
          (message) => message.type === 'synthesisRendered' && message.requestId === id,
        ),
      requestId,
    );
  }

  it('says what to do when no experiment is open, and when the experiment has no run', async () => {
    const webview = await open('dark');
    await webview.postFromHost({
      type: 'binding',
      configFile: null,
      configLabel: null,
      locked: false,
      canRun: true,
      runs: [],
      selectedRun: null,
      overlaidRuns: [],
    });
    const empty = webview.page.locator('#empty-state');
    await empty.getByText('this dashboard follows the experiment in the active editor').waitFor();
    assert.equal(await webview.page.locator('#tab-curves').count(), 0, 'no run, no curves tab');
    await screenshot(webview.page, 'dashboard-no-experiment-dark');

    await webview.postFromHost({ ...bindingMessage(run), runs: [], selectedRun: null });
    await empty.getByText('This experiment has no run yet').waitFor();
    await webview.page.locator('#run-experiment').click();
    assert.deepEqual((await webview.posted()).at(-1), { type: 'runExperiment' });
    await webview.postFromHost({ ...bindingMessage(run, { canRun: false }), runs: [], selectedRun: null });
    await empty.getByText('Restricted Mode').waitFor();
    assert.equal(await webview.page.locator('#run-experiment').count(), 0);
    await webview.page.close();
  });

  it('shows the bound experiment and its run, and asks the host to lock, pick a run and switch tabs', async () => {
    const webview = await withRun();
    const { page } = webview;
    assert.equal((await page.locator('#config-label').textContent())?.trim(), 'fixture.synthpair.json');
    assert.match((await page.locator('.run-state').textContent()) ?? '', /completed · epoch 3\/3/);
    await page.locator('#lock').click();
    assert.deepEqual((await webview.posted()).at(-1), { type: 'setLocked', locked: true });
    await webview.postFromHost(bindingMessage(run, { locked: true }));
    await page.locator('#lock[aria-pressed="true"]').waitFor();
    await page.locator('#tab-pairs').click();
    await page.locator('sp-pairs').waitFor();
    const saved = (await webview.state()) as { tab?: string; configFile?: string; locked?: boolean };
    assert.equal(saved.tab, 'pairs');
    assert.equal(saved.configFile, run.configFile);
    assert.equal(saved.locked, true);
    await page.close();
  });

  it('says how many files the run left out and which file lists them, and asks the host to open it', async () => {
    const webview = await withRun();
    const { page } = webview;
    const listFile = path.join(run.runDir, 'skipped.json');
    await webview.postFromHost({ type: 'skippedFiles', runDir: run.runDir, count: 12, listFile });
    const notice = page.locator('#skipped-files');
    await notice.getByText('12 files of the data set were left out of this run').waitFor();
    assert.equal(await notice.locator('code').textContent(), listFile);
    await page.locator('#open-skipped-files').click();
    assert.deepEqual((await webview.posted()).at(-1), { type: 'openSkippedList' });
    await screenshot(page, 'dashboard-skipped-files-dark');
    // A run that left nothing out says nothing.
    await webview.postFromHost({ type: 'skippedFiles', runDir: run.runDir, count: 0, listFile });
    await notice.waitFor({ state: 'detached' });
    await page.close();
  });

  it('reopens on the tab it was showing after a reload', async () => {
    const webview = await withRun('dark', { tab: 'pairs', configFile: run.configFile, locked: false });
    await webview.page.locator('sp-pairs').waitFor();
    const header = webview.page.locator('vscode-tab-header', { has: webview.page.locator('#tab-pairs') });
    assert.equal(await header.getAttribute('aria-selected'), 'true');
    await webview.page.close();
  });

  it('draws the pair grid the worker sent, reports it painted, and keeps it while the next one is drawn', async () => {
    const webview = await withRun('dark', { tab: 'pairs' });
    const { page } = webview;
    const latest = steps.at(-1)!;
    await webview.postFromHost({ type: 'synthesisState', requestId: 1, state: 'pending' });
    await page.getByText('Redrawing the pairs in the worker…').waitFor();
    await sendGrid(webview, 1, latest);
    await reportedPainted(page, 1);
    const rendered = (await webview.posted()).find(
      (message) => (message as { type: string }).type === 'synthesisRendered',
    ) as { requestId: number; renderMs: number };
    assert.equal(rendered.requestId, 1);
    assert.ok(rendered.renderMs >= 0);
    const size = latest.manifest.imageSize;
    const samples = latest.manifest.perturb!.samples;
    const probes = latest.manifest.probes.testPositions.length;
    const canvas = await page.evaluate(() => {
      const element = document.querySelector<HTMLCanvasElement>('#pairs-canvas')!;
      return { width: element.width, height: element.height };
    });
    assert.deepEqual(canvas, {
      width: (samples + 3) * size + (samples + 2) * 2,
      height: probes * size + (probes - 1) * 2,
    });
    assert.equal(await page.locator('.pairs-rows span').count(), probes);
    assert.match(
      (await page.locator('.pairs-columns').textContent()) ?? '',
      /image[\s\S]*d\(h\)[\s\S]*d\(h′₁\)/,
    );
    assert.match((await page.locator('#pairs-status').textContent()) ?? '', /of\s+64\s+dimensions/);
    const first = await gridPixels(page);
    assert.ok(
      first.some((value, index) => index % 4 !== 3 && value !== first[0]),
      'the grid is not blank',
    );

    // A pending redraw keeps the grid on screen, dimmed, rather than blanking it.
    await webview.postFromHost({ type: 'synthesisState', requestId: 2, state: 'pending' });
    await page.locator('.pairs-grid[data-pending="true"]').waitFor();
    assert.deepEqual(await gridPixels(page), first);
    await sendGrid(webview, 2, steps[0]!);
    await page.locator('.pairs-grid[data-pending="false"]').waitFor();
    await reportedPainted(page, 2);
    assert.notDeepEqual(await gridPixels(page), first, 'the other step’s pixels replaced the grid');
    await webview.page.close();
  });

  it('draws a grid that reuses the originals and reconstructions it holds, and asks again for a base it lacks', async () => {
    const webview = await withRun('dark', { tab: 'pairs' });
    const { page } = webview;
    const whole = await synthesisOfStep(steps.at(-1)!);
    /** The RGB of the first pixel of the first probe's tile in `column`, as painted. */
    const tileColour = (column: number) =>
      page.evaluate(
        ({ column, size }) => {
          const canvas = document.querySelector<HTMLCanvasElement>('#pairs-canvas')!;
          const data = canvas.getContext('2d')!.getImageData(column * (size + 2), 0, 1, 1).data;
          return [data[0], data[1], data[2]];
        },
        { column, size: whole.imageSize },
      );
    await webview.postFromHost({ type: 'synthesis', requestId: 1, version: 1, baseId: 7, result: whole });
    await reportedPainted(page, 1);
    const { originals: _originals, reconstructions: _reconstructions, ...figures } = whole;
    const perturbed = new Uint8Array(whole.perturbed.length).fill(200);
    await webview.postFromHost({
      type: 'synthesisSameBase',
      requestId: 2,
      version: 2,
      baseId: 7,
      result: { ...figures, perturbed },
    });
    await reportedPainted(page, 2);
    assert.deepEqual(await tileColour(0), [...whole.originals.subarray(0, 3)]);
    assert.deepEqual(await tileColour(1), [...whole.reconstructions.subarray(0, 3)]);
    assert.deepEqual(await tileColour(2), [200, 200, 200]);

    // A base the webview never got (it refused or missed that grid) is never stood in for by another.
    await webview.postFromHost({
      type: 'synthesisSameBase',
      requestId: 3,
      version: 3,
      baseId: 8,
      result: { ...figures, perturbed: new Uint8Array(whole.perturbed.length) },
    });
    assert.deepEqual((await webview.posted()).at(-1), { type: 'pairsBaseMissing', requestId: 3 });
    assert.deepEqual(await tileColour(2), [200, 200, 200]);
    await page.close();
  });

  it('dims the grid and spins only for a redraw that takes a while, not for each quick one', async () => {
    const webview = await withRun('dark', { tab: 'pairs' });
    const { page } = webview;
    await sendGrid(webview, 1, steps.at(-1)!);
    await page.locator('.pairs-grid[data-pending="false"]').waitFor();
    // The page's clock stands still from here: no time passes in it unless the test says so.
    await page.clock.install();
    await page.clock.pauseAt(Date.now() + 60_000);
    const busy = page.locator('.pairs-grid[data-pending="true"], sp-pairs vscode-progress-ring');
    await webview.postFromHost({ type: 'synthesisState', requestId: 2, state: 'pending' });
    await page.clock.runFor(100);
    assert.equal(await busy.count(), 0, 'a redraw 100 ms old shows nothing yet');
    await sendGrid(webview, 2, steps[0]!);
    await page.clock.runFor(1000);
    assert.equal(await busy.count(), 0, 'an answered redraw never turns busy');

    // Two redraws that overtake each other share one wait, counted from the first.
    await webview.postFromHost({ type: 'synthesisState', requestId: 3, state: 'pending' });
    await page.clock.runFor(100);
    await webview.postFromHost({ type: 'synthesisState', requestId: 4, state: 'pending' });
    await page.clock.runFor(100);
    await page.locator('.pairs-grid[data-pending="true"]').waitFor();
    await page.locator('sp-pairs vscode-progress-ring').waitFor();
    await sendGrid(webview, 4, steps.at(-1)!);
    await page.locator('.pairs-grid[data-pending="false"]').waitFor();
    assert.equal(await busy.count(), 0);
    await page.close();
  });

  it('edits perturb keys from its controls, one edit per change', async () => {
    const webview = await withRun('dark', { tab: 'pairs' });
    const { page } = webview;
    await sendGrid(webview, 1, steps.at(-1)!);
    const strength = page.locator('#slider-perturb-strength');
    await strength.focus();
    await page.keyboard.press('ArrowRight');
    const edits = (await webview.posted()).filter(
      (message) => (message as { type: string }).type === 'editConfig',
    );
    assert.deepEqual(edits, [{ type: 'editConfig', key: 'perturb.strength', value: 1.1 }]);
    await page.locator('#perturb-mode').click();
    await page.locator('#perturb-mode li.option', { hasText: 'shuffle' }).click();
    const last = (await webview.posted()).at(-1);
    assert.deepEqual(last, { type: 'editConfig', key: 'perturb.mode', value: 'shuffle' });
    // The config, not the control, is the truth: a new value from the host moves the slider.
    await webview.postFromHost({
      type: 'configValues',
      configFile: run.configFile,
      version: 2,
      values: { ...defaultPanelValues, 'perturb.strength': 2.5 },
    });
    await page.waitForFunction(
      () => document.querySelector<HTMLInputElement>('#slider-perturb-strength')?.value === '2.5',
    );
    await webview.page.close();
  });

  it('says why a run cannot be redrawn', async () => {
    const webview = await withRun('dark', { tab: 'pairs' });
    await webview.postFromHost({
      type: 'synthesisState',
      requestId: 1,
      state: 'unavailable',
      message: 'run: being trained by process 42; synthesize it once it has stopped',
    });
    await webview.page.getByText('being trained by process 42').waitFor();
    await webview.page.close();
  });

  for (const theme of ['dark', 'light', 'high-contrast'] as const) {
    it(`renders the pairs in the ${theme} theme, and narrow`, async () => {
      const webview = await withRun(theme, { tab: 'pairs' });
      await sendGrid(webview, 1, steps.at(-1)!);
      await webview.page.locator('.pairs-grid[data-pending="false"]').waitFor();
      await screenshot(webview.page, `pairs-${theme}`);
      assert.deepEqual(await webview.cspViolations(), []);
      await webview.page.setViewportSize({ width: 340, height: 700 });
      await webview.page.waitForTimeout(200);
      await screenshot(webview.page, `pairs-${theme}-narrow`);
      const overflow = await webview.page.evaluate(() => {
        const wide = [...document.querySelectorAll('body *')]
          .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 1)
          .map(
            (element) =>
              `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ''}.${element.className}`,
          );
        return { by: document.documentElement.scrollWidth - window.innerWidth, wide: wide.slice(0, 5) };
      });
      assert.ok(
        overflow.by <= 1,
        `the page scrolls sideways by ${overflow.by} px when narrow: ${overflow.wide.join(', ')}`,
      );
      await webview.page.close();
    });
  }
});
