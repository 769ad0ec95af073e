// The tracer, its bounded ring and the Chrome Trace Event writer, in one thread under a
// virtual clock (as the sim runner uses them).
import { describe, expect, it } from 'vitest';
import { chromeTrace, flowId, formatChromeTrace, NO_TRACE, TraceRecorder, traceJson, validateChromeTrace } from '../../src/trace/index.ts';

/** A virtual clock that stands still unless moved. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** A guest command forwarded by Xen and executed by the SMMU, on three tracers. */
function scenario(rec: TraceRecorder, c: ReturnType<typeof clock>): void {
  const guest = rec.tracer('guest g1');
  const xen = rec.tracer('xen');
  const smmu = rec.tracer('smmu');
  const g = flowId(2, 5);
  const p = flowId(0, 9);
  let t0 = guest.stamp();
  guest.flow('cmdq', 's', g, 'TLBI_NH_VA');
  guest.slice('cmdq', 'cmdq write', t0, { n: 1 });
  c.advance(0.01);
  t0 = xen.stamp();
  xen.flow('d1 cmdq', 't', g);
  xen.cause = g;
  const t1 = xen.stamp();
  xen.flow('smmu cmdq', 's', p, 'TLBI_NH_VA');
  xen.slice('smmu cmdq', 'issue TLBI_NH_VA', t1);
  xen.cause = 0;
  xen.slice('d1 cmdq', 'TLBI_NH_VA', t0, { vsid: 1 });
  c.advance(0.01);
  t0 = smmu.stamp();
  smmu.flow('cmdq', 'f', p);
  smmu.slice('cmdq', 'TLBI_NH_VA', t0);
  smmu.counter('cmdq depth', 3);
  smmu.instant('evtq', 'event F_TRANSLATION', { sid: 16 });
  c.advance(0.01);
  t0 = guest.stamp();
  guest.flow('cmdq', 'f', g);
  guest.slice('cmdq', 'CMD_SYNC complete', t0);
}

describe('tracer', () => {
  it('records nothing while stopped, and the default tracer never records', () => {
    const c = clock();
    const rec = new TraceRecorder(c.now);
    const t = rec.tracer('a');
    expect(t.enabled).toBe(false);
    t.instant('x', 'nothing');
    expect(rec.collect().events).toEqual([]);
    expect(NO_TRACE.enabled).toBe(false);
    NO_TRACE.instant('x', 'nothing');
    rec.start({ capacity: 16 });
    expect(t.enabled).toBe(true);
    t.instant('x', 'one');
    rec.stop();
    t.instant('x', 'after stop');
    expect(rec.collect().events.map((e) => e.name)).toEqual(['one']);
  });

  it('keeps only the last `capacity` events (a bounded ring)', () => {
    const rec = new TraceRecorder(clock().now);
    const t = rec.tracer('a');
    rec.start({ capacity: 64 });
    for (let i = 0; i < 10_000; i++) t.counter('n', i);
    const d = rec.collect();
    expect(d.events).toHaveLength(64);
    expect(d.dropped).toBe(10_000 - 64);
    expect(d.events[0]?.value).toBe(10_000 - 64);
    expect(d.events[63]?.value).toBe(9_999);
    expect(() => rec.start({ capacity: 3 })).toThrow(RangeError);
  });

  it('stamps strictly increase under a clock that stands still', () => {
    const rec = new TraceRecorder(() => 5);
    const t = rec.tracer('a');
    rec.start();
    const a = t.stamp();
    const b = t.stamp();
    expect(b).toBeGreaterThan(a);
  });
});

describe('Chrome Trace Event writer', () => {
  it('writes a valid trace: named processes and threads, nested slices, complete flows', () => {
    const c = clock();
    const rec = new TraceRecorder(c.now);
    rec.start();
    scenario(rec, c);
    const t = chromeTrace([rec.collect()]);
    expect(validateChromeTrace(t)).toEqual([]);
    const names = t.traceEvents.filter((e) => e.name === 'process_name').map((e) => e.args?.['name']);
    expect(names).toEqual(['guest g1', 'smmu', 'xen']);
    // Two chains: the guest command (s, t, t, f) and the physical command (s, f).
    const flows = t.traceEvents.filter((e) => e.cat === 'flow');
    const byId = Map.groupBy(flows, (e) => e.id);
    expect([...byId.values()].map((l) => l.map((e) => e.ph).join(''))).toEqual(['sttf', 'sf']);
  });

  it('mends flows a ring cut: a lone start is dropped, a chain without its end ends at its last step', () => {
    const c = clock();
    const rec = new TraceRecorder(c.now);
    const a = rec.tracer('a');
    rec.start();
    let t0 = a.stamp();
    a.flow('q', 's', 7);
    a.slice('q', 'lone', t0);
    t0 = a.stamp();
    a.flow('q', 's', 8);
    a.slice('q', 'start', t0);
    t0 = a.stamp();
    a.flow('q', 't', 8);
    a.slice('q', 'step', t0);
    a.flow('q', 't', 8); // outside any slice: bound to nothing, dropped
    const t = chromeTrace([rec.collect()]);
    expect(validateChromeTrace(t)).toEqual([]);
    expect(t.traceEvents.filter((e) => e.cat === 'flow').map((e) => e.ph)).toEqual(['s', 'f']);
  });

  it('gives the same bytes for the same run (virtual time)', () => {
    const run = (): string => {
      const c = clock();
      const rec = new TraceRecorder(c.now);
      rec.start();
      scenario(rec, c);
      return traceJson([rec.collect()], { metadata: { seed: 42 } });
    };
    const a = run();
    expect(run()).toBe(a);
    expect(JSON.parse(a).otherData.seed).toBe(42);
  });

  it('the checker finds what viewers cannot draw', () => {
    const bad = validateChromeTrace({
      traceEvents: [
        { name: 'process_name', ph: 'M', pid: 1, args: { name: 'p' } },
        { name: 'open', ph: 'B', ts: 1, pid: 1, tid: 2 },
        { name: 'lost', ph: 's', cat: 'flow', id: 1, ts: 1, pid: 1, tid: 2 },
        { name: 'x', ph: 'X', ts: 5, dur: -1, pid: 3, tid: 1 },
      ],
    });
    expect(bad.join('\n')).toMatch(/tid 2 of pid 1 has no thread_name/);
    expect(bad.join('\n')).toMatch(/without E/);
    expect(bad.join('\n')).toMatch(/phases s/);
    expect(bad.join('\n')).toMatch(/pid 3 has no process_name/);
    expect(bad.join('\n')).toMatch(/dur >= 0/);
    expect(formatChromeTrace({ traceEvents: [], displayTimeUnit: 'ns', otherData: {} })).toContain('"traceEvents":[');
  });
});
