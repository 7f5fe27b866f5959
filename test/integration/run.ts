// Runs the mocha suite in out/integration/suite.js inside a real VS Code extension host: code-server
// serves VS Code, headless Chromium opens it with the smoke-test driver's extension-test payload, and
// the workbench reports the extension host's console and the suite's exit code back to this script.
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { format } from 'node:util';
import { type Browser, chromium } from 'playwright-core';
import { writeTinyExperiment } from '../support/cli';
import { type CodeServer, startCodeServer } from './codeServer';
import { provisionVSCode, repoRoot } from './provision';
import { CONSOLE_TAG, RESULT_PREFIX } from './suite/index';

// Generous: a cold extension host on a loaded 2-core machine; slower machines can raise it.
const SUITE_TIMEOUT_MS = Number(process.env.SYNTHPAIR_SUITE_TIMEOUT_S ?? 480) * 1000;
const resultsDir = path.join(repoRoot, 'test-results');
export const fixtureWorkspace = path.join(repoRoot, 'test', 'fixtures', 'workspace');
export const suitePath = path.join(repoRoot, 'out', 'integration', 'suite.js');
// Overridable to test another build of the extension, e.g. an unpacked VSIX.
const extensionPath = path.resolve(process.env.SYNTHPAIR_EXTENSION_PATH ?? repoRoot);

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Settings that keep the workbench quiet and offline: no update checks, no welcome page. */
export const quietSettings = {
  'workbench.startupEditor': 'none',
  'workbench.colorTheme': 'Default Dark Modern',
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'security.workspace.trust.enabled': false,
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  // SynthPair opens its walkthrough on the first activation in a workspace with an experiment, which would add
  // an editor and a webview of its own to every test's workbench.
  'synthpair.showWalkthrough': false,
  // The example folders live inside this repository's git checkout.
  'git.openRepositoryInParentFolders': 'never',
};

interface SuiteResult {
  passed: number;
  failed: number;
  pending: number;
}

function log(message: string): void {
  process.stderr.write(`[integration] ${message}\n`);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function checkInputs(): void {
  const missing = [
    [suitePath, 'the bundled suite'],
    [path.join(extensionPath, 'package.json'), 'the extension manifest'],
  ].filter(([file]) => !existsSync(file));
  if (missing.length > 0) {
    throw new Error(
      `Missing ${missing.map(([file, what]) => `${what} (${file})`).join(' and ')}; ` +
        'run `node scripts/build.mjs` first (`npm run test:integration` does).',
    );
  }
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `No Chromium at ${chromiumPath}: install Debian's chromium (\`scripts/install-system-deps.sh\`) ` +
        'or set CHROMIUM_PATH.',
    );
  }
}

