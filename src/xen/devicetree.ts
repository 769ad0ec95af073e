// Device trees the hypervisor hands out: a domU's (as libxl builds it), dom0's (the host
// tree with the physical SMMUs replaced by vSMMUs), and the host tree with dom0less domUs
// under /chosen. Node shapes follow libxl_arm.c and the vSMMUv3 series (patches 13-16, 20,
// 21; reference/xen-vsmmuv3.md §5.1, §5.4); every deviation is commented where it is made.
//
// Phandles are Xen's reserved numbers (layout.ts), referenced numerically: the trees compile
// with dtc as they are, without labels, and give the same blob Xen's libfdt calls produce.
// Every tree compiles with `dtc` without warnings (test/integration/xen-dtc.test.ts).

import { VsmmuError } from '../errors.ts';
import { cellsOf, node, pCells, pEmpty, pStr, walkNodes, writeDts, type DtNode, type DtProp, type DtRef } from '../dt/dts.ts';
import {
  DT_IRQ_TYPE_LEVEL_HIGH, DT_IRQ_TYPE_LEVEL_LOW, GUEST_EVTCHN_PPI, GUEST_GICC_BASE, GUEST_GICC_SIZE,
  GUEST_GICD_BASE, GUEST_GICD_SIZE, GUEST_GNTTAB_BASE, GUEST_GNTTAB_SIZE, GUEST_PASSTHROUGH_DEV_SIZE,
  GUEST_PASSTHROUGH_MMIO_BASE, GUEST_PASSTHROUGH_MMIO_SIZE, GUEST_PHANDLE_GIC, GUEST_PHANDLE_VSMMUV3,
  GUEST_TIMER_PHYS_NS_PPI, GUEST_TIMER_PHYS_S_PPI, GUEST_TIMER_VIRT_PPI, GUEST_VPCI_ADDR_TYPE_MEM,
  GUEST_VPCI_ADDR_TYPE_PREFETCH_MEM, GUEST_VPCI_ECAM_BASE, GUEST_VPCI_ECAM_SIZE, GUEST_VPCI_MEM_ADDR,
  GUEST_VPCI_MEM_SIZE, GUEST_VPCI_PREFETCH_MEM_ADDR, GUEST_VPCI_PREFETCH_MEM_SIZE, GUEST_VSMMU_SPI,
  GUEST_VSMMUV3_BASE, GUEST_VSMMUV3_SIZE, gicIrqCells, passthroughDevBase, ramBanks, u64Cells,
} from './layout.ts';
import { viommuType } from './viommu.ts';
import type { DomainConfig, DomainDevice } from './xlcfg.ts';

/** Xen version advertised in compatibles ("xen,xenvm-4.20", "xen,xen-4.20"). */
export const DEFAULT_XEN_VERSION = '4.20';
/** Source label of a domU's vSMMU node. */
export const VSMMU_LABEL = 'vsmmu';
/** Compatible of the emulator's test DMA device. */
export const TEST_DMA_COMPATIBLE = 'vsmmu,test-dma';

/** vSID assignment: device name -> virtual StreamID. A device not listed keeps vSID = pSID. */
export type VsidMap = ReadonlyMap<string, number> | Readonly<Record<string, number>>;

function hex(v: number): string {
  return v.toString(16);
}

/** `reg` with root cells (2 + 2) for (base, size) pairs. */
function regProp(...ranges: [number, number][]): DtProp {
  return pCells('reg', ...ranges.flatMap(([b, s]) => [...u64Cells(b), ...u64Cells(s)]));
}

function irqProp(intid: number, type: number): DtProp {
  const c = gicIrqCells(intid, type);
  if (c === null) throw new VsmmuError('EVSMMU_DT_IRQ', `INTID ${intid} cannot be described in a device tree (SGIs 0-15 and INTIDs above 1019 have no GIC specifier)`, { intid });
  return pCells('interrupts', ...c);
}

