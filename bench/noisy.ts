// Where the noisy neighbour's victims lose their throughput (docs/security.md): the victims
// stream as in `vsmmu bench --workloads noisy` (4 KiB, 16 pages, 128 in flight), alone and
// beside one more guest, in alternating rounds, and the other guest runs one variant at a
// time:
//   idle   it only probes its trap latency (a read of IDR0 once a millisecond);
//   spin   it computes and nothing else: no trap, no DMA (one more busy thread);
//   tlbi   32 raw TLBI_NH_VA + CMD_SYNC, waited for, in a loop;
//   fault  a DMA to an unmapped IOVA and its event through the interrupt, in a loop;
//   dma    bursts of 32 DMAs;
//   flood  all three (the benchmark's flood).
// For each: each victim's DMA/s beside the variant over its DMA/s alone, and the CPU each
// thread ran and waited on a run queue while the variant ran, per wall millisecond (Linux
// /proc/self/task/*/schedstat): with more runnable threads than cores, the run-queue wait
// shows who waited for a core. `--repeat` runs the set again (a shared machine drifts):
// ratios are given as min-max and median.
// Usage: node bench/noisy.ts [--victims 1,2] [--seconds 2] [--repeat 3] [--variants LIST] [--profile P] [--json]
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createSystem } from '../src/index.ts';
import { BENCH_IOTLB_ENTRIES } from '../src/bench/runner.ts';
import type { BenchWorkloadParams, BenchWorkloadReport, FloodParts } from '../src/guest/bench-workloads.ts';
import type { Domain } from '../src/system/domain.ts';
import type { XenProfileName } from '../src/xen/profile.ts';

