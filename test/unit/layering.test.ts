import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { repoRoot } from '../support/paths';

/** Every TypeScript file below a folder of the repository, as repository-relative paths. */
function sourcesUnder(folder: string): string[] {
  return readdirSync(path.join(repoRoot, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.posix.join(folder, file.split(path.sep).join('/')));
}

interface Bundle {
  /** The repository's files the entries reach, and the packages' files, as esbuild names them. */
  inputs: string[];
  /** Modules other than Node's own left outside the bundle: `vscode`, which only the extension host provides. */
  externals: string[];
}

/** Packages the worker and the CLI load at run time, as the build leaves them (scripts/build.mjs). */
const loadedAtRunTime = ['sharp', 'webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

async function bundle(entries: string[], platform: 'node' | 'browser'): Promise<Bundle> {
  const result = await esbuild.build({
    entryPoints: entries.map((entry) => path.join(repoRoot, entry)),
    absWorkingDir: repoRoot,
    bundle: true,
    write: false,
    metafile: true,
    outdir: 'layering',
    platform,
    external: ['vscode', ...loadedAtRunTime],
    // The webviews import CSS (uPlot's), which says nothing about layering.
    loader: { '.css': 'empty' },
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const externals = Object.values(result.metafile.inputs).flatMap((input) =>
    input.imports
      .filter(
        (imported) =>
          imported.external && !isBuiltin(imported.path) && !loadedAtRunTime.includes(imported.path),
      )
      .map((imported) => imported.path),
  );
  return { inputs, externals: [...new Set(externals)] };
}

const isTensorCode = (input: string) => input.includes('@tensorflow') || input.startsWith('src/engine/');

describe('layering', () => {
  it('keeps vscode and TF.js out of src/shared, which the host, the worker, the CLI and the webviews all import', async () => {
    const shared = await bundle(sourcesUnder('src/shared'), 'node');
    assert.deepEqual(shared.externals, []);
    const outside = shared.inputs.filter(
      (input) => input.startsWith('src/') && !input.startsWith('src/shared/'),
    );
    assert.deepEqual(outside, [], 'shared code imports only shared code');
    assert.deepEqual(shared.inputs.filter(isTensorCode), []);
  });

  it('keeps tensor code out of the extension host, so it stays responsive', async () => {
    const host = await bundle(['src/host/extension.ts'], 'node');
    const forbidden = host.inputs.filter(
      (input) =>
        isTensorCode(input) ||
        input.startsWith('src/worker/') ||
        input.startsWith('src/cli/') ||
        input.startsWith('webview/'),
    );
    assert.deepEqual(forbidden, []);
    assert.deepEqual(host.externals, ['vscode']);
  });

  it('keeps vscode out of the worker, the CLI and the engine', async () => {
    const { inputs, externals } = await bundle(
      ['src/worker/main.ts', 'src/cli/main.ts', ...sourcesUnder('src/engine')],
      'node',
    );
    assert.deepEqual(externals, []);
    const hostCode = inputs.filter((input) => input.startsWith('src/host/') || input.startsWith('webview/'));
    assert.deepEqual(hostCode, []);
  });

  it('keeps TF.js and the decoder out of the batch worker threads, which only augment pixels', async () => {
    const { inputs } = await bundle(['src/engine/data/batchWorker.ts'], 'node');
    const forbidden = inputs.filter((input) => input.includes('@tensorflow') || input.includes('sharp'));
    assert.deepEqual(forbidden, []);
    assert.ok(inputs.includes('src/engine/data/augment.ts'), `bundled inputs: ${inputs.join(', ')}`);
  });

  for (const webview of [
    'webview/dashboard/main.ts',
    'webview/heatmapEditor/main.ts',
    'webview/study/main.ts',
  ]) {
    it(`keeps host, worker and tensor code out of ${webview}`, async () => {
      const { inputs, externals } = await bundle([webview], 'browser');
      assert.deepEqual(externals, []);
      const fromSrc = inputs.filter((input) => input.startsWith('src/') && !input.startsWith('src/shared/'));
      assert.deepEqual(fromSrc, [], 'a webview imports only src/shared of the extension');
      assert.deepEqual(inputs.filter(isTensorCode), []);
      // The mask the dimensions view cuts is the engine's own rule, from the one pure module both import.
      if (webview.includes('dashboard')) assert.ok(inputs.includes('src/shared/mask.ts'), inputs.join(', '));
      // The panel draws the table the host computed; the statistics' packages would break a webview's CSP.
      if (webview.includes('study'))
        assert.deepEqual(
          inputs.filter((input) => input.includes('@stdlib')),
          [],
        );
    });
  }

  it('keeps webview/shared free of any one feature, so both webviews can use it', async () => {
    const { inputs } = await bundle(sourcesUnder('webview/shared'), 'browser');
    const features = inputs.filter(
      (input) => input.startsWith('webview/') && !input.startsWith('webview/shared/'),
    );
    assert.deepEqual(features, []);
  });
});
