// The physical SMMU against its limits, measured in the same run:
//   IOTLB-hit translation (config memo + IOTLB probe + permission check), in-process
//                    vs a bare open-addressing hash lookup of the same keys   (throughput, >= 0.5x)
//   end-to-end DMA through a port: device thread -> SMMU worker (translate, copy 8 bytes)
//                    -> completion, 32-byte records, batch 64, TLB hits
//                    vs the same two SAB rings with a bare echo worker          (throughput, >= 0.3x)
//                    (same topology and batching, no translation: the limit of the ring path)
//                    and vs the bare one-way SAB ring of bench/bare.ts          (throughput, >= 0.3x)
//   nested translation with an IOTLB miss (lookup miss + nested walk + insertion)
//                    vs a bare loop of the same descriptor reads, each dependent on the
//                    previous one as in a walk (as bench/arch.bench.ts)          (cost, <= 3x)
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { benchSuite } from './harness.ts';
import { startBare } from './bare.ts';
import { startSmmuPort } from './smmu-port.ts';
import { PhysMemory } from '../src/mem/phys.ts';
import { createRing, RingConsumer, RingProducer, type RingDesc } from '../src/runtime/ring.ts';
import { Smmu } from '../src/smmu/smmu.ts';
import { XlateOut } from '../src/smmu/translate.ts';
import { Walker, WalkResult } from '../src/arch/walk.ts';
import type { WordReader } from '../src/arch/types.ts';
import { cdSlot, guestS2, makeWorld, MIB, nestedSte, RW, s1Cd, s1Ste, s1Table } from '../test/support/smmu-world.ts';

const CAP = 256;
const BATCH = 64;
const WORDS = 8;

