import assert from 'node:assert/strict';
import type { OneDnnAddon } from '../../src/engine/backends/onednn/addon';
import { OneDnnBackend } from '../../src/engine/backends/onednn/nativeKernel';
import { tryOneDnn } from '../../src/engine/backends/onednn/onednnBackend';
import { mulberry32 } from '../../src/engine/eval/linearProbe';
import { tf } from '../../src/engine/tf';

/**
 * Selects the onednn backend, or skips the calling suite where the addon was never built (no compiler or
 * no oneDNN at install). An addon that exists but does not load fails instead: that is a broken install.
 */
export async function selectOneDnnOrSkip(context: Mocha.Context): Promise<OneDnnBackend> {
  const attempt = await tryOneDnn();
  if (attempt.outcome === 'not-installed') {
    context.skip();
  }
  assert.equal(attempt.outcome, 'selected', attempt.reason);
  const backend = tf.backend();
  assert.ok(backend instanceof OneDnnBackend, `tf.backend() is a ${backend.constructor.name}`);
  return backend;
}

/**
 * What a native kernel calls: an addon function, or `output` for the tensors the onednn backend's own
 * JavaScript kernels (slices, concatenations) allocate, which the cpu kernels they replace never do.
 */
export type NativeFunction = Exclude<keyof OneDnnAddon, 'describe'> | 'output';

/**
 * Counts the calls the onednn backend's kernels make into the addon and to `backend.output`, by putting
 * counting copies in their place. A comparison with the cpu backend proves nothing unless the native code
 * was what ran.
 */
export class NativeCallCounter {
  private readonly original: OneDnnAddon;
  private counts = new Map<string, number>();

  constructor(private readonly backend: OneDnnBackend) {
    this.original = backend.addon;
    const output = backend.output;
    backend.output = (shape) => {
      this.counts.set('output', (this.counts.get('output') ?? 0) + 1);
      return output.call(backend, shape);
    };
    const counting: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(this.original)) {
      counting[name] =
        typeof value === 'function'
          ? (...args: unknown[]) => {
              this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
              return (value as (...args: unknown[]) => unknown).apply(this.original, args);
            }
          : value;
    }
    (backend as { addon: OneDnnAddon }).addon = counting as unknown as OneDnnAddon;
  }

  /** Runs `work` and returns how often each native function was called meanwhile. */
  during<T>(work: () => T): { result: T; calls: ReadonlyMap<string, number> } {
    this.counts = new Map();
    const result = work();
    return { result, calls: this.counts };
  }

  /** `during` for work that awaits, such as a training run. */
  async duringAsync<T>(work: () => Promise<T>): Promise<{ result: T; calls: ReadonlyMap<string, number> }> {
    const counts = new Map<string, number>();
    this.counts = counts;
    const result = await work();
    return { result, calls: counts };
  }

  restore(): void {
    (this.backend as { addon: OneDnnAddon }).addon = this.original;
    // The instance's own counting function shadowed the class's method; removing it uncovers that again.
    delete (this.backend as { output?: unknown }).output;
  }
}

/** Uniform values in [low, high) from a seed, so a failing case reproduces exactly. */
export function seededUniform(size: number, seed: number, low = -1, high = 1): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: size }, () => low + next() * (high - low));
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

/**
 * The largest difference a float32 result may show against the cpu backend's, which accumulates in
 * float64: the native side sums `reductionLength` terms in float32 in an order of its own, whose rounding
 * error grows like √L (random-walk rounding) times the terms' magnitude — O(1) for the inputs the tests
 * draw — and, for large results, like √L times the result. 1e-5 is 84 float32 ulps at 1. Across the
 * kernel tests the worst errors were a third of the bound (oneDNN's log, accurate to 3.4e-6 near 1) and a
 * fifth (batch norm's input gradient over two rows, which divides by a tiny deviation); all others stayed
 * under 3 % of it. A wrong tap, a lost term or a misplaced pad (errors of O(0.1) and more) lies far outside.
 */
export function tolerance(expected: number, reductionLength: number): number {
  return Math.sqrt(Math.max(1, reductionLength)) * (1e-5 + 1e-5 * Math.abs(expected));
}

/** Asserts `actual` matches `expected` element by element; a NaN must meet a NaN. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  reductionLength: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: element count`);
  let worst = { ratio: 0, index: -1 };
  for (let index = 0; index < expected.length; index++) {
    const want = expected[index]!;
    const got = actual[index]!;
    if (Number.isNaN(want) || Number.isNaN(got)) {
      assert.ok(
        Number.isNaN(want) && Number.isNaN(got),
        `${what}: onednn ${got}, cpu ${want} at ${index} (NaN must propagate exactly)`,
      );
      continue;
    }
    const ratio = Math.abs(got - want) / tolerance(want, reductionLength);
    if (!(ratio <= worst.ratio)) worst = { ratio, index };
  }
  assert.ok(
    worst.ratio <= 1,
    `${what}: |onednn − cpu| = ${Math.abs(actual[worst.index]! - expected[worst.index]!)} at ${worst.index} ` +
      `(onednn ${actual[worst.index]}, cpu ${expected[worst.index]}), ${worst.ratio.toFixed(1)}× the tolerance ` +
      `for a reduction over ${reductionLength}`,
  );
}
