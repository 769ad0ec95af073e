// Shrinking a failing sim-mode stress run to a smaller one that still fails: without chaos if
// it fails without, fewer guests, fewer operations (a shorter prefix), then delta debugging
// (Zeller's ddmin) over each guest's operation indices. Every candidate is a whole run from
// the same seed; the operations are intentions that are skipped when the state does not
// allow them, so any subset is a valid run. Bounded by a number of runs and a time.
import { runStress, type StressOptions, type StressReport } from './stress.ts';

export interface ShrinkOptions {
  /** Candidate runs at most (default 150). */
  readonly maxRuns?: number;
  /** Wall-clock bound in ms (default 60 000). */
  readonly timeMs?: number;
}

export interface ShrinkResult {
  /** The smallest failing options found (replay them with `report.replay`). */
  readonly options: StressOptions;
  readonly report: StressReport;
  /** Candidate runs tried. */
  readonly runs: number;
  /** Operations kept, over all guests. */
  readonly ops: number;
}

export async function shrinkStress(failing: StressOptions, opts: ShrinkOptions = {}): Promise<ShrinkResult | null> {
  const maxRuns = opts.maxRuns ?? 150;
  const deadline = performance.now() + (opts.timeMs ?? 60_000);
  let runs = 0;
  const base: StressOptions = { ...failing, mode: 'sim' };
  let best: StressOptions = base;
  let bestReport = await runStress(base);
  runs++;
  if (bestReport.ok) return null; // it does not fail in sim mode: nothing to shrink
  const left = (): boolean => runs < maxRuns && performance.now() < deadline;
  const fails = async (o: StressOptions): Promise<boolean> => {
    if (!left()) return false;
    runs++;
    const r = await runStress(o);
    if (r.ok) return false;
    best = o;
    bestReport = r;
    return true;
  };

  if (best.chaos !== false) await fails({ ...best, chaos: false });
  for (let g = 1; g < (best.guests ?? 3) && left(); g++) if (await fails({ ...best, guests: g })) break;
  // The shortest prefix that still fails (binary search; failing is not always monotonic, so
  // this keeps the shortest failing length it saw).
  let lo = 1;
  let hi = best.rounds ?? 400;
  while (lo < hi && left()) {
    const mid = Math.floor((lo + hi) / 2);
    if (await fails({ ...best, rounds: mid })) hi = mid;
    else lo = mid + 1;
  }
  // ddmin over each guest's operation indices.
  const rounds = best.rounds ?? 400;
  const guests = best.guests ?? 3;
  const keep: Record<string, number[]> = {};
  for (let g = 0; g < guests; g++) keep[`g${g + 1}`] = best.keep?.[`g${g + 1}`]?.slice() ?? Array.from({ length: rounds }, (_, i) => i);
  for (const name of Object.keys(keep)) {
    let ops = keep[name]!;
    let n = 2;
    while (ops.length > 0 && left()) {
      const chunk = Math.ceil(ops.length / n);
      let reduced = false;
      for (let i = 0; i < ops.length && left(); i += chunk) {
        const candidate = [...ops.slice(0, i), ...ops.slice(i + chunk)];
        if (await fails({ ...best, keep: { ...keep, [name]: candidate } })) {
          ops = candidate;
          keep[name] = ops;
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
      if (!reduced) {
        if (chunk <= 1) break;
        n = Math.min(ops.length, n * 2);
      }
    }
    keep[name] = ops;
  }
  const kept = best.keep ? Object.values(best.keep).reduce((s, k) => s + k.length, 0) : rounds * guests;
  return { options: best, report: bestReport, runs, ops: kept };
}
