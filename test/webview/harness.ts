import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { renderWebviewHtml } from '../../src/host/webview/webviewHtml';
import { chromiumArgs, chromiumPath } from '../integration/run';
import { type ThemeName, themes } from './themes';

const root = path.join(__dirname, '..', '..');
/** Stands in for `webview.cspSource`: an origin of its own, served from disk by request interception. */
export const origin = 'https://webview.synthpair.test';
export const screenshotDir = path.join(root, 'test-results', 'webview');

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
}

export interface OpenedWebview {
  page: Page;
  /** Messages the page posted to the host, in order. */
  posted(): Promise<unknown[]>;
  /** What the page last stored with setState. */
  state(): Promise<unknown>;
  /** Delivers a message as the extension host would. */
  postFromHost(message: unknown): Promise<void>;
  consoleMessages: string[];
  cspViolations(): Promise<string[]>;
}

/**
 * Loads a webview bundle the way VS Code does: the same HTML and CSP, theme variables on <html>, and an
 * `acquireVsCodeApi` that records what the page posts and stores.
 */
export async function openWebview(
  browser: Browser,
  options: {
    bundle: string;
    title: string;
    theme: ThemeName;
    state?: unknown;
    width?: number;
    height?: number;
    /** Told of each message the page posts, as it posts it: for a caller that answers as the host would. */
    onPosted?: (message: unknown) => void;
  },
): Promise<OpenedWebview> {
  const page = await browser.newPage({
    viewport: { width: options.width ?? 900, height: options.height ?? 640 },
  });
  const consoleMessages: string[] = [];
  page.on('console', (message) => consoleMessages.push(`${message.type()}: ${message.text()}`));
  const html = renderWebviewHtml({
    title: options.title,
    cspSource: origin,
    scriptUri: `${origin}/dist/webview/${options.bundle}.js`,
    // As the panel loads them: the shared look, then the CSS the bundle's imports emitted beside it.
    styleUris: [`${origin}/media/webview.css`, `${origin}/dist/webview/${options.bundle}.css`],
  });
  await page.route(`${origin}/**`, async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === '/index.html') {
      await route.fulfill({ body: html, contentType: 'text/html' });
      return;
    }
    const file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root)) {
      await route.abort();
      return;
    }
    const contentType = file.endsWith('.js')
      ? 'text/javascript'
      : file.endsWith('.css')
        ? 'text/css'
        : 'application/octet-stream';
    try {
      await route.fulfill({ body: readFileSync(file), contentType });
    } catch {
      await route.fulfill({ status: 404, body: 'not found' });
    }
  });
  // Everything else would leave the machine: refuse it, as the webview sandbox has no network either.
  await page.route(/^(?!https:\/\/webview\.synthpair\.test)/, (route) => route.abort());
  const { onPosted } = options;
  if (onPosted) await page.exposeFunction('__synthpairPosted', onPosted);
  const theme = themes[options.theme];
  // Source text rather than a function: the TypeScript loader decorates functions with helpers the page lacks.
  await page.addInitScript(`(() => {
    const recorded = { posted: [], state: ${JSON.stringify(options.state ?? null)} ?? undefined, violations: [] };
    window.__synthpair = recorded;
    window.acquireVsCodeApi = () => ({
      postMessage: (message) => {
        recorded.posted.push(structuredClone(message));
        window.__synthpairPosted?.(message);
      },
      getState: () => recorded.state,
      setState: (state) => { recorded.state = structuredClone(state); },
    });
    // Bytes arrive as VS Code delivers them, as a Uint8Array (see carryBytes).
    const revive = (value) =>
      Array.isArray(value) ? value.map(revive)
      : value && typeof value === 'object'
        ? typeof value[${JSON.stringify(bytesKey)}] === 'string'
          ? Uint8Array.fromBase64(value[${JSON.stringify(bytesKey)}])
          : Object.fromEntries(Object.entries(value).map(([key, item]) => [key, revive(item)]))
        : value;
    window.__synthpairDeliver = (message) => window.postMessage(revive(message), '*');
    document.addEventListener('securitypolicyviolation', (event) =>
      recorded.violations.push(event.violatedDirective + ' ' + event.blockedURI));
    // The document has no elements yet when this runs; VS Code too themes the page once it exists.
    document.addEventListener('DOMContentLoaded', () => {
      for (const [name, value] of Object.entries(${JSON.stringify(theme.variables)})) {
        document.documentElement.style.setProperty(name, value);
      }
      document.body.classList.add(${JSON.stringify(theme.bodyClass)});
    });
  })();`);
  await page.goto(`${origin}/index.html`);
  type Recorded = { posted: unknown[]; state: unknown; violations: string[] };
  // Playwright evaluates through the debugger, which the page's CSP does not restrict; the page itself cannot eval.
  const recorded = () => page.evaluate(() => (window as unknown as { __synthpair: Recorded }).__synthpair);
  return {
    page,
    consoleMessages,
    posted: async () => (await recorded()).posted,
    state: async () => (await recorded()).state,
    cspViolations: async () => (await recorded()).violations,
    postFromHost: async (message) => {
      await page.evaluate(
        (data) => (window as unknown as { __synthpairDeliver(data: unknown): void }).__synthpairDeliver(data),
        carryBytes(message),
      );
    },
  };
}

const bytesKey = '__synthpairBytes';

/**
 * The message with each Uint8Array as base64 text under {@link bytesKey}, which the page turns back into a
 * Uint8Array. Playwright would carry typed arrays itself, but encodes them a byte at a time in JavaScript: a
 * second for one pair grid on a busy machine, where VS Code hands the webview the bytes as they are.
 */
function carryBytes(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    return { [bytesKey]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (Array.isArray(value)) return value.map(carryBytes);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, carryBytes(item)]));
  }
  return value;
}

/** Fails a suite early, and says why, when the bundle it loads has not been built. */
export function assertBundleBuilt(bundle: string): void {
  if (!existsSync(path.join(root, 'dist', 'webview', `${bundle}.js`))) {
    throw new Error(`dist/webview/${bundle}.js is missing: run \`npm run build\` first`);
  }
}

/** The dashboard panel's page, as `openWebview` loads it. */
export function openDashboard(
  browser: Browser,
  options: { theme: ThemeName; state?: unknown; width?: number; height?: number },
): Promise<OpenedWebview> {
  return openWebview(browser, { bundle: 'dashboard', title: 'SynthPair Dashboard', ...options });
}

/** The page logged no error, refused no host message and broke no rule of its CSP. */
export async function assertNoErrors(webview: OpenedWebview): Promise<void> {
  assert.deepEqual(
    webview.consoleMessages.filter((line) => line.startsWith('error') || line.includes('refused')),
    [],
  );
  assert.deepEqual(await webview.cspViolations(), []);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Runs a command by its palette title, reopening the palette until the extension's commands have registered. */
export async function runFromPalette(page: Page, title: string, timeoutMs = 60_000): Promise<void> {
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
