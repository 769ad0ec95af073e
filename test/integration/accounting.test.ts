// Accounting after teardown (issue 15): what Xen holds for domains, through the API, returns
// to zero once every guest is destroyed, however it went (destroy, kill), on threads and in
// sim mode; Xen's own structures for the SMMU stay.
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/index.ts';

describe.each([['threads', {}], ['sim', { sim: { seed: 3 } }]] as const)('system.accounting() (%s)', (_mode, extra) => {
  it('counts pages, VMIDs, vSIDs, streams, IRQ lines and trap slots per domain, and 0 after every guest is gone', async () => {
    await using sys = await createSystem({
      ...extra,
      memory: '256M',
      domains: [
        { name: 'a', memory: '32M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }, { name: 'dma1', sid: 0x11 }] },
        { name: 'b', memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x20 }] },
        { name: 'c', memory: '16M', devices: [{ name: 'dma0', sid: 0x30 }] },
      ],
    });
    const up = await sys.accounting();
    expect(up).toMatchObject({ domains: 3, vmids: 3, vsids: 3, streams: 4, irqLines: 3, trapSlots: 3 });
    expect(up.pages.domains).toBeGreaterThanOrEqual((64 * 1024 * 1024) / 4096); // RAM + p2m tables
    expect(up.pages.withheld).toBe(0);
    expect(up.pages.xen).toBeGreaterThan(0);
    // The guests work meanwhile (an attach and a DMA change nothing in the accounting).
    const a = sys.domain('a');
    await a.driver.probe();
    await a.driver.attach('dma0', { asid: 1 });
    await a.driver.map(0x1000_0000, 0x4010_0000, 4096);
    expect((await a.device('dma0').dma({ iova: 0x1000_0000, length: 16 })).ok).toBe(true);

    await sys.domain('b').destroy();
    const mid = await sys.accounting();
    expect(mid).toMatchObject({ domains: 2, vmids: 2, vsids: 2, streams: 3, irqLines: 2, trapSlots: 2 });
    expect(mid.pages.domains).toBeLessThan(up.pages.domains - (16 * 1024 * 1024) / 4096 + 1);

    await a.kill(); // a crash: Xen destroys the domain the same way
    await sys.domain('c').destroy();
    const down = await sys.accounting();
    expect(down).toEqual({ domains: 0, vmids: 0, vsids: 0, streams: 0, irqLines: 0, trapSlots: 0, pages: { domains: 0, withheld: 0, xen: down.pages.xen, free: down.pages.free } });
    expect(down.pages.free).toBeGreaterThan(up.pages.free);
  });
});
