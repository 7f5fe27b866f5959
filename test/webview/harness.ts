import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Browser, chromium, type FrameLocator, type Page } from 'playwright-core';
import { type WebSocket, WebSocketServer } from 'ws';
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
  /** Delivers a message as the extension host would; settles once the page's listener has handled it. */
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
    // For the harness's own socket into the page (see openCarrier), from the webview's origin to loopback.
    permissions: ['local-network-access'],
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
  const carrier = await openCarrier(page, options.onPosted ?? (() => undefined));
  const theme = themes[options.theme];
  // Source text rather than a function: the TypeScript loader decorates functions with helpers the page lacks.
  await page.addInitScript(`(() => {
    const recorded = { posted: [], state: ${JSON.stringify(options.state ?? null)} ?? undefined, violations: [] };
    window.__synthpair = recorded;
    window.acquireVsCodeApi = () => ({
      postMessage: (message) => {
        recorded.posted.push(structuredClone(message));
        window.__synthpairPosted(message);
      },
      getState: () => recorded.state,
      setState: (state) => { recorded.state = structuredClone(state); },
    });
    // Opened before the document's CSP exists, which would refuse it: see openCarrier.
    const socket = new WebSocket(${JSON.stringify(carrier.url)});
    socket.binaryType = 'arraybuffer';
    const unsent = [];
    socket.onopen = () => unsent.splice(0).forEach((text) => socket.send(text));
    window.__synthpairPosted = (message) => {
      const text = JSON.stringify({ posted: message });
      if (socket.readyState === WebSocket.OPEN) socket.send(text);
      else unsent.push(text);
    };
    let header;
    const deliver = (bytes) => {
      const revive = (value) =>
        Array.isArray(value) ? value.map(revive)
        : value && typeof value === 'object'
          ? Array.isArray(value[${JSON.stringify(bytesKey)}])
            ? new Uint8Array(bytes, value[${JSON.stringify(bytesKey)}][0], value[${JSON.stringify(bytesKey)}][1])
            : Object.fromEntries(Object.entries(value).map(([key, item]) => [key, revive(item)]))
          : value;
      // Handed over, not copied, as VS Code hands a webview the bytes it was sent.
      window.postMessage(revive(header.message), '*', bytes ? [bytes] : []);
      handling.push(header.id);
      header = undefined;
    };
    // Called by a listener added after the page's own (see openWebview), so once the page has handled it.
    const handling = [];
    window.__synthpairHandled = () => socket.send(JSON.stringify({ delivered: handling.shift() }));
    socket.onmessage = (event) => {
      if (header !== undefined) return deliver(event.data);
      header = JSON.parse(event.data);
      if (!header.withBytes) deliver();
    };
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
  // The bundle added its listener as it loaded: this one runs after it for every message, microtasks included.
  await page.evaluate(() =>
    window.addEventListener('message', () =>
      (window as unknown as { __synthpairHandled(): void }).__synthpairHandled(),
    ),
  );
  type Recorded = { posted: unknown[]; state: unknown; violations: string[] };
  // Playwright evaluates through the debugger, which the page's CSP does not restrict; the page itself cannot eval.
  const recorded = () => page.evaluate(() => (window as unknown as { __synthpair: Recorded }).__synthpair);
  return {
    page,
    consoleMessages,
    posted: async () => (await recorded()).posted,
    state: async () => (await recorded()).state,
    cspViolations: async () => (await recorded()).violations,
    postFromHost: (message) => carrier.deliver(message),
  };
}

const bytesKey = '__synthpairBytes';

interface Carrier {
  url: string;
  /** Settles once the page has handled the message, posted to its window as VS Code's webview host does. */
  deliver(message: unknown): Promise<void>;
}

/**
 * A WebSocket between the harness and the page. Into the page it carries each message's JSON as text and the
 * Uint8Arrays in it as one binary frame, as VS Code hands a webview typed arrays: as bytes. Playwright's
 * evaluate would carry bytes as text through the debugger protocol, a quarter of a second for one pair grid,
 * which the pairs' edit-to-pixels time would count although no user ever waits for it. Out of the page it
 * carries what the page posts, as it posts it. The page opens the socket before its CSP (a meta element) is
 * parsed; the CSP still governs everything the page itself loads or connects to.
 */
async function openCarrier(page: Page, onPosted: (message: unknown) => void): Promise<Carrier> {
  const server = createServer();
  // The page's closing ends the connection; the listener alone must not keep a test run alive.
  server.unref();
  const sockets = new WebSocketServer({ server });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  const connected = new Promise<WebSocket>((resolve) => sockets.once('connection', resolve));
  page.once('close', () => {
    sockets.close();
    server.close();
  });
  let nextId = 0;
  const awaited = new Map<number, { delivered(): void; lost(error: Error): void }>();
  void connected.then((socket) => {
    socket.on('message', (data) => {
      const received = JSON.parse(String(data)) as { delivered: number } | { posted: unknown };
      if ('posted' in received) {
        onPosted(received.posted);
        return;
      }
      awaited.get(received.delivered)?.delivered();
      awaited.delete(received.delivered);
    });
    socket.on('close', () => {
      for (const { lost } of awaited.values()) lost(new Error('the page closed before a message reached it'));
      awaited.clear();
    });
  });
  return {
    url: `ws://127.0.0.1:${port}`,
    deliver: async (message) => {
      const socket = await connected;
      const chunks: Uint8Array[] = [];
      let length = 0;
      // `this[key]` is the value before a Buffer's toJSON made it an array of numbers.
      const text = JSON.stringify(message, function (this: Record<string, unknown>, key, value: unknown) {
        const original = this[key];
        if (!(original instanceof Uint8Array)) return value;
        chunks.push(original);
        length += original.byteLength;
        return { [bytesKey]: [length - original.byteLength, original.byteLength] };
      });
      const id = nextId++;
      const done = new Promise<void>((delivered, lost) => awaited.set(id, { delivered, lost }));
      socket.send(`{"id":${id},"withBytes":${chunks.length > 0},"message":${text}}`);
      if (chunks.length > 0) socket.send(Buffer.concat(chunks, length));
      await done;
    },
  };
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