if (!isMainThread) {
  // Bare echo: every request record is copied to the completion ring, in batches.
  const d = workerData as { req: RingDesc; cpl: RingDesc };
  const req = new RingConsumer(d.req);
  const cpl = new RingProducer(d.cpl);
  for (;;) {
    const n = req.acquire(BATCH);
    if (n < 0) break;
    cpl.reserve(n);
    for (let i = 0; i < n; i++) {
      const a = req.offset(i);
      const b = cpl.offset(i);
      for (let w = 0; w < WORDS; w++) cpl.u32[b + w] = req.u32[a + w] ?? 0;
    }
    cpl.commit(n);
    req.release(n);
  }
} else {
  let sink = 0;

  // ---- 1. IOTLB-hit translation vs a bare hash lookup ------------------------------------
  const N = 256;
  const mem = PhysMemory.create(64 * MIB);
  const smmu = new Smmu({ memory: mem });
  const w = makeWorld(mem, smmu.regsDesc, smmu.features, () => smmu.step());
  w.drv.reset();
  const pt = s1Table(w);
  const VA = 0x12_0000_0000;
  const buf = w.alloc.alloc(N * 0x1000, 0x1000);
  for (let i = 0; i < N; i++) pt.map(VA + i * 0x1000, buf + i * 0x1000, 0x1000, RW);
  const cd = cdSlot(w);
  w.drv.writeCd(cd, s1Cd(pt, 7));
  w.drv.writeSte(1, s1Ste(cd));
  const vaHi = Uint32Array.from({ length: N }, (_, i) => Math.floor((VA + i * 0x1000) / 2 ** 32));
  const vaLo = Uint32Array.from({ length: N }, (_, i) => (VA + i * 0x1000 + 8) >>> 0);
  const out = new XlateOut();
  const tr = smmu.translator;
  for (let i = 0; i < N; i++) if (tr.translate(1, false, 0, vaHi[i] ?? 0, vaLo[i] ?? 0, 0, out) !== 0) throw new Error('bench: translation faulted');
  const translateAll = (): number => {
    let acc = 0;
    for (let i = 0; i < N; i++) {
      tr.translate(1, false, 0, vaHi[i] ?? 0, vaLo[i] ?? 0, 0, out);
      acc += out.pa;
    }
    return acc;
  };
  // The bare table: slot = [ctx, vpnHi, vpnLo, value], linear probing, load factor 0.5.
  const SLOTS = 2 * N;
  const table = new Uint32Array(SLOTS * 4);
  const bareHash = (ctx: number, vHi: number, vLo: number): number => {
    let h = Math.imul(vLo ^ Math.imul(ctx ^ vHi, 0x9e3779b1), 0x85ebca77);
    h ^= h >>> 15;
    return (h >>> 0) & (SLOTS - 1);
  };
  const CTX = (1 << 24) | 7;
  for (let i = 0; i < N; i++) {
    const vLo = ((vaLo[i] ?? 0) >>> 12) | ((vaHi[i] ?? 0) << 20);
    const vHi = (vaHi[i] ?? 0) >>> 12;
    let s = bareHash(CTX, vHi, vLo);
    while (table[s * 4] !== 0) s = (s + 1) & (SLOTS - 1);
    table[s * 4] = CTX;
    table[s * 4 + 1] = vHi;
    table[s * 4 + 2] = vLo;
    table[s * 4 + 3] = (buf >>> 12) + i;
  }
  const bareAll = (): number => {
    let acc = 0;
    for (let i = 0; i < N; i++) {
      const hi = vaHi[i] ?? 0;
      const lo = vaLo[i] ?? 0;
      const vLo = ((lo >>> 12) | (hi << 20)) >>> 0;
      const vHi = hi >>> 12;
      let s = bareHash(CTX, vHi, vLo);
      for (;;) {
        const o = s * 4;
        if (table[o] === CTX && table[o + 1] === vHi && table[o + 2] === vLo) {
          acc += (table[o + 3] ?? 0) * 4096 + (lo & 0xfff);
          break;
        }
        s = (s + 1) & (SLOTS - 1);
      }
    }
    return acc;
  };
  if (translateAll() !== bareAll()) throw new Error('bench: translate and bare lookup disagree');

  // ---- 3. Nested translation with an IOTLB miss vs the same reads --------------------------
  const M = 1024;
  const nsmmu = new Smmu({ memory: mem, iotlbEntries: 16 });
  const nw = makeWorld(mem, nsmmu.regsDesc, nsmmu.features, () => nsmmu.step());
  nw.drv.reset();
  const g = guestS2(nw, 3);
  const gpt = s1Table(nw, 12, true);
  const gbuf = nw.guestAlloc.alloc(M * 0x1000, 0x1000);
  const NVA = 0x40_0000_0000;
  // Pages spread over distinct level-2 tables so that walks take different paths.
  const nva = Float64Array.from({ length: M }, (_, i) => NVA + (i % 32) * 0x4000_0000 + Math.floor(i / 32) * 0x20_0000);
  for (let i = 0; i < M; i++) gpt.map(nva[i] ?? 0, gbuf + i * 0x1000, 0x1000, RW);
  const ncd = cdSlot(nw, 1, true);
  nw.drv.writeCd(ncd, s1Cd(gpt, 1), nw.guest);
  nw.drv.writeSte(2, nestedSte(g.pt, 3, ncd));
  const nHi = Uint32Array.from(nva, (v) => Math.floor(v / 2 ** 32));
  const nLo = Uint32Array.from(nva, (v) => v >>> 0);
  const ntr = nsmmu.translator;
  const nestedAll = (): number => {
    let acc = 0;
    for (let i = 0; i < M; i++) {
      if (ntr.translate(2, false, 0, nHi[i] ?? 0, nLo[i] ?? 0, 0, out) !== 0) throw new Error('bench: nested translation faulted');
      acc += out.pa;
    }
    return acc;
  };
  nestedAll();
  // Record the descriptor addresses each walk reads, with the configuration the SMMU cached.
  const ctx = nsmmu.configCache.getCd(2, 0)?.ctx;
  if (!ctx) throw new Error('bench: nested CD not cached');
  const addrs: number[] = [];
  const starts: number[] = [];
  const rec: WordReader = {
    hi: 0,
    load64(pa: number): number {
      addrs.push(pa);
      const lo = mem.load64(pa);
      this.hi = mem.hi;
      return lo;
    },
  };
  const rw = new Walker({ oas: 48 });
  const rres = new WalkResult();
  for (let i = 0; i < M; i++) {
    starts.push(addrs.length);
    if (!rw.translate(ctx.s1, ctx.s2, rec, nHi[i] ?? 0, nLo[i] ?? 0, 0, rres)) throw new Error('bench: recording walk faulted');
  }
  starts.push(addrs.length);
  const readsPerWalk = addrs.length / M;
  // The bare loop reads the same descriptors through the same port, each address depending
  // on the previous load (as in a walk; `dep` is 0 when memory holds what was recorded).
  const A = Float64Array.from(addrs);
  const LO = Int32Array.from(addrs, (a) => mem.load64(a) | 0);
  const bareReads = (): number => {
    let acc = 0;
    let dep = 0;
    const n = A.length;
    for (let j = 0; j < n; j++) {
      const lo = mem.load64((A[j] ?? 0) + dep);
      acc = (acc + mem.hi) | 0;
      dep = ((lo ^ (LO[j] ?? 0)) | 0) * 8;
    }
    return acc;
  };
  const missesBefore = nsmmu.iotlb.counters.misses;
  nestedAll();
  if (nsmmu.iotlb.counters.misses - missesBefore !== M) throw new Error('bench: nested translations were not all IOTLB misses');

  // ---- 2. End-to-end through a port vs bare rings -------------------------------------------
  const { actor, dev } = await startSmmuPort({ pages: N, va: VA, capacity: CAP });
  const OPS = 64 * BATCH;
  /** Streams OPS requests through (req, cpl) keeping up to CAP in flight. */
  const stream = (req: RingProducer, cpl: RingConsumer, fill: (u: Uint32Array, o: number, k: number) => void): number => {
    let sent = 0;
    let got = 0;
    let acc = 0;
    while (got < OPS) {
      while (sent < OPS && sent - got <= CAP - BATCH) {
        req.reserve(BATCH);
        for (let i = 0; i < BATCH; i++) fill(req.u32, req.offset(i), sent + i);
        req.commit(BATCH);
        sent += BATCH;
      }
      const n = cpl.acquire(CAP);
      for (let i = 0; i < n; i++) acc = (acc + (cpl.u32[cpl.offset(i) + 1] ?? 0)) | 0;
      cpl.release(n);
      got += n;
    }
    return acc;
  };
  const fillTx = (u: Uint32Array, o: number, k: number): void => {
    const p = k & (N - 1);
    u[o] = k;
    u[o + 1] = 1;
    u[o + 2] = 0;
    u[o + 3] = (VA + p * 0x1000 + 8) >>> 0;
    u[o + 4] = Math.floor(VA / 2 ** 32);
    u[o + 5] = 8;
    u[o + 6] = (p * 8) & 4095;
    u[o + 7] = 0;
  };
  const echoReq = createRing({ capacity: CAP, recordBytes: 32 });
  const echoCpl = createRing({ capacity: CAP, recordBytes: 32 });
  const echo = new Worker(new URL(import.meta.url), { workerData: { req: echoReq, cpl: echoCpl } });
  const eReq = new RingProducer(echoReq);
  const eCpl = new RingConsumer(echoCpl);
  const bare = startBare();

  await benchSuite('smmu: translation, ports, nested walk', {
    tasks: [
      { name: 'SMMU translate, IOTLB hit', fn: () => (sink ^= translateAll()), ops: N },
      { name: 'bare hash lookup (same keys)', fn: () => (sink ^= bareAll()), ops: N },
      { name: 'port DMA, 32 B records, batch 64, TLB hits', fn: () => (sink ^= stream(dev.requests, dev.completions, fillTx)), ops: OPS },
      { name: 'bare SAB rings + echo worker', fn: () => (sink ^= stream(eReq, eCpl, fillTx)), ops: OPS },
      { name: 'bare SAB ring, one way (runtime limit)', fn: () => (sink ^= bare.ring(OPS)), ops: OPS },
      { name: `nested translate, IOTLB miss (${readsPerWalk} reads)`, fn: () => (sink ^= nestedAll()), ops: M },
      { name: `bare loop of the same ${readsPerWalk} reads`, fn: () => (sink ^= bareReads()), ops: M },
    ],
    ratios: [
      { name: 'IOTLB-hit translate / bare lookup', of: 'SMMU translate, IOTLB hit', vs: 'bare hash lookup (same keys)', kind: 'throughput', target: { op: '>=', value: 0.5 } },
      { name: 'port DMA / bare SAB ring', of: 'port DMA, 32 B records, batch 64, TLB hits', vs: 'bare SAB ring, one way (runtime limit)', kind: 'throughput', target: { op: '>=', value: 0.3 } },
      { name: 'port DMA / bare rings + echo', of: 'port DMA, 32 B records, batch 64, TLB hits', vs: 'bare SAB rings + echo worker', kind: 'throughput' },
      { name: 'nested miss / bare reads', of: `nested translate, IOTLB miss (${readsPerWalk} reads)`, vs: `bare loop of the same ${readsPerWalk} reads`, kind: 'cost', target: { op: '<=', value: 3 } },
    ],
  });
  const s = await actor.api.stats();
  console.log(`port: ${s.ports[0]?.transactions} transactions, ${s.ports[0]?.batches} batches; IOTLB hits ${s.iotlb.hits}/${s.iotlb.lookups}`);
  new RingProducer(echoReq).close();
  await echo.terminate();
  await bare.close();
  await actor.close();
  if (sink === 0.5) console.log('');
}
