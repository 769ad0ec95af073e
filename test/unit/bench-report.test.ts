// Rendering a bench report: the terminal table, the SVG charts (parsed as XML: one line per
// series), the generated section of docs/performance.md, and the targets' verdicts.
import { describe, expect, it } from 'vitest';
import { DOMParser, type Element } from '@xmldom/xmldom';
import { figure, latencyFigures, type Percentiles } from '../../src/bench/stats.ts';
import { BENCH_SCHEMA, BENCH_SCHEMA_ID, type BenchCell, type BenchReport, type BenchWorkload } from '../../src/bench/report.ts';
import { targets } from '../../src/bench/runner.ts';
import { progressBar, renderTable } from '../../src/bench/table.ts';
import { renderSvg } from '../../src/bench/svg.ts';
import { BEGIN, END, benchMarkdown, spliceDoc } from '../../src/bench/markdown.ts';
import type { Limits } from '../../src/bench/limits.ts';

const P = (us: number): Percentiles => ({ count: 100, p50Us: us, p99Us: us * 4, p999Us: us * 8, maxUs: us * 10 });
const LIMITS: Limits = { memcpyMiBs: 4000, ringPerS: 5e6, relay: P(20), pingPong: P(1) };

function cell(workload: BenchWorkload, series: string, guests: number, dmaPerS: number, o: { victims?: number[]; trapUs?: number; cap?: number; trapRatio?: number } = {}): BenchCell {
  const beside = P(10);
  const g = { dmaPerS: figure(dmaPerS / guests, 'DMA/s', LIMITS.ringPerS, 'ring'), mibPerS: figure(dmaPerS / guests / 256, 'MiB/s', LIMITS.memcpyMiBs, 'memcpy'), invalidationsPerS: figure(0, 'TLBI/s', 5e4, 'relay'), faults: 0, error: null };
  return {
    workload, series, size: 4096, pattern: workload === 'stream' ? 'hit' : null, guests, seconds: 1,
    aggregate: { dmaPerS: figure(dmaPerS, 'DMA/s', LIMITS.ringPerS, 'ring'), mibPerS: figure(dmaPerS / 256, 'MiB/s', LIMITS.memcpyMiBs, 'memcpy'), invalidationsPerS: figure(0, 'TLBI/s', 5e4, 'relay'), reconfigsPerS: 0 },
    perGuest: Array.from({ length: guests }, (_, i) => ({ ...g, name: `guest${i + 1}` })),
    fairness: figure(0.99, 'Jain', 1, 'fair'),
    trapLatency: latencyFigures(P(o.trapUs ?? 15), beside, 'ping-pong beside'),
    syncLatency: workload === 'strict' ? latencyFigures(P(100), LIMITS.relay, 'relay') : null,
    faultToIrq: null,
    pingPongBeside: beside,
    cpu: [{ thread: 'smmu', cpu: figure(500, 'ms', 1000, 'wall') }, { thread: 'xen', cpu: figure(250, 'ms', 1000, 'wall') }],
    victims: o.victims ? o.victims.map((r, i) => ({ name: `guest${i + 1}`, throughput: figure(r * 1000, 'DMA/s', 1000, 'alone'), trapP99: figure(o.trapRatio ?? 2, 'us', 1, 'alone') })) : null,
    flooder: o.victims ? { name: 'noisy', cap: o.cap ?? 0, parks: o.cap ? 10 : 0, chargedMs: 50, xenMs: 5 } : null,
    errors: [],
  };
}

const SERIES: readonly [BenchWorkload, string][] = [['stream', 'stream'], ['stream', 'stream 64B'], ['strict', 'strict'], ['lazy', 'lazy'], ['reconfig', 'reconfig'], ['noisy', 'noisy']];

function report(): BenchReport {
  const cells = [1, 2, 4].flatMap((g) => SERIES.map(([w, s]) => cell(w, s, g, 1e5 * (1 + g / 10), w === 'noisy' ? { victims: Array.from({ length: g }, () => 0.9) } : {})));
  return {
    schema: BENCH_SCHEMA_ID, version: '0.0.0-test', date: '2026-01-01T00:00:00.000Z',
    machine: { cpus: 2, model: 'test cpu', node: 'v24', platform: 'linux', arch: 'x64', loadavg: [1, 1, 1] },
    options: { guests: [1, 2, 4], seconds: 1, workloads: ['stream', 'strict', 'lazy', 'reconfig', 'noisy'], profile: null },
    limits: LIMITS, cells, targets: targets(cells, LIMITS), elapsedMs: 1234,
  };
}

