// Latency samples (e.g. one per trapped MMIO access) summarised from one HDR histogram
// (perf_hooks.createHistogram): constant memory however long the run, and every figure of
// the summary (count, mean, percentiles, max) covers the same samples, all of them since the
// last reset. The histogram keeps 3 significant digits, so figures are reported to 3.
//
// A histogram is ~200 KiB of native memory that takes ~0.4 ms to allocate and that the
// garbage collector does not see: a recorder made per call (a DMA stream) is disposed with
// `using`, which hands its histogram to the next recorder on the thread instead.

import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

export interface LatencySummary {
  readonly count: number;
  /** Microseconds, to the histogram's 3 significant digits. */
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

/** Samples are kept in nanoseconds, from 1 ns up to this (longer ones count as this). */
const HIGHEST_NS = 2 ** 37; // about 137 s
const FIGURES = 3;

/** `v` to `FIGURES` significant digits. */
function sig(v: number): number {
  return v === 0 || !Number.isFinite(v) ? 0 : Number(v.toPrecision(FIGURES));
}

/** Histograms of disposed recorders, for the next ones on this thread (a few at most). */
const spare: RecordableHistogram[] = [];
const SPARE_MAX = 4;

export class LatencyRecorder implements Disposable {
  #h: RecordableHistogram | null = null;

  /** The argument is ignored (it was a sample ring's size); memory is constant anyway. */
  constructor(_capacity?: number) {}

  /** Records one sample in milliseconds (a difference of the clock the guest is given). */
  record(ms: number): void {
    const ns = Math.round(ms * 1e6);
    // The histogram refuses values outside [1, HIGHEST_NS]; a sample still counts, clamped.
    this.#live().record(ns >= HIGHEST_NS ? HIGHEST_NS : ns >= 1 ? ns : 1);
  }

  get count(): number {
    return this.#h?.count ?? 0;
  }

  reset(): void {
    this.#h?.reset();
  }

  /** Gives the histogram to the next recorder on this thread (one used again takes another). */
  [Symbol.dispose](): void {
    const h = this.#h;
    this.#h = null;
    if (h !== null && spare.length < SPARE_MAX) {
      h.reset();
      spare.push(h);
    }
  }

  #live(): RecordableHistogram {
    return (this.#h ??= spare.pop() ?? createHistogram({ lowest: 1, highest: HIGHEST_NS, figures: FIGURES }));
  }

  summary(): LatencySummary {
    const h = this.#h;
    if (h === null || h.count === 0) return { count: 0, meanUs: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
    const us = (ns: number): number => sig(ns / 1000);
    return {
      count: h.count,
      meanUs: us(h.mean),
      p50Us: us(h.percentile(50)),
      p90Us: us(h.percentile(90)),
      p99Us: us(h.percentile(99)),
      p999Us: us(h.percentile(99.9)),
      maxUs: us(h.max),
    };
  }
}
