// A domain's CPU cap on real threads (src/runtime/credit.ts): a capped guest that only
// computes, or floods, parks for its budget period after period and is charged far less CPU
// than the wall time it ran; Xen's handling of its traps is charged to it; an uncapped guest
// is never parked, and a victim beside a capped flood completes its work. Asserts counts and
// wide shares, never timings.
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/index.ts';
import type { Domain } from '../../src/system/domain.ts';
import type { BenchWorkloadParams, BenchWorkloadReport } from '../../src/guest/bench-workloads.ts';

const dom = (name: string, sid: number, cap?: number) => ({
  name, memory: '32M', viommu: 'smmuv3' as const, devices: [{ name: 'dma0', sid }], ...(cap === undefined ? {} : { cap }),
});
const bench = (d: Domain, p: Partial<BenchWorkloadParams>): Promise<BenchWorkloadReport> =>
  d.call('workloadBench', { kind: 'stream', vSid: d.device('dma0').vsid, durationMs: 400, size: 4096, pages: 16, ...p });

describe('domain cap on threads', () => {
  it('parks a capped spinning guest every period; the uncapped one never', async () => {
    await using sys = await createSystem({ sim: false, memory: '256M', domains: [dom('capped', 0x100, 5), dom('free', 0x200)] });
    const capped = sys.domain('capped');
    const free = sys.domain('free');
    expect(capped.schedule()).toMatchObject({ cap: 5, periodMs: 10, enforced: true, parks: 0 });
    const [a, b] = await Promise.all([bench(capped, { kind: 'spin' }), bench(free, { kind: 'spin' })]);
    expect(a.error).toBeNull();
    expect(b.error).toBeNull();
    const s = capped.schedule();
    // 400 ms at 0.5 ms of budget per 10 ms: about 40 parks if the thread got the CPU at all.
    expect(s.parks).toBeGreaterThanOrEqual(5);
    expect(s.parkedMs).toBeGreaterThan(0);
    // Charged CPU is a small share of the wall time it ran (5% cap; the bound is 10x wide).
    expect(s.chargedMs).toBeLessThan(0.5 * a.elapsedMs);
    expect(free.schedule()).toMatchObject({ cap: 0, parks: 0, chargedMs: 0 });
  });

  it('a capped flood pays for Xen\'s trap service and parks; the victim beside it completes its stream', async () => {
    await using sys = await createSystem({ sim: false, memory: '256M', domains: [dom('victim', 0x100), dom('noisy', 0x200, 10)] });
    const victim = sys.domain('victim');
    const noisy = sys.domain('noisy');
    await Promise.all([victim.driver.probe(), noisy.driver.probe()]);
    const [v, f] = await Promise.all([bench(victim, {}), bench(noisy, { kind: 'flood' })]);
    expect(v.error).toBeNull();
    expect(f.error).toBeNull();
    expect(v.dmas).toBeGreaterThan(0);
    expect(f.syncs + f.faults).toBeGreaterThan(0);
    const s = noisy.schedule();
    expect(s.parks).toBeGreaterThanOrEqual(1);
    expect(s.xenMs).toBeGreaterThan(0);
    expect(s.xenMs).toBeLessThanOrEqual(s.chargedMs);
    expect(victim.schedule().parks).toBe(0);
  });

  it('takes a cap change at run time (xl sched-credit -c), also while the guest is busy', async () => {
    await using sys = await createSystem({ sim: false, memory: '256M', domains: [dom('g', 0x100)] });
    const g = sys.domain('g');
    expect(g.schedule().cap).toBe(0);
    const run = bench(g, { kind: 'spin', durationMs: 600 });
    expect(g.schedule({ cap: 3 }).cap).toBe(3); // set while the vCPU spins in its call
    expect((await run).error).toBeNull();
    expect(g.schedule().parks).toBeGreaterThanOrEqual(1);
    const parks = g.schedule({ cap: 0 }).parks;
    expect((await bench(g, { kind: 'spin', durationMs: 50 })).error).toBeNull();
    expect(g.schedule().parks).toBe(parks);
    expect(() => g.schedule({ cap: 101 })).toThrow(expect.objectContaining({ code: 'EVSMMU_INVAL' }));
    expect(() => g.schedule({ cap: -1 })).toThrow(expect.objectContaining({ code: 'EVSMMU_INVAL' }));
    expect(() => g.schedule({ weight: 2 } as never)).toThrow(expect.objectContaining({ code: 'EVSMMU_INVAL' }));
  });

  it('sim mode records the cap and does not enforce it', async () => {
    await using sys = await createSystem({ sim: { seed: 1 }, memory: '128M', domains: [dom('g', 0x100, 20)] });
    expect(sys.domain('g').schedule()).toMatchObject({ cap: 20, enforced: false, parks: 0 });
    expect(sys.domain('g').schedule({ cap: 40 }).cap).toBe(40);
  });
});
