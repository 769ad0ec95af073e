// The cost of tracing (docs/tracing.md), in one run: the guest DMA stream of bench/e2e
// (8-byte DMAs through nested S1 + S2, TLB hits; a DMA engine on the guest's thread feeding
// the SMMU port) untraced, then with system.trace recording every actor into its ring
// (target: traced >= 0.5x untraced). Tracing off costs one field check per trace point; that
// is measured by running the other benches against a build without the points.
import { benchSuite } from './harness.ts';
import { createSystem } from '../src/index.ts';

const STREAM = 16384;
const sys = await createSystem({
  memory: '256M',
  domains: [{ name: 'g1', memory: '64M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] }],
});
const g = sys.domain('g1');
const dev = g.device('dma0');
await g.driver.probe();
await g.driver.attach('dma0', { asid: 1 });

const stream = async (): Promise<void> => {
  const r = await g.call('workloadDmaStream', { vSid: dev.vsid, iova: 0x2000_0000, size: 8, count: STREAM, op: 'mixed', window: 64 * 4096 });
  if (r.ok !== STREAM) throw new Error(`stream: ${r.faults} faults`);
};
let events = 0;

await benchSuite('trace: guest DMA stream, untraced and traced', {
  time: 1000,
  tasks: [
    // Not compared: tinybench's warm-up round runs every task first, so the trace the traced
    // task started is still on when measuring begins; this task stops and collects it, then
    // warms the untraced path up.
    {
      name: 'guest DMA stream, warm-up',
      ops: STREAM,
      fn: async () => {
        if (sys.trace.active) events = (await sys.trace.stop()).traceEvents.length;
        await stream();
      },
    },
    { name: 'guest DMA stream, untraced', ops: STREAM, fn: stream },
    {
      name: 'guest DMA stream, traced',
      ops: STREAM,
      fn: async () => {
        if (!sys.trace.active) await sys.trace.start();
        await stream();
      },
    },
  ],
  ratios: [
    { name: 'traced / untraced guest DMA stream', of: 'guest DMA stream, traced', vs: 'guest DMA stream, untraced', kind: 'throughput', target: { op: '>=', value: 0.5 } },
  ],
});
if (sys.trace.active) events = (await sys.trace.stop()).traceEvents.length;
console.log(`trace events in the last trace: ${events}`);
await sys.close();