export function vsidOf(dev: DomainDevice, vsids: VsidMap | undefined): number {
  const v = vsids === undefined ? undefined : vsids instanceof Map ? vsids.get(dev.name) : (vsids as Readonly<Record<string, number>>)[dev.name];
  const vsid = v ?? dev.sid;
  if (!Number.isInteger(vsid) || vsid < 0 || vsid > 0xffff_ffff) {
    throw new VsmmuError('EVSMMU_DT_VSID', `device "${dev.name}": vSID ${vsid} is not a 32-bit StreamID`, { device: dev.name, vsid });
  }
  return vsid;
}

// --- building blocks (libxl_arm.c make_*_node) --------------------------------------------

function rootProps(model: string, compatible: string[]): DtProp[] {
  return [
    pStr('model', model),
    pStr('compatible', ...compatible),
    pCells('interrupt-parent', GUEST_PHANDLE_GIC),
    pCells('#address-cells', 2),
    pCells('#size-cells', 2),
  ];
}

/** MPIDR affinity of vCPU `i` as Xen assigns it (libxl__compute_mpdir): Aff0 = i[3:0], Aff1 = i[11:4]. */
export function vcpuMpidr(i: number): number {
  return (((i >> 4) & 0xff) << 8) | (i & 0xf);
}

export function cpusNode(n: number): DtNode {
  const cpus: DtNode[] = [];
  for (let i = 0; i < n; i++) {
    const mpidr = vcpuMpidr(i);
    cpus.push(node(`cpu@${hex(mpidr)}`, [
      pStr('device_type', 'cpu'),
      pStr('compatible', 'arm,armv8'),
      pStr('enable-method', 'psci'),
      pCells('reg', mpidr),
    ]));
  }
  return node('cpus', [pCells('#address-cells', 1), pCells('#size-cells', 0)], cpus);
}

export function psciNode(): DtNode {
  // PSCI function ids for the 0.1 binding: Xen's PSCI_cpu_off = 1, PSCI_cpu_on = 2.
  return node('psci', [
    pStr('compatible', 'arm,psci-1.0', 'arm,psci-0.2', 'arm,psci'),
    pStr('method', 'hvc'),
    pCells('cpu_off', 1),
    pCells('cpu_on', 2),
  ]);
}

/** One memory node per non-empty RAM bank (libxl emits placeholders for both banks). */
export function memoryNodes(bytes: number): DtNode[] {
  return ramBanks(bytes).map((b) => node(`memory@${hex(b.base)}`, [pStr('device_type', 'memory'), regProp([b.base, b.size])]));
}

export function gicV2Node(): DtNode {
  return node(`interrupt-controller@${hex(GUEST_GICD_BASE)}`, [
    pStr('compatible', 'arm,cortex-a15-gic', 'arm,cortex-a9-gic'),
    pCells('#interrupt-cells', 3),
    pCells('#address-cells', 0),
    pEmpty('interrupt-controller'),
    regProp([GUEST_GICD_BASE, GUEST_GICD_SIZE], [GUEST_GICC_BASE, GUEST_GICC_SIZE]),
    pCells('linux,phandle', GUEST_PHANDLE_GIC),
    pCells('phandle', GUEST_PHANDLE_GIC),
  ]);
}

export function timerNode(): DtNode {
  const cells = [GUEST_TIMER_PHYS_S_PPI, GUEST_TIMER_PHYS_NS_PPI, GUEST_TIMER_VIRT_PPI].flatMap((p) => gicIrqCells(p, DT_IRQ_TYPE_LEVEL_LOW) ?? []);
  return node('timer', [
    pStr('compatible', 'arm,armv8-timer'),
    pCells('interrupts', ...cells),
    pCells('interrupt-parent', GUEST_PHANDLE_GIC),
  ]);
}

