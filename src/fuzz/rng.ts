// The fuzzer's only source of randomness: a seeded generator (mulberry32), so a seed gives
// the same inputs on every platform and in either runner. Never Math.random.

import { Random } from '../prng.ts';

/** The shared generator with the fuzzer's draws (scaled, not modulo: its seeds' inputs stay as they were). */
export class Rng extends Random {
  /** A whole number in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 4294967296) * n);
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  override pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  /** A value of `bits` bits (<= 52), often an edge value (0, 1, all ones, top bit). */
  bits(bits: number): number {
    const max = 2 ** Math.min(bits, 52);
    switch (this.int(6)) {
      case 0:
        return 0;
      case 1:
        return max - 1;
      case 2:
        return Math.min(1, max - 1);
      case 3:
        return max / 2 >= 1 ? max / 2 : 0;
      default:
        return bits <= 32 ? this.u32() % max : (this.u32() % 2 ** (Math.min(bits, 52) - 32)) * 4294967296 + this.u32();
    }
  }

  /** Picks a key by weight. */
  weighted<K extends string>(w: Readonly<Record<K, number>>): K {
    const keys = Object.keys(w) as K[];
    let total = 0;
    for (const k of keys) total += w[k];
    let x = this.int(total);
    for (const k of keys) {
      x -= w[k];
      if (x < 0) return k;
    }
    return keys[keys.length - 1] as K;
  }
}
