// Runtime plumbing against the bare primitives it is built on, in the same run:
//   trap round trip        vs a bare spin-then-wait Atomics ping-pong    (cost, <= 1.5x)
//   ring, 32 B, batch 64   vs a bare SAB ring loop, same geometry        (throughput, >= 0.8x)
//   control-plane call     vs a bare postMessage round trip              (cost, <= 3x)
// The main thread drives every task (blocking waits are fine in a benchmark); the peers
// are worker threads started from this same file (workerData.role).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { benchSuite } from './harness.ts';
import { RingConsumer, RingProducer, createRing } from '../src/runtime/ring.ts';
import type { RingDesc } from '../src/runtime/ring.ts';
import { TRAP_OK, TrapServer, TrapVcpu, createTrapChannel, createTrapServer } from '../src/runtime/trap.ts';
import type { TrapServerDesc, TrapChannelDesc, TrapRequest } from '../src/runtime/trap.ts';
import { serveActor, startActor } from '../src/runtime/actor.ts';

// The bare reference spins like node-limits.md §1's best row: 10 000 loads, then waits.
const SPIN = 10_000;
const RTT_OPS = 2_000;
const RING_OPS = 1 << 17;
const CAP = 4096;
const WORDS = 8; // 32-byte records
const BATCH = 64;

// ---- the bare primitives (node-limits.md §1 and §5), written inline on purpose.
// Ping-pong words: PING (main), PONG (worker), and a sleeping flag per side, each on its
// own 64-byte line.
const PING = 0;
const PONG = 16;
const MAIN_SLEEP = 32;
const PEER_SLEEP = 48;
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
// Bare ring header: HEAD, TAIL and the two sleeping flags on separate lines; data at 256.
const R_HEAD = 0;
const R_TAIL = 16;
const R_PSLEEP = 32;
const R_CSLEEP = 48;
const R_DATA = 256;

function writeRecords(u32: Uint32Array, at: (i: number) => number, n: number, seq: number): void {
  for (let i = 0; i < n; i++) {
    const o = at(i);
    const s = seq + i;
    u32[o] = s;
    u32[o + 1] = s ^ 1;
    u32[o + 2] = s ^ 2;
    u32[o + 3] = s ^ 3;
    u32[o + 4] = s ^ 4;
    u32[o + 5] = s ^ 5;
    u32[o + 6] = s ^ 6;
    u32[o + 7] = s ^ 7;
  }
}

