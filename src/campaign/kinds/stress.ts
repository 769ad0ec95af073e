// The stress kind: one seed is one `vsmmu stress` run (runStress, src/system/stress.ts) with
// the campaign's options, so campaigns run seeds the way `vsmmu stress --seeds` does (sim
// mode by default: the digest identifies the run, the replay command reproduces it). A
// failing sim-mode seed is shrunk (src/system/shrink.ts, bounded) unless options.shrink is false.
import { shrinkStress } from '../../system/shrink.ts';
import { runStress, stressReplay, type StressOptions } from '../../system/stress.ts';
import type { SimStrategy } from '../../sim/scheduler.ts';
import type { XenProfileName } from '../../xen/profile.ts';
import type { RunnerOptions, SeedResult } from '../types.ts';

/** Bounds of one seed's shrinking (a campaign may find many failures): runs (options.shrinkRuns) and time. */
const SHRINK_RUNS = 60;
const SHRINK_MS = 30_000;

export function stressOptions(seed: number, o: RunnerOptions): StressOptions {
  const num = (k: string): number | undefined => (typeof o[k] === 'number' ? o[k] : undefined);
  const guests = num('guests');
  const rounds = num('rounds');
  const depth = num('depth');
  return {
    seed,
    ...(guests === undefined ? {} : { guests }),
    ...(rounds === undefined ? {} : { rounds }),
    mode: o['mode'] === 'threads' ? 'threads' : 'sim',
    ...(typeof o['strategy'] === 'string' ? { strategy: o['strategy'] as SimStrategy } : {}),
    ...(depth === undefined ? {} : { depth }),
    ...(o['chaos'] === false ? { chaos: false } : {}),
    ...(typeof o['mutation'] === 'string' ? { mutation: o['mutation'] } : {}),
    ...(typeof o['profile'] === 'string' ? { profile: o['profile'] as XenProfileName } : {}),
  };
}

/** The command that runs one seed again (also recorded when a run throws). */
export function replay(seed: number, o: RunnerOptions): string {
  return stressReplay(stressOptions(seed, o));
}

export async function runSeed(seed: number, o: RunnerOptions): Promise<SeedResult> {
  const options = stressOptions(seed, o);
  const r = await runStress(options);
  const base = { seed, ok: r.ok, ops: r.ops, replay: r.replay, ...(r.digest === undefined ? {} : { digest: r.digest }) };
  if (r.violation === undefined) return { ...base, violations: [] };
  const shrunk = options.mode === 'sim' && o['shrink'] !== false ? await shrinkStress(options, { maxRuns: typeof o['shrinkRuns'] === 'number' ? o['shrinkRuns'] : SHRINK_RUNS, timeMs: SHRINK_MS }) : null;
  return { ...base, violations: [r.violation], ...(shrunk === null ? {} : { shrunk: `${shrunk.report.replay}  # ${shrunk.ops} operation(s): ${shrunk.report.violation ?? ''}` }) };
}
