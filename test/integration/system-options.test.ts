// Options at the edges of their ranges, on real threads: what is accepted runs, what is
// not is refused before a worker starts.
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/system/system.ts';

describe('createSystem options on threads', () => {
  it('guestTimeoutMs: Infinity means no bound (setTimeout would fire it after 1 ms)', async () => {
    await using sys = await createSystem({
      memory: '128M',
      guestTimeoutMs: Infinity,
      domains: [{ name: 'g', memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] }],
    });
    const g = sys.domain('g');
    await g.driver.probe();
    await g.driver.attach('dma0', { asid: 1 });
    await g.driver.map(0x1000_0000, 0x4010_0000, 4096, 'rw');
    expect(await g.device('dma0').dma({ iova: 0x1000_0000, length: 8 })).toMatchObject({ ok: true });
    expect(g.dead).toBeNull();
  });

  it('smmu.sidBits beyond the architecture is EVSMMU_BADOPTIONS, not a worker failure', async () => {
    await expect(createSystem({ smmu: { sidBits: 40 } })).rejects.toMatchObject({ code: 'EVSMMU_BADOPTIONS', message: expect.stringMatching(/smmu\.sidBits must be a whole number from 0 to 32, got 40/) });
  });

  it('smmu.iotlbEntries sizes the SMMU IOTLB: a DMA over more pages than it holds walks again', async () => {
    await using sys = await createSystem({
      memory: '128M',
      smmu: { iotlbEntries: 4 },
      domains: [{ name: 'g', memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] }],
    });
    const g = sys.domain('g');
    await g.driver.probe();
    await g.driver.attach('dma0', { asid: 1 });
    await g.driver.map(0x1000_0000, 0x4010_0000, 16 * 4096, 'rw');
    expect(await g.device('dma0').dma({ iova: 0x1000_0000, length: 16 * 4096 })).toMatchObject({ ok: true });
    const first = (await sys.stats()).smmu;
    expect(first.iotlb.capacity).toBe(4);
    expect(await g.device('dma0').dma({ iova: 0x1000_0000, length: 16 * 4096 })).toMatchObject({ ok: true });
    const second = (await sys.stats()).smmu;
    expect(second.walks - first.walks).toBeGreaterThanOrEqual(12);
  });

  it('smmu.sidBits = 32 boots when host memory holds its stream table', async () => {
    await using sys = await createSystem({
      memory: '256M',
      smmu: { sidBits: 32 },
      domains: [{ name: 'g', memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0xfff0 }] }],
    });
    expect(sys.features.sidBits).toBe(32);
    const g = sys.domain('g');
    await g.driver.probe();
    await g.driver.attach('dma0', { asid: 1 });
    await g.driver.map(0x1000_0000, 0x4010_0000, 4096, 'rw');
    expect(await g.device('dma0').dma({ iova: 0x1000_0000, length: 8 })).toMatchObject({ ok: true });
  });
});
