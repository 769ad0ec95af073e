// The host device tree of the emulated machine (src/xen/hostdt.ts): the physical SMMUv3 node
// and the DMA devices behind it with `iommus = <&smmu SID>`, `reg` and `interrupts`.
import { describe, expect, it } from 'vitest';
import { cellsOf, findNode, parseDts, stringsOf } from '../../src/dt/dts.ts';
import { iommuMasters, regRanges } from '../../src/dt/read.ts';
import {
  HOST_DMA_BASE, HOST_PHANDLE_SMMU, HOST_PLATFORM_DMAS, HOST_SMMU_BASE, HOST_UART_IRQ, hostDeviceTree, hostDevices, hostDts,
} from '../../src/xen/hostdt.ts';
import { parseXlCfg } from '../../src/xen/xlcfg.ts';

const MiB = 2 ** 20;

describe('host device tree', () => {
  it('has the physical SMMUv3 node: compatible, reg, combined interrupt, #iommu-cells = <1>, a phandle', () => {
    const t = hostDeviceTree([], { memory: 512 * MiB });
    const smmu = findNode(t, `/iommu@${HOST_SMMU_BASE.toString(16)}`);
    expect(smmu).toBeDefined();
    expect(stringsOf(smmu!, 'compatible')).toEqual(['arm,smmu-v3']);
    expect(cellsOf(smmu!, '#iommu-cells')).toEqual([1]);
    expect(cellsOf(smmu!, 'phandle')).toEqual([HOST_PHANDLE_SMMU]);
    expect(regRanges([...cellsOf(smmu!, 'reg')!], 2, 2)).toEqual([{ base: HOST_SMMU_BASE, size: 0x2_0000 }]);
    expect(stringsOf(smmu!, 'interrupt-names')).toEqual(['combined']);
  });

  it('lists the platform DMA engines behind the SMMU (dma0..dma7, SIDs 0x10..) and a UART behind none', () => {
    const t = hostDeviceTree([], { memory: 512 * MiB });
    const masters = iommuMasters(t, HOST_PHANDLE_SMMU);
    expect([...masters]).toEqual(Array.from({ length: HOST_PLATFORM_DMAS }, (_, i) => [`dma${i}`, 0x10 + i]));
    const dma0 = findNode(t, `/dma0@${HOST_DMA_BASE.toString(16)}`)!;
    expect(cellsOf(dma0, 'interrupts')).toEqual([0, 144 - 32, 0xf04]);
    const uart = hostDevices().find((d) => d.name === 'uart')!;
    expect(uart).toMatchObject({ sid: null, irqs: [HOST_UART_IRQ] });
    expect(cellsOf(findNode(t, uart.path)!, 'iommus')).toBeUndefined();
  });

  it('a dmadev entry names a platform device by its StreamID, or adds a device to the machine', () => {
    const cfg = parseXlCfg('name = "g"\nmemory = 64\ndmadev = [ "name=nic,sid=0x11", "name=nvme0,sid=0x30" ]\n', 'g.cfg');
    const devs = hostDevices([cfg]);
    expect(devs.filter((d) => d.sid === 0x11).map((d) => d.name)).toEqual(['dma1']);
    expect(devs.at(-1)).toMatchObject({ name: 'nvme0', sid: 0x30, path: `/nvme0@${(HOST_DMA_BASE + HOST_PLATFORM_DMAS * 0x1000).toString(16)}` });
  });

  it('RAM at PA 0 and every MMIO region above the largest host memory', () => {
    const t = hostDeviceTree([], { memory: 16 * 1024 * MiB });
    expect(regRanges([...cellsOf(findNode(t, '/memory@0')!, 'reg')!], 2, 2)).toEqual([{ base: 0, size: 16 * 1024 * MiB }]);
    for (const d of hostDevices()) expect(d.base).toBeGreaterThanOrEqual(16 * 1024 * MiB);
  });

  it('hostDts prints the tree (it parses back to the same nodes)', () => {
    const t = hostDeviceTree([], { memory: 64 * MiB, xenBootargs: 'viommu=1' });
    expect(parseDts(hostDts([], { memory: 64 * MiB, xenBootargs: 'viommu=1' }))).toEqual(t);
  });
});
