// docs/performance.md's generated part, from a bench report: the command, the machine, the
// date, the limits, a table per workload and the targets. The part between the markers is
// replaced; the rest of the page (the micro benchmarks) is kept as it is.
import type { BenchReport } from './report.ts';
import { threadsNote } from './table.ts';
import type { Figure, LatencyFigures } from './stats.ts';

export const BEGIN = '<!-- vsmmu bench: generated, do not edit by hand -->';
export const END = '<!-- vsmmu bench: end -->';

function f(x: Figure): string {
  return `${x.value.toLocaleString('en')} (${x.ratio}x)`;
}

function l(x: LatencyFigures | null): string {
  return x && x.count > 0 ? `${x.p50.value} / ${x.p99.value} / ${x.p999.value} (${x.p50.ratio}x / ${x.p99.ratio}x / ${x.p999.ratio}x)` : '-';
}

const WORKLOAD_NOTES: readonly string[] = [
  'Each guest runs its workload on its own thread (one control call per cell) and probes its trap latency about once a millisecond (a read of its vSMMU\'s IDR0, trapped to Xen). Before each cell the same workload runs unmeasured in rounds of 0.25 s until a round\'s aggregate DMA rate is within 5% of the round before (at most the length of the cell, and 3 s), and before `noisy` then one round beside the flood, so that every thread\'s code is optimised before the clock starts:',
  '',
  '- `stream`: DMA through a mapped window, alternating writes and reads, 128 in flight (half the device\'s descriptor ring): 4 KiB over 16 pages (IOTLB hits), `stream 64B`, `stream 64KiB`, and `stream walk` (4 KiB, one transaction per page over 2048 pages; the SMMU\'s IOTLB has 512 entries (`smmu.iotlbEntries`), so the sweep evicts every translation before its page comes round and every transaction walks stage 1 and stage 2);',
  '- `strict`: map a 4 KiB buffer, one DMA, unmap with its TLBI + CMD_SYNC, per buffer (Linux\'s strict DMA API);',
  '- `lazy`: a flush queue of 256 buffers at fresh IOVAs, each mapped, DMA\'d and unmapped without invalidation (iommu_unmap_fast); when the queue is full the whole domain is invalidated at once: TLBI_NH_ASID + CMD_SYNC (the driver\'s flushAsid, as Linux\'s arm_smmu_tlb_inv_context);',
  '- `reconfig`: bursts of 32 DMAs on the first device; between them the second device moves to a new domain (abort STE, CD cleared, TLBI_NH_ASID of the old ASID, new CD, valid STE, each with its CFGI + CMD_SYNC), then one DMA through it;',
  '- `noisy`: the guests stream (4 KiB) while one more guest floods: 32 TLBI_NH_VA + CMD_SYNC, a DMA to an unmapped IOVA whose F_TRANSLATION event it waits for, 32 DMAs, in a loop; four rounds alternate the victims alone and beside the flood. `noisy cap N%`: the same with the flooding guest capped at N% of one CPU (Xen\'s credit cap, `--noisy-cap`, default 5; docs/api.md), as an administrator contains a noisy domain with `xl sched-credit -c`.',
];

const MEMCPY_NOTE =
  'The memcpy limit copies with Buffer.copy (one native memmove), as the SMMU moves a transaction\'s bytes: between two SharedArrayBuffers it is about twice as fast for 4 KiB blocks as TypedArray.set on Node 24 (V8 copies shared memory through a relaxed-atomic loop), so the limit is the best bare copy, not a slower one the model could beat.';

