// The guest physical (IPA) memory map of an Arm guest, as Xen lays it out (DESIGN.md §4).
//
// Values are Xen's public ABI, xen/include/public/arch-arm.h ("Virtual machine platform"
// section) and xen/include/public/device_tree_defs.h, checked against xen-project/xen and
// Xilinx/xen (branch with the vSMMUv3 series). The vSMMUv3 constants come from the RFC series
// "Add SMMUv3 Stage 1 Support for XEN guests" (patches 05 and 16, see
// /work/shared/reference/xen-vsmmuv3.md §5.3). Constants keep Xen's names (GUEST_*).
//
// Guests must not rely on these values (arch-arm.h says so): they read their device tree,
// which src/xen/devicetree.ts generates from these constants.

/** 2^32: addresses above 4 GiB are split into (hi, lo) DT cells without bigint. */
const TWO32 = 4294967296;

// --- RAM ---------------------------------------------------------------------------------
/** arch-arm.h: GUEST_RAM0_BASE, "3GB of low RAM @ 1GB". */
export const GUEST_RAM0_BASE = 0x4000_0000;
/** arch-arm.h: GUEST_RAM0_SIZE. */
export const GUEST_RAM0_SIZE = 0xc000_0000;
/** arch-arm.h: GUEST_RAM1_BASE, RAM @ 8 GiB. */
export const GUEST_RAM1_BASE = 0x2_0000_0000;
/**
 * arch-arm.h: GUEST_RAM1_SIZE, "952GB of RAM @ 8GB". Older Xen had 0xfe_0000_0000 (1016 GiB);
 * it shrank to make room for the virtio-pci windows at 0xf0_0000_0000.
 */
export const GUEST_RAM1_SIZE = 0xee_0000_0000;
/** arch-arm.h: GUEST_RAM_BANKS. */
export const GUEST_RAM_BANKS = 2;
/** arch-arm.h: GUEST_RAM_MAX (largest guest RAM, holes excluded). */
export const GUEST_RAM_MAX = GUEST_RAM0_SIZE + GUEST_RAM1_SIZE;

export interface RamBank {
  readonly base: number;
  readonly size: number;
}

/**
 * How Xen splits a guest's RAM over the banks: bank 0 first, the rest in bank 1 (libxl and
 * dom0less allocate in bank order). Throws nothing: callers validate `bytes` first (see
 * xlcfg.ts); a size beyond GUEST_RAM_MAX is clamped to what fits.
 */
export function ramBanks(bytes: number): RamBank[] {
  const banks: RamBank[] = [];
  const b0 = Math.min(bytes, GUEST_RAM0_SIZE);
  if (b0 > 0) banks.push({ base: GUEST_RAM0_BASE, size: b0 });
  const b1 = Math.min(bytes - b0, GUEST_RAM1_SIZE);
  if (b1 > 0) banks.push({ base: GUEST_RAM1_BASE, size: b1 });
  return banks;
}

// --- Interrupt controller (vGICv2; the v3 distributor sits at the same base) --------------
/** arch-arm.h: GUEST_GICD_BASE (vGICv2 distributor). Same address as GUEST_GICV3_GICD_BASE. */
export const GUEST_GICD_BASE = 0x0300_1000;
/** arch-arm.h: GUEST_GICD_SIZE. */
export const GUEST_GICD_SIZE = 0x0000_1000;
/** arch-arm.h: GUEST_GICC_BASE (vGICv2 CPU interface). */
export const GUEST_GICC_BASE = 0x0300_2000;
/** arch-arm.h: GUEST_GICC_SIZE. */
export const GUEST_GICC_SIZE = 0x0000_2000;

// --- vSMMUv3 ------------------------------------------------------------------------------
/** arch-arm.h (series patch 05): GUEST_VSMMUV3_BASE. */
export const GUEST_VSMMUV3_BASE = 0x0404_0000;
/** arch-arm.h (series patch 05): GUEST_VSMMUV3_SIZE = 256 KiB (page 0 + page 1, 2 x 64 KiB, rounded up). */
export const GUEST_VSMMUV3_SIZE = 0x0004_0000;
/**
 * GUEST_VSMMU_SPI as in the RFC and v1-v3 series: INTID 33 (SPI #1). Note: Xilinx/xen later
 * moved it to 49 to keep the virtio-mmio SPI range 33..43 stable; we follow the series and
 * DESIGN.md. The GIC DT specifier is <GIC_SPI (33 - 32) flags>, see `gicSpiCells`.
 */
export const GUEST_VSMMU_SPI = 33;

