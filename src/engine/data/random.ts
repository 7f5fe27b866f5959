import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/** Purposes get their own streams so that, say, adding a shuffle draw never shifts augmentation draws. */
export const StreamPurpose = { shuffle: 1, augment: 2, perturb: 3, validation: 4 } as const;

/**
 * A seeded random stream addressed by a tuple of integers, e.g. (seed, purpose, epoch, sample, view).
 * Addressing instead of one long sequence makes every view reproducible on its own, whichever worker or
 * order produces it, and lets a resumed run start mid-training without replaying earlier draws.
 */
export class RandomStream {
  private readonly generator: RandomGenerator;

  constructor(...key: number[]) {
    this.generator = xoroshiro128plus(mixKey(key));
  }

  /** Uniform in [0, 1). */
  next(): number {
    return uniformFloat64(this.generator);
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Uniform integer in [low, high], both included. */
  integer(low: number, high: number): number {
    return uniformInt(this.generator, low, high);
  }

  /** True with probability `probability`; draws even when the answer is certain, so later draws keep their place. */
  chance(probability: number): boolean {
    return this.next() < probability;
  }

  shuffleInPlace<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.integer(0, i);
      const swap = items[i]!;
      items[i] = items[j]!;
      items[j] = swap;
    }
    return items;
  }
}

/** Folds the key into one 32-bit seed with a murmur3-style finaliser so nearby tuples give unrelated seeds. */
function mixKey(key: readonly number[]): number {
  let hash = 0x9e3779b9 ^ key.length;
  for (const part of key) {
    if (!Number.isSafeInteger(part)) {
      throw new RangeError(`random stream keys must be integers, got ${part}`);
    }
    // High and low halves both count, so seeds above 2^32 do not collide with their low bits.
    for (const word of [part % 0x100000000, Math.floor(part / 0x100000000)]) {
      hash = Math.imul(hash ^ (word >>> 0), 0x85ebca6b);
      hash ^= hash >>> 13;
      hash = Math.imul(hash, 0xc2b2ae35);
      hash ^= hash >>> 16;
    }
  }
  return hash | 0;
}
