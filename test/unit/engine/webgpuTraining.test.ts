import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromiumPath } from '../../integration/run';
import { repoRoot } from '../../support/paths';
import { swiftShaderBesideChromium, swiftShaderEnvironment } from '../../support/swiftShader';
import { parityCases, parityProblems } from '../../support/webgpuParity';
import type { ParityOutcome } from '../../support/webgpuStepParity';

describe('training on webgpu, against the cpu backend', function () {
  // SwiftShader runs every shader on the CPU and compiles each kernel's once: minutes, not seconds.
  this.timeout(30 * 60_000);

  it('gives one step of every model, the decoder and the full method the cpu backend’s losses and gradients', async function () {
    const icd = swiftShaderBesideChromium();
    if (!icd) {
      console.log(`      (skipped: no SwiftShader Vulkan driver beside ${chromiumPath})`);
      return this.skip();
    }
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'test', 'support', 'webgpuStepParity.ts')],
      {
        cwd: repoRoot,
        maxBuffer: 16 * 2 ** 20,
        env: swiftShaderEnvironment(icd),
      },
    );
    const outcome = JSON.parse(stdout.trim().split('\n').at(-1)!) as ParityOutcome;
    assert.equal(outcome.status, 'ok', outcome.status === 'no-adapter' ? outcome.reason : '');
    if (outcome.status !== 'ok') return;
    assert.match(outcome.adapter, /swiftshader/i);
    assert.deepEqual(
      outcome.cases.map((comparison) => comparison.name),
      Object.keys(parityCases),
    );
    for (const comparison of outcome.cases) {
      assert.deepEqual(parityProblems(comparison), [], comparison.name);
    }
  });
});
