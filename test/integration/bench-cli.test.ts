// `vsmmu bench` end to end on real threads: a short matrix as JSON, every figure beside its
// limit and ratio (structure only: no timed assertions), the SVG chart with one series per
// workload, and the usage errors.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOMParser } from '@xmldom/xmldom';
import type { BenchReport } from '../../src/index.ts';
import { cli } from '../support/cli.ts';


/** Every object under `v` that looks like a figure (has a value and a unit). */
function figures(v: unknown, path = '$', out: [string, Record<string, unknown>][] = []): [string, Record<string, unknown>][] {
  if (Array.isArray(v)) v.forEach((x, i) => figures(x, `${path}[${i}]`, out));
  else if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if ('value' in o && 'unit' in o) out.push([path, o]);
    else for (const [k, x] of Object.entries(o)) figures(x, `${path}.${k}`, out);
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'vsmmu-bench-'));

describe('vsmmu bench', () => {
  it('runs a short matrix: JSON with each figure beside its limit and ratio, and an SVG with a series per workload', async () => {
    const svgFile = join(dir, 'bench.svg');
    const workloads = ['stream', 'strict', 'lazy', 'reconfig', 'noisy'];
    const r = await cli(['bench', '--guests', '1,2', '--seconds', '0.2', '--workloads', workloads.join(','), '--json', '--svg', svgFile]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as BenchReport;
    expect(rep.schema).toBe('vsmmu-bench/1');
    expect(rep.options.guests).toEqual([1, 2]);
    // The default thread priority, and the one in force (equal where it cannot be raised).
    expect(rep.options.priority).toBe('hardware-first');
    expect(['hardware-first', 'equal']).toContain(rep.machine.priority);
    // The SMMU shares the CPUs unless asked otherwise.
    expect(rep.options.smmuCpu).toBe('shared');
    expect(rep.machine.smmuCpu).toBeNull();
    for (const k of ['memcpyMiBs', 'ringPerS'] as const) expect(rep.limits[k]).toBeGreaterThan(0);
    expect(rep.limits.relay.count).toBeGreaterThan(0);
    expect(rep.limits.pingPong.count).toBeGreaterThan(0);
    for (const w of workloads) for (const g of [1, 2]) expect(rep.cells.some((c) => c.workload === w && c.guests === g)).toBe(true);
    for (const c of rep.cells) {
      expect(c.errors, `${c.series} x ${c.guests}`).toEqual([]);
      expect(c.perGuest.length).toBe(c.workload === 'noisy' ? c.guests + 1 : c.guests);
      expect(c.perGuest.every((g) => g.error === null)).toBe(true);
      expect(c.pingPongBeside.count).toBeGreaterThan(0);
    }
    const all = figures(rep.cells);
    expect(all.length).toBeGreaterThan(rep.cells.length * 10);
    for (const [path, f] of all) {
      expect(typeof f['value'], path).toBe('number');
      expect(typeof f['limit'], path).toBe('number');
      expect(typeof f['ratio'], path).toBe('number');
      expect(typeof f['limitName'], path).toBe('string');
    }
    // Each workload did its own kind of work.
    const one = (series: string) => rep.cells.find((c) => c.series === series && c.guests === 1)!;
    expect(one('stream').aggregate.dmaPerS.value).toBeGreaterThan(0);
    expect(one('strict').syncLatency?.count).toBeGreaterThan(0);
    expect(one('lazy').syncLatency?.count).toBeGreaterThan(0);
    expect(one('reconfig').aggregate.reconfigsPerS).toBeGreaterThan(0);
    expect(one('noisy').faultToIrq?.count).toBeGreaterThan(0);
    expect(one('noisy').victims?.length).toBe(1);
    // The capped noisy series (--noisy-cap, default 5): the flooding guest's cap and scheduler.
    expect(one('noisy').flooder).toMatchObject({ name: 'noisy', cap: 0, parks: 0 });
    expect(one('noisy cap 5%').flooder).toMatchObject({ name: 'noisy', cap: 5 });
    expect(one('noisy cap 5%').victims?.length).toBe(1);
    // The control: the victim between its own rounds without the flood (lower over higher).
    for (const s of ['noisy', 'noisy cap 5%']) {
      expect(one(s).victimControl).toBeGreaterThan(0);
      expect(one(s).victimControl).toBeLessThanOrEqual(1);
    }
    expect(one('stream').victimControl).toBeNull();
    expect(rep.options.noisyCap).toBe(5);
    expect(rep.targets.map((t) => t.name)).toEqual(['no collapse', 'stream bandwidth', 'trap latency under load', 'noisy neighbour']);

    const doc = new DOMParser().parseFromString(readFileSync(svgFile, 'utf8'), 'image/svg+xml');
    const lines = Array.from(doc.getElementsByTagName('g')).filter((g) => (g.getAttribute('class') ?? '').split(' ').includes('throughput_marks'));
    const texts = new Set(Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent ?? ''));
    const series = new Set(rep.cells.map((c) => c.series));
    expect(lines.length).toBe(series.size);
    for (const w of workloads) expect(texts.has(w)).toBe(true);

    // The saved report renders again without a run: the table, and a page's generated section.
    const saved = join(dir, 'bench.json');
    const page = join(dir, 'perf.md');
    writeFileSync(saved, r.out);
    writeFileSync(page, '# Performance\n\nintro\n\n## Micro benchmarks\n\nkept\n');
    const again = await cli(['bench', '--from', saved, '--markdown', page]);
    expect(again.code).toBe(0);
    expect(again.out).toContain('stream walk');
    const md = readFileSync(page, 'utf8');
    expect(md).toContain('vsmmu bench --guests 1,2 --seconds 0.2 --json');
    expect(md).toContain('## Micro benchmarks\n\nkept');
    for (const w of workloads) expect(md).toContain(`| ${w} | 2 |`);
  }, 180_000); // bounded by its --seconds: 16 cells of 0.2 s plus two systems' boot

  it('refuses bad options with a usage error', async () => {
    for (const argv of [['--guests', '0'], ['--guests', '1,,2'], ['--workloads', 'stream,fast'], ['--seconds', '0'], ['--profile', 'rfc,bogus'], ['--noisy-cap', '101'], ['--noisy-cap', '2.5'], ['--priority', 'high'], ['--smmu-cpu', 'own']]) {
      const r = await cli(['bench', ...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(/\[EVSMMU_USAGE\]\n$/);
    }
    const notReport = join(dir, 'not-a-report.json');
    writeFileSync(notReport, '{"ok": true}');
    const bad = await cli(['bench', '--from', notReport]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/not a report of 'vsmmu bench --json'.*\[EVSMMU_FILE\]\n$/);
    const h = await cli(['bench', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toContain('Usage: vsmmu bench');
  });
});
