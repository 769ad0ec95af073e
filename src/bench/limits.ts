// The limits every `vsmmu bench` figure is compared with, measured in the same run on the
// same machine: bare code that uses no project module, so it measures the machine, not us.
//   memcpy:    one core copying 4 KiB blocks between two SharedArrayBuffers, the best 4 MiB
//              pass (the bandwidth a DMA's bytes could move at);
//   ring:      an SPSC ring of 32-byte records published in batches of 64 (what a DMA's
//              descriptor and completion could travel at);
//   relay:     three threads, guest -> xen -> smmu -> xen -> guest, one word each hop (the
//              least a forwarded TLBI + CMD_SYNC or a fault's trip could cost);
//   ping-pong: two threads, one word each way (the least a trap could cost), measured once
//              unloaded and again beside each benchmark cell's load, paced like the guests'
//              trap probes.
// Every wait spins up to 10 000 loads, then Atomics.wait; a signal notifies only a sleeper.
// The peers (src/bench/bare-peers.ts) are worker threads started from this file
// (workerData.benchRole).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createHistogram } from 'node:perf_hooks';
import {
  G2X, G_SLEEP, isPeerRole, PEER_SLEEP, PING, PINGER_SLEEP, PONG, R_CSLEEP, R_DATA, R_HEAD, R_PSLEEP, R_TAIL, RECORD_WORDS,
  RING_CAPACITY, runPeer, signal, waitFor, X2G, XG_SLEEP,
} from './bare-peers.ts';
import { summarizeNs, type Percentiles } from './stats.ts';
import { VsmmuError } from '../errors.ts';

// The pinger's SAB is a ping-pong SAB (bare-peers.ts) with CTRL on its own line: the parent's
// command to the pinger (CTRL_IDLE, CTRL_RUN, CTRL_QUIT); and ACK on another: the number of
// windows the pinger has started (it writes it as it begins a window's first round trip).
const CTRL = 64;
const ACK = 80;
/** How long begin() waits for the pinger to start its window (a machine that busy fails the cell). */
const ACK_TIMEOUT_MS = 10_000;
const CTRL_IDLE = 0;
const CTRL_RUN = 1;
const CTRL_QUIT = 2;

/** The limits measured before the matrix, on an otherwise idle system. */
export interface Limits {
  /** One core's SAB-to-SAB copy bandwidth, 4 KiB blocks, MiB/s. */
  readonly memcpyMiBs: number;
  /** Records per second through the bare ring (32-byte records, batches of 64). */
  readonly ringPerS: number;
  /** One guest -> xen -> smmu -> xen -> guest relay, ns. */
  readonly relay: Percentiles;
  /** One ping-pong round trip with nothing else running, ns. */
  readonly pingPong: Percentiles;
}

function spawn(role: string, sab: SharedArrayBuffer, extra: Record<string, unknown> = {}): Worker {
  const w = new Worker(new URL(import.meta.url), { workerData: { benchRole: role, sab, ...extra }, name: `bench:${role}` });
  w.unref();
  return w;
}

function pingPongOnce(a: Int32Array, seq: number): void {
  signal(a, PING, seq, PEER_SLEEP);
  while (waitFor(a, PONG, (seq - 1) | 0, PINGER_SLEEP) !== seq);
}

/** The best pass over the time given: the machine's capability, not its current share. */
function measureMemcpy(ms: number): number {
  const block = 4096;
  const size = 4 * 1048576;
  // Buffer.copy (one native memmove): the fastest copy between SharedArrayBuffers on Node 24
  // (TypedArray.set goes through V8's relaxed-atomic loop at about half the speed), and the
  // one the SMMU uses, so the ratio compares the model with the best bare copy.
  const from = Buffer.from(new SharedArrayBuffer(size));
  const to = Buffer.from(new SharedArrayBuffer(size));
  for (let i = 0; i < size; i += 4096) from[i] = i & 0xff;
  from.copy(to); // first touch of every page, outside the timing
  let best = 0;
  const t0 = performance.now();
  for (let t = t0; t - t0 < ms; ) {
    const s = performance.now();
    for (let off = 0; off < size; off += block) from.copy(to, (off * 7) % size, off, off + block);
    t = performance.now();
    if (t > s) best = Math.max(best, size / 1048576 / ((t - s) / 1000));
  }
  return best;
}

