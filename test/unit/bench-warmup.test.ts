// The benchmark's warm-up (src/bench/runner.ts): rounds until the aggregate DMA rate is
// steady, bounded by the cell's length and 3 s, over guests that answer from a script.
import { describe, expect, it } from 'vitest';
import { warmUp } from '../../src/bench/runner.ts';
import type { Domain } from '../../src/system/domain.ts';
import type { BenchWorkloadParams } from '../../src/guest/bench-workloads.ts';

/** A guest whose n-th workload call moves `rates[n]` DMAs per second (the last one after). */
function scripted(rates: readonly number[], error: string | null = null): { domain: Domain; rounds: number[] } {
  const rounds: number[] = [];
  const domain = {
    name: 'g',
    call: async (_method: string, p: BenchWorkloadParams) => {
      const rate = rates[Math.min(rounds.length, rates.length - 1)] ?? 0;
      rounds.push(p.durationMs);
      return { dmas: (rate * p.durationMs) / 1000, elapsedMs: p.durationMs, error };
    },
  } as unknown as Domain;
  return { domain, rounds };
}

const params = (ms: number) => (): BenchWorkloadParams => ({ kind: 'stream', vSid: 0, durationMs: ms });

describe('bench warm-up', () => {
  it('runs rounds of 0.25 s until a round is within 5% of the one before', async () => {
    const a = scripted([100, 200, 300, 310, 900]);
    const b = scripted([100, 200, 300, 300, 900]);
    await warmUp([a.domain, b.domain], 2000, params);
    // Aggregate 200, 400, 600, 610: the fourth round is steady.
    expect(a.rounds).toEqual([250, 250, 250, 250]);
    expect(b.rounds.length).toBe(4);
  });

  it('stops at the length of the cell when the rate never settles (at least two rounds)', async () => {
    const swing = [100, 200, 100, 200, 100, 200, 100, 200, 100, 200, 100, 200, 100, 200, 100];
    const short = scripted(swing);
    await warmUp([short.domain], 100, params);
    expect(short.rounds.length).toBe(2);
    const mid = scripted(swing);
    await warmUp([mid.domain], 600, params);
    expect(mid.rounds.length).toBe(3);
  });

  it('stops at 3 s whatever the cell', async () => {
    const long = scripted(Array.from({ length: 40 }, (_, i) => 100 * (i + 1)));
    await warmUp([long.domain], 60_000, params);
    expect(long.rounds.length).toBe(12);
  });

  it('stops at the first failed round (the measured run reports the error)', async () => {
    const bad = scripted([100], 'EVSMMU_X: broken');
    await warmUp([bad.domain], 2000, params);
    expect(bad.rounds.length).toBe(1);
  });
});
