import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { generatedManifest } from '../../../scripts/generate-manifest';
import { commandDefinitions, contextKeys } from '../../../src/host/manifest/commandIds';
import { repoRoot as root } from '../../support/paths';

const manifestText = readFileSync(path.join(root, 'package.json'), 'utf8');
const manifest = JSON.parse(manifestText) as {
  main: string;
  activationEvents: string[];
  capabilities: {
    untrustedWorkspaces: { supported: boolean | 'limited'; restrictedConfigurations?: string[] };
  };
  contributes: {
    commands: { command: string }[];
    configuration: { properties: Record<string, unknown> };
    walkthroughs: {
      id: string;
      steps: { id: string; description: string; media: { markdown: string }; completionEvents: string[] }[];
    }[];
  };
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
      // A study file's name carries no `synthpair`: `*.study.json` is SynthPair's all the same.
      assert.match(
        event,
        /synthpair|\.study\.json$/i,
        `activation event ${event} is not specific to SynthPair`,
      );
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

  it('walks a new user through Run, the dashboard, a threshold, the pairs and a heat map, each step checked off by the host', () => {
    const [walkthrough, ...others] = manifest.contributes.walkthroughs;
    assert.deepEqual(others, []);
    assert.deepEqual(
      walkthrough?.steps.map((step) => step.id),
      ['run', 'dashboard', 'threshold', 'pairs', 'heatmap'],
    );
    const hostSources = readdirSync(path.join(root, 'src', 'host'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => readFileSync(path.join(root, 'src', 'host', file), 'utf8'))
      .join('\n');
    const commandIds = new Set<string>(Object.values(commandDefinitions).map((command) => command.id));
    for (const step of walkthrough?.steps ?? []) {
      assert.ok(existsSync(path.join(root, step.media.markdown)), `${step.media.markdown} is missing`);
      for (const link of step.description.matchAll(/\(command:([\w.]+)\)/g)) {
        assert.ok(
          commandIds.has(link[1]!) || link[1] === 'workbench.view.explorer',
          `${step.id} links ${link[1]}`,
        );
      }
      assert.equal(step.completionEvents.length, 1, step.id);
      const key = /^onContext:(.+)$/.exec(step.completionEvents[0]!)?.[1];
      const name = Object.entries(contextKeys).find(([, value]) => value === key)?.[0];
      assert.ok(
        name,
        `${step.id} completes on ${step.completionEvents[0]}, which is no SynthPair context key`,
      );
      assert.ok(
        hostSources.includes(`completeWalkthroughStep(contextKeys.${name})`),
        `nothing in src/host sets ${key}, so ${step.id} could never be checked off`,
      );
    }
  });

  it('ignores an untrusted workspace’s value of the settings that choose what code runs', () => {
    const { untrustedWorkspaces } = manifest.capabilities;
    // VS Code reads restrictedConfigurations only from an extension with limited support.
    assert.equal(untrustedWorkspaces.supported, 'limited');
    assert.deepEqual(untrustedWorkspaces.restrictedConfigurations, [
      'synthpair.nativeModulePaths',
      'synthpair.nodeExecutable',
    ]);
    for (const [name, property] of Object.entries(manifest.contributes.configuration.properties)) {
      assert.ok(!('restricted' in (property as object)), `${name} contributes a field VS Code does not read`);
    }
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