function measureRing(ms: number): number {
  const sab = new SharedArrayBuffer(R_DATA + RING_CAPACITY * RECORD_WORDS * 4);
  const w = spawn('ring', sab);
  const h = new Int32Array(sab, 0, R_DATA >> 2);
  const u = new Uint32Array(sab, R_DATA);
  const mask = RING_CAPACITY - 1;
  let head = 0;
  let got = 0;
  let sum = 0;
  waitFor(h, R_TAIL, 0, R_CSLEEP); // the producer is up
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let n = 0; n < 64; n++) {
      let tail = Atomics.load(h, R_TAIL);
      if (tail === head) tail = waitFor(h, R_TAIL, head, R_CSLEEP);
      const k = (tail - head) | 0;
      for (let i = 0; i < k; i++) {
        const o = ((head + i) & mask) * RECORD_WORDS;
        for (let x = 0; x < RECORD_WORDS; x++) sum += u[o + x] ?? 0;
      }
      head = (head + k) | 0;
      got += k;
      signal(h, R_HEAD, head, R_PSLEEP);
    }
    t = performance.now();
  }
  void w.terminate();
  return sum >= 0 ? got / ((t - t0) / 1000) : 0;
}

function measureRelay(ms: number): Percentiles {
  const a = new Int32Array(new SharedArrayBuffer(512));
  const ws = [spawn('relay-xen', a.buffer as SharedArrayBuffer), spawn('relay-smmu', a.buffer as SharedArrayBuffer)];
  const h = createHistogram();
  let seq = 1;
  signal(a, G2X, seq, XG_SLEEP); // both peers are up once the first relay returns
  while (waitFor(a, X2G, 0, G_SLEEP) !== seq);
  const t0 = performance.now();
  for (let t = t0; t - t0 < ms; ) {
    seq = (seq + 1) | 0;
    const s = performance.now();
    signal(a, G2X, seq, XG_SLEEP);
    while (waitFor(a, X2G, (seq - 1) | 0, G_SLEEP) !== seq);
    t = performance.now();
    h.record(Math.max(1, Math.round((t - s) * 1e6)));
  }
  for (const w of ws) void w.terminate();
  return summarizeNs(h);
}

function measurePingPong(ms: number): Percentiles {
  const a = new Int32Array(new SharedArrayBuffer(256));
  const w = spawn('pingpong', a.buffer as SharedArrayBuffer);
  const h = createHistogram();
  let seq = 1;
  pingPongOnce(a, seq); // the peer is up
  const t0 = performance.now();
  for (let t = t0; t - t0 < ms; ) {
    seq = (seq + 1) | 0;
    const s = performance.now();
    pingPongOnce(a, seq);
    t = performance.now();
    h.record(Math.max(1, Math.round((t - s) * 1e6)));
  }
  void w.terminate();
  return summarizeNs(h);
}

