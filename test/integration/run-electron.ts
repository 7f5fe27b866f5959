// The same integration suite in desktop VS Code through @vscode/test-electron, for machines that can
// download VS Code; offline machines use test/integration/run.ts (code-server) instead.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTests, TestRunFailedError } from '@vscode/test-electron';
import { repoRoot } from './provision';
import { fixtureWorkspace, suitePath } from './run';

const NETWORK_ERRORS = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENETUNREACH',
]);

function isDownloadFailure(error: unknown): boolean {
  const { code, message } = error as NodeJS.ErrnoException;
  return (
    (code !== undefined && NETWORK_ERRORS.has(code)) || /download|ENOTFOUND|getaddrinfo/i.test(message ?? '')
  );
}

async function main(): Promise<number> {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'synthpair-workspace-'));
  cpSync(fixtureWorkspace, workspace, { recursive: true });
  try {
    return await runTests({
      extensionDevelopmentPath: repoRoot,
      extensionTestsPath: suitePath,
      launchArgs: [workspace, '--disable-extensions'],
    });
  } catch (error) {
    if (error instanceof TestRunFailedError) {
      return error.code ?? 1;
    }
    if (isDownloadFailure(error)) {
      console.error(
        `test:electron: could not download VS Code (${(error as Error).message}); ` +
          'without access to update.code.visualstudio.com run `npm run test:integration` (code-server) instead.',
      );
      return 1;
    }
    throw error;
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`test:electron: ${error instanceof Error ? error.message : error}`);
    process.exitCode = 1;
  },
);
