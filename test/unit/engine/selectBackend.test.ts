import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { selectBackend } from '../../../src/engine/backends/selectBackend';

const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));

/** An installed package whose entry fails the way a broken native install does. */
function writeBrokenPackage(root: string, name: string, failure: string): void {
  const folder = path.join(root, 'node_modules', ...name.split('/'));
  mkdirSync(folder, { recursive: true });
  writeFileSync(
    path.join(folder, 'package.json'),
    JSON.stringify({ name, version: '4.22.0', main: 'index.js' }),
  );
  writeFileSync(path.join(folder, 'index.js'), `throw new Error(${JSON.stringify(failure)});`);
}

describe('backend selection', function () {
  this.timeout(30_000);
  let installs: string;
  let driverFile: string;

  before(() => {
    installs = mkdtempSync(path.join(os.tmpdir(), 'synthpair-native-'));
    writeBrokenPackage(
      installs,
      '@tensorflow/tfjs-node-gpu',
      'libcudart.so.11.0: cannot open shared object file: No such file or directory',
    );
    writeBrokenPackage(
      installs,
      '@tensorflow/tfjs-node',
      "Cannot find module '/x/lib/napi-v8/tfjs_binding.node'",
    );
    driverFile = path.join(installs, 'nvidiactl');
    writeFileSync(driverFile, '');
  });

  after(() => rmSync(installs, { recursive: true, force: true }));

  const options = { wasmDir, synthpairVersion: 'test' };

  it('explains each native failure, then runs the native oneDNN kernels', async () => {
    const { report, tf } = await selectBackend({
      ...options,
      preference: 'auto',
      nativeModulePaths: [installs],
      nvidiaDeviceFiles: [driverFile],
    });
    const byName = Object.fromEntries(report.attempts.map((attempt) => [attempt.name, attempt]));
    assert.equal(byName['node-gpu']?.outcome, 'failed');
    assert.match(byName['node-gpu']!.reason, /libcudart\.so\.11\.0.*CUDA 11\.2 and cuDNN 8\.1.*CUDA 12/);
    // This project's install builds the addon; the onednn attempt is the first CPU one.
    assert.equal(byName.onednn?.outcome, 'selected', byName.onednn?.reason);
    assert.match(byName.onednn!.reason, /oneDNN 2\.\d+\.\d+ .*OpenMP threads/);
    assert.equal(byName.node?.outcome, 'not-tried');
    assert.equal(byName.wasm?.outcome, 'not-tried');
    assert.equal(report.selected, 'onednn');
    assert.equal(tf.getBackend(), 'onednn');
    for (const kernel of [
      'Conv2D',
      'Conv2DBackpropInput',
      'Conv2DBackpropFilter',
      'BatchMatMul',
      'MaxPoolGrad',
    ]) {
      assert.ok(report.onednn?.nativeKernels.includes(kernel), kernel);
    }
    // A source checkout's addon finds the system's oneDNN; a packaged one, the copy beside it.
    assert.match(report.onednn?.libraryFile ?? '', /\/libdnnl\.so\.2/);
    assert.equal(report.versions.tfjs, tf.version_core);
  });

  it('explains a broken libtensorflow when the native CPU package is forced', async () => {
    await assert.rejects(
      selectBackend({ ...options, preference: 'node', nativeModulePaths: [installs] }),
      /tfjs_binding\.node.*libtensorflow was not downloaded/,
    );
  });

  it('does not load the GPU package on a machine without an NVIDIA driver', async () => {
    const { report } = await selectBackend({
      ...options,
      preference: 'auto',
      nativeModulePaths: [installs],
      nvidiaDeviceFiles: [path.join(installs, 'absent')],
    });
    const gpu = report.attempts.find((attempt) => attempt.name === 'node-gpu');
    assert.equal(gpu?.outcome, 'unusable');
    assert.match(gpu!.reason, /no NVIDIA GPU driver/);
  });

  it('says a native package is not installed when no folder has it', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'synthpair-empty-'));
    try {
      const { report, tf } = await selectBackend({
        ...options,
        preference: 'wasm',
        nativeModulePaths: [empty],
      });
      assert.deepEqual(
        Object.fromEntries(report.attempts.map((attempt) => [attempt.name, attempt.outcome])),
        {
          'node-gpu': 'not-tried',
          webgpu: 'not-tried',
          onednn: 'not-tried',
          node: 'not-tried',
          wasm: 'selected',
          cpu: 'not-tried',
        },
      );
      assert.match(report.attempts[0]!.reason, /forced to wasm/);
      assert.equal(tf.getBackend(), 'wasm');
      assert.deepEqual(report.wasm?.trainingKernels, ['Conv2DBackpropFilter', 'Conv2DBackpropInput']);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('honours a forced backend', async () => {
    const { report, tf } = await selectBackend({
      ...options,
      preference: 'cpu',
      nativeModulePaths: [installs],
    });
    assert.equal(report.selected, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.match(
      report.attempts.find((attempt) => attempt.name === 'cpu')!.reason,
      /tfjs-backend-cpu 4\.22\.0/,
    );
  });

  it('fails with every reason when the forced backend cannot start', async () => {
    await assert.rejects(
      selectBackend({ ...options, preference: 'node', nativeModulePaths: [installs] }),
      /No TF\.js backend could be started \(node: @tensorflow\/tfjs-node failed to load: .*tfjs_binding\.node/,
    );
  });
});
