// The system stress run (src/system/stress.ts) with a random seed each time, in sim mode (one
// thread, the seed's schedule: the run replays exactly) and on threads (real concurrency):
// guests mapping, unmapping, reconfiguring and DMAing while others are killed and created,
// every result checked. A failure names the seed; replay it with
//   VSMMU_SEED=<seed> npx vitest run test/stress/system-stress.test.ts
// or the `vsmmu stress` command in the failure message.
import { describe, expect, it } from 'vitest';
import { runStress } from '../../src/system/stress.ts';

const SEED = Number(process.env['VSMMU_SEED'] ?? 1 + Math.floor(Math.random() * 2 ** 30));

describe('system stress: guests mapping, unmapping and DMAing concurrently', () => {
  it(`sim mode holds every invariant and replays to the same digest (seed ${SEED})`, { timeout: 60_000 }, async () => {
    const r = await runStress({ seed: SEED, guests: 3, rounds: 300 });
    expect(r.violation, `replay: ${r.replay}`).toBeUndefined();
    expect(r).toMatchObject({ ok: true, mode: 'sim' });
    expect(r.ops).toBeGreaterThan(0);
    expect(r.dmas).toBeGreaterThan(0);
    expect(r.faults).toBeGreaterThan(0);
    expect(r.maps).toBeGreaterThan(0);
    expect(r.unmaps).toBeGreaterThan(0);
    // Same seed, same run: a byte-identical report (digest, steps, virtual time, counts).
    const again = await runStress({ seed: SEED, guests: 3, rounds: 300 });
    expect(JSON.stringify(again)).toBe(JSON.stringify(r));
    expect(r.elapsedMs).toBeUndefined();
    expect(r.virtualMs).toBeGreaterThan(0);
  });

  it(`threads mode holds every invariant (seed ${SEED})`, { timeout: 60_000 }, async () => {
    const r = await runStress({ seed: SEED, guests: 3, rounds: 200, mode: 'threads', timeMs: 20_000 });
    expect(r.violation, `replay: ${r.replay}`).toBeUndefined();
    expect(r).toMatchObject({ ok: true, mode: 'threads' });
    expect(r.ops).toBeGreaterThan(0);
  });

  it.each(['pct', 'round-robin'] as const)('sim mode with the %s strategy holds', { timeout: 60_000 }, async (strategy) => {
    const r = await runStress({ seed: SEED, guests: 2, rounds: 200, strategy });
    expect(r.violation, `replay: ${r.replay}`).toBeUndefined();
    expect(r.ok).toBe(true);
  });
});
