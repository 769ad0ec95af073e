// The bare primitives every figure is compared with (node-limits.md §1 and §5): no project
// code, so they measure the machine, not us (the peers and words: src/bench/bare-peers.ts,
// which `vsmmu bench`'s limits run too).
//   ping-pong: two threads, a sequence word each, spin <= 10 000 loads then Atomics.wait,
//              notify only when the peer sleeps
//   SAB ring:  SPSC ring of 32-byte records published in batches of 64
//   relay:     three threads, guest (main) -> xen -> smmu -> xen -> guest, each hop a
//              sequence word with the same spin-then-wait and notify-only-when-asleep; the
//              limit of any guest request Xen forwards to the SMMU and answers
// The peers are worker threads started from this file (workerData.bareRole).
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import {
  G2X, G_SLEEP, isPeerRole, PEER_SLEEP, PING, PINGER_SLEEP, PONG, R_CSLEEP, R_DATA, R_HEAD, R_PSLEEP, R_TAIL, RECORD_WORDS,
  RING_CAPACITY, runPeer, signal, waitFor, X2G, XG_SLEEP,
} from '../src/bench/bare-peers.ts';

export { RECORD_WORDS, RING_BATCH, RING_CAPACITY } from '../src/bench/bare-peers.ts';

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
if (role !== undefined && isPeerRole(role)) runPeer(role, (workerData as { sab: SharedArrayBuffer }).sab);

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
        signal(pp, PING, seq, PEER_SLEEP);
        while (waitFor(pp, PONG, (seq - 1) | 0, PINGER_SLEEP) !== seq);
      }
    },
    relay(n) {
      for (let k = 0; k < n; k++) {
        rseq = (rseq + 1) | 0;
        signal(rl, G2X, rseq, XG_SLEEP);
        while (waitFor(rl, X2G, (rseq - 1) | 0, G_SLEEP) !== rseq);
      }
    },
    ring(n) {
      const mask = RING_CAPACITY - 1;
      let sum = 0;
      for (let got = 0; got < n; ) {
        let t = Atomics.load(rh, R_TAIL);
        if (t === head) t = waitFor(rh, R_TAIL, head, R_CSLEEP);
        let k = (t - head) | 0;
        if (k > n - got) k = n - got;
        for (let i = 0; i < k; i++) {
          const o = ((head + i) & mask) * RECORD_WORDS;
          for (let w = 0; w < RECORD_WORDS; w++) sum += ru[o + w] ?? 0;
        }
        head = (head + k) | 0;
        got += k;
        signal(rh, R_HEAD, head, R_PSLEEP);
      }
      return sum;
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
