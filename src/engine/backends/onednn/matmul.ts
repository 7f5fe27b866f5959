import {
  BatchMatMul,
  type BatchMatMulAttrs,
  type BatchMatMulInputs,
  backend_util,
  type KernelConfig,
} from '@tensorflow/tfjs-core';
import { nativeKernel, sizeOf } from './nativeKernel';

const batchMatMul = nativeKernel<BatchMatMulInputs, BatchMatMulAttrs>(
  BatchMatMul,
  ({ inputs, attrs, backend }) => {
    const { a, b } = inputs;
    const aValues = backend.floats(a!);
    const bValues = backend.floats(b!);
    if (!aValues || !bValues || a!.shape.length < 2 || b!.shape.length < 2) return undefined;
    const [aRows, aColumns] = a!.shape.slice(-2) as [number, number];
    const [bRows, bColumns] = b!.shape.slice(-2) as [number, number];
    const m = attrs.transposeA ? aColumns : aRows;
    const k = attrs.transposeA ? aRows : aColumns;
    const n = attrs.transposeB ? bRows : bColumns;
    if ((attrs.transposeB ? bColumns : bRows) !== k) return undefined;
    const aOuter = a!.shape.slice(0, -2);
    const bOuter = b!.shape.slice(0, -2);
    const aBatch = sizeOf(aOuter);
    const bBatch = sizeOf(bOuter);
    // oneDNN broadcasts a batch of one; other mixes of batch shapes go to JavaScript.
    if (aBatch !== bBatch && aBatch !== 1 && bBatch !== 1) return undefined;
    const outer = backend_util.assertAndGetBroadcastShape(aOuter, bOuter);
    if (m * n * k === 0) return undefined;
    const out = backend.output([...outer, m, n]);
    backend.addon.matmul(
      aValues,
      bValues,
      out.values,
      Int32Array.of(aBatch, bBatch, m, k, n, attrs.transposeA ? 1 : 0, attrs.transposeB ? 1 : 0),
    );
    return out.info;
  },
);

export const matmulKernels: readonly KernelConfig[] = [batchMatMul];
