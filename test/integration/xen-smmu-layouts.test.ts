// Guests receive their fault records whatever the physical SMMU's stream-table layout: with
// a linear stream table (smmu.sidBits = 8, or stLevel2 = false) Xen's queues land elsewhere in
// its heap, and before the queues were aligned to their size the SMMU wrote the records over
// Xen's command queue and no guest ever received one.
import { describe, expect, it } from 'vitest';
import { createSystem, type SystemOptions } from '../../src/index.ts';

const IOVA = 0x1000_0000;

async function faultReachesGuest(smmu: SystemOptions['smmu']): Promise<void> {
  const sys = await createSystem({
    memory: '128M',
    xen: { cmdline: 'viommu=1' },
    ...(smmu === undefined ? {} : { smmu }),
    domains: [{ name: 'g', memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] }],
  });
  try {
    const g = sys.domain('g');
    await g.driver.probe();
    await g.driver.attach('dma0', { asid: 1 });
    await g.irq.wait(0);
    for (let i = 0; i < 3; i++) {
      const r = await g.device('dma0').dma({ iova: IOVA + i * 4096, length: 4 });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.fault).toMatchObject({ name: 'F_TRANSLATION', s2: 0 });
    }
    expect(await g.irq.wait(5000)).toBe(true);
    let faults = await g.driver.faults();
    for (let tries = 0; faults.length < 3 && tries < 50; tries++) {
      await g.irq.wait(100);
      faults = await g.driver.faults();
    }
    expect(faults.map((f) => [f.name, f.sid, f.iova])).toEqual([0, 1, 2].map((i) => ['F_TRANSLATION', 0x10, IOVA + i * 4096]));
    const st = await sys.stats();
    expect(st.xen.driver.cmdErrors).toBe(0);
    expect(st.smmu.commands.errors).toEqual({ ill: 0, abt: 0 });
  } finally {
    await sys.close();
  }
}

describe('fault records reach the guest with every stream-table layout (threads)', () => {
  it('smmu.sidBits = 8 (linear stream table)', () => faultReachesGuest({ sidBits: 8 }), 30_000);
  it('smmu.stLevel2 = false (linear only, 6 StreamID bits)', () => faultReachesGuest({ stLevel2: false, sidBits: 6 }), 30_000);
  it('the default 2-level table', () => faultReachesGuest(undefined), 30_000);
});
