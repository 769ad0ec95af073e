// Seeded randomness for simulation, stress and fuzzing: mulberry32, small, fast, and the
// same sequence on every platform. Nothing under a seeded run may use Math.random. Like
// errors.ts this module imports nothing, so every layer (a guest's stress workload, the
// scheduler, the fuzzer) draws from the same generator.

/** A 32-bit generator from `seed`: each call returns the next unsigned 32-bit value. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A seeded source with the draws a scheduler or a generator needs. */
export class Random {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = prng(seed);
  }

  /** An unsigned 32-bit value. */
  u32(): number {
    return this.#next();
  }

  /** A whole number in [0, n) (n >= 1; the bias of the modulo is below 2^-20 for n < 2^12). */
  below(n: number): number {
    return n <= 1 ? 0 : this.#next() % n;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.#next() / 4294967296;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)] as T;
  }
}
