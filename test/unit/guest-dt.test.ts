// The guest learns its vSMMU (registers, combined SPI) and its masters' vSIDs from the
// device tree Xen generates for it.

import { describe, expect, it } from 'vitest';
import { platformFromDt } from '../../src/guest/dt.ts';
import { domUDts } from '../../src/xen/devicetree.ts';
import type { DomainConfig } from '../../src/xen/xlcfg.ts';

const cfg: DomainConfig = {
  name: 'domU1', memory: 64 * 1024 * 1024, vcpus: 1, viommu: 'smmuv3',
  devices: [{ name: 'dma0', sid: 0x10 }, { name: 'dma1', sid: 0x11 }],
};

describe('guest platform from its device tree', () => {
  it('finds the vSMMU window, its combined SPI and each master vSID', () => {
    const p = platformFromDt(domUDts(cfg, { vsids: { dma0: 5, dma1: 6 } }));
    expect(p.smmu).toEqual({ base: 0x0404_0000, size: 0x4_0000, intid: 33, phandle: 65002 });
    expect([...p.masters]).toEqual([['dma0', 5], ['dma1', 6]]);
    expect(p.memory).toEqual([{ base: 0x4000_0000, size: 64 * 1024 * 1024 }]);
  });

  it('has no SMMU and no masters without a vIOMMU', () => {
    const p = platformFromDt(domUDts({ ...cfg, viommu: 'none' }));
    expect(p.smmu).toBeNull();
    expect(p.masters.size).toBe(0);
  });
});
