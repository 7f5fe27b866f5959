import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs-backend-wasm 4.22 ships an Emscripten-pthreads build but refuses it in Node (tfjs issue #3830), and
 * forcing it fails three ways, each fixed here for the duration of the backend's start only:
 *  - the pthread workers are started from `blob:` URLs, which Node's Worker rejects: the worker script tfjs
 *    builds is written to a temporary file instead;
 *  - each worker loads the Emscripten module from a Blob through importScripts: the worker gets the path of
 *    a file holding the same text;
 *  - the C++ side caps the thread pool at half of os.cpus() (Emscripten's logical-core count), so a 2-core
 *    machine would get one thread: os.cpus() briefly reports enough cores for the requested count.
 * The module text tfjs hands the workers is one function lifted out of tfjs's rollup bundle; it refers to a
 * few of that bundle's top-level names (tslib helpers, required Node modules), which the worker provides.
 */

const wasmRollupBundle = /[\\/]@tensorflow[\\/]tfjs-backend-wasm[\\/]dist[\\/]tf-backend-wasm\.node\.js$/;

const bundleGlobalsForWorker = {
  commonjsGlobal: 'globalThis',
  require$$0: "require('fs')",
  require$$1: "require('path')",
  require$$3: "require('perf_hooks')",
  require$$4: "require('os')",
};

/**
 * The workaround depends on the unminified rollup bundle of tfjs-backend-wasm being the copy that runs, and
 * on tslib being installed; a bundled or minified build (the packaged extension) stays single-threaded.
 */
function resolveTslibForWorkers(): string {
  // Looked up in require.cache rather than resolved, so esbuild does not try to bundle the lookup.
  const wasmEntry = Object.keys(require.cache).find((file) => wasmRollupBundle.test(file));
  if (!wasmEntry) {
    throw new Error(
      'tfjs-backend-wasm is bundled into this build, so its pthread workers cannot be started in Node',
    );
  }
  return createRequire(wasmEntry).resolve('tslib');
}

/** Why the threaded build cannot start here, or undefined when it can. */
export async function nodeThreadsUnavailableReason(): Promise<string | undefined> {
  try {
    resolveTslibForWorkers();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) {
    return 'tfjs ships its threaded wasm build only with SIMD, which this runtime lacks';
  }
  return undefined;
}

function workerBootstrap(workerSource: string, moduleScriptPath: string, tslibPath: string): string {
  const globals = Object.entries(bundleGlobalsForWorker)
    .map(([name, value]) => `${name}: ${value},`)
    .join('\n  ');
  return `'use strict';
Object.assign(globalThis, require(${JSON.stringify(tslibPath)}), {
  require, __filename, __dirname,
  ${globals}
});
URL.createObjectURL = () => ${JSON.stringify(moduleScriptPath)};
URL.revokeObjectURL = () => {};
(0, eval)(${JSON.stringify(workerSource)});
`;
}

interface EmscriptenPThreads {
  unusedWorkers: Worker[];
  runningWorkers: Worker[];
}

/**
 * Runs `startBackend` (which must initialise the wasm backend) with the patches described above, so the
 * threaded build starts with `threadCount` threads. Check nodeThreadsUnavailableReason first.
 */
export async function startWithNodeThreads(
  threadCount: number,
  startBackend: () => Promise<void>,
): Promise<void> {
  const tslibPath = resolveTslibForWorkers();
  const scratchDir = mkdtempSync(path.join(os.tmpdir(), 'synthpair-wasm-threads-'));
  const moduleScriptPath = path.join(scratchDir, 'tfjs-backend-wasm-threaded-simd.js');
  const workerScriptPath = path.join(scratchDir, 'tfjs-backend-wasm-threaded-simd.worker.js');
  const blobTexts = new WeakMap<Blob, string>();
  const OriginalBlob = globalThis.Blob;
  const originalCreateObjectURL = URL.createObjectURL;
  // The default import is Node's own module object, the one Emscripten calls; a namespace import would be a copy.
  const originalCpus = os.cpus;

  globalThis.Blob = class TextRecordingBlob extends OriginalBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts?.every((part) => typeof part === 'string')) {
        const text = parts.join('');
        blobTexts.set(this, text);
        if (options?.type === 'text/javascript') {
          writeFileSync(moduleScriptPath, text);
        }
      }
    }
  };
  URL.createObjectURL = (blob: Blob) => {
    const text = blobTexts.get(blob);
    if (text === undefined || blob.type !== 'application/javascript') {
      return originalCreateObjectURL(blob);
    }
    writeFileSync(workerScriptPath, workerBootstrap(text, moduleScriptPath, tslibPath));
    return workerScriptPath;
  };
  os.cpus = () => {
    const cpus = originalCpus();
    return Array.from({ length: 2 * threadCount }, (_, index) => cpus[index % cpus.length]);
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threadCount);
  try {
    await startBackend();
  } finally {
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = originalCreateObjectURL;
    os.cpus = originalCpus;
    // Every pooled worker has loaded both scripts before the backend reports ready.
    rmSync(scratchDir, { recursive: true, force: true });
  }

  const pthreads = (tf.backend() as unknown as { wasm: { PThread?: EmscriptenPThreads } }).wasm.PThread;
  // Idle pool workers would otherwise keep the process alive after its work is done.
  for (const worker of [...(pthreads?.unusedWorkers ?? []), ...(pthreads?.runningWorkers ?? [])]) {
    worker.unref();
  }
}
