// The fuzz kind: one seed is one `vsmmu fuzz` run (runFuzzSeed, src/fuzz/run.ts): a hostile
// guest beside well-behaved ones, the invariants checked after every input. A failing seed
// is shrunk (unless options.shrink is false) to its smallest failing input list, recorded as
// JSON: save it to a file and replay it with `vsmmu fuzz --seed S --replay FILE`.
import { replayCommand, runFuzzSeed, type FuzzOptions } from '../../fuzz/run.ts';
import type { RunnerOptions, SeedResult } from '../types.ts';

export function fuzzOptions(o: RunnerOptions): FuzzOptions {
  const num = (k: string): number | undefined => (typeof o[k] === 'number' ? o[k] : undefined);
  const iterations = num('iterations');
  const guests = num('guests');
  const shrinkRuns = num('shrinkRuns');
  return {
    ...(iterations === undefined ? {} : { iterations }),
    ...(guests === undefined ? {} : { guests }),
    mode: o['mode'] === 'threads' ? 'threads' : 'sim',
    ...(typeof o['profile'] === 'string' ? { profile: o['profile'] } : {}),
    shrink: o['shrink'] !== false,
    ...(shrinkRuns === undefined ? {} : { shrinkRuns }),
  };
}

/** The command that runs one seed again (also recorded when a run throws). */
export function replay(seed: number, o: RunnerOptions): string {
  return replayCommand(seed, fuzzOptions(o));
}

export async function runSeed(seed: number, o: RunnerOptions): Promise<SeedResult> {
  const r = await runFuzzSeed(seed, fuzzOptions(o));
  return {
    seed,
    ok: r.ok,
    ops: r.inputs,
    violations: r.violations.map((v) => `${v.kind}${v.step >= 0 ? ` after input ${v.step}` : ' at the end'}: ${v.what}`),
    replay: r.replay,
    ...(r.digest === undefined ? {} : { digest: r.digest }),
    ...(r.minimal === undefined ? {} : { shrunk: JSON.stringify(r.minimal) }),
  };
}