if (!isMainThread) {
  const d = workerData as { role: string } & Record<string, unknown>;
  switch (d.role) {
    case 'pingpong': {
      const a = new Int32Array(d['sab'] as SharedArrayBuffer);
      for (let last = 0; ; ) {
        last = bareWait(a, PING, last, PEER_SLEEP);
        bareSignal(a, PONG, last, MAIN_SLEEP);
      }
    }
    case 'trap': {
      const server = new TrapServer(d['server'] as TrapServerDesc);
      server.attach(d['channel'] as TrapChannelDesc);
      const handler = (r: TrapRequest): typeof TRAP_OK => {
        r.valueLo = r.addrLo + 1;
        return TRAP_OK;
      };
      while (server.serve(handler) >= 0);
      break;
    }
    case 'bare-ring': {
      const sab = d['sab'] as SharedArrayBuffer;
      const h = new Int32Array(sab, 0, R_DATA >> 2);
      const u32 = new Uint32Array(sab, R_DATA);
      const mask = CAP - 1;
      const pos = { tail: 0 };
      const at = (i: number): number => ((pos.tail + i) & mask) * WORDS;
      let head = 0;
      for (let seq = 0; ; seq += BATCH) {
        while (CAP - ((pos.tail - head) | 0) < BATCH) {
          head = Atomics.load(h, R_HEAD);
          if (CAP - ((pos.tail - head) | 0) < BATCH) head = bareWait(h, R_HEAD, head, R_PSLEEP);
        }
        writeRecords(u32, at, BATCH, seq);
        pos.tail = (pos.tail + BATCH) | 0;
        bareSignal(h, R_TAIL, pos.tail, R_CSLEEP);
      }
    }
    case 'ring': {
      const p = new RingProducer(d['ring'] as RingDesc);
      const at = (i: number): number => p.offset(i);
      for (let seq = 0; ; seq += BATCH) {
        p.reserve(BATCH);
        writeRecords(p.u32, at, BATCH, seq);
        p.commit(BATCH);
      }
    }
    case 'echo': {
      const port = parentPort;
      port?.on('message', (v: number) => port.postMessage(v + 1));
      break;
    }
    case 'actor':
      serveActor(() => ({ add: (a: number, b: number): number => a + b }));
      break;
  }
} else {
  const self = new URL(import.meta.url);
  const workers: Worker[] = [];
  const spawn = (data: Record<string, unknown>): Worker => {
    const w = new Worker(self, { workerData: data });
    workers.push(w);
    return w;
  };

  // ping-pong
  const pp = new Int32Array(new SharedArrayBuffer(256));
  spawn({ role: 'pingpong', sab: pp.buffer });
  let ppSeq = 0;

  // trap
  const trapServer = createTrapServer();
  const channel = createTrapChannel(trapServer);
  spawn({ role: 'trap', server: trapServer, channel });
  const vcpu = new TrapVcpu(channel);

  // rings
  const bareSab = new SharedArrayBuffer(R_DATA + CAP * WORDS * 4);
  spawn({ role: 'bare-ring', sab: bareSab });
  const bh = new Int32Array(bareSab, 0, R_DATA >> 2);
  const bu = new Uint32Array(bareSab, R_DATA);
  let bHead = 0;
  const ring = createRing({ capacity: CAP, recordBytes: WORDS * 4 });
  spawn({ role: 'ring', ring });
  const cons = new RingConsumer(ring);
  let sink = 0;

  // postMessage and control plane
  const echo = spawn({ role: 'echo' });
  let resolveEcho: (v: number) => void = () => {};
  echo.on('message', (v: number) => resolveEcho(v));
  const actor = await startActor<{ add(a: number, b: number): number }>(self, { role: 'actor' }, { name: 'bench-actor' });

  // 1 s per task: the machine is shared, longer windows average out other jobs' bursts.
  await benchSuite('runtime', {
    time: 1000,
    tasks: [
      {
        name: 'bare ping-pong (spin then wait)',
        ops: RTT_OPS,
        fn: () => {
          for (let k = 0; k < RTT_OPS; k++) {
            ppSeq = (ppSeq + 1) | 0;
            bareSignal(pp, PING, ppSeq, PEER_SLEEP);
            while (bareWait(pp, PONG, (ppSeq - 1) | 0, MAIN_SLEEP) !== ppSeq);
          }
        },
      },
      {
        name: 'trap round trip (read 4)',
        ops: RTT_OPS,
        fn: () => {
          for (let k = 0; k < RTT_OPS; k++) {
            if (vcpu.read(k * 4, 0, 4) !== TRAP_OK || vcpu.valueLo !== k * 4 + 1) throw new Error('bad trap answer');
          }
        },
      },
      {
        name: 'bare SAB ring (32 B, batch 64)',
        ops: RING_OPS,
        fn: () => {
          const mask = CAP - 1;
          let head = bHead;
          let sum = 0;
          for (let got = 0; got < RING_OPS; ) {
            let t = Atomics.load(bh, R_TAIL);
            if (t === head) t = bareWait(bh, R_TAIL, head, R_CSLEEP);
            let n = (t - head) | 0;
            if (n > RING_OPS - got) n = RING_OPS - got;
            for (let i = 0; i < n; i++) {
              const o = ((head + i) & mask) * WORDS;
              sum += (bu[o] ?? 0) + (bu[o + 1] ?? 0) + (bu[o + 2] ?? 0) + (bu[o + 3] ?? 0) + (bu[o + 4] ?? 0) + (bu[o + 5] ?? 0) + (bu[o + 6] ?? 0) + (bu[o + 7] ?? 0);
            }
            head = (head + n) | 0;
            bareSignal(bh, R_HEAD, head, R_PSLEEP);
            got += n;
          }
          bHead = head;
          sink += sum;
        },
      },
      {
        name: 'ring (32 B, batch 64)',
        ops: RING_OPS,
        fn: () => {
          const c = cons;
          const u = c.u32;
          let sum = 0;
          for (let got = 0; got < RING_OPS; ) {
            const n = c.acquire(RING_OPS - got);
            for (let i = 0; i < n; i++) {
              const o = c.offset(i);
              sum += (u[o] ?? 0) + (u[o + 1] ?? 0) + (u[o + 2] ?? 0) + (u[o + 3] ?? 0) + (u[o + 4] ?? 0) + (u[o + 5] ?? 0) + (u[o + 6] ?? 0) + (u[o + 7] ?? 0);
            }
            c.release(n);
            got += n;
          }
          sink += sum;
        },
      },
      {
        name: 'bare postMessage round trip',
        fn: () =>
          new Promise<number>((r) => {
            resolveEcho = r;
            echo.postMessage(1);
          }),
      },
      { name: 'control-plane call', fn: () => actor.api.add(1, 2) },
    ],
    ratios: [
      { name: 'trap RTT / bare ping-pong', of: 'trap round trip (read 4)', vs: 'bare ping-pong (spin then wait)', kind: 'cost', target: { op: '<=', value: 1.5 } },
      { name: 'ring / bare ring (throughput)', of: 'ring (32 B, batch 64)', vs: 'bare SAB ring (32 B, batch 64)', kind: 'throughput', target: { op: '>=', value: 0.8 } },
      { name: 'control call / postMessage RTT', of: 'control-plane call', vs: 'bare postMessage round trip', kind: 'cost', target: { op: '<=', value: 3 } },
    ],
  });
  console.log(`spin budget ${SPIN} loads; checksum ${sink % 7}`);

  await actor.close();
  await Promise.all(workers.map((w) => w.terminate()));
}
