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
// Spin budget (adaptive, bounded). Waking a parked thread costs ~8-16 us per direction
// (node-limits.md §1). When both threads have a core, a spin that covers the peer's answer
// (~0.3-1 us) turns that into ~0.5 us, and a spin shorter than the wake-up latency locks
// the pair into the sleep-sleep slow mode. When the peer has no core (more runnable
// threads than cores), every spin is wasted: the peer runs only once we park. A failed
// spin followed by a short park looks the same in both cases, so the policy probes:
//   - a park that ended quickly (< GROW_MS) doubles the budget (a longer spin may catch it);
//   - if even the ceiling failed with a short park, spinning does not help: drop to
//     MIN_SPIN and stay there for COOLDOWN parks before probing again;
//   - a long park (> SHRINK_MS: the peer was idle, not busy) halves the budget;
//   - spins that succeed leave it alone.
// One probe costs ~5-20 ns, so the ceiling of 16 384 probes bounds a fruitless spin to
// ~0.1-0.3 ms, and on an oversubscribed machine a waiter wastes ~256 probes (~1-5 us) per
// wait on average. Measured on this machine (Node 24.21, 2 vCPUs shared with other jobs,
// load average ~3; trap round trip main <-> handler thread, median of 5 x 3 000):
//   ceiling 0 (park at once)            11-79 us/RTT
//   ceiling 256 / 1 024                 11-26 us   (shorter than a wake-up: slow mode)
//   adaptive, ceiling 4 096 / 16 384    1.3 / 1.4 us; with a CPU-hog thread 1.9 / 2.4 us
//   budget pinned at 4 096 / 16 384     with the hog: 102 / 305 us (every spin wasted)
// setSpinBudget(0), or a single core, disables spinning.
import { availableParallelism } from 'node:os';
import { wake } from '../ports/doorbell.ts';

/** The ringing side lives with the ports (it never waits); re-exported for the waiters here. */
export { wake };

export const WAIT_OK = 0;
export const WAIT_TIMEOUT = 1;
export type WaitResult = typeof WAIT_OK | typeof WAIT_TIMEOUT;

const MAX_SPIN = 16384;
const MIN_SPIN = 256;
const GROW_MS = 0.05;
const SHRINK_MS = 1;
const COOLDOWN = 64;
let ceiling = availableParallelism() > 1 ? MAX_SPIN : 0;

/** Upper bound of every waiter's spin budget (Atomics.load probes before parking). */
export function spinBudget(): number {
  return ceiling;
}

/** Sets the ceiling; 0 disables spinning (e.g. on one core). Affects waiters made later and
 * clamps existing ones at their next park. */
export function setSpinBudget(loads: number): void {
  ceiling = Math.max(0, Math.floor(loads));
}

/** One waiter's adaptive spin budget (see the policy above). */
export class SpinPolicy {
  budget: number;
  private cooldown = 0;
  constructor(initial = 4096) {
    this.budget = Math.min(initial, ceiling);
  }
  /** Feedback after the spin failed and the waiter slept `ms`. */
  parked(ms: number): void {
    if (this.cooldown > 0) {
      this.cooldown--;
      this.budget = Math.min(this.budget, ceiling);
    } else if (ms > SHRINK_MS) {
      this.budget = Math.min(ceiling, Math.max(MIN_SPIN, this.budget >> 1));
    } else if (ms > GROW_MS) {
      this.budget = Math.min(this.budget, ceiling);
    } else if (this.budget < ceiling) {
      this.budget = Math.min(ceiling, Math.max(MIN_SPIN, this.budget * 2));
    } else {
      this.budget = Math.min(MIN_SPIN, ceiling);
      this.cooldown = COOLDOWN;
    }
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
  policy: SpinPolicy,
): WaitResult {
  for (let k = policy.budget; k > 0; k--) if (Atomics.load(word, idx) !== old) return WAIT_OK;
  return waitUntil(changed(word, idx, old, closedIdx), park, parkIdx, timeoutMs, policy, 0);
}

function changed(word: Int32Array, idx: number, old: number, closedIdx: number): () => boolean {
  return () => Atomics.load(word, idx) !== old || (closedIdx >= 0 && Atomics.load(word, closedIdx) !== 0);
}

const READY = 0;
const EXPIRED = -1;

/**
 * One round of the park protocol: announce the sleep on `park`, then re-check, so that a
 * wake-up between the caller's check and its sleep is not lost. Returns READY (park word
 * cleared), EXPIRED (likewise), or the milliseconds left to sleep.
 */
function announce(ready: () => boolean, park: Int32Array, parkIdx: number, deadline: number): number {
  Atomics.store(park, parkIdx, 1);
  if (ready()) {
    Atomics.store(park, parkIdx, 0);
    return READY;
  }
  const left = deadline - performance.now();
  if (left <= 0) {
    Atomics.store(park, parkIdx, 0);
    return EXPIRED;
  }
  return left;
}

function sleep(park: Int32Array, parkIdx: number, left: number, policy: SpinPolicy): void {
  const t0 = performance.now();
  if (Atomics.wait(park, parkIdx, 1, left === Infinity ? undefined : left) !== 'not-equal') {
    policy.parked(performance.now() - t0);
  }
}

/**
 * Blocks until `ready()` holds or `timeoutMs` passes; for conditions over several words.
 * By default it spins a quarter of the budget: each probe is a call that reads several words.
 */
export function waitUntil(
  ready: () => boolean,
  park: Int32Array,
  parkIdx: number,
  timeoutMs: number,
  policy: SpinPolicy,
  spins = policy.budget >> 2,
): WaitResult {
  for (let k = spins; k > 0; k--) if (ready()) return WAIT_OK;
  const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  for (;;) {
    const left = announce(ready, park, parkIdx, deadline);
    if (left === READY) return WAIT_OK;
    if (left === EXPIRED) return WAIT_TIMEOUT;
    sleep(park, parkIdx, left, policy);
  }
}

// A pending Atomics.waitAsync does not keep the event loop alive (nodejs/node#61941): a
// thread whose only activity is that promise exits and its peer blocks forever. Every
// async wait therefore holds one ref'd timer while at least one async wait is pending.
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

/**
 * Async form of `waitUntil` for the main thread (never blocks; a short spin, then waitAsync).
 * `policy` null: no spin (a caller that has just spun itself parks at once).
 */
export async function waitUntilAsync(
  ready: () => boolean,
  park: Int32Array,
  parkIdx: number,
  timeoutMs: number,
  policy: SpinPolicy | null,
): Promise<WaitResult> {
  for (let k = policy ? policy.budget >> 2 : 0; k > 0; k--) if (ready()) return WAIT_OK;
  const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  holdLoop();
  try {
    for (;;) {
      const left = announce(ready, park, parkIdx, deadline);
      if (left === READY) return WAIT_OK;
      if (left === EXPIRED) return WAIT_TIMEOUT;
      const r = Atomics.waitAsync(park, parkIdx, 1, left === Infinity ? undefined : left);
      if (r.async) {
        const t0 = performance.now();
        await r.value;
        policy?.parked(performance.now() - t0);
      }
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
  policy: SpinPolicy,
): Promise<WaitResult> {
  return waitUntilAsync(changed(word, idx, old, closedIdx), park, parkIdx, timeoutMs, policy);
}