/**
 * Xen names this node "hypervisor" without a unit address although it has a `reg`; dtc
 * warns about that (unit_address_vs_reg). Linux finds it by compatible "xen,xen", not by
 * name, so we add the unit address and stay warning-free.
 */
export function hypervisorNode(xenVersion: string): DtNode {
  return node(`hypervisor@${hex(GUEST_GNTTAB_BASE)}`, [
    pStr('compatible', `xen,xen-${xenVersion}`, 'xen,xen'),
    regProp([GUEST_GNTTAB_BASE, GUEST_GNTTAB_SIZE]),
    irqProp(GUEST_EVTCHN_PPI, DT_IRQ_TYPE_LEVEL_LOW),
    pCells('interrupt-parent', GUEST_PHANDLE_GIC),
  ]);
}

export interface VsmmuNodeSpec {
  readonly base: number;
  readonly size: number;
  /** GIC INTID of the "combined" interrupt (GUEST_VSMMU_SPI for a domU). */
  readonly irq: number;
  readonly phandle: number;
  /** Source label other nodes' `iommus`/`iommu-map` reference (`vsmmu`, `smmu0`). */
  readonly label: string;
  /** Xilinx downstream adds `dma-coherent` (with IDR0.COHACC = 1); the series does not. */
  readonly dmaCoherent?: boolean;
}

/**
 * The emulated SMMUv3 node (libxl make_vsmmuv3_node, Xen make_vsmmuv3_node / hwdom copy):
 * one "combined" level-high interrupt (the series injects evtq and GERROR on one line, cpu
 * mask 0xf as Xen writes it), `#iommu-cells = <1>` (the cell is the StreamID).
 */
export function vsmmuNode(s: VsmmuNodeSpec): DtNode {
  const props = [
    pStr('compatible', viommuType('smmuv3').compatible ?? 'arm,smmu-v3'),
    regProp([s.base, s.size]),
    irqProp(s.irq, DT_IRQ_TYPE_LEVEL_HIGH),
    pStr('interrupt-names', 'combined'),
    pCells('interrupt-parent', GUEST_PHANDLE_GIC),
    pCells('#iommu-cells', 1),
    pCells('phandle', s.phandle),
  ];
  if (s.dmaCoherent === true) props.push(pEmpty('dma-coherent'));
  return node(`iommu@${hex(s.base)}`, props, [], s.label);
}

/** A DMA master: MMIO page at `base`, `iommus = <&iommu sid>` when translated. */
export function dmaDeviceNode(name: string, base: number, iommu: { ref: DtRef; sid: number } | null, compatible = TEST_DMA_COMPATIBLE): DtNode {
  const props = [pStr('compatible', compatible), regProp([base, GUEST_PASSTHROUGH_DEV_SIZE])];
  if (iommu !== null) props.push(pCells('iommus', iommu.ref, iommu.sid));
  return node(`${name}@${hex(base)}`, props);
}

export interface PciHostSpec {
  readonly ecamBase?: number;
  readonly ecamSize?: number;
  /** iommu-map = <ridBase &iommu sidBase length>: RIDs ridBase.. map to StreamIDs sidBase.. */
  readonly ridBase?: number;
  readonly sidBase?: number;
  /** RFC: 0x10000 (identity over the whole RID space); v3: 0x1000 from an allocated vSID range. */
  readonly length?: number;
  /** Optional iommu-map-mask (RID bits kept before the lookup). */
  readonly mask?: number;
}

/**
 * vPCI host bridge (libxl make_vpci_node): ECAM at GUEST_VPCI_ECAM_BASE, buses 0-255, a
 * 32-bit memory window and a 64-bit prefetchable window, each 1:1 (PCI address = CPU address).
 * `iommu-map` is emitted only when `iommu` is given (the RFC emitted it always; review
 * asked to gate it on the vIOMMU, as done here).
 */
