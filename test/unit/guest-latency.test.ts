// The latency summary: one histogram, so every figure covers the same samples (all of them).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyRecorder } from '../../src/guest/latency.ts';

/** Nearest-rank percentile of sorted values. */
function rank(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

describe('LatencyRecorder', () => {
  it('every figure covers every sample, also past 64K samples', () => {
    const l = new LatencyRecorder();
    for (let i = 0; i < 70_000; i++) l.record(0.01); // 10 us
    for (let i = 0; i < 70_000; i++) l.record(0.02); // 20 us
    const s = l.summary();
    expect(s).toMatchObject({ count: 140_000, p50Us: 10, p90Us: 20, maxUs: 20 });
    expect(s.meanUs).toBe(15);
  });

  it('an empty recorder summarises to zeros; reset empties it', () => {
    const l = new LatencyRecorder();
    expect(l.summary()).toEqual({ count: 0, meanUs: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 });
    l.record(1);
    expect(l.count).toBe(1);
    l.reset();
    expect(l.summary().count).toBe(0);
  });

  it('a sample below 1 ns or beyond the range still counts (clamped)', () => {
    const l = new LatencyRecorder();
    l.record(0);
    l.record(1e9); // 11.6 days
    const s = l.summary();
    expect(s.count).toBe(2);
    expect(s.maxUs).toBeGreaterThan(1e8);
  });

  it('agrees with exact figures to the histogram precision (3 significant digits)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 50_000_000 }), { minLength: 1, maxLength: 400 }), (ns) => {
        const l = new LatencyRecorder();
        for (const v of ns) l.record(v / 1e6);
        const s = l.summary();
        const sorted = [...ns].sort((a, b) => a - b);
        // Histogram buckets (1 part in 2048) plus rounding to 3 significant digits (up to 0.5%).
        const near = (got: number, wantNs: number): boolean => Math.abs(got - wantNs / 1000) <= (wantNs / 1000) * 0.006 + 0.001;
        expect(s.count).toBe(ns.length);
        expect(near(s.p50Us, rank(sorted, 50))).toBe(true);
        expect(near(s.p99Us, rank(sorted, 99))).toBe(true);
        expect(near(s.maxUs, sorted.at(-1) ?? 0)).toBe(true);
        expect(near(s.meanUs, ns.reduce((a, b) => a + b, 0) / ns.length)).toBe(true);
        expect(s.p50Us <= s.p90Us && s.p90Us <= s.p99Us && s.p99Us <= s.p999Us && s.p999Us <= s.maxUs).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('LatencyRecorder disposal', () => {
  it('a disposed recorder\'s histogram serves the next one, emptied', () => {
    {
      using a = new LatencyRecorder();
      a.record(1);
      expect(a.count).toBe(1);
    }
    using b = new LatencyRecorder();
    expect(b.summary().count).toBe(0);
  });
  it('a recorder used after dispose starts afresh, never sharing the histogram it gave away', () => {
    const a = new LatencyRecorder();
    a.record(1);
    a[Symbol.dispose]();
    expect(a.count).toBe(0);
    using b = new LatencyRecorder(); // takes a's histogram, cleared
    b.record(2);
    a.record(3);
    expect([a.count, b.count]).toEqual([1, 1]);
  });
});
