import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type CodeServer, startCodeServer } from '../integration/codeServer';
import { provisionVSCode, repoRoot } from '../integration/provision';
import {
  chromiumArgs,
  chromiumPath,
  ensureFixtureWorkspace,
  fixtureWorkspace,
  quietSettings,
} from '../integration/run';
import { screenshot } from './harness';

const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;

/** Runs a command by its palette title, reopening the palette until the extension's commands have registered. */
async function runFromPalette(page: Page, title: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  for (;;) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`>${title}`);
    try {
      await row.waitFor({ timeout: 3000 });
      break;
    } catch (error) {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) {
        throw error;
      }
    }
  }
  await page.keyboard.press('Enter');
}

/**
 * The dashboard as a user reaches it: the command palette of a real VS Code workbench, the panel rendered in
 * VS Code's own webview iframes, with the real extension host and engine worker behind it.
 */
describe('dashboard in a real VS Code workbench', function () {
  this.timeout(240_000);
  let browser: Browser;

  before(async () => {
    ensureFixtureWorkspace();
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
  });

  after(async () => {
    await browser?.close();
  });

  for (const [theme, colorTheme] of [
    ['dark', 'Default Dark Modern'],
    ['light', 'Default Light Modern'],
  ] as const) {
    it(`opens from the command palette and shows the backend report (${theme} theme)`, async () => {
      const { codeServerBin, env } = await provisionVSCode();
      let server: CodeServer | undefined;
      try {
        server = await startCodeServer({
          codeServerBin,
          env,
          folder: fixtureWorkspace,
          settings: { ...quietSettings, 'workbench.colorTheme': colorTheme },
          linkedExtensions: [{ id: 'synthpair.synthpair', version, location: repoRoot }],
        });
        const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
        await page.goto(server.url);
        await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
        await runFromPalette(page, 'SynthPair: Open Dashboard');
        const dashboard = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
        const badge = dashboard.locator('#selected-backend');
        await badge.waitFor({ timeout: 60_000 });
        assert.ok(['wasm', 'node', 'node-gpu'].includes(((await badge.textContent()) ?? '').trim()));
        assert.equal(await dashboard.locator('#attempts vscode-table-row').count(), 4);
        const tab = page.locator('.tab', { hasText: 'SynthPair Dashboard' });
        assert.equal(await tab.count(), 1);
        // The panel takes its colours from the workbench theme, not from defaults of its own.
        const [panelBackground, editorBackground] = await Promise.all([
          dashboard.locator('body').evaluate((body) => getComputedStyle(body).backgroundColor),
          page
            .locator('.monaco-workbench .part.editor .content')
            .first()
            .evaluate((element) => {
              const value = getComputedStyle(element).getPropertyValue('--vscode-editor-background').trim();
              const probe = document.createElement('div');
              probe.style.color = value;
              document.body.append(probe);
              const color = getComputedStyle(probe).color;
              probe.remove();
              return color;
            }),
        ]);
        assert.equal(panelBackground, editorBackground);
        await screenshot(page, `workbench-dashboard-${theme}`);
        await page.close();
      } finally {
        await server?.stop();
      }
    });
  }
});
