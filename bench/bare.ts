// The bare primitives every figure is compared with (node-limits.md §1 and §5), written
// inline on purpose: no project code, so they measure the machine, not us.
//   ping-pong: two threads, a sequence word each, spin <= 10 000 loads then Atomics.wait,
//              notify only when the peer sleeps
//   SAB ring:  SPSC ring of 32-byte records published in batches of 64
//   relay:     three threads, guest (main) -> xen -> smmu -> xen -> guest, each hop a
//              sequence word with the same spin-then-wait and notify-only-when-asleep; the
//              limit of any guest request Xen forwards to the SMMU and answers
// The peers are worker threads started from this file (workerData.bareRole).
import { Worker, isMainThread, workerData } from 'node:worker_threads';

const SPIN = 10_000;
// Ping-pong words, each on its own 64-byte line: PING (main), PONG (peer), sleeping flags.
const PING = 0;
const PONG = 16;
const MAIN_SLEEP = 32;
const PEER_SLEEP = 48;
// Ring header: HEAD, TAIL, sleeping flags on separate lines; records from byte 256.
const R_HEAD = 0;
const R_TAIL = 16;
const R_PSLEEP = 32;
const R_CSLEEP = 48;
const R_DATA = 256;
// Relay words (own lines): G2X guest -> xen, X2S xen -> smmu, S2X smmu -> xen, X2G xen ->
// guest; then each waiter's sleeping flag (xen has two: one per word it waits on).
const G2X = 0;
const X2S = 16;
const S2X = 32;
const X2G = 48;
const G_SLEEP = 64;
const XG_SLEEP = 80;
const XS_SLEEP = 96;
const S_SLEEP = 112;
export const RING_CAPACITY = 4096;
export const RECORD_WORDS = 8;
export const RING_BATCH = 64;

function bareWait(a: Int32Array, idx: number, old: number, sleepIdx: number): number {
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

function bareSignal(a: Int32Array, idx: number, v: number, peerSleepIdx: number): void {
  Atomics.store(a, idx, v);
  if (Atomics.load(a, peerSleepIdx) !== 0) Atomics.notify(a, idx);
}

export interface Bare {
  /** n ping-pong round trips with the peer thread. */
  pingPong(n: number): void;
  /** n relays guest -> xen -> smmu -> xen -> guest across the two relay peer threads. */
  relay(n: number): void;
  /** Consumes n records from the bare ring (the peer produces them in batches). */
  ring(n: number): number;
  close(): Promise<void>;
}

const role = isMainThread ? undefined : (workerData as { bareRole?: string } | null)?.bareRole;
if (role === 'pingpong') {
  const a = new Int32Array((workerData as { sab: SharedArrayBuffer }).sab);
  for (let last = 0; ; ) {
    last = bareWait(a, PING, last, PEER_SLEEP);
    bareSignal(a, PONG, last, MAIN_SLEEP);
  }
} else if (role === 'relay-xen') {
  const a = new Int32Array((workerData as { sab: SharedArrayBuffer }).sab);
  for (let last = 0; ; ) {
    const prev = last;
    last = bareWait(a, G2X, last, XG_SLEEP);
    bareSignal(a, X2S, last, S_SLEEP);
    while (bareWait(a, S2X, prev, XS_SLEEP) !== last);
    bareSignal(a, X2G, last, G_SLEEP);
  }
} else if (role === 'relay-smmu') {
  const a = new Int32Array((workerData as { sab: SharedArrayBuffer }).sab);
  for (let last = 0; ; ) {
    last = bareWait(a, X2S, last, S_SLEEP);
    bareSignal(a, S2X, last, XS_SLEEP);
  }
} else if (role === 'ring') {
  const sab = (workerData as { sab: SharedArrayBuffer }).sab;
  const h = new Int32Array(sab, 0, R_DATA >> 2);
  const u32 = new Uint32Array(sab, R_DATA);
  const mask = RING_CAPACITY - 1;
  let tail = 0;
  let head = 0;
  for (let seq = 0; ; seq += RING_BATCH) {
    while (RING_CAPACITY - ((tail - head) | 0) < RING_BATCH) {
      head = Atomics.load(h, R_HEAD);
      if (RING_CAPACITY - ((tail - head) | 0) < RING_BATCH) head = bareWait(h, R_HEAD, head, R_PSLEEP);
    }
    for (let i = 0; i < RING_BATCH; i++) {
      const o = ((tail + i) & mask) * RECORD_WORDS;
      const s = seq + i;
      for (let w = 0; w < RECORD_WORDS; w++) u32[o + w] = s ^ w;
    }
    tail = (tail + RING_BATCH) | 0;
    bareSignal(h, R_TAIL, tail, R_CSLEEP);
  }
}

/** Starts the peer threads of the bare primitives. */
export function startBare(): Bare {
  const self = new URL(import.meta.url);
  const pp = new Int32Array(new SharedArrayBuffer(256));
  const ringSab = new SharedArrayBuffer(R_DATA + RING_CAPACITY * RECORD_WORDS * 4);
  const rl = new Int32Array(new SharedArrayBuffer(512));
  const workers = [
    new Worker(self, { workerData: { bareRole: 'pingpong', sab: pp.buffer } }),
    new Worker(self, { workerData: { bareRole: 'ring', sab: ringSab } }),
    new Worker(self, { workerData: { bareRole: 'relay-xen', sab: rl.buffer } }),
    new Worker(self, { workerData: { bareRole: 'relay-smmu', sab: rl.buffer } }),
  ];
  let rseq = 0;
  const rh = new Int32Array(ringSab, 0, R_DATA >> 2);
  const ru = new Uint32Array(ringSab, R_DATA);
  let seq = 0;
  let head = 0;
  return {
    pingPong(n) {
      for (let k = 0; k < n; k++) {
        seq = (seq + 1) | 0;
        bareSignal(pp, PING, seq, PEER_SLEEP);
        while (bareWait(pp, PONG, (seq - 1) | 0, MAIN_SLEEP) !== seq);
      }
    },
    relay(n) {
      for (let k = 0; k < n; k++) {
        rseq = (rseq + 1) | 0;
        bareSignal(rl, G2X, rseq, XG_SLEEP);
        while (bareWait(rl, X2G, (rseq - 1) | 0, G_SLEEP) !== rseq);
      }
    },
    ring(n) {
      const mask = RING_CAPACITY - 1;
      let sum = 0;
      for (let got = 0; got < n; ) {
        let t = Atomics.load(rh, R_TAIL);
        if (t === head) t = bareWait(rh, R_TAIL, head, R_CSLEEP);
        let k = (t - head) | 0;
        if (k > n - got) k = n - got;
        for (let i = 0; i < k; i++) {
          const o = ((head + i) & mask) * RECORD_WORDS;
          for (let w = 0; w < RECORD_WORDS; w++) sum += ru[o + w] ?? 0;
        }
        head = (head + k) | 0;
        got += k;
        bareSignal(rh, R_HEAD, head, R_PSLEEP);
      }
      return sum;
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
