import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { isAlive } from '../../src/shared/runFolder/liveness';
import { type CodeServer, startCodeServer } from '../integration/codeServer';
import { provisionVSCode, repoRoot } from '../integration/provision';
import { chromiumArgs, chromiumPath, quietSettings } from '../integration/run';
import { dragVarianceThreshold, openWorkbench, runFromPalette, screenshot } from './harness';

const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;

/**
 * A new user's first experiment, by clicks and keys only, in a real workbench on an empty folder: the Runs
 * view's welcome, New Experiment, the CodeLens, a diagnostic while typing, Run, the status bar, Stop, Resume,
 * then the dashboard beside the file: curves growing live, heat maps scrubbed across epochs, a threshold
 * dragged into the file and the pairs redrawn, undone. Screenshots of each stage land in test-results/webview/.
 */
describe('a first experiment in a real VS Code workbench', function () {
  this.timeout(420_000);
  let browser: Browser;
  let server: CodeServer;
  let page: Page;
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'synthpair-first-experiment-'));
  const runsFolder = path.join(workspace, '.synthpair', 'runs');

  before(async () => {
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
    const { codeServerBin, env } = await provisionVSCode();
    server = await startCodeServer({
      codeServerBin,
      env,
      folder: workspace,
      settings: { ...quietSettings, 'workbench.colorTheme': 'Default Dark Modern', 'editor.codeLens': true },
      linkedExtensions: [{ id: 'synthpair.synthpair', version, location: repoRoot }],
    });
    page = await openWorkbench(browser, server.url, { width: 1500, height: 900 });
  });

  after(async () => {
    await page?.close();
    await server?.stop();
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  const runsView = () => page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Runs' }) });
  const codeLens = (text: string) => page.locator('.codelens-decoration a', { hasText: text }).first();
  const statusItem = () => page.locator('.statusbar-item', { hasText: /epoch \d+\/\d+/ }).first();
  const runRow = (text: RegExp) => runsView().locator('.monaco-list-row', { hasText: text }).first();
  /** How a stop is announced: after its step, or with its worker ended when it was still busy after 30 s. */
  const stoppedAfterStep = 'stopped after epoch \\d+';
  const stoppedByForce = 'stopped: its worker was still busy 30 s after Stop and was ended';
  const stopNotice = (label: string, how: string) =>
    new RegExp(`^SynthPair: ${label} ${how}; Resume continues from its last checkpoint\\.$`);

  /**
   * The SynthPair notifications shown since they were last cleared, read from the notification centre once
   * `awaited` is among them and the run's progress notification ("SynthPair: <label>[: progress]") has gone.
   */
  async function synthPairNotifications(awaited: RegExp): Promise<string[]> {
    await runFromPalette(page, 'Notifications: Show Notifications');
    const messages = page.locator('.notifications-center .notification-list-item-message');
    await messages.filter({ hasText: awaited }).first().waitFor({ timeout: 120_000 });
    await messages
      .filter({ hasText: /^SynthPair: [^ ]+(: .*)?$/ })
      .first()
      .waitFor({ state: 'detached', timeout: 60_000 });
    const shown = (await messages.allTextContents()).filter((text) => text.startsWith('SynthPair:'));
    await runFromPalette(page, 'Notifications: Clear All Notifications');
    return shown;
  }

  it('offers New Experiment in the empty Runs view, and writes, opens and explains the config', async () => {
    await page.locator('.activitybar [aria-label^="SynthPair"]').first().click();
    const button = runsView().locator('.monaco-button', { hasText: 'New Experiment' });
    await button.waitFor({ timeout: 60_000 });
    await screenshot(page, 'flow-1-welcome');
    await button.click();
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill('birds');
    await page.keyboard.press('Enter');
    // What the encoder starts from: random weights (the quick start), torchvision's ImageNet weights, or a file.
    const starts = page.locator('.quick-input-list .monaco-list-row');
    await starts.filter({ hasText: 'Weights file on this machine' }).waitFor();
    assert.deepEqual(
      // Each row's first name is its label; the detail below it is drawn as a name too.
      await starts.evaluateAll((rows) =>
        rows.map((row) => row.querySelector('.label-name')?.textContent?.trim()),
      ),
      ['Random weights', 'ImageNet-pretrained ResNet-50 (torchvision)', 'Weights file on this machine…'],
    );
    await screenshot(page, 'flow-1-start-from');
    await starts.filter({ hasText: 'Random weights' }).click();
    await page.locator('.tab', { hasText: 'birds.synthpair.json' }).waitFor({ timeout: 60_000 });
    assert.ok(existsSync(path.join(workspace, 'birds.synthpair.json')));
    assert.ok(
      existsSync(path.join(workspace, 'data', 'LICENSE')),
      'the generated dataset states its licence',
    );
    await codeLens('Run').waitFor({ timeout: 60_000 });
    await codeLens('Open Dashboard').waitFor();
    await runRow(/birds/).waitFor({ timeout: 30_000 });
    await screenshot(page, 'flow-2-codelens');
  });

  it('underlines a data root that does not exist while typing, and clears it on undo', async () => {
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+H');
    const find = page
      .locator('.find-widget textarea[aria-label="Find"], .find-widget input[aria-label="Find"]')
      .first();
    await find.fill('"root": "data"');
    const replace = page
      .locator('.find-widget textarea[aria-label="Replace"], .find-widget input[aria-label="Replace"]')
      .first();
    await replace.fill('"root": "nowhere"');
    await page.keyboard.press('Control+Alt+Enter');
    await page.keyboard.press('Escape');
    await page.locator('.squiggly-error').first().waitFor({ timeout: 30_000 });
    await page.keyboard.press('Control+Shift+M');
    const problem = page.locator('.markers-panel .monaco-list-row', { hasText: 'nowhere' }).first();
    await problem.waitFor({ timeout: 30_000 });
    await screenshot(page, 'flow-3-diagnostic');
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Z');
    await page.locator('.squiggly-error').first().waitFor({ state: 'detached', timeout: 30_000 });
  });

  it('runs from the CodeLens with progress in the status bar and the view, stops, and resumes', async () => {
    await runFromPalette(page, 'Notifications: Clear All Notifications');
    await codeLens('Run').click();
    await statusItem().waitFor({ timeout: 120_000 });
    await runRow(/epoch \d+\/8/).waitFor({ timeout: 30_000 });
    await screenshot(page, 'flow-4-training');
    await codeLens('Stop').click();
    await runRow(/stopped/).waitFor({ timeout: 120_000 });
    await codeLens('Resume').waitFor({ timeout: 30_000 });
    assert.equal(await statusItem().count(), 0, 'the status bar item goes when nothing trains');
    await screenshot(page, 'flow-5-stopped');
    // A stop is announced as one, with Resume, and never as a failure; a busy machine may need the forced end.
    const afterStop = await synthPairNotifications(
      stopNotice('birds', `(?:${stoppedAfterStep}|${stoppedByForce})`),
    );
    assert.equal(afterStop.length, 1, afterStop.join(' | '));
    await codeLens('Resume').click();
    await statusItem().waitFor({ timeout: 120_000 });
    // A worker that cannot finish its step within Stop's 30 s, however fast this machine: the resumed run's
    // worker, which its run.json names, is paused. The progress notification's Cancel, which stops the run as
    // Stop does, then has to end it, and that is still a stop with Resume, not a failure.
    const [resumed] = readdirSync(runsFolder);
    const { pid: worker } = JSON.parse(readFileSync(path.join(runsFolder, resumed!, 'run.json'), 'utf8'));
    process.kill(worker, 'SIGSTOP');
    try {
      await page.locator('.notification-toast .monaco-button', { hasText: 'Cancel' }).first().click();
      const afterCancel = await synthPairNotifications(stopNotice(resumed!, stoppedByForce));
      assert.equal(afterCancel.length, 1, afterCancel.join(' | '));
    } finally {
      if (isAlive(worker)) process.kill(worker, 'SIGKILL');
    }
    await runRow(/stopped/).waitFor({ timeout: 120_000 });
    await screenshot(page, 'flow-6-resumed-and-cancelled');
  });

  it('runs with an override picked from the schema, refusing a bad value, then compares the two runs', async () => {
    await runFromPalette(page, 'SynthPair: Run Experiment with Overrides');
    const input = page.locator('.quick-input-widget input');
    await input.fill('train.epochs');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'train.epochs' }).first().click();
    await input.fill('-3');
    await page.locator('.quick-input-message', { hasText: 'train.epochs' }).waitFor({ timeout: 10_000 });
    await screenshot(page, 'flow-7-override-refused');
    await input.fill('1');
    await page.keyboard.press('Enter');
    await page
      .locator('.quick-input-list .monaco-list-row', { hasText: 'Run with 1 override' })
      .first()
      .click();
    await runRow(/completed/).waitFor({ timeout: 180_000 });

    await runFromPalette(page, 'SynthPair: Compare Runs');
    const rows = page.locator('.quick-input-list .monaco-list-row', { hasText: 'birds-' });
    await rows.first().waitFor();
    assert.equal(await rows.count(), 2, (await rows.allTextContents()).join(' | '));
    // In a multi-select pick a click on a row toggles its check box.
    for (const row of await rows.all()) await row.click();
    await page.keyboard.press('Enter');
    const preview = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
    try {
      await preview.locator('h2', { hasText: 'Config keys that differ' }).waitFor({ timeout: 60_000 });
    } catch (error) {
      await screenshot(page, 'flow-8-compare-failure');
      throw error;
    }
    await preview.locator('td', { hasText: 'train.epochs' }).first().waitFor();
    await screenshot(page, 'flow-8-compare');
  });

  it('watches a run in the dashboard beside the file: curves grow, heat maps scrub, a dragged threshold edits the file and redraws the pairs, and undo restores it', async () => {
    // The experiment alone, so its dashboard is the only webview and its frame is unambiguous; no panel below.
    await runFromPalette(page, 'View: Close All Editors');
    if (await page.locator('.part.panel').isVisible()) await page.keyboard.press('Control+J');
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget input').fill('birds.synthpair.json');
    await page
      .locator('.quick-input-list .monaco-list-row', { hasText: 'birds.synthpair.json' })
      .first()
      .waitFor();
    await page.keyboard.press('Enter');
    // The find widget of the earlier step comes back with the editor, over the CodeLens.
    const findWidget = page.locator('.find-widget.visible');
    if ((await findWidget.count()) > 0) {
      await findWidget.locator('[aria-label^="Close"]').first().click();
      await findWidget.waitFor({ state: 'detached', timeout: 10_000 });
    }
    await codeLens('Open Dashboard').click();
    const dashboard = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
    await dashboard
      .locator('#config-label', { hasText: 'birds.synthpair.json' })
      .waitFor({ timeout: 60_000 });

    // A new run: the dashboard, on the newest run, moves to it and its curves grow as it trains.
    await codeLens('Run').click();
    await dashboard.locator('.run-state[data-state="running"]').waitFor({ timeout: 120_000 });
    const losses = dashboard.locator('sp-curves .curve-card[data-chart="losses"] .curve-plot');
    const points = async () => Number((await losses.getAttribute('data-points', { timeout: 120_000 })) ?? 0);
    await losses.waitFor({ timeout: 120_000 });
    const early = await points();
    // Every epoch logs at least one step record, so the chart grows while the 8 epochs train: wait for that
    // state, however long an epoch takes on this machine. The callback runs in the page, so it declares no
    // named function: the test's transpiler would wrap one in a helper the page does not have.
    const later = await losses.evaluate(
      (plot, above) =>
        new Promise<number>((resolve) => {
          const grown = new MutationObserver(() => {
            if (Number(plot.getAttribute('data-points') ?? 0) <= above) return;
            grown.disconnect();
            resolve(Number(plot.getAttribute('data-points')));
          });
          grown.observe(plot, { attributes: true, attributeFilter: ['data-points'] });
          // It may have grown between reading `early` and observing.
          if (Number(plot.getAttribute('data-points') ?? 0) > above) {
            grown.disconnect();
            resolve(Number(plot.getAttribute('data-points')));
          }
        }),
      early,
    );
    assert.ok(later > early, `the losses grew from ${early} to ${later} points while training`);
    await screenshot(page, 'flow-9-dashboard-curves-live');
    // A fast machine may finish the run before Stop is pressed: either end leaves analysis steps to scrub.
    await codeLens('Stop')
      .click({ timeout: 10_000 })
      .catch(() => undefined);
    await dashboard
      .locator('.run-state[data-state="stopped"], .run-state[data-state="completed"]')
      .waitFor({ timeout: 120_000 });

    // Heat maps of every analysis step: the slider goes back to the first epoch.
    await dashboard.locator('#tab-heatmaps').click();
    await dashboard.locator('sp-heatmaps .tile').first().waitFor({ timeout: 30_000 });
    const newest = (await dashboard.locator('sp-heatmaps #step-label').textContent())?.trim();
    await dashboard.locator('sp-heatmaps #step').focus();
    await page.keyboard.press('Home');
    await dashboard.locator('sp-heatmaps #step-label', { hasText: 'epoch 1' }).waitFor();
    assert.notEqual(newest, 'epoch 1', 'there is more than one step to scrub');
    await dashboard.locator('sp-heatmaps[data-rendered-epoch="1"]').waitFor({ timeout: 30_000 });
    await screenshot(page, 'flow-10-dashboard-heatmaps');

    // The variance threshold dragged to the right masks more dimensions and writes the quantile into the file
    // (the host logs each edit it applies; the file is unsaved, so the pairs below show the host read it back).
    const { maskedBefore, maskedAfter } = await dragVarianceThreshold(page, dashboard, 30_000);
    assert.ok(maskedAfter > maskedBefore, `masked ${maskedBefore} → ${maskedAfter}`);
    await screenshot(page, 'flow-11-dashboard-threshold-dragged');

    // The host read the quantile back from the unsaved document, and the worker redrew the pairs with it.
    await dashboard.locator('#tab-pairs').click();
    const status = dashboard.locator('#pairs-status', { hasText: /variance q = 0\.(?!25\b)\d+/ });
    await status.waitFor({ timeout: 60_000 });
    const written = Number(/variance q = ([\d.]+)/.exec((await status.textContent()) ?? '')?.[1]);
    assert.ok(written > 0.25, `the pairs were redrawn with the dragged quantile ${written}`);
    await screenshot(page, 'flow-12-dashboard-pairs');

    // Undo in the editor puts the file back, and the pairs follow it.
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Z');
    await dashboard.locator('#pairs-status', { hasText: 'variance q = 0.25' }).waitFor({ timeout: 60_000 });
    await screenshot(page, 'flow-13-dashboard-undone');
  });

  it('keeps Run clickable when focus leaves the experiment just as VS Code asks for its CodeLens again', async () => {
    // A new language makes VS Code draw the lenses it cached, which have no commands, and ask the providers
    // again a moment later. Focus moved to the dashboard before that moment drops the request: the lenses
    // stay text until the provider says they changed.
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Home');
    await codeLens('Run').waitFor({ timeout: 30_000 });
    await runFromPalette(page, 'Change Language Mode');
    await page.locator('.quick-input-widget input').fill('JSON with Comments');
    await page
      .locator('.quick-input-list .monaco-list-row', { hasText: 'JSON with Comments' })
      .first()
      .waitFor();
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+2');
    try {
      await codeLens('Run').waitFor({ timeout: 30_000 });
    } finally {
      await screenshot(page, 'flow-14-lens-after-focus-left');
    }
    await page.keyboard.press('Control+1');
    await page
      .locator('.statusbar-item', { hasText: 'JSON with Comments' })
      .first()
      .waitFor({ timeout: 10_000 });
  });
});
