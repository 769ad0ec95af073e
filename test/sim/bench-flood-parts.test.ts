// The noisy neighbour's flood by parts and the spin control (bench/noisy.ts uses them to find
// where the victims lose their throughput), run in sim mode: each part does its work and no
// other, the idle flood only probes, and spin does nothing Xen or the SMMU would see.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystem, type System } from '../../src/index.ts';
import type { BenchWorkloadParams, BenchWorkloadReport } from '../../src/guest/bench-workloads.ts';

describe('bench flood parts and spin (sim)', () => {
  let sys: System;
  const run = (p: Partial<BenchWorkloadParams>): Promise<BenchWorkloadReport> => {
    const d = sys.domain('noisy');
    return d.call('workloadBench', { kind: 'flood', vSid: d.device('dma0').vsid, durationMs: 3, size: 4096, ...p });
  };

  beforeAll(async () => {
    sys = await createSystem({
      sim: { seed: 3 },
      memory: '256M',
      domains: [{ name: 'noisy', memory: '64M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x100 }] }],
    });
    await sys.domain('noisy').driver.probe();
  });

  afterAll(async () => {
    await sys?.close();
  });

  it('TLBIs only: raw invalidations and their CMD_SYNCs, no DMA', async () => {
    const r = await run({ flood: { tlbi: true, fault: false, dma: false } });
    expect(r.error).toBeNull();
    expect(r.syncs).toBeGreaterThan(0);
    expect(r.invalidations).toBeGreaterThanOrEqual(32 * r.syncs);
    expect([r.dmas, r.faults]).toEqual([0, 0]);
  });

  it('faults only: every DMA faults and its event is waited for', async () => {
    const r = await run({ flood: { tlbi: false, fault: true, dma: false } });
    expect(r.error).toBeNull();
    expect(r.faults).toBeGreaterThan(0);
    expect(r.dmas).toBe(r.faults);
    expect(r.faultIrqNs.length).toBe(r.faults);
    expect(r.syncs).toBe(0);
  });

  it('DMA only: bursts that all complete', async () => {
    const r = await run({ flood: { tlbi: false, fault: false, dma: true } });
    expect(r.error).toBeNull();
    expect(r.dmas).toBeGreaterThan(0);
    expect(r.dmas % 32).toBe(0);
    expect([r.faults, r.syncs]).toEqual([0, 0]);
  });

  it('no part: the guest idles between its trap-latency probes', async () => {
    const r = await run({ flood: { tlbi: false, fault: false, dma: false } });
    expect(r.error).toBeNull();
    expect(r.trapNs.length).toBeGreaterThan(0);
    expect([r.dmas, r.faults, r.syncs]).toEqual([0, 0, 0]);
    expect(r.invalidations).toBeLessThan(32); // the window's unmap at the end; no raw burst
  });

  it('spin: nothing for Xen or the SMMU (under virtual time it ends at once)', async () => {
    const before = (await sys.stats()).xen.traps;
    const r = await run({ kind: 'spin' });
    expect(r).toMatchObject({ kind: 'spin', dmas: 0, faults: 0, syncs: 0, invalidations: 0, error: null });
    expect((await sys.stats()).xen.traps).toBe(before);
  });
});
