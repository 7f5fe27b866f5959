// `npm start`: opens a real VS Code with SynthPair loaded on examples/quickstart. Desktop VS Code when
// `code` is on PATH; otherwise code-server in the browser (provisioned on first use, which takes minutes).
// `npm start -- --smoke` starts code-server headless, checks that the workbench loads and that SynthPair
// activates, prints OK and exits: CI's proof that the main command works.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { type CodeServer, startCodeServer } from '../test/integration/codeServer';
import { provisionVSCode, repoRoot } from '../test/integration/provision';
import { chromiumArgs, chromiumPath, quietSettings } from '../test/integration/run';

const EXTENSION_ID = 'synthpair.synthpair';
const SMOKE_TIMEOUT_MS = 120_000;
const quickstart = path.join(repoRoot, 'examples', 'quickstart');
const resultsDir = path.join(repoRoot, 'test-results');

function desktopCodeOnPath(): boolean {
  return spawnSync('sh', ['-c', 'command -v code'], { stdio: 'ignore' }).status === 0;
}

function extensionVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

function requestedPort(flag: string | undefined): number {
  const value = flag ?? process.env.PORT ?? '8080';
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`Invalid port "${value}" (from ${flag === undefined ? 'PORT' : '--port'})`);
  }
  return port;
}

async function serve(port: number, smoke: boolean): Promise<CodeServer> {
  const { codeServerBin, env } = await provisionVSCode();
  if (smoke) {
    mkdirSync(resultsDir, { recursive: true });
    rmSync(path.join(resultsDir, 'start-smoke-code-server.log'), { force: true });
  }
  const server = await startCodeServer({
    codeServerBin,
    env,
    port,
    folder: quickstart,
    settings: quietSettings,
    // Loaded like an installed extension: the repo itself, so a rebuild plus "Developer: Reload Window"
    // picks up changes.
    linkedExtensions: [{ id: EXTENSION_ID, version: extensionVersion(), location: repoRoot }],
    logFile: smoke ? path.join(resultsDir, 'start-smoke-code-server.log') : undefined,
  });
  if (server.port !== port) {
    console.log(`Port ${port} is in use; using ${server.port} instead.`);
  }
  return server;
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
    } finally {
      await page.screenshot({ path: path.join(resultsDir, 'start-smoke.png') });
    }
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, smoke: { type: 'boolean', default: false } },
  });

  if (!values.smoke && desktopCodeOnPath()) {
    const code = spawnSync('code', [`--extensionDevelopmentPath=${repoRoot}`, quickstart], {
      stdio: 'inherit',
    });
    process.exitCode = code.status ?? 1;
    return;
  }

  const server = await serve(requestedPort(values.port), values.smoke);
  if (values.smoke) {
    try {
      await smoke(server);
      console.log(`OK: VS Code ${server.url} loaded the workbench and activated ${EXTENSION_ID}`);
    } finally {
      await server.stop();
    }
    return;
  }

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