export function pciHostNode(spec: PciHostSpec, iommu: DtRef | null): DtNode {
  const ecamBase = spec.ecamBase ?? GUEST_VPCI_ECAM_BASE;
  const ecamSize = spec.ecamSize ?? GUEST_VPCI_ECAM_SIZE;
  const windows: [number, number, number][] = [
    [GUEST_VPCI_ADDR_TYPE_MEM, GUEST_VPCI_MEM_ADDR, GUEST_VPCI_MEM_SIZE],
    [GUEST_VPCI_ADDR_TYPE_PREFETCH_MEM, GUEST_VPCI_PREFETCH_MEM_ADDR, GUEST_VPCI_PREFETCH_MEM_SIZE],
  ];
  const props: DtProp[] = [
    pStr('compatible', 'pci-host-ecam-generic'),
    pStr('device_type', 'pci'),
    regProp([ecamBase, ecamSize]),
    pCells('bus-range', 0, 255),
    pCells('#address-cells', 3),
    pCells('#size-cells', 2),
    pStr('status', 'okay'),
    // ranges: <pci.hi pci.mid pci.lo  cpu.hi cpu.lo  size.hi size.lo> per window.
    pCells('ranges', ...windows.flatMap(([type, addr, size]) => [type, ...u64Cells(addr), ...u64Cells(addr), ...u64Cells(size)])),
  ];
  if (iommu !== null) {
    const ridBase = spec.ridBase ?? 0;
    const sidBase = spec.sidBase ?? 0;
    const length = spec.length ?? 0x10000;
    if (length < 1 || ridBase + length > 0x10000 || sidBase + length > 2 ** 32) {
      throw new VsmmuError('EVSMMU_DT_IOMMU_MAP', `iommu-map: RIDs 0x${hex(ridBase)}+0x${hex(length)} -> StreamIDs 0x${hex(sidBase)}.. must stay within 16-bit RIDs and 32-bit StreamIDs`, { ridBase, sidBase, length });
    }
    props.push(pCells('iommu-map', ridBase, iommu, sidBase, length));
    if (spec.mask !== undefined) props.push(pCells('iommu-map-mask', spec.mask));
  }
  return node(`pcie@${hex(ecamBase)}`, props);
}

// --- domU (libxl__prepare_dtb) -------------------------------------------------------------

export interface DomUDtOptions {
  /** Device name -> vSID; default identity (vSID = pSID, as in the RFC and v1). */
  readonly vsids?: VsidMap;
  readonly xenVersion?: string;
  /** /chosen/bootargs (libxl: the `extra`/`cmdline` of xl.cfg). */
  readonly bootargs?: string;
  /** Add a vPCI host bridge (true = defaults, or a spec). */
  readonly vpci?: boolean | PciHostSpec;
  readonly dmaCoherent?: boolean;
  readonly deviceCompatible?: string;
}

/** What every Xen domain's tree has: chosen, cpus, PSCI, memory, GIC, timer, hypervisor. */
function machineNodes(cfg: DomainConfig, xenVersion: string, bootargs: string | undefined): DtNode[] {
  return [
    node('chosen', bootargs === undefined ? [] : [pStr('bootargs', bootargs)]),
    cpusNode(cfg.vcpus),
    psciNode(),
    ...memoryNodes(cfg.memory),
    gicV2Node(),
    timerNode(),
    hypervisorNode(xenVersion),
  ];
}

/**
 * The device tree libxl builds for a domU: root, chosen, cpus, psci, memory, GICv2, timer,
 * hypervisor, the vSMMUv3 (when `viommu = "smmuv3"`), the vPCI bridge (option), and the
 * passed-through devices under /passthrough (where libxl copies them from the partial device
 * tree), each with `iommus = <65002 vSID>` when the domain has a vSMMU.
 */
