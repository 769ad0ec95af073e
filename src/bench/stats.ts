// Statistics of the benchmark: latency percentiles from perf_hooks histograms (HDR, 3
// significant digits, constant memory), Jain's fairness index, and figures reported beside
// their limit as a ratio.
import { createHistogram, type Histogram, type RecordableHistogram } from 'node:perf_hooks';

/** Latency percentiles in microseconds, to the histogram's 3 significant digits. */
export interface Percentiles {
  readonly count: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

function sig(v: number): number {
  return v === 0 || !Number.isFinite(v) ? 0 : Number(v.toPrecision(3));
}

/** The percentiles of a histogram of nanosecond samples. */
export function summarizeNs(h: Histogram): Percentiles {
  if (h.count === 0) return { count: 0, p50Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
  return {
    count: h.count,
    p50Us: sig(h.percentile(50) / 1000),
    p99Us: sig(h.percentile(99) / 1000),
    p999Us: sig(h.percentile(99.9) / 1000),
    maxUs: sig(h.max / 1000),
  };
}

/** One histogram of every sample (ns) of every list: percentiles over all of them. */
export function histogramOf(lists: readonly (readonly number[])[]): RecordableHistogram {
  const h = createHistogram({ lowest: 1, highest: 2 ** 37, figures: 3 });
  for (const l of lists) for (const v of l) h.record(Math.min(2 ** 37, Math.max(1, Math.round(v))));
  return h;
}

/** Jain's fairness index of non-negative shares: 1 all equal, 1/n one takes all. */
export function jain(xs: readonly number[]): number {
  if (xs.length === 0) return 1;
  let s = 0;
  let s2 = 0;
  for (const x of xs) {
    s += x;
    s2 += x * x;
  }
  return s2 === 0 ? 1 : (s * s) / (xs.length * s2);
}

/** A measured figure beside the limit it is compared with. */
export interface Figure {
  readonly value: number;
  readonly unit: string;
  /** The same quantity for the bare primitive measured in the same run. */
  readonly limit: number;
  /** Which bare primitive the limit is. */
  readonly limitName: string;
  /** value / limit (0 when the limit is 0). */
  readonly ratio: number;
}

export function figure(value: number, unit: string, limit: number, limitName: string): Figure {
  const v = Number.isFinite(value) ? value : 0;
  return { value: sig(v), unit, limit: sig(limit), limitName, ratio: limit > 0 ? sig(v / limit) : 0 };
}

/** Latency percentiles, each beside the same percentile of its limit. */
export interface LatencyFigures {
  readonly count: number;
  readonly p50: Figure;
  readonly p99: Figure;
  readonly p999: Figure;
  readonly max: Figure;
}

export function latencyFigures(p: Percentiles, limit: Percentiles, limitName: string): LatencyFigures {
  return {
    count: p.count,
    p50: figure(p.p50Us, 'us', limit.p50Us, limitName),
    p99: figure(p.p99Us, 'us', limit.p99Us, limitName),
    p999: figure(p.p999Us, 'us', limit.p999Us, limitName),
    max: figure(p.maxUs, 'us', limit.maxUs, limitName),
  };
}
