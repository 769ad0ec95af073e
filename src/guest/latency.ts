// Latency samples (e.g. one per trapped MMIO access) with percentiles for summaries. Keeps
// the last `capacity` samples in a ring (bounded memory for long runs); count, sum and max
// cover every sample.

export interface LatencySummary {
  readonly count: number;
  /** Microseconds. */
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

export class LatencyRecorder {
  private readonly ring: Float64Array;
  private n = 0;
  private sum = 0;
  private max = 0;

  constructor(capacity = 1 << 16) {
    this.ring = new Float64Array(capacity);
  }

  /** Records one sample in milliseconds (performance.now() differences). */
  record(ms: number): void {
    this.ring[this.n % this.ring.length] = ms;
    this.n++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  get count(): number {
    return this.n;
  }

  reset(): void {
    this.n = 0;
    this.sum = 0;
    this.max = 0;
  }

  summary(): LatencySummary {
    const k = Math.min(this.n, this.ring.length);
    const s = this.ring.slice(0, k).sort();
    const pct = (p: number): number => (k === 0 ? 0 : (s[Math.min(k - 1, Math.ceil((p / 100) * k) - 1)] ?? 0) * 1000);
    const us = (v: number): number => Math.round(v * 1000) / 1000;
    return {
      count: this.n,
      meanUs: us(this.n === 0 ? 0 : (this.sum / this.n) * 1000),
      p50Us: us(pct(50)),
      p90Us: us(pct(90)),
      p99Us: us(pct(99)),
      p999Us: us(pct(99.9)),
      maxUs: us(this.max * 1000),
    };
  }
}
