// The stress kind: one seed is one `vsmmu stress` run (src/system/stress.ts), with the same
// options, so a campaign runs its seeds the way `vsmmu stress --seeds` does.
import { runStress } from '../../system/stress.ts';
import type { RunnerOptions, SeedResult } from '../types.ts';

export const STRESS_DEFAULTS = { guests: 3, rounds: 400 } as const;

function sizes(o: RunnerOptions): { guests: number; rounds: number } {
  const guests = typeof o['guests'] === 'number' ? o['guests'] : STRESS_DEFAULTS.guests;
  const rounds = typeof o['rounds'] === 'number' ? o['rounds'] : STRESS_DEFAULTS.rounds;
  return { guests, rounds };
}

/** The command that runs one seed again (also used when a run throws). */
export function replay(seed: number, o: RunnerOptions): string {
  const { guests, rounds } = sizes(o);
  return `vsmmu stress --seeds 1 --seed ${seed} --guests ${guests} --rounds ${rounds}`;
}

export async function runSeed(seed: number, o: RunnerOptions): Promise<SeedResult> {
  const r = await runStress({ seed, ...sizes(o) });
  const base = { seed, ok: r.ok, ops: r.dmas + r.maps + r.unmaps, replay: replay(seed, o) };
  return r.violation === undefined ? { ...base, violations: [] } : { ...base, violations: [r.violation] };
}