export function domUDeviceTree(cfg: DomainConfig, opts: DomUDtOptions = {}): DtNode {
  const ver = opts.xenVersion ?? DEFAULT_XEN_VERSION;
  const hasVsmmu = cfg.viommu === 'smmuv3';
  const ref: DtRef = { ref: VSMMU_LABEL, phandle: GUEST_PHANDLE_VSMMUV3 };
  const children = machineNodes(cfg, ver, opts.bootargs);
  if (hasVsmmu) {
    const spec: VsmmuNodeSpec = { base: GUEST_VSMMUV3_BASE, size: GUEST_VSMMUV3_SIZE, irq: GUEST_VSMMU_SPI, phandle: GUEST_PHANDLE_VSMMUV3, label: VSMMU_LABEL };
    children.push(vsmmuNode(opts.dmaCoherent === true ? { ...spec, dmaCoherent: true } : spec));
  }
  if (opts.vpci !== undefined && opts.vpci !== false) {
    children.push(pciHostNode(opts.vpci === true ? {} : opts.vpci, hasVsmmu ? ref : null));
  }
  const pt = cfg.partialDt;
  if (cfg.devices.length > 0 || pt !== undefined) {
    // Devices the partial device tree describes appear as the user wrote them (iommus
    // rewritten); the others get a node of ours.
    const described = new Set(pt === undefined ? [] : walkNodes(pt).flatMap(({ node: n }) => (cellsOf(n, 'iommus') ?? []).filter((_, i) => i % 2 === 1)));
    const devs = cfg.devices.flatMap((d, i) => ((d.smmu ?? 0) === 0 && described.has(d.sid) ? [] : [
      dmaDeviceNode(d.name, passthroughDevBase(i), hasVsmmu ? { ref, sid: vsidOf(d, opts.vsids) } : null, opts.deviceCompatible)]));
    const copied = pt === undefined ? [] : pt.children.map((c) => rewriteIommus(c, cfg, hasVsmmu ? ref : null, opts.vsids));
    // A 1:1 simple-bus with the parent's cells: dtc wants `ranges` for child addresses to be
    // translatable, and a unit-less name because the node itself has no `reg`.
    children.push(node('passthrough', pt?.props.slice() ?? [
      pStr('compatible', 'simple-bus'),
      pEmpty('ranges'),
      pCells('#address-cells', 2),
      pCells('#size-cells', 2),
    ], [...copied, ...devs]));
  }
  return node('', rootProps(`XENVM-${ver}`, [`xen,xenvm-${ver}`, 'xen,xenvm']), children);
}

/**
 * A partial-device-tree node as the guest gets it (RFC patch 20, libxl
 * modify_partfdt_iommu_node): every `iommus` rewritten pairwise to <vSMMU phandle, SID>, the
 * SID being the device's vSID (the pSID where vSIDs are the identity: rfc, hardened); without
 * a vSMMU the property is dropped (it would name an IOMMU the guest does not have).
 */
function rewriteIommus(n: DtNode, cfg: DomainConfig, vsmmu: DtRef | null, vsids: VsidMap | undefined): DtNode {
  const props = n.props.flatMap((p) => {
    const cells = p.name === 'iommus' && p.value.kind === 'cells' ? p.value.values : null;
    if (cells === null) return [p];
    if (vsmmu === null) return [];
    const items: (number | DtRef)[] = [];
    for (let i = 0; i + 1 < cells.length; i += 2) {
      const psid = cells[i + 1] ?? 0;
      const dev = cfg.devices.find((d) => d.sid === psid && (d.smmu ?? 0) === 0);
      items.push(vsmmu, dev === undefined ? psid : vsidOf(dev, vsids));
    }
    return [pCells('iommus', ...items)];
  });
  return node(n.name, props, n.children.map((c) => rewriteIommus(c, cfg, vsmmu, vsids)), n.label);
}

export function domUDts(cfg: DomainConfig, opts: DomUDtOptions = {}): string {
  return writeDts(domUDeviceTree(cfg, opts), `domU "${cfg.name}": generated by vsmmu (Xen guest layout, libxl shapes)`);
}

// --- dom0 / hardware domain ---------------------------------------------------------------

