import assert from 'node:assert/strict';
import { type KernelCall, kernelFlops, kernelTotals, stepFlops } from '../../../bench/stepFlops';
import { tf } from '../../../src/engine/tf';

function call(name: string, inputShapes: number[][], outputShape: number[], kernelTimeMs = 1): KernelCall {
  return { name, inputShapes, outputShapes: [outputShape], kernelTimeMs };
}

describe('step FLOPs from a tf.profile() kernel list', () => {
  it('counts a convolution as 2·N·OH·OW·OC·KH·KW·IC', () => {
    // 2·2·8·8·4 · 3·3·3
    assert.equal(
      kernelFlops(
        call(
          'Conv2D',
          [
            [2, 8, 8, 3],
            [3, 3, 3, 4],
          ],
          [2, 8, 8, 4],
        ),
      ),
      27_648,
    );
    assert.equal(kernelFlops(call('FusedConv2D', [[2, 8, 8, 3], [3, 3, 3, 4], [4]], [2, 8, 8, 4])), 27_648);
  });

  it('counts both backward convolutions of a strided layer as its forward one', () => {
    // The ResNet stem at 64x64, batch 64: 2·64·32·32·32 · 7·7·3.
    const forward = 616_562_688;
    assert.equal(
      kernelFlops(
        call(
          'Conv2D',
          [
            [64, 64, 64, 3],
            [7, 7, 3, 32],
          ],
          [64, 32, 32, 32],
        ),
      ),
      forward,
    );
    assert.equal(
      kernelFlops(
        call(
          'Conv2DBackpropInput',
          [
            [64, 32, 32, 32],
            [7, 7, 3, 32],
          ],
          [64, 64, 64, 3],
        ),
      ),
      forward,
    );
    assert.equal(
      kernelFlops(
        call(
          'Conv2DBackpropFilter',
          [
            [64, 64, 64, 3],
            [64, 32, 32, 32],
          ],
          [7, 7, 3, 32],
        ),
      ),
      forward,
    );
  });

  it('counts a transposed convolution as the convolution it transposes', () => {
    // conv2dTranspose of x [2, 4, 4, 8] with a 4×4 stride-2 filter [4, 4, 4, 8] to [2, 8, 8, 4] runs
    // Conv2DBackpropInput with dy = x: the transposed convolution maps [2, 8, 8, 4] to [2, 4, 4, 8],
    // 2·2·4·4·8 · 4·4·4.
    assert.equal(
      kernelFlops(
        call(
          'Conv2DBackpropInput',
          [
            [2, 4, 4, 8],
            [4, 4, 4, 8],
          ],
          [2, 8, 8, 4],
        ),
      ),
      32_768,
    );
  });

  it('counts a matrix product as 2·B·M·N·K whichever operand is transposed', () => {
    // A dense layer 256 → 512 on 64 rows, and its two gradients: all 2·64·512·256.
    const dense = 16_777_216;
    assert.equal(
      kernelFlops(
        call(
          'BatchMatMul',
          [
            [1, 64, 256],
            [1, 256, 512],
          ],
          [1, 64, 512],
        ),
      ),
      dense,
    );
    // dx = dy·Wᵀ: b transposed.
    assert.equal(
      kernelFlops(
        call(
          'BatchMatMul',
          [
            [1, 64, 512],
            [1, 256, 512],
          ],
          [1, 64, 256],
        ),
      ),
      dense,
    );
    // dW = xᵀ·dy: a transposed, stored [K, M] = [64, 256].
    assert.equal(
      kernelFlops(
        call(
          'BatchMatMul',
          [
            [1, 64, 256],
            [1, 64, 512],
          ],
          [1, 256, 512],
        ),
      ),
      dense,
    );
    // A non-square a with transposeA: a [3, 2] read as [2, 3] (M 2, K 3), b [3, 5]: 2·2·5·3.
    assert.equal(
      kernelFlops(
        call(
          'BatchMatMul',
          [
            [1, 3, 2],
            [1, 3, 5],
          ],
          [1, 2, 5],
        ),
      ),
      60,
    );
  });

  it('counts every batch entry, a broadcast operand too', () => {
    assert.equal(
      kernelFlops(
        call(
          'BatchMatMul',
          [
            [4, 2, 3],
            [4, 3, 5],
          ],
          [4, 2, 5],
        ),
      ),
      240,
    );
    assert.equal(
      kernelFlops(
        call(
          'BatchMatMul',
          [
            [1, 2, 3],
            [4, 3, 5],
          ],
          [4, 2, 5],
        ),
      ),
      240,
    );
    assert.equal(kernelFlops(call('_FusedMatMul', [[1, 2, 3], [1, 3, 5], [5]], [1, 2, 5])), 60);
  });

  it('counts every other kernel as zero', () => {
    assert.equal(kernelFlops(call('Relu', [[64, 32, 32, 32]], [64, 32, 32, 32])), 0);
    assert.equal(kernelFlops(call('MaxPool', [[64, 32, 32, 32]], [64, 16, 16, 32])), 0);
    assert.equal(
      kernelFlops(
        call(
          'Multiply',
          [
            [64, 256],
            [64, 256],
          ],
          [64, 256],
        ),
      ),
      0,
    );
  });

  it('sums a step, keeping the convolutions and their time apart, and groups calls by kernel', () => {
    const calls = [
      call(
        'Conv2D',
        [
          [2, 8, 8, 3],
          [3, 3, 3, 4],
        ],
        [2, 8, 8, 4],
        2,
      ),
      call('Relu', [[2, 8, 8, 4]], [2, 8, 8, 4], 5),
      call(
        'Conv2DBackpropFilter',
        [
          [2, 8, 8, 3],
          [2, 8, 8, 4],
        ],
        [3, 3, 3, 4],
        3,
      ),
      call(
        'BatchMatMul',
        [
          [4, 2, 3],
          [4, 3, 5],
        ],
        [4, 2, 5],
        1,
      ),
      call('Relu', [[2, 8, 8, 4]], [2, 8, 8, 4], 4),
    ];
    assert.deepEqual(stepFlops(calls), {
      total: 2 * 27_648 + 240,
      convolution: { flops: 2 * 27_648, ms: 5 },
    });
    assert.deepEqual(kernelTotals(calls), [
      { name: 'Relu', calls: 2, totalMs: 9, flops: 0 },
      { name: 'Conv2DBackpropFilter', calls: 1, totalMs: 3, flops: 27_648 },
      { name: 'Conv2D', calls: 1, totalMs: 2, flops: 27_648 },
      { name: 'BatchMatMul', calls: 1, totalMs: 1, flops: 240 },
    ]);
  });

  it('reads the shapes in the order tf.profile() records a real training step', async () => {
    await tf.setBackend('cpu');
    const x = tf.randomNormal([2, 6, 6, 3]) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, 3, 4]) as tf.Tensor4D;
    const a = tf.randomNormal([3, 5]) as tf.Tensor2D;
    const b = tf.randomNormal([4, 5]) as tf.Tensor2D;
    const profile = await tf.profile(() => {
      const gradients = tf.grads((input: tf.Tensor, weights: tf.Tensor, left: tf.Tensor, right: tf.Tensor) =>
        tf.add(
          tf.sum(tf.conv2d(input as tf.Tensor4D, weights as tf.Tensor4D, 2, 'same')),
          tf.sum(tf.matMul(left as tf.Tensor2D, right as tf.Tensor2D, false, true)),
        ),
      )([x, filter, a, b]);
      tf.dispose(gradients);
    });
    tf.dispose([x, filter, a, b]);
    const totals = kernelTotals(
      profile.kernels.map((kernel) => ({
        name: kernel.name,
        inputShapes: kernel.inputShapes,
        outputShapes: kernel.outputShapes,
        kernelTimeMs: 0,
      })),
    );
    const flopsOf = (name: string) => totals.find((kernel) => kernel.name === name)?.flops;
    // [2, 6, 6, 3] → [2, 3, 3, 4] by 3×3 stride 2: 2·2·3·3·4 · 3·3·3 for each of the three kernels.
    assert.equal(flopsOf('Conv2D'), 3888);
    assert.equal(flopsOf('Conv2DBackpropInput'), 3888);
    assert.equal(flopsOf('Conv2DBackpropFilter'), 3888);
    // a·bᵀ [3, 4] and its gradients da = dy·b [3, 5] and db = dyᵀ·a [4, 5]: each 2·3·4·5.
    assert.equal(flopsOf('BatchMatMul'), 3 * 120);
  });
});
