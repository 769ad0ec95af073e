// The one wait strategy of the runtime: a bounded spin on Atomics.load, then a park on a
// per-waiter word with Atomics.wait (Atomics.waitAsync on the main thread).
//
// Park protocol (Dekker-style; node-limits.md §1). Every blocking wait has exactly one
// waiter thread and a park word owned by it, holding 0 (running) or 1 (asleep or about to):
//   waiter: spin; then  Atomics.store(park, 1); re-check the condition; Atomics.wait(park, 1)
//   waker : publish (Atomics.store of the data word); if Atomics.load(park) === 1, then
//           compareExchange(park, 1 -> 0) and Atomics.notify(park)
// All of these are seq-cst, so either the waiter's re-check sees the new data or the
// waker sees park === 1; the waker flips the word to 0 before notifying, so a waiter that
// has not yet entered Atomics.wait(park, 1) returns at once ('not-equal'): no lost wake-up.
// The waker skips notify (~75 ns, more with a sleeper) whenever the peer is spinning.
// Close/poison needs nothing special: a closer sets its flag, then wakes, exactly like data.
//
// Spin budget. Waking a parked thread costs ~8 us per direction (node-limits.md §1); a spin
// shorter than that (~100 loads) is worse than none because once one side sleeps the pair
// stays in the slow mode. Measured here on Node 24 (bench/runtime.bench.ts, bare ping-pong,
// 2 threads on 2 cores): spin 1k -> ~0.5 us/RTT, 4k -> ~0.4 us, 10k -> ~0.4 us, spin 0 ->
// ~16 us. One Atomics.load in a spin loop with the line bouncing costs ~5-20 ns, so 4 096
// loads bound a fruitless spin to ~20-80 us: with more runnable threads than cores each
// waiter wastes at most that before it sleeps, a few percent of a 1-4 ms scheduler slice,
// and nobody burns a core. The budget is fixed (not adaptive): an adaptive budget that
// shrinks after failed spins falls into the slow mode described above. `setSpinBudget`
// lets a host with a single core set 0.
import { availableParallelism } from 'node:os';

export const WAIT_OK = 0;
export const WAIT_TIMEOUT = 1;
export type WaitResult = typeof WAIT_OK | typeof WAIT_TIMEOUT;

const DEFAULT_SPIN = 4096;
let spin = availableParallelism() > 1 ? DEFAULT_SPIN : 0;

/** Number of Atomics.load probes before a waiter parks. */
export function spinBudget(): number {
  return spin;
}

export function setSpinBudget(loads: number): void {
  spin = Math.max(0, Math.floor(loads));
}

/** Wakes the waiter parked on `park[idx]`, if it is (or is about to be) asleep. */
export function wake(park: Int32Array, idx: number): void {
  if (Atomics.load(park, idx) !== 0 && Atomics.compareExchange(park, idx, 1, 0) === 1) {
    Atomics.notify(park, idx, 1);
  }
}

/**
 * Blocks while `word[idx] === old` (or until `timeoutMs`). Fast path of the protocol for a
 * single data word; the caller checks its own closed flag when this returns, and the
 * closer wakes `park` after setting it, so `closedIdx` (in `word`, -1 for none) ends the
 * wait too.
 */
export function waitWhile(
  word: Int32Array,
  idx: number,
  old: number,
  park: Int32Array,
  parkIdx: number,
  closedIdx: number,
  timeoutMs: number,
): WaitResult {
  for (let k = spin; k > 0; k--) if (Atomics.load(word, idx) !== old) return WAIT_OK;
  const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  for (;;) {
    Atomics.store(park, parkIdx, 1);
    if (Atomics.load(word, idx) !== old || (closedIdx >= 0 && Atomics.load(word, closedIdx) !== 0)) {
      Atomics.store(park, parkIdx, 0);
      return WAIT_OK;
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      Atomics.store(park, parkIdx, 0);
      return WAIT_TIMEOUT;
    }
    Atomics.wait(park, parkIdx, 1, left === Infinity ? undefined : left);
  }
}

/** Blocks until `ready()` holds or `timeoutMs` passes; for conditions over several words. */
export function waitUntil(ready: () => boolean, park: Int32Array, parkIdx: number, timeoutMs: number): WaitResult {
  for (let k = spin >> 2; k > 0; k--) if (ready()) return WAIT_OK;
  const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  for (;;) {
    Atomics.store(park, parkIdx, 1);
    if (ready()) {
      Atomics.store(park, parkIdx, 0);
      return WAIT_OK;
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      Atomics.store(park, parkIdx, 0);
      return WAIT_TIMEOUT;
    }
    Atomics.wait(park, parkIdx, 1, left === Infinity ? undefined : left);
  }
}

// A pending Atomics.waitAsync does not keep the event loop alive (nodejs/node#61941): a
// thread whose only activity is that promise exits and its peer blocks forever. Every
// async wait therefore holds one ref'd timer for as long as any async wait is pending.
let pendingAsync = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;
function holdLoop(): void {
  if (pendingAsync++ === 0) keepAlive = setInterval(() => {}, 1 << 30);
}
function releaseLoop(): void {
  if (--pendingAsync === 0 && keepAlive !== undefined) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

/** Async form of `waitUntil` for the main thread (never blocks; a short spin, then waitAsync). */
export async function waitUntilAsync(
  ready: () => boolean,
  park: Int32Array,
  parkIdx: number,
  timeoutMs: number,
): Promise<WaitResult> {
  for (let k = spin >> 2; k > 0; k--) if (ready()) return WAIT_OK;
  const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  holdLoop();
  try {
    for (;;) {
      Atomics.store(park, parkIdx, 1);
      if (ready()) {
        Atomics.store(park, parkIdx, 0);
        return WAIT_OK;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        Atomics.store(park, parkIdx, 0);
        return WAIT_TIMEOUT;
      }
      const r = Atomics.waitAsync(park, parkIdx, 1, left === Infinity ? undefined : left);
      if (r.async) await r.value;
    }
  } finally {
    releaseLoop();
  }
}

/** Async form of `waitWhile`. */
export function waitWhileAsync(
  word: Int32Array,
  idx: number,
  old: number,
  park: Int32Array,
  parkIdx: number,
  closedIdx: number,
  timeoutMs: number,
): Promise<WaitResult> {
  return waitUntilAsync(
    () => Atomics.load(word, idx) !== old || (closedIdx >= 0 && Atomics.load(word, closedIdx) !== 0),
    park,
    parkIdx,
    timeoutMs,
  );
}
