// Bundles every entry point of SynthPair with esbuild: the extension host, the engine worker and its
// batch worker threads, the CLI, one browser bundle per webview, and the integration suite that runs
// inside VS Code.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = new Set(process.argv.slice(2));
const production = args.has('--production');
const watch = args.has('--watch');

// Native packages stay real `require`s: the TF.js ones and Dawn's WebGPU are optional and detected at run
// time, sharp loads its platform's libvips binary from its own folder, and fs-native-extensions (the run
// folder's lock) finds its prebuilt addon relative to its own files.
const nativePackages = [
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  'sharp',
  'webgpu',
  'fs-native-extensions',
];

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  absWorkingDir: root,
};

const nodeTargets = {
  ...common,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // TF.js's CommonJS entries are prebuilt bundles while its gradients exist only as ES modules: resolving
  // the ES entries keeps a single copy of tfjs-core (one engine, one Tensor class) in each bundle.
  mainFields: ['module', 'main'],
};

const builds = [
  {
    ...nodeTargets,
    entryPoints: { extension: 'src/host/extension.ts' },
    outdir: 'dist',
    external: ['vscode'],
  },
  { ...nodeTargets, entryPoints: { worker: 'src/worker/main.ts' }, outdir: 'dist', external: nativePackages },
  // The engine's batch worker threads only augment pixels: no TF.js, no native packages.
  { ...nodeTargets, entryPoints: { batchWorker: 'src/engine/data/batchWorker.ts' }, outdir: 'dist' },
  {
    ...nodeTargets,
    entryPoints: { cli: 'src/cli/main.ts' },
    outdir: 'dist',
    external: nativePackages,
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    ...common,
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
    entryPoints: {
      dashboard: 'webview/dashboard/main.ts',
      heatmapEditor: 'webview/heatmapEditor/main.ts',
      study: 'webview/study/main.ts',
    },
    outdir: 'dist/webview',
  },
];

if (!production) {
  builds.push({
    ...nodeTargets,
    entryPoints: { suite: 'test/integration/suite/index.ts' },
    outdir: 'out/integration',
    external: ['vscode'],
    // Only mocha's parallel mode resolves those files, and the suite runs serially inside the extension host.
    logOverride: { 'require-resolve-not-external': 'silent' },
  });
}

/**
 * The oneDNN addon (or the reason it could not be built) beside the worker bundle, where the engine looks
 * first; a stale copy from an earlier build must not outlive a failed rebuild.
 */
function copyOneDnnAddon() {
  const from = path.join(root, 'native/build/Release');
  const to = path.join(root, 'dist/native');
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  for (const file of ['synthpair_onednn.node', 'synthpair_onednn.unavailable.txt']) {
    if (existsSync(path.join(from, file))) cpSync(path.join(from, file), path.join(to, file));
  }
  if (production) carryOneDnnRuntime(to);
}

/**
 * Most Linux machines lack oneDNN, and without it the addon cannot load and training falls back to wasm at a
 * tenth of the speed. A packaged addon therefore carries the libraries it needs beyond glibc and libstdc++:
 * libdnnl, the OpenMP runtime, and the OpenCL loader this machine's libdnnl links. The addon looks beside
 * itself first (its run path is $ORIGIN, native/binding.gyp); libdnnl is given the same run path, since a
 * library's dependencies are looked up by its own run path, not by the addon's.
 */
function carryOneDnnRuntime(folder) {
  const addon = path.join(folder, 'synthpair_onednn.node');
  if (process.platform !== 'linux' || !existsSync(addon)) return;
  const resolved = new Map(
    [...execFileSync('ldd', [addon], { encoding: 'utf8' }).matchAll(/^\s*(\S+) => (\/\S+)/gm)].map(
      ([, soname, file]) => [soname, file],
    ),
  );
  for (const soname of ['libdnnl.so.2', 'libgomp.so.1']) {
    if (!resolved.has(soname)) throw new Error(`the oneDNN addon needs ${soname}, which ldd did not find`);
  }
  // The OpenCL loader only where this machine's libdnnl was built with the OpenCL runtime and links it.
  for (const soname of ['libdnnl.so.2', 'libgomp.so.1', 'libOpenCL.so.1']) {
    if (resolved.has(soname)) copyFileSync(realpathSync(resolved.get(soname)), path.join(folder, soname));
  }
  try {
    execFileSync('patchelf', ['--set-rpath', '$ORIGIN', path.join(folder, 'libdnnl.so.2')]);
  } catch (error) {
    throw new Error(
      `patchelf could not give the carried libdnnl its run path (Debian/Ubuntu: apt install patchelf): ${error.message}`,
    );
  }
}

function copyWasmBinaries() {
  const from = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  const to = path.join(root, 'dist/wasm');
  mkdirSync(to, { recursive: true });
  for (const file of readdirSync(from).filter((name) => name.endsWith('.wasm'))) {
    cpSync(path.join(from, file), path.join(to, file));
  }
}

/**
 * The native packages the worker and CLI always load (sharp, and through it this platform's libvips; the
 * run lock's fs-native-extensions) beside the bundles, for a packaged build: the VSIX carries no
 * node_modules, and a plain require finds dist/node_modules. The VSIX is then specific to this platform
 * (scripts/package.mjs says which).
 */
function copyNativeRuntime() {
  const platform = `${process.platform}-${process.arch}`;
  const packages = new Set();
  const visit = (name) => {
    if (packages.has(name)) return;
    const manifestPath = path.join(root, 'node_modules', name, 'package.json');
    if (!existsSync(manifestPath)) return;
    packages.add(name);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    for (const dependency of Object.keys(manifest.dependencies ?? {})) visit(dependency);
    // Of sharp's per-platform binaries, only this platform's.
    for (const optional of Object.keys(manifest.optionalDependencies ?? {})) {
      if (optional.endsWith(`-${platform}`)) visit(optional);
    }
  };
  visit('sharp');
  visit('fs-native-extensions');
  // Of a package's prebuilt addons, likewise only this platform's.
  const otherPlatformPrebuild = (file) => {
    const parts = file.split(path.sep);
    const index = parts.lastIndexOf('prebuilds');
    return index >= 0 && index + 1 < parts.length && parts[index + 1] !== platform;
  };
  for (const name of packages) {
    cpSync(path.join(root, 'node_modules', name), path.join(root, 'dist', 'node_modules', name), {
      recursive: true,
      filter: (file) => !otherPlatformPrebuild(file),
    });
  }
}

if (production) {
  // A packaged build must not carry source maps or stale bundles left by a development build.
  rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  copyNativeRuntime();
}
copyWasmBinaries();
copyOneDnnAddon();
if (watch) {
  const contexts = await Promise.all(builds.map((options) => esbuild.context(options)));
  await Promise.all(contexts.map((context) => context.watch()));
  console.log('esbuild: watching for changes');
} else {
  const started = Date.now();
  const results = await Promise.allSettled(builds.map((options) => esbuild.build(options)));
  // esbuild has already printed each error with its location; a stack trace would only bury it.
  if (results.some((result) => result.status === 'rejected')) {
    process.exit(1);
  }
  console.log(
    `esbuild: ${builds.length} bundles in ${Date.now() - started} ms${production ? ' (production)' : ''}`,
  );
}
