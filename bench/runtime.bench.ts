// Runtime plumbing against the bare primitives it is built on, in the same run:
//   trap round trip        vs a bare spin-then-wait Atomics ping-pong    (cost, <= 1.5x)
//   ring, 32 B, batch 64   vs a bare SAB ring loop, same geometry        (throughput, >= 0.8x)
//   control-plane call     vs a bare postMessage round trip              (cost, <= 3x)
// The main thread drives every task (blocking waits are fine in a benchmark); the peers
// are worker threads started from this file (workerData.role) and bench/bare.ts.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { benchSuite } from './harness.ts';
import { RECORD_WORDS, RING_BATCH, RING_CAPACITY, startBare } from './bare.ts';
import { RingConsumer, RingProducer, createRing } from '../src/runtime/ring.ts';
import type { RingDesc } from '../src/runtime/ring.ts';
import { TRAP_OK, TrapServer, TrapVcpu, createTrapChannel, createTrapServer } from '../src/runtime/trap.ts';
import type { TrapServerDesc, TrapChannelDesc, TrapRequest } from '../src/runtime/trap.ts';
import { serveActor, startActor } from '../src/runtime/actor.ts';

const RTT_OPS = 2_000;
const RING_OPS = 1 << 17;
// The project's ring has the geometry of the bare one (bench/bare.ts).
const CAP = RING_CAPACITY;
const WORDS = RECORD_WORDS;
const BATCH = RING_BATCH;

if (!isMainThread) {
  const d = workerData as { role: string } & Record<string, unknown>;
  switch (d.role) {
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
    case 'ring': {
      // The same producer loop as the bare ring's (bench/bare.ts), through RingProducer.
      const p = new RingProducer(d['ring'] as RingDesc);
      const u32 = p.u32;
      for (let seq = 0; ; seq += BATCH) {
        p.reserve(BATCH);
        for (let i = 0; i < BATCH; i++) {
          const o = p.offset(i);
          const s = seq + i;
          for (let w = 0; w < WORDS; w++) u32[o + w] = s ^ w;
        }
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

  const bare = startBare();

  // trap
  const trapServer = createTrapServer();
  const channel = createTrapChannel(trapServer);
  spawn({ role: 'trap', server: trapServer, channel });
  const vcpu = new TrapVcpu(channel);

  // rings
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
      { name: 'bare ping-pong (spin then wait)', ops: RTT_OPS, fn: () => bare.pingPong(RTT_OPS) },
      {
        name: 'trap round trip (read 4)',
        ops: RTT_OPS,
        fn: () => {
          for (let k = 0; k < RTT_OPS; k++) {
            if (vcpu.read(k * 4, 0, 4) !== TRAP_OK || vcpu.valueLo !== k * 4 + 1) throw new Error('bad trap answer');
          }
        },
      },
      { name: 'bare SAB ring (32 B, batch 64)', ops: RING_OPS, fn: () => (sink += bare.ring(RING_OPS)) },
      {
        name: 'ring (32 B, batch 64)',
        ops: RING_OPS,
        fn: () => {
          const u = cons.u32;
          let sum = 0;
          for (let got = 0; got < RING_OPS; ) {
            const n = cons.acquire(RING_OPS - got);
            for (let i = 0; i < n; i++) {
              const o = cons.offset(i);
              for (let w = 0; w < WORDS; w++) sum += u[o + w] ?? 0;
            }
            cons.release(n);
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
  console.log(`checksum ${sink % 7}`);

  await actor.close();
  await Promise.all(workers.map((w) => w.terminate()));
  await bare.close();
}
