// The system stress run (src/system/stress.ts) with a random seed each time: guests mapping,
// unmapping and DMAing concurrently, every result checked from outside. A failure names the
// seed; replay it with
//   VSMMU_SEED=<seed> npx vitest run test/stress/system-stress.test.ts
// or `vsmmu stress --seeds 1 --seed <seed>`.
import { describe, expect, it } from 'vitest';
import { runStress } from '../../src/system/stress.ts';

const SEED = Number(process.env['VSMMU_SEED'] ?? 1 + Math.floor(Math.random() * 2 ** 30));

describe('system stress: guests mapping, unmapping and DMAing concurrently', () => {
  it(`keeps every guest's DMA where it mapped it (seed ${SEED})`, { timeout: 60_000 }, async () => {
    const r = await runStress({ seed: SEED, guests: 3, rounds: 400, timeMs: 20_000 });
    expect(r.violation, `replay with VSMMU_SEED=${SEED} npx vitest run test/stress/system-stress.test.ts`).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.dmas).toBeGreaterThan(0);
    expect(r.faults).toBeGreaterThan(0);
    expect(r.maps).toBeGreaterThan(0);
    expect(r.unmaps).toBeGreaterThan(0);
  });
});
