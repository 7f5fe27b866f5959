// Starts and stops an isolated code-server: loopback only, no auth, and every folder it (or a browser
// sharing its environment) writes to lives in one temporary directory that stop() removes.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface LinkedExtension {
  /** `publisher.name`, as in the extension's package.json. */
  id: string;
  version: string;
  /** Folder holding the extension's package.json. */
  location: string;
}

export interface CodeServerOptions {
  codeServerBin: string;
  /** Environment from provisionVSCode(): it puts Node 24 first on PATH. */
  env: NodeJS.ProcessEnv;
  /** Folder opened when the browser loads the root URL. */
  folder?: string;
  /** Port to listen on; by default any free one. */
  port?: number;
  /** Accept the extension-test payload and expose the automation hooks (codeAutomationLog/Exit). */
  smokeTestDriver?: boolean;
  /** Written to the user settings.json of the fresh user-data-dir. */
  settings?: Record<string, unknown>;
  /** Extensions to load as if installed, symlinked into the fresh extensions-dir. */
  linkedExtensions?: LinkedExtension[];
  /** Also append the server's output to this file. */
  logFile?: string;
  /** Keep VS Code's workspace trust, so a folder can open in Restricted Mode; by default every folder is trusted. */
  workspaceTrust?: boolean;
}

export interface CodeServer {
  readonly port: number;
  /** Root URL with a trailing slash, e.g. http://127.0.0.1:41234/ */
  readonly url: string;
  /** The server's --user-data-dir; its logs/ folder holds the extension host logs. */
  readonly userDataDir: string;
  /** XDG_* variables of the server's temporary home, to keep a browser's profile out of $HOME too. */
  readonly isolatedEnv: Record<'XDG_CONFIG_HOME' | 'XDG_DATA_HOME' | 'XDG_CACHE_HOME', string>;
  stop(): Promise<void>;
}

// How much of the server's output a startup failure quotes.
const OUTPUT_TAIL = 4000;

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `preferred` when nothing listens on it, otherwise a port the kernel reports free. */
export async function freePort(preferred?: number): Promise<number> {
  if (preferred !== undefined && (await portIsFree(preferred))) {
    return preferred;
  }
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('The kernel reported no port for a loopback listener')),
      );
    });
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The whole group is already gone.
  }
}

async function waitForGroupExit(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(pgid)) {
    if (Date.now() > deadline) {
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

async function waitUntilListening(child: ChildProcess, url: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `code-server exited (${child.exitCode ?? child.signalCode}) before listening:\n${output()}`,
      );
    }
    try {
      const response = await fetch(new URL('healthz', url), { signal: AbortSignal.timeout(2000) });
      if (response.ok) {
        return;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`code-server did not answer on ${url} within 60 s:\n${output()}`);
}

export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  const tempRoot = mkdtempSync(path.join(os.tmpdir(), 'synthpair-code-server-'));
  const isolatedEnv = {
    XDG_CONFIG_HOME: path.join(tempRoot, 'config'),
    XDG_DATA_HOME: path.join(tempRoot, 'data'),
    XDG_CACHE_HOME: path.join(tempRoot, 'cache'),
  };
  const userDataDir = path.join(tempRoot, 'user-data');
  const extensionsDir = path.join(tempRoot, 'extensions');
  for (const dir of [...Object.values(isolatedEnv), path.join(userDataDir, 'User'), extensionsDir]) {
    mkdirSync(dir, { recursive: true });
  }
  if (options.settings) {
    writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(options.settings, null, 2));
  }
  // VS Code scans a fresh extensions-dir (one without extensions.json) for `publisher.name-version` folders.
  for (const extension of options.linkedExtensions ?? []) {
    symlinkSync(extension.location, path.join(extensionsDir, `${extension.id}-${extension.version}`), 'dir');
  }

  let port: number;
  try {
    port = await freePort(options.port);
  } catch (error) {
    rmSync(tempRoot, { recursive: true, force: true });
    throw error;
  }
  const url = `http://127.0.0.1:${port}/`;
  const args = [
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    ...(options.workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
  ];
  if (options.smokeTestDriver) {
    // Without it the workbench silently ignores the extension-test payload.
    args.push('--vscode-option', 'enable-smoke-test-driver');
  }
  if (options.folder) {
    args.push(options.folder);
  }

  // detached makes the server a process-group leader (setsid), so stop() can reach the file watcher,
  // extension hosts and agent processes it forks, which a plain kill of the server would orphan.
  // VS Code's extension host and built-in extensions create IPC sockets and tsserver folders under TMPDIR
  // and leave them behind when killed; inside tempRoot they go away with it.
  const tmpDir = path.join(tempRoot, 'tmp');
  mkdirSync(tmpDir);
  const env: NodeJS.ProcessEnv = { ...options.env, ...isolatedEnv, TMPDIR: tmpDir };
  // code-server lets $PORT override the port of --bind-addr; `npm start` reads PORT itself.
  delete env.PORT;
  const child = spawn(options.codeServerBin, args, {
    detached: true,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid;
  if (pgid === undefined) {
    rmSync(tempRoot, { recursive: true, force: true });
    const failure = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`Could not start ${options.codeServerBin}: ${failure.message}`);
  }
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL);
    if (options.logFile) {
      appendFileSync(options.logFile, chunk);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  // Last resort when the caller exits without stop(): a detached group would outlive this process.
  const killOnExit = () => {
    signalGroup(pgid, 'SIGKILL');
    rmSync(tempRoot, { recursive: true, force: true, maxRetries: 3 });
  };
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      signalGroup(pgid, 'SIGTERM');
      if (!(await waitForGroupExit(pgid, 5000))) {
        signalGroup(pgid, 'SIGKILL');
        await waitForGroupExit(pgid, 5000);
      }
      rmSync(tempRoot, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };

  try {
    await waitUntilListening(child, url, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, url, userDataDir, isolatedEnv, stop };
}
