import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import {
  extensionId,
  type PreparedQuickstart,
  quickstartExperiment,
  serveQuickstart,
} from '../../scripts/quickstart';
import { walkthroughId } from '../../src/host/manifest/walkthrough';
import type { CodeServer } from '../integration/codeServer';
import { chromiumArgs, chromiumPath } from '../integration/run';
import { freshQuickstart } from '../support/quickstart';
import {
  dragVarianceThreshold,
  openWithFromExplorer,
  openWorkbench,
  runFromPalette,
  screenshot,
} from './harness';

const stepIds = ['run', 'dashboard', 'threshold', 'pairs', 'heatmap'] as const;
type StepId = (typeof stepIds)[number];

/**
 * `npm start` as a new user meets it, on what a fresh clone has of examples/quickstart: the data generated,
 * the experiment open with the Get Started walkthrough beside it, and each of the walkthrough's steps done by
 * clicks and keys and then shown checked off: Run, the dashboard, a dragged threshold, the pairs, and a heat
 * map opened on an image. Screenshots of each stage land in test-results/webview/.
 */
describe('the quickstart as npm start opens it, through its walkthrough', function () {
  this.timeout(600_000);
  let browser: Browser;
  let server: CodeServer;
  let prepared: PreparedQuickstart;
  let page: Page;
  let workspace: string;

  before(async () => {
    workspace = await freshQuickstart();
    ({ server, prepared } = await serveQuickstart({ folder: workspace }));
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
    page = await openWorkbench(browser, server.url, { width: 1600, height: 900 });
  });

  after(async () => {
    await page?.close();
    await server?.stop();
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  const tab = (title: string) => page.locator('.tab', { hasText: title }).first();
  const codeLens = (text: string) => page.locator('.codelens-decoration a', { hasText: text }).first();
  const stepPrefix = `${extensionId}#${walkthroughId}#`;
  const step = (id: StepId) => page.locator(`[data-done-step-id="${stepPrefix}${id}"]`);
  // Only SynthPair's own webviews: the walkthrough's Markdown media is a webview too.
  const synthPairView = () =>
    page
      .frameLocator(`iframe.webview.ready[src*="extensionId=${extensionId}"]`)
      .frameLocator('iframe#active-frame');

  /**
   * Brings the walkthrough to the front, opens it again from the palette, as Help → Welcome would, and waits
   * until it shows step `id` checked off. Reopened, because VS Code's walkthrough page redraws a step done
   * while its tab was in the background only when it is opened again.
   */
  async function expectDone(id: StepId): Promise<void> {
    await tab('Welcome').click();
    await runFromPalette(page, 'Welcome: Open Walkthrough');
    await page
      .locator('.quick-input-list .monaco-list-row', { hasText: 'Get Started with SynthPair' })
      .first()
      .click();
    await page
      .locator(`[data-done-step-id="${stepPrefix}${id}"][aria-checked="true"]`)
      .waitFor({ timeout: 60_000 });
    // The page moves the focus to its selected step a moment after it opens; the next step's keys wait for it.
    await page.waitForFunction(
      () => document.activeElement?.classList.contains('getting-started-step'),
      null,
      {
        timeout: 30_000,
      },
    );
  }

  it('opens the experiment with its generated data and the walkthrough beside it, every step still to do', async () => {
    assert.ok(prepared.generated, 'the start generated the data a fresh clone lacks');
    assert.ok(existsSync(path.join(workspace, 'data', 'train', 'ocellia-alta', 'ocellia-alta-001.png')));
    try {
      await tab(quickstartExperiment).waitFor({ timeout: 120_000 });
      await tab('Welcome').waitFor({ timeout: 120_000 });
      await step('run').waitFor({ timeout: 60_000 });
      const checkboxes = page.locator(`[data-done-step-id^="${stepPrefix}"]`);
      assert.deepEqual(
        await checkboxes.evaluateAll((boxes) =>
          boxes.map((box) => [box.getAttribute('data-done-step-id'), box.getAttribute('aria-checked')]),
        ),
        stepIds.map((id) => [`${stepPrefix}${id}`, 'false']),
      );
      await codeLens('Run').waitFor({ timeout: 60_000 });
    } finally {
      await screenshot(page, 'quickstart-1-opened');
    }
  });

  it('checks off Run once the run trains', async () => {
    await codeLens('Run').click();
    await page
      .locator('.statusbar-item', { hasText: /epoch \d+\/8/ })
      .first()
      .waitFor({ timeout: 180_000 });
    await expectDone('run');
    await screenshot(page, 'quickstart-2-run');
  });

  it('checks off Open the Dashboard, whose curves follow the run to its end', async () => {
    await codeLens('Open Dashboard').click();
    const dashboard = synthPairView();
    await dashboard.locator('#config-label', { hasText: quickstartExperiment }).waitFor({ timeout: 60_000 });
    await dashboard
      .locator('sp-curves .curve-card[data-chart="losses"] .curve-plot')
      .waitFor({ timeout: 120_000 });
    await screenshot(page, 'quickstart-3-dashboard');
    await expectDone('dashboard');
    // The walkthrough and the dashboard share the editor group beside the experiment.
    await tab('SynthPair: quickstart').click();
    await dashboard.locator('.run-state[data-state="completed"]').waitFor({ timeout: 540_000 });
  });

  it('checks off the threshold once one is dragged on the Dimensions tab', async () => {
    const { maskedBefore, maskedAfter } = await dragVarianceThreshold(page, synthPairView(), 60_000);
    assert.ok(maskedAfter > maskedBefore, `masked ${maskedBefore} → ${maskedAfter}`);
    await screenshot(page, 'quickstart-4-threshold');
    await expectDone('threshold');
    assert.equal(
      await step('pairs').getAttribute('aria-checked'),
      'false',
      'the pairs are not checked off before the tab shows them',
    );
  });

  it('checks off the pairs once the Pairs tab shows the grid redrawn with the dragged threshold', async () => {
    await tab('SynthPair: quickstart').click();
    const dashboard = synthPairView();
    // The dashboard comes back on the tab it was left on.
    await dashboard.locator('sp-dimensions').waitFor({ timeout: 60_000 });
    await dashboard.locator('#tab-pairs').click();
    await dashboard
      .locator('#pairs-status', { hasText: /variance q = 0\.(?!25\b)\d+/ })
      .waitFor({ timeout: 120_000 });
    await screenshot(page, 'quickstart-5-pairs');
    await expectDone('pairs');
  });

  it('checks off the heat map once an image of the data opens in SynthPair: Heatmap', async () => {
    const image = 'ocellia-alta-001.png';
    // In the experiment's group: opened in the walkthrough's, the image would replace it, as VS Code opens a
    // walkthrough as a preview.
    await page.keyboard.press('Control+1');
    await page.locator('.editor-group-container.active .tab', { hasText: quickstartExperiment }).waitFor();
    // Quick Open reveals the image in the Explorer, where Open With is.
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget input').fill(`test/ocellia-alta/${image}`);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: image }).first().waitFor();
    await page.keyboard.press('Enter');
    await openWithFromExplorer(page, image, 'SynthPair: Heatmap');
    await synthPairView()
      .locator('sp-heatmap-editor[data-rendered^="epoch-0008|"]')
      .waitFor({ timeout: 120_000 });
    await screenshot(page, 'quickstart-6-heatmap');
    await expectDone('heatmap');
    assert.deepEqual(
      await page
        .locator(`[data-done-step-id^="${stepPrefix}"]`)
        .evaluateAll((boxes) => boxes.map((box) => box.getAttribute('aria-checked'))),
      stepIds.map(() => 'true'),
    );
    await screenshot(page, 'quickstart-7-walkthrough-done');
  });
});
