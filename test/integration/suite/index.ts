// Entry point that VS Code's extension host loads through extensionTestsPath and whose run() it awaits.
import { format } from 'node:util';
import Mocha from 'mocha';

// Test modules in run order. esbuild bundles this file, so there is no test folder to glob at run time:
// each module is required explicitly, and adding a test file means adding one line here.
// The runner starts a second window on an untrusted folder with SYNTHPAIR_SUITE=restricted in the server's
// environment, which the extension host inherits.
const testModules: Array<() => unknown> =
  process.env.SYNTHPAIR_SUITE === 'restricted'
    ? [() => require('./restricted.test')]
    : [
        () => require('./activation.test'),
        () => require('./commands.test'),
        () => require('./editor.test'),
        () => require('./runs.test'),
        () => require('./dashboard.test'),
        () => require('./heatmapEditor.test'),
        () => require('./study.test'),
      ];

/** Printed last, parsed by test/integration/run.ts into test-results/integration.json. */
export const RESULT_PREFIX = 'SYNTHPAIR_SUITE_RESULT';
/** Starts every console line of a web workbench's extension host once the suite runs; see tagConsole(). */
export const CONSOLE_TAG = '[exthost] ';

// A web workbench (code-server, run.ts) passes the extension host's console into its own log, which the
// runner receives through codeAutomationLog; there, nothing tells those lines from the workbench's own
// chatter, so every console line of the extension host is tagged here. Desktop VS Code (run-electron.ts)
// prints the extension host's console as it is.
// VS Code's console forwarder makes console.log & co. accessors with a no-op setter, so the methods
// cannot be replaced; the global console object can, and extensions look it up at call time.
function tagConsole(): void {
  const hostConsole = console;
  const tag =
    (level: 'log' | 'info' | 'warn' | 'error') =>
    (...data: unknown[]) =>
      hostConsole[level](`${CONSOLE_TAG}${format(...data)}`);
  globalThis.console = Object.create(hostConsole, {
    log: { value: tag('log') },
    info: { value: tag('info') },
    warn: { value: tag('warn') },
    error: { value: tag('error') },
  }) as Console;
  // Mocha's reporters captured console.log when the bundle loaded, before the tagging.
  Mocha.reporters.Base.consoleLog = (...data: unknown[]) => console.log(...data);
}

export function run(): Promise<void> {
  // Required here, not imported at the top, so that the runners can use the constants above outside
  // VS Code. require() is how every extension host version resolves 'vscode'; an import() would
  // depend on the ESM support only recent ones have.
  const { env, UIKind }: typeof import('vscode') = require('vscode');
  if (env.uiKind === UIKind.Web) {
    tagConsole();
  }
  // SYNTHPAIR_SUITE_GREP in the runner's environment, which the extension host inherits, runs only the tests
  // whose titles match it: one suite while working on it, instead of all of them.
  const grep = process.env.SYNTHPAIR_SUITE_GREP;
  const mocha = new Mocha({
    ui: 'bdd',
    reporter: 'spec',
    color: false,
    timeout: 60_000,
    ...(grep ? { grep } : {}),
  });
  // Mocha installs describe/it/... only while loading files itself (addFile + loadFiles). The bundled
  // modules run their describe() calls when required, so the globals have to be in place first.
  mocha.suite.emit('pre-require', globalThis, 'synthpair-integration-suite', mocha);
  for (const load of testModules) {
    load();
  }
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const stats = runner.stats;
      const result = { passed: stats?.passes ?? 0, failed: failures, pending: stats?.pending ?? 0 };
      console.log(`${RESULT_PREFIX} ${JSON.stringify(result)}`);
      if (failures > 0) {
        reject(new Error(`${failures} integration test(s) failed`));
      } else {
        resolve();
      }
    });
  });
}
