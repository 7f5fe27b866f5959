// `npm start`: opens a real VS Code with SynthPair loaded on examples/quickstart, its experiment open and the
// Get Started walkthrough beside it; the images the experiment trains on are generated on first use. Desktop
// VS Code when `code` is on PATH; otherwise code-server in the browser (provisioned on first use, which takes
// minutes). `npm start -- --smoke` starts code-server headless, checks that the workbench loads, that
// SynthPair activates and that the quickstart opens ready to run (its data present, the experiment and the
// walkthrough open), prints OK and exits: CI's proof that the main command works.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { walkthroughId } from '../src/host/manifest/walkthrough';
import type { CodeServer } from '../test/integration/codeServer';
import { repoRoot } from '../test/integration/provision';
import { chromiumArgs, chromiumPath } from '../test/integration/run';
import {
  extensionId as EXTENSION_ID,
  type PreparedQuickstart,
  prepareQuickstart,
  type QuickstartServer,
  quickstartFolder as quickstart,
  quickstartExperiment,
  serveQuickstart,
} from './quickstart';

const SMOKE_TIMEOUT_MS = 120_000;
const resultsDir = path.join(repoRoot, 'test-results');

function desktopCodeOnPath(): boolean {
  return spawnSync('sh', ['-c', 'command -v code'], { stdio: 'ignore' }).status === 0;
}

function requestedPort(flag: string | undefined): number {
  const value = flag ?? process.env.PORT ?? '8080';
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`Invalid port "${value}" (from ${flag === undefined ? 'PORT' : '--port'})`);
  }
  return port;
}

async function serve(port: number, smoke: boolean): Promise<QuickstartServer> {
  if (smoke) {
    mkdirSync(resultsDir, { recursive: true });
    rmSync(path.join(resultsDir, 'start-smoke-code-server.log'), { force: true });
  }
  const started = await serveQuickstart({
    port,
    logFile: smoke ? path.join(resultsDir, 'start-smoke-code-server.log') : undefined,
  });
  if (started.server.port !== port) {
    console.log(`Port ${port} is in use; using ${started.server.port} instead.`);
  }
  return started;
}

function readActivationLog(userDataDir: string): string {
  // The remote extension host logs each activation under <user-data-dir>/logs/<session>/exthost*/.
  const logsDir = path.join(userDataDir, 'logs');
  if (!existsSync(logsDir)) {
    return '';
  }
  return readdirSync(logsDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('exthost.log'))
    .map((file) => readFileSync(path.join(logsDir, file), 'utf8'))
    .join('\n');
}

async function waitForActivation(server: CodeServer): Promise<void> {
  const deadline = Date.now() + SMOKE_TIMEOUT_MS;
  for (;;) {
    const log = readActivationLog(server.userDataDir);
    const failure = log
      .split('\n')
      .find((line) => line.includes(`Activating extension ${EXTENSION_ID} failed`));
    if (failure) {
      throw new Error(`SynthPair failed to activate: ${failure}`);
    }
    if (log.includes(`ExtensionService#_doActivateExtension ${EXTENSION_ID}`)) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `SynthPair did not activate within ${SMOKE_TIMEOUT_MS / 1000} s ` +
          '(see test-results/start-smoke.png and start-smoke-code-server.log)',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Waits for an element of `selector`, or fails saying `what` was missing, in words a CI log can act on. */
async function expectOnPage(page: Page, selector: string, what: string): Promise<void> {
  try {
    await page.locator(selector).first().waitFor({ timeout: SMOKE_TIMEOUT_MS });
  } catch {
    throw new Error(
      `The quickstart opened without ${what} within ${SMOKE_TIMEOUT_MS / 1000} s ` +
        '(see test-results/start-smoke.png and start-smoke-code-server.log)',
    );
  }
}

async function smoke(server: CodeServer): Promise<void> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: chromiumArgs,
    env: { ...process.env, ...server.isolatedEnv },
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(server.url);
    try {
      await page.waitForSelector('.monaco-workbench', { timeout: SMOKE_TIMEOUT_MS });
      await waitForActivation(server);
      await expectOnPage(
        page,
        `.tab:has-text("${quickstartExperiment}")`,
        `${quickstartExperiment} in an editor`,
      );
      await expectOnPage(
        page,
        `[data-done-step-id^="${EXTENSION_ID}#${walkthroughId}#"]`,
        'the Get Started with SynthPair walkthrough',
      );
    } finally {
      await page.screenshot({ path: path.join(resultsDir, 'start-smoke.png') });
    }
  } finally {
    await browser.close();
  }
}

function describeData(prepared: PreparedQuickstart): string {
  const where = path.relative(repoRoot, prepared.dataRoot);
  return (
    `${prepared.trainImages} training and ${prepared.testImages} test images of ${prepared.classes} classes ` +
    `in ${where} (${prepared.generated ? 'generated now' : 'there already'})`
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, smoke: { type: 'boolean', default: false } },
  });

  if (!values.smoke && desktopCodeOnPath()) {
    const prepared = await prepareQuickstart();
    console.log(`Quickstart data: ${describeData(prepared)}.`);
    const code = spawnSync(
      'code',
      [`--extensionDevelopmentPath=${repoRoot}`, quickstart, prepared.experimentFile],
      { stdio: 'inherit' },
    );
    process.exitCode = code.status ?? 1;
    return;
  }

  const { server, prepared } = await serve(requestedPort(values.port), values.smoke);
  if (values.smoke) {
    try {
      await smoke(server);
      console.log(
        `OK: VS Code ${server.url} loaded the workbench, activated ${EXTENSION_ID} and opened ` +
          `${quickstartExperiment} with the walkthrough beside it; ${describeData(prepared)}`,
      );
    } finally {
      await server.stop();
    }
    return;
  }

  console.log(`Quickstart data: ${describeData(prepared)}.`);
  console.log(`SynthPair is running in VS Code at ${server.url} (examples/quickstart). Ctrl-C stops it.`);
  // on(), not once(): Ctrl-C arrives twice (from the terminal and relayed by tsx), and tsx exits at
  // once when a signal finds no listener, which would cut the server's shutdown short.
  await new Promise<void>((resolve) => {
    process.on('SIGINT', () => resolve());
    process.on('SIGTERM', () => resolve());
  });
  console.log('Stopping code-server…');
  await server.stop();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
