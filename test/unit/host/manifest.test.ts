import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generatedManifest } from '../../../scripts/generate-manifest';
import { commandDefinitions } from '../../../src/host/manifest/commandIds';
import { repoRoot as root } from '../../support/paths';

const manifestText = readFileSync(path.join(root, 'package.json'), 'utf8');
const manifest = JSON.parse(manifestText) as {
  main: string;
  activationEvents: string[];
  contributes: { commands: { command: string }[]; configuration: { properties: Record<string, unknown> } };
  optionalDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

describe('extension manifest', () => {
  it('is up to date with the typed sources it is generated from (run `npm run generate`)', () => {
    assert.equal(manifestText, generatedManifest(manifestText));
  });

  it('activates only on demand', () => {
    assert.ok(!manifest.activationEvents.includes('*'));
    assert.ok(!manifest.activationEvents.includes('onStartupFinished'));
    for (const event of manifest.activationEvents) {
      assert.match(event, /synthpair/i, `activation event ${event} is not specific to SynthPair`);
    }
  });

  it('points at the bundled extension and contributes every command once', () => {
    assert.equal(manifest.main, './dist/extension.js');
    const ids = manifest.contributes.commands.map((command) => command.command);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(
      ids.sort(),
      Object.values(commandDefinitions)
        .map((command) => command.id)
        .sort(),
    );
    assert.ok('synthpair.backend' in manifest.contributes.configuration.properties);
  });

  it('keeps the native TF.js packages optional and the deprecated toolkit out', () => {
    assert.ok(manifest.optionalDependencies?.['@tensorflow/tfjs-node']);
    assert.ok(manifest.optionalDependencies?.['@tensorflow/tfjs-node-gpu']);
    for (const dependencies of [manifest.dependencies, manifest.devDependencies]) {
      assert.ok(!dependencies?.['@tensorflow/tfjs-node']);
      assert.ok(!dependencies?.['@vscode/webview-ui-toolkit']);
    }
  });
});