export interface PhysSmmuDesc {
  /** Host MMIO base and size of the SMMU's register frame. */
  readonly base: number;
  readonly size: number;
  /** Host GIC INTID of its (first) interrupt; Xen gives dom0 the same number. */
  readonly irq: number;
  /** Host phandle; dom0's vSMMU keeps it so `iommus` stay valid. Default: index + 1. */
  readonly phandle?: number;
}

export interface Dom0DtOptions {
  readonly smmus: readonly PhysSmmuDesc[];
  /** The Xen command line `viommu` option: false = Xen hides the SMMUs and strips `iommus`. */
  readonly viommu: boolean;
  readonly xenVersion?: string;
  readonly bootargs?: string;
  readonly dmaCoherent?: boolean;
  readonly deviceCompatible?: string;
}

function smmuRef(smmus: readonly PhysSmmuDesc[], i: number): DtRef {
  const s = smmus[i];
  if (s === undefined) throw new VsmmuError('EVSMMU_SMMU_INDEX', `device refers to physical SMMU ${i}, but ${smmus.length} are described`, { smmu: i, smmuCount: smmus.length });
  return { ref: `smmu${i}`, phandle: s.phandle ?? i + 1 };
}

/**
 * Dom0's tree (series patches 13, 14): each host SMMU node becomes a vSMMU node at the same
 * address, with the same phandle and IRQ, and device nodes keep `iommus = <phandle pSID>`
 * (dom0's vSIDs are the pSIDs). Without `viommu`, Xen keeps the SMMUs for itself: no IOMMU
 * node, no `iommus`. Dom0's devices sit at their host addresses (the emulated platform puts
 * test DMA devices in the passthrough window, one page each, in list order).
 */
export function dom0DeviceTree(cfg: DomainConfig, opts: Dom0DtOptions): DtNode {
  const ver = opts.xenVersion ?? DEFAULT_XEN_VERSION;
  const children = machineNodes(cfg, ver, opts.bootargs);
  if (opts.viommu) {
    opts.smmus.forEach((s, i) => {
      const r = smmuRef(opts.smmus, i);
      const spec: VsmmuNodeSpec = { base: s.base, size: s.size, irq: s.irq, phandle: r.phandle, label: r.ref };
      children.push(vsmmuNode(opts.dmaCoherent === true ? { ...spec, dmaCoherent: true } : spec));
    });
  }
  cfg.devices.forEach((d, i) => {
    const ref = smmuRef(opts.smmus, d.smmu ?? 0);
    children.push(dmaDeviceNode(d.name, passthroughDevBase(i), opts.viommu ? { ref, sid: d.sid } : null, opts.deviceCompatible));
  });
  return node('', rootProps(`vsmmu host (dom0 view), Xen ${ver}`, ['vsmmu,host']), children);
}

export function dom0Dts(cfg: DomainConfig, opts: Dom0DtOptions): string {
  return writeDts(dom0DeviceTree(cfg, opts), `dom0 "${cfg.name}": generated by vsmmu (hardware domain view)`);
}

// --- host tree with dom0less domUs ---------------------------------------------------------

export interface Dom0lessModule {
  readonly base: number;
  readonly size: number;
}

export interface Dom0lessOptions {
  readonly smmus: readonly PhysSmmuDesc[];
  /** Xen's own command line, /chosen/xen,xen-bootargs. */
  readonly xenBootargs?: string;
  /** Host RAM in bytes (default 4 GiB), laid out like a guest's banks. */
  readonly hostMemory?: number;
  readonly hostCpus?: number;
  /** Kernel module per domU name (`multiboot,kernel`), with its bootargs. */
  readonly kernels?: Readonly<Record<string, Dom0lessModule & { readonly bootargs?: string }>>;
  /** Emit the Xilinx per-domU `viommu` property (the RFC instead enables every domU). Default true. */
  readonly perDomainViommu?: boolean;
  readonly deviceCompatible?: string;
}

