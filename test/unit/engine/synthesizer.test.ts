import assert from 'node:assert/strict';
import path from 'node:path';
import { initWasmBackend } from '../../../src/engine/backends/wasm/loadWasm';
import { Decoder, FrozenDecoder } from '../../../src/engine/models/decoder';
import { ParameterStore, SeedSequence } from '../../../src/engine/models/parameters';
import { synthesizePairs } from '../../../src/engine/synthesis/pairs';
import { locateSources, RunSynthesizer, type Synthesis } from '../../../src/engine/synthesis/synthesizer';
import { tf } from '../../../src/engine/tf';
import { trainedFixtureRun } from '../../support/fixtureRun';

const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));

/** The batch sizes the frozen decoder is asked to decode while `work` runs. */
async function decodedBatches<T>(work: () => Promise<T>): Promise<{ result: T; batches: number[] }> {
  const decode = FrozenDecoder.prototype.decode;
  const batches: number[] = [];
  FrozenDecoder.prototype.decode = function (this: FrozenDecoder, features: tf.Tensor2D) {
    batches.push(features.shape[0]);
    return decode.call(this, features);
  };
  try {
    return { result: await work(), batches };
  } finally {
    FrozenDecoder.prototype.decode = decode;
  }
}

/** Equal bit for bit, so −0, NaN and the last rounding bit count too. */
function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: lengths`);
  const bits = (array: Float32Array) => Buffer.from(array.buffer, array.byteOffset, array.byteLength);
  assert.ok(bits(actual).equals(bits(expected)), `${what}: the pixels differ`);
}

describe('redrawing pairs with what the previous redraw decoded', function () {
  this.timeout(300_000);

  before(async () => {
    await initWasmBackend(wasmDir);
  });

  after(async () => {
    await tf.setBackend('cpu');
  });

  for (const backend of ['wasm', 'cpu']) {
    it(`${backend}: decodes a copy apart to the pixels one pass over every copy gives, and only the copies it lacks`, async () => {
      await tf.setBackend(backend);
      const parameters = ParameterStore.root('decoder');
      const frozen = new Decoder(parameters, new SeedSequence(3), {
        featureDim: 16,
        imageSize: 32,
        width: 0.25,
      }).freeze();
      parameters.dispose();
      const features = tf.randomNormal([5, 16], 0, 1, 'float32', 8) as tf.Tensor2D;
      const mask = Uint8Array.from({ length: 16 }, (_, dimension) => (dimension % 3 === 0 ? 1 : 0));
      const perturbation = { mask, sigma: new Float32Array(16).fill(0.7) };
      const options = { mode: 'gaussian', strength: 2, fraction: 0.5, samples: 3, seed: 4 } as const;
      try {
        const decode = (h: tf.Tensor2D) => frozen.decode(h);
        const onePass = await synthesizePairs(decode, features, perturbation, options);
        const known = { reconstructions: onePass.reconstructions, copies: new Map<number, Float32Array>() };
        const apart = await decodedBatches(() =>
          synthesizePairs(decode, features, perturbation, options, known),
        );
        assert.deepEqual(apart.batches, [5, 5, 5]);
        assertSameBits(apart.result.perturbed, onePass.perturbed, 'every copy decoded apart');
        const copyLength = onePass.reconstructions.length;
        const copy = (index: number) => onePass.perturbed.slice(index * copyLength, (index + 1) * copyLength);
        const reused = await decodedBatches(() =>
          synthesizePairs(decode, features, perturbation, options, {
            reconstructions: onePass.reconstructions,
            copies: new Map([
              [0, copy(0)],
              [2, copy(2)],
            ]),
          }),
        );
        assert.deepEqual(reused.batches, [5], 'only copy 1 is decoded');
        assertSameBits(reused.result.perturbed, onePass.perturbed, 'copies 0 and 2 known');
        assert.equal(reused.result.imageSize, 32);
      } finally {
        features.dispose();
        frozen.dispose();
      }
    });
  }

  describe('a trained run', () => {
    let synthesizer: RunSynthesizer;

    before(async function () {
      // The first test run on a machine trains the fixture run.
      this.timeout(900_000);
      await tf.setBackend('wasm');
      const { runDir } = await trainedFixtureRun();
      synthesizer = await RunSynthesizer.fromSources(await locateSources(runDir));
    });

    after(() => synthesizer?.dispose());

    /** What a synthesizer that has drawn nothing before draws with `overrides`. */
    async function uncached(overrides: string[]): Promise<Synthesis> {
      const fresh = await RunSynthesizer.fromSources(synthesizer.sources);
      try {
        return await fresh.synthesize(overrides);
      } finally {
        fresh.dispose();
      }
    }

    /**
     * Each edit in turn, as a person makes them in the Pairs tab: how many copies of the probes the kept
     * synthesizer decodes for it, and that its pixels are those of a synthesizer that reuses nothing.
     */
    async function edit(overrides: string[], decodedCopies: number): Promise<Synthesis> {
      const { result, batches } = await decodedBatches(() => synthesizer.synthesize(overrides));
      assert.deepEqual(
        batches,
        Array(decodedCopies).fill(synthesizer.probes),
        `${overrides.join(', ')}: decodes ${decodedCopies} copies`,
      );
      const expected = await uncached(overrides);
      assertSameBits(result.pairs.perturbed, expected.pairs.perturbed, overrides.join(', '));
      assertSameBits(result.pairs.reconstructions, expected.pairs.reconstructions, 'reconstructions');
      return result;
    }

    it('decodes only the copies the previous redraw did not draw with the same mask and perturbation', async () => {
      const { dimensions } = synthesizer;
      assert.equal(synthesizer.sources.config.analysis.probes.samples, 3);
      const first = await edit(['perturb.strength=2'], 3);
      await edit(['perturb.strength=2'], 0);
      await edit(['perturb.strength=2', 'analysis.probes.samples=5'], 2);
      await edit(['perturb.strength=2', 'analysis.probes.samples=2'], 0);
      await edit(['perturb.strength=3'], 3);
      await edit(['perturb.strength=3', 'perturb.mode=shuffle'], 3);
      await edit(['perturb.strength=3', 'perturb.fraction=0.5'], 3);
      // A quantile that still selects ⌊q·C⌋ = the same number of dimensions leaves the mask as it was.
      const quantile = first.settings.variance.quantile;
      const sameCut = (Math.floor(quantile * dimensions) + 0.5) / dimensions;
      const kept = await edit(
        ['perturb.strength=3', 'perturb.fraction=0.5', `analysis.variance.quantile=${sameCut}`],
        0,
      );
      assert.equal(kept.mask.variance.count, first.mask.variance.count);
      const widened = await edit(
        ['perturb.strength=3', 'perturb.fraction=0.5', 'analysis.variance.quantile=0.75'],
        3,
      );
      assert.notEqual(widened.mask.count, kept.mask.count);
    });

    it('draws the same pixels again after a failed request', async () => {
      await synthesizer.synthesize(['perturb.strength=1.5']);
      await assert.rejects(synthesizer.synthesize(['perturb.strength=-1']), /perturb\.strength/);
      await edit(['perturb.strength=1.5'], 0);
    });
  });
});