const { values } = parseArgs({
  options: {
    victims: { type: 'string', default: '1,2' },
    seconds: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '3' },
    variants: { type: 'string', default: 'idle,spin,tlbi,fault,dma,flood' },
    profile: { type: 'string', default: 'hardened' },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = 4;
const VARIANTS: Record<string, { kind: 'flood' | 'spin'; flood?: FloodParts }> = {
  idle: { kind: 'flood', flood: { tlbi: false, fault: false, dma: false } },
  spin: { kind: 'spin' },
  tlbi: { kind: 'flood', flood: { tlbi: true, fault: false, dma: false } },
  fault: { kind: 'flood', flood: { tlbi: false, fault: true, dma: false } },
  dma: { kind: 'flood', flood: { tlbi: false, fault: false, dma: true } },
  flood: { kind: 'flood' },
};
const victimCounts = values.victims.split(',').map(Number);
const seconds = Number(values.seconds);
const repeat = Number(values.repeat);
const variants = values.variants.split(',');
for (const v of variants) if (!VARIANTS[v]) throw new Error(`unknown variant ${v} (${Object.keys(VARIANTS).join(', ')})`);

type Sched = Map<string, { run: number; wait: number }>;
/** Nanoseconds each thread ran and waited on a run queue, by thread name. */
function sched(): Sched {
  const out: Sched = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      const o = out.get(name) ?? { run: 0, wait: 0 };
      out.set(name, { run: o.run + (run ?? 0), wait: o.wait + (wait ?? 0) });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}
function addSched(into: Sched, a: Sched, b: Sched): void {
  for (const [k, v] of b) {
    const u = a.get(k) ?? { run: 0, wait: 0 };
    const o = into.get(k) ?? { run: 0, wait: 0 };
    into.set(k, { run: o.run + v.run - u.run, wait: o.wait + v.wait - u.wait });
  }
}

interface Row {
  victims: number;
  variant: string;
  ratios: number[][]; // per repeat, per victim
  aloneDmaPerS: number[];
  floodPerS: { dmas: number; syncs: number; faults: number }[];
  /** While the variant ran: per actor thread, [ran, waited on a run queue] per wall ms. */
  cpu: Record<string, [number, number]>[];
}

const rows: Row[] = [];
for (const nv of victimCounts) {
  const dom = (name: string, i: number) => ({
    name, memory: '64M', viommu: 'smmuv3' as const, devices: [{ name: 'dma0', sid: 0x100 * i }, { name: 'dma1', sid: 0x100 * i + 1 }],
  });
  await using sys = await createSystem({
    smmu: { iotlbEntries: BENCH_IOTLB_ENTRIES },
    memory: (128 + 80 * (nv + 1)) * 1048576,
    domains: [...Array.from({ length: nv }, (_, i) => dom(`guest${i + 1}`, i + 1)), dom('noisy', nv + 1)],
    guestTimeoutMs: seconds * 4000 + 60_000,
    xen: { profile: values.profile as XenProfileName },
    sim: false,
  });
  await Promise.all(sys.domains.map((d) => d.driver.probe()));
  const victims = sys.domains.filter((d) => d.name !== 'noisy');
  const noisy = sys.domain('noisy');
  const params = (d: Domain, ms: number, p: Partial<BenchWorkloadParams>): BenchWorkloadParams => ({
    kind: 'stream', size: 4096, pages: 16, vSid: d.devices[0]?.vsid ?? 0, vSid2: d.devices[1]?.vsid ?? 0, durationMs: ms, ...p,
  });
  const stream = (ms: number): Promise<BenchWorkloadReport[]> => Promise.all(victims.map((d) => d.call('workloadBench', params(d, ms, {}))));
  for (const variant of variants) {
    const row: Row = { victims: nv, variant, ratios: [], aloneDmaPerS: [], floodPerS: [], cpu: [] };
    for (let r = 0; r < repeat; r++) {
      const slice = (seconds * 1000) / ROUNDS;
      const alone = victims.map(() => ({ n: 0, ms: 0 }));
      const beside = victims.map(() => ({ n: 0, ms: 0 }));
      const fl = { dmas: 0, syncs: 0, faults: 0, ms: 0 };
      const during: Sched = new Map();
      let wall = 0;
      for (let k = 0; k < ROUNDS; k++) {
        const a = await stream(slice);
        const s0 = sched();
        const t0 = performance.now();
        const [w, f] = await Promise.all([stream(slice), noisy.call('workloadBench', params(noisy, slice, VARIANTS[variant]!))]);
        wall += performance.now() - t0;
        addSched(during, s0, sched());
        for (const [i, x] of a.entries()) { alone[i]!.n += x.dmas; alone[i]!.ms += x.elapsedMs; }
        for (const [i, x] of w.entries()) { beside[i]!.n += x.dmas; beside[i]!.ms += x.elapsedMs; }
        for (const x of [...a, ...w, f]) if (x.error) throw new Error(`${variant}: ${x.error}`);
        fl.dmas += f.dmas; fl.syncs += f.syncs; fl.faults += f.faults; fl.ms += f.elapsedMs;
      }
      row.ratios.push(victims.map((_, i) => beside[i]!.n / beside[i]!.ms / (alone[i]!.n / alone[i]!.ms)));
      row.aloneDmaPerS.push(Math.round(alone.reduce((t, a) => t + (a.n * 1000) / a.ms, 0)));
      row.floodPerS.push({ dmas: Math.round((fl.dmas * 1000) / fl.ms), syncs: Math.round((fl.syncs * 1000) / fl.ms), faults: Math.round((fl.faults * 1000) / fl.ms) });
      const actors = ['smmu', 'xen', ...sys.domains.map((d) => `guest:${d.name}`)];
      row.cpu.push(Object.fromEntries(actors.map((t) => {
        const s = during.get(t) ?? { run: 0, wait: 0 };
        return [t, [Number((s.run / 1e6 / wall).toFixed(2)), Number((s.wait / 1e6 / wall).toFixed(2))]];
      })));
      if (!values.json) console.error(`  ${nv} victim(s), ${variant}, run ${r + 1}/${repeat}: ${row.ratios.at(-1)!.map((x) => x.toFixed(2)).join(' ')}`);
    }
    rows.push(row);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const machine = { cpus: cpus().length, loadavg: loadavg().map((x) => Number(x.toFixed(2))), node: process.version };
if (values.json) {
  console.log(JSON.stringify({ command: `node bench/noisy.ts ${process.argv.slice(2).join(' ')}`.trim(), machine, seconds, repeat, rows }, null, 1));
} else {
  console.log(`node bench/noisy.ts ${process.argv.slice(2).join(' ')}`.trim());
  console.log(`${machine.cpus} CPUs, load average ${machine.loadavg.join(' ')} at the end, ${seconds} s per variant and run, ${repeat} runs\n`);
  console.log('| victims | beside | worst victim ratio: min-max (median) | victims alone, DMA/s | xen ran/waited | other guest ran/waited | smmu ran/waited |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const worst = r.ratios.map((v) => Math.min(...v));
    const cpu = (t: string): string => `${median(r.cpu.map((c) => c[t]?.[0] ?? 0)).toFixed(2)}/${median(r.cpu.map((c) => c[t]?.[1] ?? 0)).toFixed(2)}`;
    console.log(`| ${r.victims} | ${r.variant} | ${Math.min(...worst).toFixed(2)}-${Math.max(...worst).toFixed(2)} (${median(worst).toFixed(2)}) | ${Math.round(median(r.aloneDmaPerS)).toLocaleString('en')} | ${cpu('xen')} | ${cpu('guest:noisy')} | ${cpu('smmu')} |`);
  }
  console.log('\nran/waited: CPU time on a core / time runnable but waiting for one, per wall ms, while the variant ran (medians).');
}
