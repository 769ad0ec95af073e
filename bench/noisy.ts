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
// ratios are given as min-max and median. The victims' trap latency (their once-a-millisecond
// probes, p99) beside the variant is given over the same victims' alone, as a ratio too.
// `--cap N` (or a list, `--cap 10,25`) runs every variant again with the other guest capped
// at N% of one CPU (Xen's credit cap, `domain.schedule({ cap })`), uncapped and capped in
// turn within each run, so both rows share the machine's drift.
// `--priority equal` runs every thread at the process's priority (createSystem's `priority`;
// default hardware-first: the SMMU's and Xen's threads above the guests').
// Usage: node bench/noisy.ts [--victims 1,2] [--seconds 2] [--repeat 3] [--variants LIST] [--cap N[,N]] [--profile P] [--priority P] [--json]
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createSystem } from '../src/index.ts';
import { schedSnapshot, type SchedSnapshot } from '../src/bench/cpu.ts';
import { benchSystem } from '../src/bench/runner.ts';
import type { BenchWorkloadParams, BenchWorkloadReport, FloodParts } from '../src/guest/bench-workloads.ts';
import type { Domain } from '../src/system/domain.ts';
import type { XenProfileName } from '../src/xen/profile.ts';
import type { ThreadPriority } from '../src/system/options.ts';

