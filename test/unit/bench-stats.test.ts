// The bench statistics: Jain's index, percentiles from perf_hooks histograms, figures with
// their limit and ratio.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { figure, histogramOf, jain, latencyFigures, summarizeNs } from '../../src/bench/stats.ts';

describe('bench statistics', () => {
  it("Jain's index is 1 for equal shares and 1/n when one guest takes all", () => {
    expect(jain([5, 5, 5, 5])).toBeCloseTo(1, 12);
    expect(jain([7, 0, 0, 0])).toBeCloseTo(0.25, 12);
    expect(jain([])).toBe(1);
    expect(jain([0, 0])).toBe(1);
  });

  it("Jain's index lies in [1/n, 1] and ignores the unit", () => {
    fc.assert(
      // Throughputs: 0, or at least 1e-6 (a scaled subnormal would underflow to 0 and change
      // the shares, which no measured figure does).
      fc.property(fc.array(fc.oneof(fc.constant(0), fc.double({ min: 1e-6, max: 1e9, noNaN: true })), { minLength: 1, maxLength: 32 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (xs, k) => {
        const j = jain(xs);
        expect(j).toBeGreaterThanOrEqual(1 / xs.length - 1e-9);
        expect(j).toBeLessThanOrEqual(1 + 1e-9);
        expect(jain(xs.map((x) => x * k))).toBeCloseTo(j, 6);
      }),
    );
  });

  it('percentiles come from one histogram over every list of samples', () => {
    const a = Array.from({ length: 900 }, () => 1000); // 1 us
    const b = Array.from({ length: 100 }, () => 1_000_000); // 1 ms
    const p = summarizeNs(histogramOf([a, b]));
    expect(p.count).toBe(1000);
    expect(p.p50Us).toBeCloseTo(1, 2);
    expect(p.p99Us).toBeCloseTo(1000, -1);
    expect(p.maxUs).toBeCloseTo(1000, -1);
    expect(summarizeNs(histogramOf([]))).toEqual({ count: 0, p50Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 });
  });

  it('a figure carries its limit and the ratio to it', () => {
    expect(figure(50, 'MiB/s', 200, 'bare memcpy')).toEqual({ value: 50, unit: 'MiB/s', limit: 200, limitName: 'bare memcpy', ratio: 0.25 });
    expect(figure(5, 'x', 0, 'none').ratio).toBe(0);
    const l = latencyFigures({ count: 3, p50Us: 2, p99Us: 10, p999Us: 20, maxUs: 40 }, { count: 9, p50Us: 1, p99Us: 5, p999Us: 5, maxUs: 10 }, 'ping-pong');
    expect(l.count).toBe(3);
    expect([l.p50.ratio, l.p99.ratio, l.p999.ratio, l.max.ratio]).toEqual([2, 2, 4, 4]);
    expect(l.p99.limitName).toBe('ping-pong');
  });
});
