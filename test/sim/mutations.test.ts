// The stress checkers, proven by mutation: each planted bug (src/sim/mutations.ts) breaks one
// promise of the design in the real actor code; sim-mode stress must catch it within
// SEEDS seeds, and the failing seed must replay to the same digest and the same violation.
import { describe, expect, it } from 'vitest';
import { MUTATIONS } from '../../src/sim/mutations.ts';
import { shrinkStress } from '../../src/system/shrink.ts';
import { runStress } from '../../src/system/stress.ts';

/** The stated bound: every planted bug is caught within this many seeds (1, 2, ...). */
const SEEDS = 12;

describe('planted bugs are caught by sim-mode stress', () => {
  it.each(MUTATIONS.map((m) => [m.name, m.breaks]))('%s (breaks: %s)', { timeout: 120_000 }, async (name) => {
    const options = { guests: 3, rounds: 200, mutation: name };
    let caught: Awaited<ReturnType<typeof runStress>> | null = null;
    for (let seed = 1; seed <= SEEDS && caught === null; seed++) {
      const r = await runStress({ ...options, seed });
      if (!r.ok) caught = r;
    }
    expect(caught, `${name} not caught within ${SEEDS} seeds`).not.toBeNull();
    expect(caught!.replay).toContain(`--mutation ${name}`);
    const again = await runStress({ ...options, seed: caught!.seed });
    expect(again.ok).toBe(false);
    expect(again.digest).toBe(caught!.digest);
    expect(again.violation).toBe(caught!.violation);
  });

  it('without a mutation the same seeds hold', { timeout: 120_000 }, async () => {
    for (let seed = 1; seed <= 3; seed++) {
      const r = await runStress({ seed, guests: 3, rounds: 200 });
      expect(r.violation, r.replay).toBeUndefined();
    }
  });

  it('a catch shrinks to a few operations that still fail, with a replay command', { timeout: 120_000 }, async () => {
    const s = await shrinkStress({ seed: 1, guests: 2, rounds: 100, mutation: 'wrong-vsid' }, { maxRuns: 30 });
    expect(s).not.toBeNull();
    expect(s!.ops).toBeLessThan(10);
    expect(s!.report.replay).toMatch(/--keep '/);
    const again = await runStress(s!.options);
    expect(again.ok).toBe(false);
    expect(again.digest).toBe(s!.report.digest);
  });

  it('a mutation runs in sim mode only, and by a name there is', async () => {
    await expect(runStress({ seed: 1, mode: 'threads', mutation: 'early-sync' })).rejects.toMatchObject({ code: 'EVSMMU_USAGE' });
    await expect(runStress({ seed: 1, mutation: 'nope' })).rejects.toMatchObject({ code: 'EVSMMU_USAGE', message: expect.stringMatching(/mutations: forget-range-tlbi/) });
  });
});