const { values } = parseArgs({
  options: {
    victims: { type: 'string', default: '1,2' },
    seconds: { type: 'string', default: '2' },
    repeat: { type: 'string', default: '3' },
    variants: { type: 'string', default: 'idle,spin,tlbi,fault,dma,flood' },
    cap: { type: 'string', default: '' },
    profile: { type: 'string', default: 'hardened' },
    priority: { type: 'string', default: 'hardware-first' },
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
const caps = [0, ...(values.cap === '' ? [] : values.cap.split(',').map(Number))];
for (const c of caps) if (!Number.isInteger(c) || c < 0 || c > 100) throw new Error(`--cap ${values.cap}: whole percentages 0..100`);

type Sched = Map<string, { run: number; wait: number }>;
function addSched(into: Sched, a: SchedSnapshot, b: SchedSnapshot): void {
  for (const [k, v] of b) {
    const u = a.get(k) ?? { run: 0, wait: 0 };
    const o = into.get(k) ?? { run: 0, wait: 0 };
    into.set(k, { run: o.run + v.run - u.run, wait: o.wait + v.wait - u.wait });
  }
}

interface Row {
  victims: number;
  variant: string;
  /** The other guest's cap, % of one CPU (0: none). */
  cap: number;
  ratios: number[][]; // per repeat, per victim
  /** Per repeat, per victim: trap p99 beside the variant over trap p99 alone. */
  trapP99Ratios: number[][];
  /** Per repeat: the victims' trap p99 alone and beside, us (worst victim). */
  trapP99Us: { alone: number; beside: number }[];
  /** Per repeat: the other guest's scheduler while the variant ran (parks, CPU charged per wall ms). */
  sched: { parks: number; chargedPerMs: number }[];
  aloneDmaPerS: number[];
  floodPerS: { dmas: number; syncs: number; faults: number }[];
  /** While the variant ran: per actor thread, [ran, waited on a run queue] per wall ms. */
  cpu: Record<string, [number, number]>[];
}

const rows: Row[] = [];
for (const nv of victimCounts) {
  await using sys = await createSystem({
    ...benchSystem(nv, true),
    guestTimeoutMs: seconds * 4000 + 60_000,
    xen: { profile: values.profile as XenProfileName },
    priority: values.priority as ThreadPriority,
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
    const byCap = new Map(caps.map((cap) => [cap, { victims: nv, variant, cap, ratios: [], trapP99Ratios: [], trapP99Us: [], sched: [], aloneDmaPerS: [], floodPerS: [], cpu: [] } as Row]));
    for (let r = 0; r < repeat; r++) for (const cap of caps) {
      const row = byCap.get(cap)!;
      noisy.schedule({ cap });
      const sched0 = noisy.schedule();
      const slice = (seconds * 1000) / ROUNDS;
      const alone = victims.map(() => ({ n: 0, ms: 0, trap: [] as number[] }));
      const beside = victims.map(() => ({ n: 0, ms: 0, trap: [] as number[] }));
      const fl = { dmas: 0, syncs: 0, faults: 0, ms: 0 };
      const during: Sched = new Map();
      let wall = 0;
      for (let k = 0; k < ROUNDS; k++) {
        const a = await stream(slice);
        const s0 = schedSnapshot();
        const t0 = performance.now();
        const [w, f] = await Promise.all([stream(slice), noisy.call('workloadBench', params(noisy, slice, VARIANTS[variant]!))]);
        wall += performance.now() - t0;
        addSched(during, s0, schedSnapshot());
        for (const [i, x] of a.entries()) { alone[i]!.n += x.dmas; alone[i]!.ms += x.elapsedMs; alone[i]!.trap.push(...x.trapNs); }
        for (const [i, x] of w.entries()) { beside[i]!.n += x.dmas; beside[i]!.ms += x.elapsedMs; beside[i]!.trap.push(...x.trapNs); }
        for (const x of [...a, ...w, f]) if (x.error) throw new Error(`${variant}: ${x.error}`);
        fl.dmas += f.dmas; fl.syncs += f.syncs; fl.faults += f.faults; fl.ms += f.elapsedMs;
      }
      const sched1 = noisy.schedule();
      row.sched.push({ parks: sched1.parks - sched0.parks, chargedPerMs: Number(((sched1.chargedMs - sched0.chargedMs) / wall).toFixed(3)) });
      row.ratios.push(victims.map((_, i) => beside[i]!.n / beside[i]!.ms / (alone[i]!.n / alone[i]!.ms)));
      const p99s = victims.map((_, i) => ({ alone: p99(alone[i]!.trap) / 1000, beside: p99(beside[i]!.trap) / 1000 }));
      row.trapP99Ratios.push(p99s.map((x) => x.beside / x.alone));
      row.trapP99Us.push({ alone: Math.round(Math.max(...p99s.map((x) => x.alone))), beside: Math.round(Math.max(...p99s.map((x) => x.beside))) });
      row.aloneDmaPerS.push(Math.round(alone.reduce((t, a) => t + (a.n * 1000) / a.ms, 0)));
      row.floodPerS.push({ dmas: Math.round((fl.dmas * 1000) / fl.ms), syncs: Math.round((fl.syncs * 1000) / fl.ms), faults: Math.round((fl.faults * 1000) / fl.ms) });
      const actors = ['smmu', 'xen', ...sys.domains.map((d) => `guest:${d.name}`)];
      row.cpu.push(Object.fromEntries(actors.map((t) => {
        const s = during.get(t) ?? { run: 0, wait: 0 };
        return [t, [Number((s.run / 1e6 / wall).toFixed(2)), Number((s.wait / 1e6 / wall).toFixed(2))]];
      })));
      if (!values.json) console.error(`  ${nv} victim(s), ${variant}${cap ? ` capped at ${cap}%` : ''}, run ${r + 1}/${repeat}: DMA ${row.ratios.at(-1)!.map((x) => x.toFixed(2)).join(' ')}, trap p99 ${row.trapP99Ratios.at(-1)!.map((x) => x.toFixed(2)).join(' ')}`);
    }
    rows.push(...byCap.values());
  }
}

function p99(ns: readonly number[]): number {
  if (ns.length === 0) return 0;
  const s = [...ns].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!;
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
  console.log('| victims | beside | cap | worst victim DMA ratio: min-max (median) | worst victim trap p99 ratio: min-max (median) | trap p99 alone / beside, us (median) | victims alone, DMA/s | xen ran/waited | other guest ran/waited | smmu ran/waited | other guest parks, charged CPU per ms | other guest: DMA, SYNC, fault per s |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  const range = (xs: number[]): string => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)} (${median(xs).toFixed(2)})`;
  for (const r of rows) {
    const worst = r.ratios.map((v) => Math.min(...v));
    const trapWorst = r.trapP99Ratios.map((v) => Math.max(...v));
    const cpu = (t: string): string => `${median(r.cpu.map((c) => c[t]?.[0] ?? 0)).toFixed(2)}/${median(r.cpu.map((c) => c[t]?.[1] ?? 0)).toFixed(2)}`;
    const us = `${Math.round(median(r.trapP99Us.map((x) => x.alone)))} / ${Math.round(median(r.trapP99Us.map((x) => x.beside)))}`;
    const sc = `${Math.round(median(r.sched.map((x) => x.parks)))}, ${median(r.sched.map((x) => x.chargedPerMs)).toFixed(2)}`;
    console.log(`| ${r.victims} | ${r.variant} | ${r.cap === 0 ? 'none' : `${r.cap}%`} | ${range(worst)} | ${range(trapWorst)} | ${us} | ${Math.round(median(r.aloneDmaPerS)).toLocaleString('en')} | ${cpu('xen')} | ${cpu('guest:noisy')} | ${cpu('smmu')} | ${r.cap === 0 ? '-' : sc} | ${['dmas', 'syncs', 'faults'].map((k) => Math.round(median(r.floodPerS.map((f) => f[k as 'dmas'])))).map((n) => n.toLocaleString('en')).join(', ')} |`);
  }
  console.log('\nran/waited: CPU time on a core / time runnable but waiting for one, per wall ms, while the variant ran (medians). Trap p99 ratio: the worst victim\'s beside / alone (target <= 5). Parks: periods the capped guest ran out of budget; charged: its CPU + Xen\'s trap service per wall ms.');
}
