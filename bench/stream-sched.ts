// Who runs and who waits for a core while N guests stream (docs/performance.md, "Thread
// priorities"): each guest streams 4 KiB DMAs (16 pages, 128 in flight by default, as
// `vsmmu bench`'s `stream`), unmeasured for 1.5 s, then for 3 s while
// /proc/self/task/*/schedstat is read before and after: per thread, the share of the wall
// time it ran on a core and the share it waited on a run queue, runnable (guests summed).
// Usage: node bench/stream-sched.ts [GUESTS=8] [hardware-first|equal] [SIZE=4096] [shared|dedicated] [DEPTH=128]
import { createSystem, type SmmuCpu, type ThreadPriority } from '../src/index.ts';
import { schedSnapshot } from '../src/bench/cpu.ts';
import { benchSystem } from '../src/bench/runner.ts';

const guests = Number(process.argv[2] ?? 8);
const priority = (process.argv[3] ?? 'hardware-first') as ThreadPriority;
const size = Number(process.argv[4] ?? 4096);
const smmuCpu = (process.argv[5] ?? 'shared') as SmmuCpu;
const depth = Number(process.argv[6] ?? 128);
await using sys = await createSystem({ ...benchSystem(guests, false), priority, smmuCpu, sim: false });
await Promise.all(sys.domains.map((d) => d.driver.probe()));
const stream = (ms: number) => Promise.all(sys.domains.map((d) => d.call('workloadBench', {
  kind: 'stream', size, pages: 16, depth, vSid: d.devices[0]!.vsid, vSid2: d.devices[1]!.vsid, durationMs: ms,
}))) as Promise<{ dmas: number; elapsedMs: number }[]>;
await stream(1500);
const s0 = schedSnapshot();
const t0 = performance.now();
const reports = await stream(3000);
const wall = performance.now() - t0;
const s1 = schedSnapshot();
const rate = reports.reduce((t, r) => t + (r.dmas / r.elapsedMs) * 1000, 0);
console.log(`${guests} guest(s), ${size} B, ${depth} in flight, priority ${sys.priority}, SMMU CPU ${sys.smmuCpu ?? 'shared'}: ${(rate / 1e6).toFixed(2)} M DMA/s`);
const sum = { ran: 0, waited: 0 };
for (const [name, b] of s1) {
  const a = s0.get(name);
  if (!a) continue;
  const ran = (b.run - a.run) / 1e6 / wall;
  const waited = (b.wait - a.wait) / 1e6 / wall;
  if (name.startsWith('guest:')) {
    sum.ran += ran;
    sum.waited += waited;
  } else if (ran > 0.005) console.log(`  ${name.padEnd(14)} ran ${ran.toFixed(2)}  waited ${waited.toFixed(2)}`);
}
console.log(`  ${'guests (sum)'.padEnd(14)} ran ${sum.ran.toFixed(2)}  waited ${sum.waited.toFixed(2)}`);