function elements(root: Element, name: string): Element[] {
  return Array.from(root.getElementsByTagName(name));
}

describe('bench report rendering', () => {
  it('the SVG parses and holds one throughput line per series, each named in the legend', async () => {
    const svg = await renderSvg(report());
    const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
    const root = doc.documentElement;
    expect(root?.nodeName).toBe('svg');
    const lines = elements(root!, 'g').filter((g) => (g.getAttribute('class') ?? '').split(' ').includes('throughput_marks'));
    expect(lines.length).toBe(SERIES.length);
    for (const l of lines) expect(elements(l, 'path').length).toBeGreaterThan(0);
    const texts = new Set(elements(root!, 'text').map((t) => t.textContent ?? ''));
    for (const [, s] of SERIES) expect(texts.has(s)).toBe(true);
    expect(texts.has('p99')).toBe(true);
  });

  it('the table shows every cell with its ratios, the victims and the targets', () => {
    const t = renderTable(report());
    for (const [, s] of SERIES) expect(t).toContain(`\n${s.padEnd(14)}`);
    expect(t).toContain('x ping-pong');
    expect(t).toContain('victim guest1');
    expect(t).toMatch(/no collapse/);
    expect(progressBar({ done: 1, cells: 4, series: 'strict', guests: 2, elapsedS: 5, totalS: 10 }, 10)).toBe('[#####.....]  50%  cell 2/4: strict, 2 guests');
  });

  it('the heading says which thread priority was in force, and why not the one asked for', () => {
    const r = report();
    const asked = { ...r.options, priority: 'hardware-first' as const };
    expect(renderTable({ ...r, options: asked, machine: { ...r.machine, priority: 'hardware-first' } }).split('\n')[0]).toMatch(/, SMMU\/Xen priority hardware-first$/);
    expect(renderTable({ ...r, options: asked, machine: { ...r.machine, priority: 'equal' } }).split('\n')[0]).toMatch(/priority equal \(could not be raised: needs CAP_SYS_NICE or root, on Linux\)$/);
    expect(renderTable({ ...r, options: { ...r.options, priority: 'equal' }, machine: { ...r.machine, priority: 'equal' } }).split('\n')[0]).toMatch(/priority equal$/);
    expect(renderTable(r).split('\n')[0]).not.toMatch(/priority/); // a report saved before priorities
  });

  it("the heading says where the SMMU's thread ran when it was asked for a CPU of its own", () => {
    const r = report();
    const m = { ...r.machine, priority: 'hardware-first' as const };
    const dedicated = { ...r.options, priority: 'hardware-first' as const, smmuCpu: 'dedicated' as const };
    expect(renderTable({ ...r, options: dedicated, machine: { ...m, smmuCpu: 1 } }).split('\n')[0]).toMatch(/priority hardware-first, SMMU on CPU 1 of its own$/);
    expect(renderTable({ ...r, options: dedicated, machine: { ...m, smmuCpu: null } }).split('\n')[0]).toMatch(/, SMMU on shared CPUs \(no CPU of its own: needs 2 CPUs or more and taskset, on Linux\)$/);
    expect(renderTable({ ...r, options: { ...dedicated, smmuCpu: 'shared' }, machine: { ...m, smmuCpu: null } }).split('\n')[0]).toMatch(/priority hardware-first$/);
  });

  it('the generated doc section replaces only itself', () => {
    const md = benchMarkdown(report(), 'vsmmu bench --guests 1,2,4');
    expect(md.startsWith(BEGIN) && md.endsWith(END)).toBe(true);
    expect(md).toContain('`vsmmu bench --guests 1,2,4`');
    expect(md).toContain('test cpu');
    const doc = `# Performance\n\nintro\n\n${BEGIN}\nold\n${END}\n\n## Micro benchmarks\n\nkept\n`;
    const out = spliceDoc(doc, md);
    expect(out).not.toContain('\nold\n');
    expect(out).toContain('## Micro benchmarks\n\nkept');
    expect(out.startsWith('# Performance\n\nintro\n\n')).toBe(true);
    expect(spliceDoc('# Performance\n\nrest\n', md)).toBe(`# Performance\n\n${md}\n\nrest\n`);
  });

  it('targets: no collapse, bandwidth, trap latency, noisy victims', () => {
    const r = report();
    const by = new Map(r.targets.map((t) => [t.name, t.ok]));
    expect(by.get('no collapse')).toBe(true);
    expect(by.get('stream bandwidth')).toBe(false); // ~430 MiB/s against 4000
    expect(by.get('noisy neighbour')).toBe(true);
    const slow = [cell('stream', 'stream', 1, 1e5), cell('stream', 'stream', 8, 5e4, { trapUs: 50 })];
    const t = new Map(targets(slow, LIMITS).map((x) => [x.name, x.ok]));
    expect(t.get('no collapse')).toBe(false);
    expect(t.get('trap latency under load')).toBe(false);
    expect(t.get('noisy neighbour')).toBe(null);
  });

  it('noisy neighbour: judged on the capped cells when the run has them, the uncapped figure beside', () => {
    const free = cell('noisy', 'noisy', 1, 1e5, { victims: [0.3], trapRatio: 6 });
    const capped = cell('noisy', 'noisy cap 5%', 1, 1e5, { victims: [0.85], cap: 5, trapRatio: 1.5 });
    const t = targets([free, capped], LIMITS).find((x) => x.name === 'noisy neighbour')!;
    expect(t.ok).toBe(true);
    expect(t.detail).toBe('with the flooding guest capped at 5% of a CPU: worst victim keeps 0.85x of its throughput without the flood (>= 0.8x), trap p99 1.5x its own without the flood (<= 5x); uncapped 0.3x, trap p99 6x');
    expect(targets([free], LIMITS).find((x) => x.name === 'noisy neighbour')?.ok).toBe(false);
    const slowTraps = cell('noisy', 'noisy cap 5%', 1, 1e5, { victims: [0.9], cap: 5, trapRatio: 5.5 });
    expect(targets([slowTraps], LIMITS).find((x) => x.name === 'noisy neighbour')?.ok).toBe(false);
    const md = benchMarkdown({ ...report(), cells: [free, capped] }, 'vsmmu bench --workloads noisy');
    expect(md).toContain('- 1 victim, flooding guest capped at 5% (parked 10 times, charged 50 ms): guest1 0.85x (trap p99 1.5x)');
    expect(md).toContain('- 1 victim, flooding guest uncapped: guest1 0.3x (trap p99 6x)');
    expect(renderTable({ ...report(), cells: [capped] })).toContain('flooding guest noisy capped at 5%: parked 10 times');
  });

  it('noisy neighbour: the control (the victims between their own rounds without the flood) is given beside', () => {
    const capped = { ...cell('noisy', 'noisy cap 5%', 2, 1e5, { victims: [0.85, 0.9], cap: 5, trapRatio: 1.5 }), victimControl: 0.83 };
    const t = targets([capped], LIMITS).find((x) => x.name === 'noisy neighbour')!;
    expect(t.detail).toContain('worst victim keeps 0.85x of its throughput without the flood (>= 0.8x) (control, no flood at all: 0.83x)');
    expect(renderTable({ ...report(), cells: [capped] })).toContain('  control: the worst victim keeps 0.83x between its own rounds without the flood');
    expect(benchMarkdown({ ...report(), cells: [capped] }, 'vsmmu bench')).toContain('guest2 0.9x (trap p99 1.5x); control, the worst victim between its own rounds without the flood: 0.83x');
    // Reports saved before the control have none, and say nothing of it.
    const { victimControl: _, ...saved } = capped;
    expect(targets([saved], LIMITS).find((x) => x.name === 'noisy neighbour')!.detail).not.toContain('control');
  });

  it('the JSON schema names every field of a cell the report carries', () => {
    const c = report().cells[0]!;
    expect([...BENCH_SCHEMA.properties.cells.items.required].sort()).toEqual(Object.keys(c).sort());
    expect([...BENCH_SCHEMA.required].sort()).toEqual(Object.keys(report()).sort());
  });
});
