import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOneDnnAddon } from '../../../src/engine/backends/onednn/addon';
import { repoRoot } from '../../support/paths';

describe('building the oneDNN addon at install', function () {
  this.timeout(120_000);
  let root: string;

  before(() => {
    // A copy of what the install script needs, so a failed build cannot remove this checkout's addon.
    root = mkdtempSync(path.join(os.tmpdir(), 'synthpair-native-build-'));
    mkdirSync(path.join(root, 'scripts'));
    cpSync(
      path.join(repoRoot, 'scripts', 'build-native.mjs'),
      path.join(root, 'scripts', 'build-native.mjs'),
    );
    cpSync(path.join(repoRoot, 'native', 'binding.gyp'), path.join(root, 'native', 'binding.gyp'));
    cpSync(path.join(repoRoot, 'native', 'src'), path.join(root, 'native', 'src'), { recursive: true });
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'));
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it('lets the install succeed without a compiler, and the backend report says why', () => {
    const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        CXX: path.join(root, 'no-such-compiler'),
        CC: path.join(root, 'no-such-compiler'),
      },
    });
    assert.equal(build.status, 0, build.stderr);
    assert.match(build.stdout, /oneDNN addon not built: .*SynthPair will use the wasm backend/);
    const output = path.join(root, 'native', 'build', 'Release');
    assert.equal(existsSync(path.join(output, 'synthpair_onednn.node')), false);
    const reason = readFileSync(path.join(output, 'synthpair_onednn.unavailable.txt'), 'utf8');
    assert.match(reason, /no C\+\+ compiler/);

    const load = loadOneDnnAddon([output]);
    assert.equal(load.loaded, false);
    assert.match(
      !load.loaded ? load.reason : '',
      /^the native addon was not built at install: no C\+\+ compiler/,
    );
  });

  it('loads the addon this checkout built', () => {
    const load = loadOneDnnAddon();
    assert.ok(load.loaded, load.loaded ? '' : load.reason);
    assert.match(load.addon.describe().version, /^\d+\.\d+\.\d+$/);
  });
});
