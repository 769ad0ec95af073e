// DMA transactions per second for one guest, end to end, beside the bare SAB ring (the
// runtime limit), in the same run:
//   guest DMA stream: the guest's driver posts 8-byte DMAs on its device's descriptor ring;
//     the device (a DMA engine stepped on the guest's thread) issues them through its SMMU
//     port (nested S1 + S2, TLB hits);
//   device.dma() called from the embedding program: one descriptor on the device's API
//     queue (a SAB ring), its engine stepped on the main thread, one SMMU round trip; no
//     control-plane call (target: <= 3x the bare main-thread <-> worker ping-pong);
//   device.dmaBatch(): 64 such DMAs per call;
//   SMMU-only port DMA: the same SMMU with a port driven straight from this thread (32-byte
//     records, batch 64, S1 TLB hits; as bench/smmu.bench.ts): the limit of the guest stream
//     (target: guest stream >= 0.3x);
//   bare SAB ring, 32-byte records in batches of 64, and the bare ping-pong (bench/bare.ts).
import { benchSuite } from './harness.ts';
import { startBare } from './bare.ts';
import { createSystem } from '../src/index.ts';
import { startSmmuPort } from './smmu-port.ts';

// The SMMU-only limit: an SMMU worker whose port this thread drives directly.
const PN = 256;
const PBATCH = 64;
const PCAP = 256;
const POPS = 64 * PBATCH;
const PVA = 0x12_0000_0000;
const { actor: psmmu, dev: pdev } = await startSmmuPort({ pages: PN, va: PVA, capacity: PCAP });
function portStream(): number {
  const req = pdev.requests;
  const cpl = pdev.completions;
  let sent = 0;
  let got = 0;
  let acc = 0;
  while (got < POPS) {
    while (sent < POPS && sent - got <= PCAP - PBATCH) {
      req.reserve(PBATCH);
      for (let i = 0; i < PBATCH; i++) {
        const o = req.offset(i);
        const k = sent + i;
        const p = k & (PN - 1);
        const u = req.u32;
        u[o] = k;
        u[o + 1] = 1;
        u[o + 2] = 0;
        u[o + 3] = (PVA + p * 0x1000 + 8) >>> 0;
        u[o + 4] = Math.floor(PVA / 2 ** 32);
        u[o + 5] = 8;
        u[o + 6] = (p * 8) & 4095;
        u[o + 7] = 0;
      }
      req.commit(PBATCH);
      sent += PBATCH;
    }
    const n = cpl.acquire(PCAP);
    for (let i = 0; i < n; i++) acc = (acc + (cpl.u32[cpl.offset(i) + 1] ?? 0)) | 0;
    cpl.release(n);
    got += n;
  }
  return acc;
}

// DMAs per streaming call: long enough that the call's fixed cost (control call, window
// alloc + map, unmap + TLBI + CMD_SYNC through Xen) is a small part of the figure.
const STREAM = 16384;
const bare = startBare();
const sys = await createSystem({
  memory: '256M',
  domains: [{ name: 'g1', memory: '64M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] }],
});
const g = sys.domain('g1');
const dev = g.device('dma0');
await g.driver.probe();
await g.driver.attach('dma0', { asid: 1 });
const IOVA = 0x1000_0000;
await g.driver.map(IOVA, 0x4010_0000, 64 * 4096, 'rw');
const BATCH = Array.from({ length: 64 }, (_, i) => ({ iova: IOVA + (i % 64) * 4096, length: 8 }));
let sink = 0;
let stream = { count: 0, elapsedMs: 0 };

await benchSuite('e2e: one guest, DMA through nested translation', {
  time: 1000,
  tasks: [
    {
      name: 'guest DMA stream (8 B, nested, TLB hits)',
      ops: STREAM,
      fn: async () => {
        const r = await g.call('workloadDmaStream', { vSid: dev.vsid, iova: 0x2000_0000, size: 8, count: STREAM, op: 'mixed', window: 64 * 4096 });
        if (r.ok !== STREAM) throw new Error(`stream: ${r.faults} faults`);
        stream = r;
      },
    },
    {
      name: 'device.dma() from the API (8 B read)',
      fn: async () => {
        const r = await dev.dma({ iova: IOVA, length: 8 });
        if (!r.ok) throw new Error('dma faulted');
      },
    },
    {
      name: 'device.dmaBatch() from the API (64 x 8 B reads)',
      ops: 64,
      fn: async () => {
        const rs = await dev.dmaBatch(BATCH);
        if (!rs.every((r) => r.ok)) throw new Error('dma faulted');
      },
    },
    { name: 'SMMU-only port DMA (32 B records, batch 64, TLB hits)', ops: POPS, fn: () => (sink ^= portStream()) },
    { name: 'bare SAB ring (32 B, batch 64)', ops: STREAM, fn: () => (sink ^= bare.ring(STREAM)) },
    { name: 'bare ping-pong (main <-> worker)', ops: 256, fn: () => bare.pingPong(256) },
  ],
  ratios: [
    { name: 'guest DMA stream / SMMU-only port DMA', of: 'guest DMA stream (8 B, nested, TLB hits)', vs: 'SMMU-only port DMA (32 B records, batch 64, TLB hits)', kind: 'throughput', target: { op: '>=', value: 0.3 } },
    { name: 'guest DMA stream / bare ring', of: 'guest DMA stream (8 B, nested, TLB hits)', vs: 'bare SAB ring (32 B, batch 64)', kind: 'throughput' },
    { name: 'API device.dma() / bare ping-pong', of: 'device.dma() from the API (8 B read)', vs: 'bare ping-pong (main <-> worker)', kind: 'cost', target: { op: '<=', value: 3 } },
    { name: 'API device.dma() / bare ring', of: 'device.dma() from the API (8 B read)', vs: 'bare SAB ring (32 B, batch 64)', kind: 'throughput' },
    { name: 'API device.dmaBatch() / bare ring', of: 'device.dmaBatch() from the API (64 x 8 B reads)', vs: 'bare SAB ring (32 B, batch 64)', kind: 'throughput' },
  ],
});
console.log(`last stream: ${stream.count} DMAs in ${stream.elapsedMs.toFixed(1)} ms inside the guest`);
await sys.close();
await psmmu.close();
await bare.close();
if (sink === 0.5) console.log('');
