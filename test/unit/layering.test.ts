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

  it('keeps host and tensor code out of the webviews', async () => {
    const inputs = await bundledInputs('webview/dashboard/main.ts', 'browser');
    const forbidden = inputs.filter(
      (input) =>
        input.includes('@tensorflow') || input.startsWith('src/engine/') || input.startsWith('src/panels/'),
    );
    assert.deepEqual(forbidden, []);
  });
});
