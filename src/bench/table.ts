// The terminal rendering of a bench report: the limits, one row per cell with each figure
// and its ratio to its limit, the targets; and the progress bar shown while it runs.
import type { BenchCell, BenchReport } from './report.ts';
import type { Figure, LatencyFigures } from './stats.ts';
import type { BenchProgress } from './runner.ts';

function si(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  return a >= 10 || a === 0 ? n.toFixed(0) : n.toFixed(1);
}

function ratio(r: number): string {
  return r >= 100 ? `${r.toFixed(0)}x` : r >= 10 ? `${r.toFixed(1)}x` : r >= 0.01 || r === 0 ? `${r.toFixed(2)}x` : `${r.toPrecision(1)}x`;
}

/** "value (ratio)" */
function fr(f: Figure): string {
  return `${si(f.value)} (${ratio(f.ratio)})`;
}

function lat(l: LatencyFigures | null): string {
  if (!l || l.count === 0) return '-';
  return `${si(l.p50.value)}/${si(l.p99.value)} (${ratio(l.p50.ratio)}/${ratio(l.p99.ratio)})`;
}

function cpu(c: BenchCell): string {
  const pick = (name: string): string => {
    const t = c.cpu.find((x) => x.thread === name);
    return t ? `${Math.round(t.cpu.ratio * 100)}%` : '-';
  };
  const guests = c.cpu.filter((x) => x.thread.startsWith('guest:'));
  const g = guests.length > 0 ? `${Math.round((guests.reduce((s, x) => s + x.cpu.ratio, 0) / guests.length) * 100)}%` : '-';
  return `${pick('smmu')}/${pick('xen')}/${g}`;
}

const COLUMNS: readonly [string, number, (c: BenchCell) => string][] = [
  ['workload', 14, (c) => c.series],
  ['guests', 6, (c) => String(c.guests)],
  ['DMA/s (x ring)', 18, (c) => fr(c.aggregate.dmaPerS)],
  ['MiB/s (x memcpy)', 18, (c) => fr(c.aggregate.mibPerS)],
  ['TLBI/s (x relay)', 18, (c) => fr(c.aggregate.invalidationsPerS)],
  ['Jain', 6, (c) => c.fairness.value.toFixed(3)],
  ['trap p50/p99 us (x ping-pong)', 32, (c) => lat(c.trapLatency)],
  ['sync p50/p99 us (x relay)', 30, (c) => lat(c.syncLatency)],
  ['fault->irq p50/p99 us', 28, (c) => lat(c.faultToIrq)],
  ['CPU smmu/xen/guest', 19, cpu],
];

/** The SMMU's and Xen's thread priority and the SMMU's CPU in force, and why they are not the ones asked for. */
export function threadsNote(r: BenchReport): string {
  const p = r.machine.priority;
  if (p === undefined) return '';
  const fell = r.options.priority === 'hardware-first' && p === 'equal';
  const cpu = r.machine.smmuCpu;
  const placed = typeof cpu === 'number' ? `, SMMU on CPU ${cpu} of its own`
    : r.options.smmuCpu === 'dedicated' ? ', SMMU on shared CPUs (no CPU of its own: needs 2 CPUs or more and taskset, on Linux)' : '';
  return `, SMMU/Xen priority ${p}${fell ? ' (could not be raised: needs CAP_SYS_NICE or root, on Linux)' : ''}${placed}`;
}

export function renderTable(r: BenchReport): string {
  // Several profiles: a profile column, each workload and guest count's cells side by side.
  const profiles = new Set(r.cells.map((c) => c.profile ?? 'hardened'));
  const columns = profiles.size > 1 || !profiles.has('hardened')
    ? [COLUMNS[0]!, ['profile', 9, (c: BenchCell): string => c.profile ?? 'hardened'] as const, ...COLUMNS.slice(1)]
    : COLUMNS;
  const L = r.limits;
  const out: string[] = [];
  out.push(`vsmmu bench ${r.version}: ${r.machine.cpus} CPUs (${r.machine.model}), Node ${r.machine.node}, ${r.date}${threadsNote(r)}`);
  out.push(
    `limits (same run): memcpy ${si(L.memcpyMiBs)} MiB/s, ring ${si(L.ringPerS)} records/s, relay p50/p99 ${si(L.relay.p50Us)}/${si(L.relay.p99Us)} us, ` +
      `ping-pong p50/p99 ${si(L.pingPong.p50Us)}/${si(L.pingPong.p99Us)} us (unloaded)`,
  );
  out.push('');
  out.push(columns.map(([h, w]) => h.padEnd(w)).join(' ').trimEnd());
  for (const c of r.cells) {
    out.push(columns.map(([, w, f]) => f(c).padEnd(w)).join(' ').trimEnd());
    for (const v of c.victims ?? []) {
      const trap = v.trapP99 ? `; trap p99 ${si(v.trapP99.value)} us, ${ratio(v.trapP99.ratio)} of its ${si(v.trapP99.limit)}` : '';
      out.push(`  victim ${v.name}: ${si(v.throughput.value)} DMA/s with the flood, ${ratio(v.throughput.ratio)} of its ${si(v.throughput.limit)} without${trap}`);
    }
    if (c.victimControl != null) out.push(`  control: the worst victim keeps ${ratio(c.victimControl)} between its own rounds without the flood`);
    const fl = c.flooder ?? null;
    if (fl && fl.cap > 0) out.push(`  flooding guest ${fl.name} capped at ${fl.cap}%: parked ${fl.parks} times, charged ${fl.chargedMs} ms of CPU (${fl.xenMs} ms Xen's)`);
    for (const e of c.errors) out.push(`  error: ${e}`);
  }
  out.push('');
  for (const t of r.targets) out.push(`${t.ok === null ? 'n/a ' : t.ok ? 'ok  ' : 'MISS'} ${t.name}: ${t.detail}`);
  out.push(`(${(r.elapsedMs / 1000).toFixed(1)} s; figures in parentheses are ratios to the limit measured in the same run)`);
  return `${out.join('\n')}\n`;
}

/** One progress line (no newline): a bar over the load's seconds and the cell running. */
export function progressBar(p: BenchProgress, width = 30): string {
  const f = p.totalS > 0 ? Math.min(1, p.elapsedS / p.totalS) : 0;
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${String(Math.round(f * 100)).padStart(3)}%  cell ${p.done + 1}/${p.cells}: ${p.series}, ${p.guests} guest${p.guests === 1 ? '' : 's'}`;
}