function parseResult(lines: string[]): SuiteResult | undefined {
  for (const line of [...lines].reverse()) {
    const at = line.indexOf(RESULT_PREFIX);
    if (at >= 0) {
      try {
        return JSON.parse(line.slice(at + RESULT_PREFIX.length).trim()) as SuiteResult;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

interface Outcome {
  exitCode: number;
  result?: SuiteResult;
}

/** One window of the suite: the trusted main suite, or the Restricted Mode one on an untrusted folder. */
interface SuiteVariant {
  name: 'main' | 'restricted';
  settings: Record<string, unknown>;
  workspaceTrust: boolean;
}

const variants: SuiteVariant[] = [
  { name: 'main', settings: quietSettings, workspaceTrust: false },
  {
    name: 'restricted',
    settings: {
      ...quietSettings,
      'security.workspace.trust.enabled': true,
      // Opens the folder untrusted without the modal prompt, as after answering "No, I don't trust the authors".
      'security.workspace.trust.startupPrompt': 'never',
      'security.workspace.trust.emptyWindow': false,
    },
    workspaceTrust: true,
  },
];

async function runSuite(
  started: number,
  variant: SuiteVariant,
  workbenchLog: string,
  serverLog: string,
): Promise<Outcome> {
  checkInputs();
  const { codeServerBin, env } = await provisionVSCode();
  log(`code-server ready after ${seconds(started)}`);

  const workspace = mkdtempSync(path.join(os.tmpdir(), 'synthpair-workspace-'));
  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  const cleanup = async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    rmSync(workspace, { recursive: true, force: true });
  };
  // Registered with on(), not once(): Ctrl-C reaches this process twice (from the terminal and relayed
  // by tsx), and tsx exits on the spot when a signal finds no listener, cutting the cleanup short.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!interrupted) {
      interrupted = true;
      log(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    cpSync(fixtureWorkspace, workspace, { recursive: true });
    // A dataset and an experiment that train in seconds, for the suite's runs.
    await writeTinyExperiment(workspace, {
      eval: { everyEpochs: 1 },
      checkpoint: { everyEpochs: 1, keep: 0 },
    });
    server = await startCodeServer({
      codeServerBin,
      env: { ...env, SYNTHPAIR_SUITE: variant.name },
      smokeTestDriver: true,
      settings: variant.settings,
      workspaceTrust: variant.workspaceTrust,
      logFile: serverLog,
    });
    const { port, url } = server;
    log(`code-server listening on ${url} after ${seconds(started)}`);

    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: chromiumArgs,
      env: { ...process.env, ...server.isolatedEnv },
      // Playwright's own handlers would exit the process before onSignal has stopped the server.
      handleSIGINT: false,
      handleSIGTERM: false,
    });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });

    const consoleLines: string[] = [];
    const workbenchErrors: string[] = [];
    let reportExit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => {
      reportExit = resolve;
    });
    // Everything goes to the log file; only the extension host's console (mocha's report included)
    // is worth the terminal, the workbench adds hundreds of lines of its own.
    await page.exposeFunction('codeAutomationLog', (level: string, args: unknown) => {
      // The workbench's logger hands over the arguments of its log call, printf-style.
      const text = Array.isArray(args) ? format(...args) : format(args);
      writeFileSync(workbenchLog, `[${level}] ${text}\n`, { flag: 'a' });
      if (level === 'error') {
        workbenchErrors.push(text);
      }
      if (text.startsWith(CONSOLE_TAG)) {
        const line = text.slice(CONSOLE_TAG.length);
        consoleLines.push(line);
        (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${line}\n`);
      }
    });
    await page.exposeFunction(
      'codeAutomationExit',
      (code: number, logs: Array<{ relativePath: string; contents: string }> = []) => {
        for (const { relativePath, contents } of logs) {
          const file = path.join(resultsDir, 'integration-logs', relativePath);
          mkdirSync(path.dirname(file), { recursive: true });
          writeFileSync(file, contents);
        }
        reportExit(code);
      },
    );

    const remote = (file: string) => `vscode-remote://127.0.0.1:${port}${file}`;
    const payload = [
      ['extensionDevelopmentPath', remote(extensionPath)],
      ['extensionTestsPath', remote(suitePath)],
      ['skipWelcome', 'true'],
    ];
    await page.goto(
      `${url}?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`,
    );
    log(`workbench loading after ${seconds(started)}`);

    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(`did not finish within ${SUITE_TIMEOUT_MS / 1000} s`),
        SUITE_TIMEOUT_MS,
      );
      page.once('crash', () => resolve('lost its workbench: the Chromium page crashed'));
    });
    const outcome = await Promise.race([exited, stalled]);
    clearTimeout(timer);
    await page
      .screenshot({ path: path.join(resultsDir, `integration-workbench-${variant.name}.png`) })
      .catch((error: Error) => log(`no screenshot: ${error.message}`));

    const result = parseResult(consoleLines);
    if (typeof outcome === 'string') {
      log(`the suite ${outcome}; see test-results/integration-workbench.png and integration-workbench.log`);
      return { exitCode: 1, result };
    }
    if (result === undefined) {
      // Typically the bundle failed to load. The offline machine's lookup failures are noise here.
      const errors = workbenchErrors.filter((text) => !text.includes('ENOTFOUND')).slice(-10);
      log(
        `the extension host exited with ${outcome} without the suite reporting ${RESULT_PREFIX}; ` +
          `workbench errors (all in test-results/integration-workbench.log):\n${errors.join('\n')}`,
      );
      return { exitCode: 1 };
    }
    return { exitCode: outcome === 0 && result.failed === 0 ? 0 : 1, result };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  mkdirSync(resultsDir, { recursive: true });
  const workbenchLog = path.join(resultsDir, 'integration-workbench.log');
  const serverLog = path.join(resultsDir, 'integration-code-server.log');
  for (const stale of [workbenchLog, serverLog, path.join(resultsDir, 'integration-logs')]) {
    rmSync(stale, { recursive: true, force: true });
  }

  let exitCode = 0;
  const counts = { passed: 0, failed: 0, pending: 0 };
  for (const variant of variants) {
    let outcome: Outcome;
    try {
      outcome = await runSuite(started, variant, workbenchLog, serverLog);
    } catch (error) {
      log(error instanceof Error ? error.message : String(error));
      outcome = { exitCode: 1 };
    }
    // A suite that never reported counts as one failure, so a broken harness cannot look green.
    const result = outcome.result ?? { passed: 0, failed: 1, pending: 0 };
    counts.passed += result.passed;
    counts.failed += result.failed;
    counts.pending += result.pending;
    exitCode ||= outcome.exitCode;
    log(
      `${variant.name} suite: ${result.passed} passed, ${result.failed} failed; exit code ${outcome.exitCode}`,
    );
  }
  writeFileSync(path.join(resultsDir, 'integration.json'), `${JSON.stringify(counts)}\n`);
  log(
    `${counts.passed} passed, ${counts.failed} failed, ${counts.pending} pending in ${seconds(started)}; ` +
      `exit code ${exitCode}`,
  );
  return exitCode;
}

if (require.main === module) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
