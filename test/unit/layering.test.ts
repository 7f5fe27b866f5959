import assert from 'node:assert/strict';
import path from 'node:path';
import * as esbuild from 'esbuild';

const root = path.join(__dirname, '..', '..');

async function bundledInputs(entry: string, platform: 'node' | 'browser'): Promise<string[]> {
  const result = await esbuild.build({
    entryPoints: [path.join(root, entry)],
    bundle: true,
    write: false,
    metafile: true,
    platform,
    external: ['vscode'],
    // The webviews import CSS (uPlot's), which says nothing about layering.
    loader: { '.css': 'empty' },
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('layering', () => {
  it('keeps tensor code out of the extension host, so it stays responsive', async () => {
    const inputs = await bundledInputs('src/extension.ts', 'node');
    const tensorInputs = inputs.filter(
      (input) => input.includes('@tensorflow') || input.startsWith('src/engine/'),
    );
    assert.deepEqual(tensorInputs, []);
  });

  it('keeps TF.js and the decoder out of the batch worker threads, which only augment pixels', async () => {
    const inputs = await bundledInputs('src/engine/data/batchWorker.ts', 'node');
    const forbidden = inputs.filter((input) => input.includes('@tensorflow') || input.includes('sharp'));
    assert.deepEqual(forbidden, []);
    assert.ok(inputs.includes('src/engine/data/augment.ts'), `bundled inputs: ${inputs.join(', ')}`);
  });

  for (const webview of ['webview/dashboard/main.ts', 'webview/heatmapEditor/main.ts']) {
    it(`keeps host and tensor code out of ${webview}`, async () => {
      const inputs = await bundledInputs(webview, 'browser');
      const forbidden = inputs.filter(
        (input) =>
          input.includes('@tensorflow') ||
          input.startsWith('src/engine/') ||
          input.startsWith('src/panels/') ||
          input.startsWith('src/editor/'),
      );
      assert.deepEqual(forbidden, []);
      // The mask the dimensions view cuts is the engine's own rule, from the one pure module both import.
      if (webview.includes('dashboard')) assert.ok(inputs.includes('src/method/mask.ts'), inputs.join(', '));
    });
  }
});
