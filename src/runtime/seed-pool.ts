// The piscina pool that runs independent sim-mode seeds (stress, fuzz, campaign chunks), one
// seed at a time per thread. Its threads cap V8's young generation: a seed allocates in
// bursts, and an uncapped young generation grows and shrinks with them, each growth touching
// fresh pages; on this kind of machine a first touch is a host page fault of ~15 us. Measured
// over 100 stress seeds on one pool thread: 97k page faults and 5.7 ms of system time per
// seed uncapped, 70k and 3.2 ms capped at 32 MiB (24 to 48 MiB give about the same).
import { Piscina } from 'piscina';
import { workerEntry } from './entry.ts';

/** Young generation of a seed thread (MiB). */
export const SEED_YOUNG_GENERATION_MB = 32;

/** A pool of `threads` threads running the worker entry `entry` (workers/NAME). */
export function seedPool<T, R>(entry: string, threads: number, o: { minThreads?: number; idleTimeout?: number } = {}): Piscina<T, R> {
  return new Piscina<T, R>({
    filename: workerEntry(entry).href,
    minThreads: o.minThreads ?? 0,
    maxThreads: threads,
    ...(o.idleTimeout !== undefined ? { idleTimeout: o.idleTimeout } : {}),
    resourceLimits: { maxYoungGenerationSizeMb: SEED_YOUNG_GENERATION_MB },
  });
}
