// A campaign runner whose seeds do nothing: what is left of a seed's time is the queue's
// (bench/campaign.ts).
import type { SeedResult } from '../src/campaign/types.ts';

export function runSeed(seed: number): Promise<SeedResult> {
  return Promise.resolve({ seed, ok: true, ops: 0, violations: [], replay: `seed ${seed}` });
}