// --- Other Xen guest layout items the device tree needs -----------------------------------
/** arch-arm.h: GUEST_GNTTAB_BASE/SIZE: the hypervisor node's reg (grant table space). */
export const GUEST_GNTTAB_BASE = 0x3800_0000;
export const GUEST_GNTTAB_SIZE = 0x0100_0000;
/** arch-arm.h: GUEST_VPCI_ECAM_BASE/SIZE (256 buses x 32 dev x 8 fn x 4 KiB = 256 MiB). */
export const GUEST_VPCI_ECAM_BASE = 0x1000_0000;
export const GUEST_VPCI_ECAM_SIZE = 0x1000_0000;
/** arch-arm.h: GUEST_VPCI_ADDR_TYPE_MEM (PCI "ranges" space code: 32-bit non-prefetchable). */
export const GUEST_VPCI_ADDR_TYPE_MEM = 0x0200_0000;
export const GUEST_VPCI_MEM_ADDR = 0x2300_0000;
export const GUEST_VPCI_MEM_SIZE = 0x1000_0000;
/** arch-arm.h (Xilinx/xen value): 64-bit prefetchable memory, 4 GiB @ 4 GiB. */
export const GUEST_VPCI_ADDR_TYPE_PREFETCH_MEM = 0x4300_0000;
export const GUEST_VPCI_PREFETCH_MEM_ADDR = 0x1_0000_0000;
export const GUEST_VPCI_PREFETCH_MEM_SIZE = 0x1_0000_0000;
/** arch-arm.h: GUEST_MAX_VCPUS. */
export const GUEST_MAX_VCPUS = 128;
/** arch-arm.h: PPIs (INTIDs) of the timers and the event-channel upcall. */
export const GUEST_TIMER_VIRT_PPI = 27;
export const GUEST_TIMER_PHYS_S_PPI = 29;
export const GUEST_TIMER_PHYS_NS_PPI = 30;
export const GUEST_EVTCHN_PPI = 31;

/**
 * NOT a Xen constant: where this emulator places the MMIO registers of passed-through test
 * DMA devices in a domU. Xen maps a device's host MMIO where the user's `iomem`/partial DT
 * says; we need a fixed, free window. 0x0500_0000..0x0600_0000 is unused by Xen's layout
 * (between the GICv3 ITS/vSMMU at 0x0402_0000..0x0408_0000 and the TPM at 0x0c00_0000).
 * One 4 KiB page per device, in the order of the domain's device list.
 */
export const GUEST_PASSTHROUGH_MMIO_BASE = 0x0500_0000;
export const GUEST_PASSTHROUGH_MMIO_SIZE = 0x0100_0000;
export const GUEST_PASSTHROUGH_DEV_SIZE = 0x1000;

/** Base of passed-through device number `index` (0-based) in a domU. */
export function passthroughDevBase(index: number): number {
  return GUEST_PASSTHROUGH_MMIO_BASE + index * GUEST_PASSTHROUGH_DEV_SIZE;
}
/** Most devices the passthrough window holds. */
export const GUEST_PASSTHROUGH_MAX_DEVS = GUEST_PASSTHROUGH_MMIO_SIZE / GUEST_PASSTHROUGH_DEV_SIZE;

// --- Phandles (device_tree_defs.h) ---------------------------------------------------------
/** device_tree_defs.h: GUEST_PHANDLE_GIC. dtc allocates phandles from 1 up; Xen reserves high ones. */
export const GUEST_PHANDLE_GIC = 65000;
/** device_tree_defs.h: GUEST_PHANDLE_IOMMU (Xen's grant-DMA "iommu" for virtio). */
export const GUEST_PHANDLE_IOMMU = GUEST_PHANDLE_GIC + 1;
/** Series patch 16: GUEST_PHANDLE_VSMMUV3 = GUEST_PHANDLE_IOMMU + 1 = 65002 (0xfdea). */
export const GUEST_PHANDLE_VSMMUV3 = GUEST_PHANDLE_IOMMU + 1;
/** device_tree_defs.h: GUEST_ROOT_ADDRESS_CELLS / GUEST_ROOT_SIZE_CELLS. */
export const GUEST_ROOT_ADDRESS_CELLS = 2;
export const GUEST_ROOT_SIZE_CELLS = 2;

// --- GIC interrupt specifiers (Linux bindings interrupt-controller/arm,gic.yaml) ----------
/** First cell: 0 = SPI, 1 = PPI. */
export const GIC_SPI = 0;
export const GIC_PPI = 1;
/** device_tree_defs.h DT_IRQ_TYPE_*: third-cell bits [3:0]. */
export const DT_IRQ_TYPE_EDGE_RISING = 0x1;
export const DT_IRQ_TYPE_LEVEL_HIGH = 0x4;
export const DT_IRQ_TYPE_LEVEL_LOW = 0x8;
/** Third-cell bits [15:8]: PPI CPU mask. Xen sets 0xf for every interrupt it describes. */
export const GIC_CPUMASK_ALL = 0xf;

/**
 * The 3-cell GIC specifier of INTID `intid`, as libxl's set_interrupt(): SPIs (INTID >= 32)
 * are numbered from 0 (INTID - 32), PPIs (16..31) from 0 (INTID - 16). SGIs (< 16) are never
 * described in a DT. Returns null for an SGI or an INTID beyond the GIC's 1020 limit.
 */
export function gicIrqCells(intid: number, type: number, cpumask = GIC_CPUMASK_ALL): [number, number, number] | null {
  if (!Number.isInteger(intid) || intid < 16 || intid > 1019) return null;
  const ppi = intid < 32;
  return [ppi ? GIC_PPI : GIC_SPI, ppi ? intid - 16 : intid - 32, ((cpumask & 0xff) << 8) | (type & 0xf)];
}

/** Split a 64-bit quantity below 2^53 into big-endian DT cells [hi, lo]. */
export function u64Cells(v: number): [number, number] {
  return [Math.floor(v / TWO32) >>> 0, v >>> 0];
}