/** Opens `fileName`, shown in the Explorer, with the editor `editorName` through its context menu's Open With. */
export async function openWithFromExplorer(page: Page, fileName: string, editorName: string): Promise<void> {
  await page
    .locator('.explorer-folders-view .monaco-list-row', { hasText: fileName })
    .click({ button: 'right' });
  // Chosen with the keyboard: the menu drops a click that lands while it is still settling after opening.
  await page.locator('.context-view .action-item', { hasText: 'Open With...' }).hover();
  await page.locator('.context-view .action-item.focused', { hasText: 'Open With...' }).waitFor();
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: editorName }).first().click();
}

/**
 * Drags the dashboard's variance threshold 80 px to the right, as a user would, on its Dimensions tab, and
 * says how many dimensions were masked before and after.
 */
export async function dragVarianceThreshold(
  page: Page,
  dashboard: FrameLocator,
  timeoutMs: number,
): Promise<{ maskedBefore: number; maskedAfter: number }> {
  await dashboard.locator('#tab-dimensions').click();
  const count = dashboard.locator('sp-dimensions #dims-masked-count');
  await count.waitFor({ timeout: timeoutMs });
  const maskedBefore = Number(await count.getAttribute('data-masked'));
  const handle = dashboard.locator('sp-dimensions .dims-plot[data-chart="variance"] .dims-threshold').first();
  // The panel shares the window with the editor: the histogram may be below the webview's fold.
  await handle.scrollIntoViewIfNeeded();
  const box = await handle.boundingBox();
  assert.ok(box, 'the variance threshold is on screen');
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  for (let offset = 10; offset <= 80; offset += 10) {
    await page.mouse.move(box.x + box.width / 2 + offset, box.y + box.height / 2);
  }
  await page.mouse.up();
  return { maskedBefore, maskedAfter: Number(await count.getAttribute('data-masked')) };
}

/** A page of `browser` showing the VS Code workbench at `url`, once the workbench has drawn itself. */
export async function openWorkbench(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number },
): Promise<Page> {
  const page = await browser.newPage({ viewport });
  await page.goto(url);
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  return page;
}