/** What `vsmmu bench --json` holds (BENCH_SCHEMA is the JSON Schema; the types are BenchReport's). */
const SCHEMA_NOTES: readonly string[] = [
  '### The JSON report (`vsmmu bench --json`, `runBench()`)',
  '',
  'Schema `vsmmu-bench/1` (`BENCH_SCHEMA` exports it as JSON Schema; `BenchReport` is its type). Every measured figure is a *figure*: `{ value, unit, limit, limitName, ratio }`, the ratio being value / limit, the limit measured in the same run.',
  '',
  '| field | what |',
  '| --- | --- |',
  '| `schema`, `version`, `date`, `machine` (`cpus`, `model`, `node`, `platform`, `arch`, `loadavg`, `priority`: the SMMU\'s and Xen\'s thread priority in force, `smmuCpu`: the CPU the SMMU had to itself or null), `options` (`priority`, `smmuCpu`: the ones asked for), `elapsedMs` | the run |',
  '| `limits` | `memcpyMiBs` (one core, 4 KiB blocks between SABs), `ringPerS` (bare SPSC ring records/s), `relay` and `pingPong` (percentiles `count`, `p50Us`, `p99Us`, `p999Us`, `maxUs`) |',
  '| `cells[]` | one per workload variant (`series`) and guest count: `workload`, `series`, `size`, `pattern`, `guests`, `seconds` |',
  '| `cells[].aggregate` | `dmaPerS` (limit: the bare ring), `mibPerS` (limit: bare memcpy), `invalidationsPerS` (limit: bare relays/s), `reconfigsPerS` |',
  '| `cells[].perGuest[]` | the same per guest, with `faults` and the guest\'s `error` |',
  '| `cells[].fairness` | Jain\'s index over the guests\' DMA/s (limit 1) |',
  '| `cells[].trapLatency` | trapped MMIO reads (`p50`, `p99`, `p999`, `max` figures), limit: the bare ping-pong run beside the same load (`pingPongBeside`) |',
  '| `cells[].syncLatency`, `cells[].faultToIrq` | TLBI + CMD_SYNC (or STE/CD change for `reconfig`), faulting DMA to its event in the guest; limit: the bare relay; `null` when the workload has none |',
  '| `cells[].cpu[]` | CPU time per actor thread (`MainThread`, `smmu`, `xen`, `guest:NAME`) beside the cell\'s wall time (Linux only) |',
  '| `cells[].victims` | `noisy`: each victim\'s DMA/s with the flood beside its DMA/s without it, and its trap p99 with the flood beside its p99 without it (`trapP99`; `null` otherwise) |',
  '| `cells[].victimControl` | `noisy`: the control, the worst victim\'s ratio between the two halves of its rounds without the flood (lower rate over higher): what the victims\' statistic reads with no flood at all, the scheduler\'s noise among identical guests; `null` otherwise |',
  '| `cells[].flooder` | `noisy`: the flooding guest, its `cap` (% of one CPU, 0 none), `parks` (budget periods spent), `chargedMs` and `xenMs` (CPU charged to it while the flood ran, Xen\'s trap service part); `null` otherwise |',
  '| `targets[]` | the issue\'s targets checked on this run: `name`, `ok` (`null`: not measured), `detail` |',
];