/**
 * The host device tree Xen boots with, describing dom0less domUs (docs/misc/arm/device-tree/
 * booting.txt): physical SMMU nodes, the DMA devices with host `iommus` and `xen,passthrough`
 * (assigned to a domU, hidden from dom0), and /chosen/domU<N> nodes with compatible
 * "xen,domain", `memory` in KiB (64-bit), `cpus`, `vpl011`, and `viommu = "smmuv3"` (Xilinx
 * downstream per-domain property) when the domain asks for one. Xen's own examples name the
 * nodes `domU1`, `domU2`: a unit address without `reg` would make dtc warn.
 */
export function dom0lessHostTree(domains: readonly DomainConfig[], opts: Dom0lessOptions): DtNode {
  const children: DtNode[] = [];
  const chosenProps: DtProp[] = [];
  if (opts.xenBootargs !== undefined) chosenProps.push(pStr('xen,xen-bootargs', opts.xenBootargs));
  const domNodes = domains.map((d, i) => {
    const kib = d.memory / 1024;
    const props: DtProp[] = [
      pStr('compatible', 'xen,domain'),
      pCells('#address-cells', 2),
      pCells('#size-cells', 2),
      pCells('memory', ...u64Cells(kib)),
      pCells('cpus', d.vcpus),
      pEmpty('vpl011'),
    ];
    if (d.viommu !== 'none' && opts.perDomainViommu !== false) props.push(pStr('viommu', d.viommu));
    const mods: DtNode[] = [];
    const k = opts.kernels?.[d.name];
    if (k !== undefined) {
      const kp = [pStr('compatible', 'multiboot,kernel', 'multiboot,module'), regProp([k.base, k.size])];
      if (k.bootargs !== undefined) kp.push(pStr('bootargs', k.bootargs));
      mods.push(node(`module@${hex(k.base)}`, kp));
    }
    return node(`domU${i + 1}`, props, mods);
  });
  children.push(node('chosen', chosenProps, domNodes));
  children.push(cpusNode(opts.hostCpus ?? 1), psciNode(), ...memoryNodes(opts.hostMemory ?? 0x1_0000_0000), gicV2Node(), timerNode());
  opts.smmus.forEach((s, i) => {
    const r = smmuRef(opts.smmus, i);
    children.push(node(`iommu@${hex(s.base)}`, [
      pStr('compatible', 'arm,smmu-v3'),
      regProp([s.base, s.size]),
      irqProp(s.irq, DT_IRQ_TYPE_LEVEL_HIGH),
      pStr('interrupt-names', 'combined'),
      pCells('interrupt-parent', GUEST_PHANDLE_GIC),
      pCells('#iommu-cells', 1),
      pCells('phandle', r.phandle),
    ], [], r.ref));
  });
  let slot = 0;
  for (const d of domains) {
    for (const dev of d.devices) {
      const base = passthroughDevBase(slot++);
      if (base + GUEST_PASSTHROUGH_DEV_SIZE > GUEST_PASSTHROUGH_MMIO_BASE + GUEST_PASSTHROUGH_MMIO_SIZE) {
        throw new VsmmuError('EVSMMU_DT_WINDOW', `too many devices for the passthrough MMIO window (${slot})`, { devices: slot });
      }
      const n = dmaDeviceNode(dev.name, base, { ref: smmuRef(opts.smmus, dev.smmu ?? 0), sid: dev.sid }, opts.deviceCompatible);
      n.props.push(pEmpty('xen,passthrough'));
      children.push(n);
    }
  }
  return node('', rootProps('vsmmu host (dom0less)', ['vsmmu,host']), children);
}

export function dom0lessDts(domains: readonly DomainConfig[], opts: Dom0lessOptions): string {
  return writeDts(dom0lessHostTree(domains, opts), 'host device tree with dom0less domUs: generated by vsmmu');
}
