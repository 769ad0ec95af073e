// The host device tree of the emulated machine: the tree Xen boots with, and the one whose
// paths an xl.cfg `dtdev` names. It describes the physical SMMUv3 (one, `#iommu-cells = <1>`)
// and the DMA masters behind it with `iommus = <&smmu SID>`, each with its `reg` and
// `interrupts` so `iomem` and `irqs` can be checked against it (passthrough.ts).
//
// The machine: RAM at PA 0 (the emulator's host memory, options.memory), and its MMIO above
// any RAM size the emulator allows (16 GiB), at HOST_MMIO_BASE: GIC, a PL011 UART behind no
// SMMU, the SMMU, then the DMA devices, one 4 KiB page and one SPI each. The platform has
// HOST_PLATFORM_DMAS test DMA engines, dma0..dma7 with StreamIDs 0x10..0x17; a `dmadev`
// entry (the short form) assigns the platform device with its StreamID, or, when the platform
// has none, adds one to the machine (after the platform's, in domain and list order).
//
// The UART's interrupt is SPI 1 (INTID 33), as on QEMU's virt machine: the SPI the vSMMUv3
// series reserves for a domU's vSMMU (reference §5.1), so `irqs = [ 33 ]` shows that conflict.

import { node, pCells, pEmpty, pStr, writeDts, type DtNode, type DtProp, type DtRef } from '../dt/dts.ts';
import {
  DT_IRQ_TYPE_LEVEL_HIGH, DT_IRQ_TYPE_LEVEL_LOW, gicIrqCells, GUEST_TIMER_PHYS_NS_PPI, GUEST_TIMER_PHYS_S_PPI, GUEST_TIMER_VIRT_PPI, u64Cells,
} from './layout.ts';
import { cpusNode, DEFAULT_XEN_VERSION, TEST_DMA_COMPATIBLE } from './devicetree.ts';
import type { DomainConfig } from './xlcfg.ts';

/** Above the largest host memory (MAX_MEMORY_SIZE, 16 GiB): MMIO never overlaps RAM. */
export const HOST_MMIO_BASE = 0x40_0000_0000;
export const HOST_GICD_BASE = HOST_MMIO_BASE;
export const HOST_GICD_SIZE = 0x1000;
export const HOST_GICC_BASE = HOST_MMIO_BASE + 0x1_0000;
export const HOST_GICC_SIZE = 0x2000;
export const HOST_UART_BASE = HOST_MMIO_BASE + 0x10_0000;
export const HOST_UART_SIZE = 0x1000;
/** INTID 33 (SPI 1): QEMU virt's UART, and GUEST_VSMMU_SPI. */
export const HOST_UART_IRQ = 33;
export const HOST_SMMU_BASE = HOST_MMIO_BASE + 0x20_0000;
/** Page 0 + page 1 of the SMMUv3 register frame (64 KiB each). */
export const HOST_SMMU_SIZE = 0x2_0000;
/** The SMMU's "combined" interrupt (INTID 106, SPI 74, QEMU virt's first SMMU SPI). */
export const HOST_SMMU_IRQ = 106;
export const HOST_DMA_BASE = HOST_MMIO_BASE + 0x100_0000;
export const HOST_DMA_SIZE = 0x1000;
/** Most DMA devices the host window holds (16 MiB of 4 KiB pages). */
export const HOST_DMA_MAX = 0x100_0000 / HOST_DMA_SIZE;
/** INTID of DMA device slot 0 (SPI 112); slot i has HOST_DMA_IRQ0 + i while below 1020. */
export const HOST_DMA_IRQ0 = 144;
export const HOST_PHANDLE_GIC = 1;
export const HOST_PHANDLE_SMMU = 2;
export const HOST_SMMU_LABEL = 'smmu';
/** Test DMA engines the platform has whatever the domains say. */
export const HOST_PLATFORM_DMAS = 8;
export const HOST_PLATFORM_SID0 = 0x10;

/** A device of the host tree. */
export interface HostDevice {
  /** Node name without unit address. */
  readonly name: string;
  /** Absolute path in the host tree (`/dma0@4001000000`). */
  readonly path: string;
  readonly base: number;
  readonly size: number;
  /** GIC INTIDs of its interrupts. */
  readonly irqs: readonly number[];
  /** Its StreamID on physical SMMU `smmu`, or null: behind no SMMU (no `iommus`). */
  readonly sid: number | null;
  readonly smmu: number;
  readonly compatible: string;
}

function hex(v: number): string {
  return v.toString(16);
}

function dmaSlot(name: string, slot: number, sid: number, smmu = 0): HostDevice {
  const base = HOST_DMA_BASE + slot * HOST_DMA_SIZE;
  const irq = HOST_DMA_IRQ0 + slot;
  return { name, path: `/${name}@${hex(base)}`, base, size: HOST_DMA_SIZE, irqs: irq <= 1019 ? [irq] : [], sid, smmu, compatible: TEST_DMA_COMPATIBLE };
}

/**
 * The machine's devices: the UART, the platform's DMA engines, and one more DMA device for
 * every `dmadev` entry whose StreamID no platform device has. Devices beyond the host window
 * (HOST_DMA_MAX) are left out: the domains' own checks refuse that many devices first.
 */
