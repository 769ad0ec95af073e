// The bare primitives' shared words and peer threads: bare code that uses no project module,
// so what it measures is the machine, not us. src/bench/limits.ts (the limits of `vsmmu
// bench`) and bench/bare.ts (the microbenchmarks' baselines) measure from their main side and
// run these peers as the bodies of their worker threads.
//   ping-pong: two threads, one sequence word each way;
//   ring:      an SPSC ring of 32-byte records published in batches of 64;
//   relay:     three threads, guest -> xen -> smmu -> xen -> guest, a sequence word each hop.
// Every wait spins up to SPIN loads, then Atomics.wait; a signal notifies only a sleeper.

const SPIN = 10_000;
// Ping-pong SAB, one word per 64-byte line: PING (the measuring side writes), PONG (the
// peer), each side's sleeping flag.
export const PING = 0;
export const PONG = 16;
export const PINGER_SLEEP = 32;
export const PEER_SLEEP = 48;
// Ring SAB: HEAD (consumer), TAIL (producer), sleeping flags; records from byte 256.
export const R_HEAD = 0;
export const R_TAIL = 16;
export const R_PSLEEP = 32;
export const R_CSLEEP = 48;
export const R_DATA = 256;
export const RING_CAPACITY = 4096;
export const RECORD_WORDS = 8;
export const RING_BATCH = 64;
// Relay SAB (512 bytes): G2X guest -> xen, X2S xen -> smmu, S2X smmu -> xen, X2G xen ->
// guest, then each waiter's sleeping flag (xen has two: one per word it waits on).
export const G2X = 0;
export const X2S = 16;
export const S2X = 32;
export const X2G = 48;
export const G_SLEEP = 64;
export const XG_SLEEP = 80;
export const XS_SLEEP = 96;
export const S_SLEEP = 112;

/** Waits until `a[idx]` is not `old` and returns it: spins, then sleeps flagged at `sleepIdx`. */
export function waitFor(a: Int32Array, idx: number, old: number, sleepIdx: number): number {
  let v = 0;
  for (let k = 0; k < SPIN; k++) if ((v = Atomics.load(a, idx)) !== old) return v;
  for (;;) {
    Atomics.store(a, sleepIdx, 1);
    if ((v = Atomics.load(a, idx)) !== old) {
      Atomics.store(a, sleepIdx, 0);
      return v;
    }
    Atomics.wait(a, idx, old);
    Atomics.store(a, sleepIdx, 0);
  }
}

/** Stores `v` at `idx`, notifying only if the peer sleeps (its flag at `peerSleepIdx`). */
export function signal(a: Int32Array, idx: number, v: number, peerSleepIdx: number): void {
  Atomics.store(a, idx, v);
  if (Atomics.load(a, peerSleepIdx) !== 0) Atomics.notify(a, idx);
}

export type PeerRole = 'pingpong' | 'relay-xen' | 'relay-smmu' | 'ring';

export function isPeerRole(role: string): role is PeerRole {
  return role === 'pingpong' || role === 'relay-xen' || role === 'relay-smmu' || role === 'ring';
}

/** A worker thread's body: the peer `role` on `sab`, until the thread is terminated. */
export function runPeer(role: PeerRole, sab: SharedArrayBuffer): void {
  const a = new Int32Array(sab, 0, Math.min(sab.byteLength, 512) >> 2);
  if (role === 'pingpong') {
    for (let last = 0; ; ) {
      last = waitFor(a, PING, last, PEER_SLEEP);
      signal(a, PONG, last, PINGER_SLEEP);
    }
  } else if (role === 'relay-xen') {
    for (let last = 0; ; ) {
      const prev = last;
      last = waitFor(a, G2X, last, XG_SLEEP);
      signal(a, X2S, last, S_SLEEP);
      while (waitFor(a, S2X, prev, XS_SLEEP) !== last);
      signal(a, X2G, last, G_SLEEP);
    }
  } else if (role === 'relay-smmu') {
    for (let last = 0; ; ) {
      last = waitFor(a, X2S, last, S_SLEEP);
      signal(a, S2X, last, XS_SLEEP);
    }
  } else {
    const h = new Int32Array(sab, 0, R_DATA >> 2);
    const u32 = new Uint32Array(sab, R_DATA);
    const mask = RING_CAPACITY - 1;
    let tail = 0;
    let head = 0;
    for (let seq = 0; ; seq += RING_BATCH) {
      while (RING_CAPACITY - ((tail - head) | 0) < RING_BATCH) {
        head = Atomics.load(h, R_HEAD);
        if (RING_CAPACITY - ((tail - head) | 0) < RING_BATCH) head = waitFor(h, R_HEAD, head, R_PSLEEP);
      }
      for (let i = 0; i < RING_BATCH; i++) {
        const o = ((tail + i) & mask) * RECORD_WORDS;
        for (let w = 0; w < RECORD_WORDS; w++) u32[o + w] = (seq + i) ^ w;
      }
      tail = (tail + RING_BATCH) | 0;
      signal(h, R_TAIL, tail, R_CSLEEP);
    }
  }
}
