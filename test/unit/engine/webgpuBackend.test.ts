import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import {
  type AdapterFacts,
  type AdapterInfoFacts,
  describeAdapter,
  noAdapterAdvice,
  softwareAdapterEvidence,
  vulkanLoaderInstalled,
} from '../../../src/engine/backends/webgpu/adapters';
import { tryWebGpu, tryWebGpuOn } from '../../../src/engine/backends/webgpu/webgpuBackend';
import { tf } from '../../../src/engine/tf';

interface Dawn {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

async function loadDawn(): Promise<Dawn> {
  return (await import(pathToFileURL(require.resolve('webgpu')).href)) as Dawn;
}

/** Adapter infos as Dawn and browsers report them for the software renderers SynthPair must not pick. */
const softwareAdapters: Record<string, AdapterFacts> = {
  'SwiftShader, flagged as fallback': {
    info: {
      vendor: 'google',
      architecture: 'swiftshader',
      device: '',
      description: 'SwiftShader Device (Subzero)',
      isFallbackAdapter: true,
    },
  },
  'SwiftShader, from a binding without the flag': {
    info: { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (LLVM 10.0.0)' },
  },
  'Mesa lavapipe': {
    info: { vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
  },
  'Windows WARP': {
    info: { vendor: 'microsoft', architecture: '', description: 'Microsoft Basic Render Driver' },
  },
  'an adapter typed CPU': { info: { vendor: 'unknown', description: 'Some CPU device', adapterType: 'CPU' } },
  'a fallback flagged on the adapter itself': { isFallbackAdapter: true, info: { vendor: 'acme' } },
};

const hardwareAdapters: Record<string, AdapterInfoFacts> = {
  'NVIDIA on Vulkan': { vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' },
  'AMD on RADV': {
    vendor: 'amd',
    architecture: 'rdna-3',
    description: 'AMD Radeon RX 7900 XTX (RADV NAVI31)',
  },
  'Intel integrated': { vendor: 'intel', architecture: 'gen-12lp', description: 'Intel(R) UHD Graphics 770' },
  'Apple silicon': { vendor: 'apple', architecture: 'metal-3', description: 'Apple M1 Max' },
  'an integrated GPU typed as such': {
    vendor: 'intel',
    architecture: 'xe-lpg',
    adapterType: 'integrated GPU',
  },
};

describe('WebGPU adapter classification', () => {
  for (const [name, adapter] of Object.entries(softwareAdapters)) {
    it(`calls ${name} software`, () => {
      assert.ok(softwareAdapterEvidence(adapter), describeAdapter(adapter.info));
    });
  }
  for (const [name, info] of Object.entries(hardwareAdapters)) {
    it(`calls ${name} hardware`, () => {
      assert.equal(softwareAdapterEvidence({ info, isFallbackAdapter: false }), undefined);
    });
  }

  it('says which fact made an adapter software', () => {
    assert.match(softwareAdapterEvidence(softwareAdapters['Mesa lavapipe']!)!, /llvmpipe, a CPU renderer/);
    assert.match(softwareAdapterEvidence(softwareAdapters['Windows WARP']!)!, /Microsoft Basic Render/);
    assert.match(softwareAdapterEvidence(softwareAdapters['an adapter typed CPU']!)!, /type is CPU/);
    assert.match(softwareAdapterEvidence(softwareAdapters['SwiftShader, flagged as fallback']!)!, /fallback/);
  });

  it('names an adapter by vendor, architecture and description, or device when it has no description', () => {
    assert.equal(describeAdapter(hardwareAdapters['NVIDIA on Vulkan']!), 'nvidia hopper NVIDIA H200');
    // Dawn's null backend reports only a device name.
    assert.equal(
      describeAdapter({ vendor: '', architecture: '', device: 'null-backend', description: '' }),
      'null-backend',
    );
    assert.equal(describeAdapter({}), 'an adapter that gives no name');
  });

  it('advises on a missing adapter by platform', () => {
    assert.match(noAdapterAdvice('linux', false), /libvulkan\.so\.1 is not installed.*libvulkan1/);
    assert.doesNotMatch(noAdapterAdvice('linux', true), /not installed/);
    assert.match(noAdapterAdvice('linux', undefined), /Vulkan driver/);
    assert.match(noAdapterAdvice('win32', undefined), /Direct3D 12/);
    assert.match(noAdapterAdvice('darwin', undefined), /Metal/);
  });

  it('finds the Vulkan loader exactly when ldconfig lists it', function () {
    if (process.platform !== 'linux' || process.env.LD_LIBRARY_PATH) {
      this.skip();
    }
    let listing: string;
    try {
      listing = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' });
    } catch {
      this.skip();
    }
    assert.equal(vulkanLoaderInstalled(), /\blibvulkan\.so\.1\b/.test(listing));
  });
});

describe('WebGPU backend through Dawn', function () {
  this.timeout(60_000);
  let dawn: Dawn;
  /** What Dawn finds here, asked directly, independent of the code under test. */
  let found: { adapter: AdapterFacts | undefined; software: boolean };

  before(async () => {
    dawn = await loadDawn();
    const gpu = dawn.create([]);
    // Cast: the @webgpu/types release tfjs-backend-webgpu brings predates GPUAdapter.info, which Dawn has.
    const adapter = ((await gpu.requestAdapter({ powerPreference: 'high-performance' })) ??
      (await gpu.requestAdapter({ forceFallbackAdapter: true })) ??
      undefined) as AdapterFacts | undefined;
    found = { adapter, software: adapter !== undefined && softwareAdapterEvidence(adapter) !== undefined };
  });

  afterEach(async () => {
    if (tf.findBackendFactory('webgpu')) {
      tf.removeBackend('webgpu');
    }
    await tf.setBackend('cpu');
  });

  /** A product the sanity check inside the attempt does not compute, read back from the selected backend. */
  async function assertComputesOnWebGpu(attempt: Awaited<ReturnType<typeof tryWebGpu>>): Promise<void> {
    assert.equal(attempt.outcome, 'selected', attempt.reason);
    if (attempt.outcome !== 'selected') return;
    assert.equal(attempt.tfjsBackend, 'webgpu');
    assert.equal(attempt.tf.getBackend(), 'webgpu');
    const product = attempt.tf.matMul(
      attempt.tf.tensor2d([2, 0, 1, 3], [2, 2]),
      attempt.tf.tensor2d([1, 4, 2, 5], [2, 2]),
    );
    assert.deepEqual(Array.from(await product.data()), [2, 8, 7, 19]);
  }

  it('never selects a software adapter unless forced', async () => {
    const attempt = await tryWebGpu({ forced: false });
    if (!found.adapter) {
      assert.equal(attempt.outcome, 'unusable');
      if (process.platform === 'linux' && vulkanLoaderInstalled() === false) {
        // What Dawn itself reports on a machine without Vulkan ("Couldn't load Vulkan: libvulkan.so.1"),
        // told without asking Dawn, which would print that on standard error.
        assert.match(attempt.reason, /^no WebGPU adapter: .*libvulkan\.so\.1 is not installed/);
      } else {
        assert.match(attempt.reason, /^Dawn found no WebGPU adapter: /);
      }
    } else if (found.software) {
      assert.equal(attempt.outcome, 'unusable');
      assert.ok(attempt.reason.includes(describeAdapter(found.adapter.info)), attempt.reason);
      assert.match(attempt.reason, /software.*forced to webgpu/);
    } else {
      await assertComputesOnWebGpu(attempt);
      assert.deepEqual(attempt.outcome === 'selected' && attempt.details?.webgpu, {
        adapter: describeAdapter(found.adapter.info),
        software: false,
      });
    }
  });

  it('forced, uses whatever adapter there is and says when it is software', async () => {
    const attempt = await tryWebGpu({ forced: true });
    if (!found.adapter) {
      assert.equal(attempt.outcome, 'unusable');
      assert.match(attempt.reason, /^Dawn found no WebGPU adapter: /);
      return;
    }
    await assertComputesOnWebGpu(attempt);
    assert.equal(attempt.outcome === 'selected' && attempt.details?.webgpu?.software, found.software);
    if (found.software) {
      assert.match(attempt.reason, /software adapter.*slow/);
    }
  });

  it('turns a software adapter down before touching it, and uses it only when forced', async () => {
    // Dawn's null adapter posing as SwiftShader: no software adapter runs here to be tested for real.
    const nullGpu = dawn.create(['backend=null']);
    const swiftShader = softwareAdapters['SwiftShader, flagged as fallback']!.info;
    let devicesRequested = 0;
    const posing = {
      requestAdapter: async () => {
        const adapter = await nullGpu.requestAdapter();
        if (!adapter) return null;
        return {
          info: swiftShader,
          features: adapter.features,
          limits: adapter.limits,
          requestDevice: (descriptor?: GPUDeviceDescriptor) => {
            devicesRequested += 1;
            return adapter.requestDevice(descriptor);
          },
        };
      },
    } as unknown as GPU;

    const declined = await tryWebGpuOn(posing, dawn.globals, { forced: false });
    assert.equal(declined.outcome, 'unusable');
    assert.match(
      declined.reason,
      /google swiftshader SwiftShader Device \(Subzero\), is a software one \(WebGPU marks it as a fallback adapter\)/,
    );
    assert.equal(devicesRequested, 0);

    // Forced, it goes ahead: the null adapter then computes nothing, which the sanity check reports.
    const forced = await tryWebGpuOn(posing, dawn.globals, { forced: true });
    assert.equal(devicesRequested, 1);
    assert.equal(forced.outcome, 'failed');
    assert.match(forced.reason, /SwiftShader Device \(Subzero\) failed: a 2x2 matmul read back/);
  });

  it('rejects an adapter that accepts work but computes nothing, and leaves no trace', async () => {
    const scope = globalThis as { navigator?: { gpu?: unknown } };
    const before = {
      navigator: scope.navigator,
      gpu: scope.navigator?.gpu,
      usage: 'GPUBufferUsage' in globalThis,
    };
    const attempt = await tryWebGpuOn(dawn.create(['backend=null']), dawn.globals, { forced: false });
    assert.equal(attempt.outcome, 'failed');
    assert.match(attempt.reason, /null-backend.*2x2 matmul read back \[.*\] instead of \[19, 22, 43, 50\]/);
    assert.ok(!tf.findBackendFactory('webgpu'), 'the webgpu backend is still registered');
    assert.deepEqual(
      { navigator: scope.navigator, gpu: scope.navigator?.gpu, usage: 'GPUBufferUsage' in globalThis },
      before,
    );
  });
});