export function benchMarkdown(r: BenchReport, command: string): string {
  const L = r.limits;
  const m = r.machine;
  const out: string[] = [BEGIN, '', '## Multi-guest scaling (`vsmmu bench`)', ''];
  out.push(`Generated by \`${command}\` on ${r.date} (vsmmu ${r.version}): ${m.cpus} CPUs (${m.model}), Node ${m.node}, ${m.platform}/${m.arch}, load average ${m.loadavg.join(' ')} at the end${m.priority ? `${threadsNote(r)} (see "Thread priorities" below)` : ''}.`);
  out.push('Every figure is followed by its ratio to the limit measured in the same run (in parentheses); absolute figures on a shared machine swing widely, ratios less.');
  out.push('');
  out.push(...WORKLOAD_NOTES);
  out.push('');
  out.push('| limit (same run) | value |');
  out.push('| --- | --- |');
  out.push(`| bare SAB memcpy, one core, 4 KiB blocks (best 4 MiB pass) | ${Math.round(L.memcpyMiBs).toLocaleString('en')} MiB/s |`);
  out.push(`| bare SPSC ring, 32-byte records | ${Math.round(L.ringPerS).toLocaleString('en')} records/s |`);
  out.push(`| bare three-thread relay (guest -> xen -> smmu -> xen -> guest) p50 / p99 | ${L.relay.p50Us} / ${L.relay.p99Us} us |`);
  out.push(`| bare two-thread ping-pong, unloaded, p50 / p99 | ${L.pingPong.p50Us} / ${L.pingPong.p99Us} us |`);
  out.push('');
  out.push(MEMCPY_NOTE);
  out.push('');
  out.push('| workload | guests | DMA/s (x ring) | MiB/s (x memcpy) | TLBI/s (x relay) | Jain | trap p50 / p99 / p999 us (x ping-pong beside the load) | TLBI + SYNC or STE/CD p50 / p99 / p999 us (x relay) | fault to interrupt p50 / p99 / p999 us (x relay) | CPU smmu / xen (share of a core) |');
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |');
  for (const c of r.cells) {
    const cpu = (t: string): string => {
      const x = c.cpu.find((y) => y.thread === t);
      return x ? `${Math.round(x.cpu.ratio * 100)}%` : '-';
    };
    out.push(`| ${c.series} | ${c.guests} | ${f(c.aggregate.dmaPerS)} | ${f(c.aggregate.mibPerS)} | ${f(c.aggregate.invalidationsPerS)} | ${c.fairness.value} | ${l(c.trapLatency)} | ${l(c.syncLatency)} | ${l(c.faultToIrq)} | ${cpu('smmu')} / ${cpu('xen')} |`);
  }
  const victims = r.cells.filter((c) => c.victims && c.victims.length > 0);
  if (victims.length > 0) {
    out.push('');
    out.push('`noisy`: each victim\'s DMA/s with the flooding guest, beside its own DMA/s without it (and its trap p99 beside its own without the flood):');
    out.push('');
    for (const c of victims) {
      const fl = c.flooder ?? null;
      const cap = fl && fl.cap > 0 ? `, flooding guest capped at ${fl.cap}% (parked ${fl.parks} times, charged ${fl.chargedMs} ms)` : fl ? ', flooding guest uncapped' : '';
      const each = (c.victims ?? []).map((v) => `${v.name} ${v.throughput.ratio}x${v.trapP99 ? ` (trap p99 ${v.trapP99.ratio}x)` : ''}`);
      const control = c.victimControl != null ? `; control, the worst victim between its own rounds without the flood: ${c.victimControl}x` : '';
      out.push(`- ${c.guests} victim${c.guests === 1 ? '' : 's'}${cap}: ${each.join(', ')}${control}`);
    }
  }
  const errors = r.cells.flatMap((c) => c.errors.map((e) => `${c.series}, ${c.guests} guests: ${e}`));
  if (errors.length > 0) {
    out.push('');
    out.push('Errors in this run:');
    out.push('');
    for (const e of errors) out.push(`- ${e}`);
  }
  out.push('');
  out.push('Targets (issue 13), checked on this run:');
  out.push('');
  for (const t of r.targets) out.push(`- ${t.ok === null ? 'not measured' : t.ok ? 'met' : '**missed**'}: ${t.name}: ${t.detail}`);
  out.push('');
  out.push(...SCHEMA_NOTES);
  out.push('');
  out.push(END);
  return out.join('\n');
}

/** `doc` with its generated part replaced by `section` (or the section put first, under the title). */
export function spliceDoc(doc: string, section: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a >= 0 && b > a) return doc.slice(0, a) + section + doc.slice(b + END.length);
  const nl = doc.indexOf('\n\n');
  return nl < 0 ? `${doc}\n\n${section}\n` : `${doc.slice(0, nl + 2)}${section}\n\n${doc.slice(nl + 2)}`;
}