const role = isMainThread ? undefined : (workerData as { benchRole?: string } | null)?.benchRole;
if (role !== undefined) {
  const d = workerData as { sab: SharedArrayBuffer; ms?: number; everyMs?: number };
  const a = new Int32Array(d.sab, 0, Math.min(d.sab.byteLength, 512) >> 2);
  if (isPeerRole(role)) {
    runPeer(role, d.sab);
  } else if (role === 'limits') {
    const ms = d.ms ?? 200;
    const out: Limits = { memcpyMiBs: measureMemcpy(ms), ringPerS: measureRing(ms), relay: measureRelay(ms), pingPong: measurePingPong(ms) };
    parentPort?.postMessage(out);
  } else if (role === 'pinger') {
    // Beside each cell's load: while CTRL is CTRL_RUN, a round trip about every `everyMs`;
    // when the parent sets it back to CTRL_IDLE, the latencies of that window are posted.
    const peer = spawn('pingpong', d.sab);
    const h = createHistogram();
    const every = d.everyMs ?? 1;
    let seq = 1;
    pingPongOnce(a, seq); // the peer is up: the parent may start
    parentPort?.postMessage('ready');
    for (;;) {
      Atomics.wait(a, CTRL, CTRL_IDLE);
      if (Atomics.load(a, CTRL) === CTRL_QUIT) break;
      h.reset();
      Atomics.add(a, ACK, 1);
      Atomics.notify(a, ACK);
      while (Atomics.load(a, CTRL) === CTRL_RUN) {
        seq = (seq + 1) | 0;
        const s = performance.now();
        pingPongOnce(a, seq);
        h.record(Math.max(1, Math.round((performance.now() - s) * 1e6)));
        Atomics.wait(a, CTRL, CTRL_RUN, every);
      }
      parentPort?.postMessage(summarizeNs(h));
      if (Atomics.load(a, CTRL) === CTRL_QUIT) break;
    }
    void peer.terminate();
  }
}

/** The worker's next message; its listeners go once it settles (the pinger lives long). */
function onMessage<T>(w: Worker): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      w.off('message', onMsg);
      w.off('error', onErr);
      w.off('exit', onExit);
    };
    const onMsg = (m: T): void => {
      done();
      resolve(m);
    };
    const onErr = (e: Error): void => {
      done();
      reject(e);
    };
    const onExit = (code: number): void => {
      done();
      reject(new Error(`bench limit worker exited (code ${code}) before reporting`));
    };
    w.on('message', onMsg);
    w.on('error', onErr);
    w.on('exit', onExit);
  });
}

/** Measures the limits on a worker (the caller's thread stays free), `ms` per limit. */
export async function measureLimits(ms = 200): Promise<Limits> {
  const w = new Worker(new URL(import.meta.url), { workerData: { benchRole: 'limits', sab: new SharedArrayBuffer(8), ms }, name: 'bench:limits' });
  try {
    return await onMessage<Limits>(w);
  } finally {
    await w.terminate();
  }
}

/** A ping-pong pair to run beside each load: begin() before it, end() after it. */
export interface Pinger {
  /** Starts a window; resolves once the pinger is running it (so it takes at least one
   *  round trip beside the load that follows, however busy the machine). */
  begin(): Promise<void>;
  /** The round trips since begin(). */
  end(): Promise<Percentiles>;
  close(): Promise<void>;
}

/** Starts the pair (idle); resolves once their first round trip is done. */
export async function startPinger(everyMs = 1): Promise<Pinger> {
  const sab = new SharedArrayBuffer(512);
  const a = new Int32Array(sab);
  const w = new Worker(new URL(import.meta.url), { workerData: { benchRole: 'pinger', sab, everyMs }, name: 'bench:pinger' });
  await onMessage<'ready'>(w);
  const set = (v: number): void => {
    Atomics.store(a, CTRL, v);
    Atomics.notify(a, CTRL);
  };
  let windows = 0;
  return {
    async begin() {
      windows++;
      set(CTRL_RUN);
      const r = Atomics.waitAsync(a, ACK, windows - 1, ACK_TIMEOUT_MS);
      if ((r.async ? await r.value : r.value) === 'timed-out') throw new VsmmuError('EVSMMU_TIMEOUT', `bench: the ping-pong beside the load did not start in ${ACK_TIMEOUT_MS / 1000} s`);
    },
    end() {
      const got = onMessage<Percentiles>(w);
      set(CTRL_IDLE);
      return got;
    },
    async close() {
      set(CTRL_QUIT);
      await w.terminate();
    },
  };
}