export function hostDevices(domains: readonly DomainConfig[] = []): HostDevice[] {
  const uart: HostDevice = {
    name: 'uart', path: `/uart@${hex(HOST_UART_BASE)}`, base: HOST_UART_BASE, size: HOST_UART_SIZE, irqs: [HOST_UART_IRQ],
    sid: null, smmu: 0, compatible: 'arm,pl011',
  };
  const devs: HostDevice[] = [];
  for (let i = 0; i < HOST_PLATFORM_DMAS; i++) devs.push(dmaSlot(`dma${i}`, i, HOST_PLATFORM_SID0 + i));
  const has = (smmu: number, sid: number): boolean => devs.some((d) => d.sid === sid && d.smmu === smmu);
  for (const d of domains) {
    for (const dev of d.devices) {
      if (dev.path !== undefined || has(dev.smmu ?? 0, dev.sid) || devs.length >= HOST_DMA_MAX) continue;
      devs.push(dmaSlot(dev.name, devs.length, dev.sid, dev.smmu ?? 0));
    }
  }
  return [uart, ...devs];
}

function regProp(base: number, size: number, ...more: [number, number][]): DtProp {
  return pCells('reg', ...[[base, size] as [number, number], ...more].flatMap(([b, s]) => [...u64Cells(b), ...u64Cells(s)]));
}

function irqsProp(intids: readonly number[]): DtProp {
  return pCells('interrupts', ...intids.flatMap((i) => gicIrqCells(i, DT_IRQ_TYPE_LEVEL_HIGH) ?? []));
}

export interface HostDtOptions {
  /** Host RAM in bytes (the memory node at PA 0). */
  readonly memory: number;
  /** Xen's command line (/chosen/xen,xen-bootargs). */
  readonly xenBootargs?: string;
  readonly xenVersion?: string;
}

/** The host device tree for `domains` (their `dmadev` entries may add devices). */
export function hostDeviceTree(domains: readonly DomainConfig[], opts: HostDtOptions): DtNode {
  const smmu: DtRef = { ref: HOST_SMMU_LABEL, phandle: HOST_PHANDLE_SMMU };
  const chosen = node('chosen', opts.xenBootargs === undefined ? [] : [pStr('xen,xen-bootargs', opts.xenBootargs)]);
  const gic = node(`interrupt-controller@${hex(HOST_GICD_BASE)}`, [
    pStr('compatible', 'arm,cortex-a15-gic'),
    pCells('#interrupt-cells', 3),
    pCells('#address-cells', 0),
    pEmpty('interrupt-controller'),
    regProp(HOST_GICD_BASE, HOST_GICD_SIZE, [HOST_GICC_BASE, HOST_GICC_SIZE]),
    pCells('phandle', HOST_PHANDLE_GIC),
  ]);
  const smmuNode = node(`iommu@${hex(HOST_SMMU_BASE)}`, [
    pStr('compatible', 'arm,smmu-v3'),
    regProp(HOST_SMMU_BASE, HOST_SMMU_SIZE),
    irqsProp([HOST_SMMU_IRQ]),
    pStr('interrupt-names', 'combined'),
    pCells('#iommu-cells', 1),
    pCells('phandle', HOST_PHANDLE_SMMU),
  ], [], HOST_SMMU_LABEL);
  const devNodes = hostDevices(domains).map((d) => {
    const props = [pStr('compatible', d.compatible), regProp(d.base, d.size)];
    if (d.irqs.length > 0) props.push(irqsProp(d.irqs));
    if (d.sid !== null) props.push(pCells('iommus', smmu, d.sid));
    return node(d.path.slice(1), props);
  });
  const ver = opts.xenVersion ?? DEFAULT_XEN_VERSION;
  return node('', [
    pStr('model', `vsmmu host (Xen ${ver})`),
    pStr('compatible', 'vsmmu,host'),
    pCells('interrupt-parent', HOST_PHANDLE_GIC),
    pCells('#address-cells', 2),
    pCells('#size-cells', 2),
  ], [
    chosen,
    cpusNode(1),
    node('memory@0', [pStr('device_type', 'memory'), regProp(0, opts.memory)]),
    gic,
    // The architected timer's PPIs are the same on the host (the guest's timerNode names Xen's GIC phandle).
    node('timer', [
      pStr('compatible', 'arm,armv8-timer'),
      pCells('interrupts', ...[GUEST_TIMER_PHYS_S_PPI, GUEST_TIMER_PHYS_NS_PPI, GUEST_TIMER_VIRT_PPI].flatMap((p) => gicIrqCells(p, DT_IRQ_TYPE_LEVEL_LOW) ?? [])),
    ]),
    smmuNode,
    ...devNodes,
  ]);
}

/** DTS text of a host tree. */
export function hostTreeDts(tree: DtNode): string {
  return writeDts(tree, 'host device tree of the emulated machine: generated by vsmmu');
}

export function hostDts(domains: readonly DomainConfig[], opts: HostDtOptions): string {
  return hostTreeDts(hostDeviceTree(domains, opts));
}
