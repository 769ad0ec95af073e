// Passthrough as Xen users configure it on Arm (xl.cfg(5) `dtdev`, `iomem`, `irqs`,
// `device_tree`): the toolstack's checks, against the host device tree, before the domain is
// built. `dtdev` paths become the domain's devices (the StreamID from the host `iommus`);
// `iomem` and `irqs` must be MMIO pages and interrupts of those devices; the partial device
// tree's /passthrough node is kept for the guest's tree, whose `iommus` devicetree.ts
// rewrites to the vSMMU (RFC patch 20, reference §5.1). Every problem is a coded error that
// names the xl.cfg line.
//
// The emulator's devices are DMA engines on SMMU ports, not MMIO the guest maps: `iomem` and
// `irqs` are checked as xl and Xen would accept them, and map nothing.

import { VsmmuError, type ErrorCode } from '../errors.ts';
import { cellsOf, findNode, getProp, walkNodes, type DtNode } from '../dt/dts.ts';
import { HOST_PHANDLE_SMMU, type HostDevice } from './hostdt.ts';
import { GUEST_PASSTHROUGH_MAX_DEVS, GUEST_PHANDLE_VSMMUV3, GUEST_VSMMU_SPI, GUEST_VSMMUV3_BASE, GUEST_VSMMUV3_SIZE, ramBanks } from './layout.ts';
import type { XenProfile } from './profile.ts';
import type { DomainConfig, DomainDevice, PassthroughKeys } from './xlcfg.ts';

const PAGE = 4096;
const DEVICE_NAME_RE = /^[A-Za-z][A-Za-z0-9._+-]{0,30}$/;

export interface HostView {
  readonly tree: DtNode;
  readonly devices: readonly HostDevice[];
}

/** Reads a partial device tree file (DTS, or a DTB through dtc); throws what it cannot. */
export type PartialDtReader = (path: string) => DtNode;

function hex(v: number): string {
  return `0x${v.toString(16)}`;
}

function fail(code: ErrorCode, cfg: DomainConfig, line: number, msg: string, details: Record<string, unknown> = {}): VsmmuError {
  return new VsmmuError(code, `${cfg.source ?? `domain "${cfg.name}"`}:${line}: ${msg}`, { file: cfg.source, domain: cfg.name, line, ...details });
}

/** Node name without its unit address. */
function baseName(n: DtNode): string {
  return n.name.split('@')[0] ?? n.name;
}

function resolveDtdev(cfg: DomainConfig, keys: PassthroughKeys, host: HostView): { dev: HostDevice; line: number }[] {
  return keys.dtdev.map(({ path, line }) => {
    const n = findNode(host.tree, path);
    const dev = host.devices.find((d) => d.path === path);
    if (n === undefined) {
      throw fail('EVSMMU_DTDEV_NOT_FOUND', cfg, line, `dtdev "${path}" names no node of the host device tree (its devices: ${host.devices.map((d) => d.path).join(', ')}; see vsmmu dt --host)`, { path });
    }
    if (dev === undefined || dev.sid === null || cellsOf(n, 'iommus') === undefined) {
      throw fail('EVSMMU_DTDEV_NO_IOMMU', cfg, line, `dtdev "${path}" is behind no SMMU (no iommus property): Xen cannot assign it`, { path });
    }
    return { dev, line };
  });
}

function checkIomem(cfg: DomainConfig, keys: PassthroughKeys, given: readonly HostDevice[]): void {
  const guestRegions = [
    ...ramBanks(cfg.memory).map((b) => ({ what: 'RAM', base: b.base, size: b.size })),
    ...(cfg.viommu === 'smmuv3' ? [{ what: 'vSMMUv3', base: GUEST_VSMMUV3_BASE, size: GUEST_VSMMUV3_SIZE }] : []),
  ];
  for (const r of keys.iomem) {
    const [lo, hi] = [r.mfn * PAGE, (r.mfn + r.nr) * PAGE];
    const owner = given.find((d) => lo >= Math.floor(d.base / PAGE) * PAGE && hi <= Math.ceil((d.base + d.size) / PAGE) * PAGE);
    if (owner === undefined) {
      const regs = given.map((d) => `${d.path}: MFN ${(d.base / PAGE).toString(16)},${Math.ceil(d.size / PAGE).toString(16)}`).join('; ');
      throw fail('EVSMMU_IOMEM', cfg, r.line, `iomem MFNs ${r.mfn.toString(16)}..${(r.mfn + r.nr - 1).toString(16)} are not MMIO of a device the domain is given (${regs || 'it is given none with dtdev'})`, { mfn: r.mfn, nr: r.nr });
    }
    const [glo, ghi] = [r.gfn * PAGE, (r.gfn + r.nr) * PAGE];
    const clash = guestRegions.find((g) => glo < g.base + g.size && g.base < ghi);
    if (clash !== undefined) {
      throw fail('EVSMMU_IOMEM', cfg, r.line, `iomem maps ${owner.path} at guest frames ${r.gfn.toString(16)}..${(r.gfn + r.nr - 1).toString(16)}, on the guest's ${clash.what} (${hex(clash.base)}..${hex(clash.base + clash.size - 1)}): give a free GFN (e.g. 5000, the passthrough window at 0x5000000)`, { gfn: r.gfn, nr: r.nr });
    }
  }
}

function checkIrqs(cfg: DomainConfig, keys: PassthroughKeys, given: readonly HostDevice[], profile: XenProfile): void {
  const reserved = cfg.viommu === 'smmuv3' || (profile.vsmmuSpiReserved === 'viommu-or-partial-dt' && keys.deviceTree !== null);
  for (const { irq, line } of keys.irqs) {
    if (irq === GUEST_VSMMU_SPI && reserved) {
      const why = cfg.viommu === 'smmuv3' ? 'its vSMMU' : `its vSMMU (profile ${profile.name} reserves it for any domain with a partial device tree)`;
      throw fail('EVSMMU_IRQ_VSMMU_SPI', cfg, line, `physical IRQ ${irq} conflicts with the vSMMUv3 SPI: the domain's INTID ${GUEST_VSMMU_SPI} is ${why} (reference §5.1)`, { irq, profile: profile.name });
    }
    if (!given.some((d) => d.irqs.includes(irq))) {
      const irqs = given.map((d) => `${d.path}: ${d.irqs.join(', ') || 'none'}`).join('; ');
      throw fail('EVSMMU_IRQS', cfg, line, `IRQ ${irq} is not an interrupt of a device the domain is given (${irqs || 'it is given none with dtdev'})`, { irq });
    }
  }
}

/**
 * The partial tree's /passthrough node, checked: every `iommus` is <SMMU phandle, SID>
 * pairs naming devices the domain is given. Returns the node and, per device it describes,
 * the name the guest knows it by (its node name without unit address).
 */
function checkPartialDt(cfg: DomainConfig, line: number, path: string, root: DtNode, devices: readonly DomainDevice[]): { node: DtNode; names: Map<DomainDevice, string> } {
  const pt = root.children.find((c) => c.name === 'passthrough');
  if (pt === undefined) {
    throw fail('EVSMMU_PARTIAL_DT', cfg, line, `device_tree "${path}" has no /passthrough node: the toolstack copies the devices under /passthrough into the guest's tree`, { path });
  }
  const names = new Map<DomainDevice, string>();
  for (const { path: at, node: n } of walkNodes(pt)) {
    if (getProp(n, 'iommus') === undefined) continue;
    const iommus = cellsOf(n, 'iommus') ?? [];
    const where = `device_tree "${path}" node /passthrough${at === '/' ? '' : at}`;
    if (iommus.length === 0 || iommus.length % 2 !== 0) {
      throw fail('EVSMMU_PARTIAL_DT', cfg, line, `${where}: iommus has ${iommus.length} cells; it must be <phandle StreamID> pairs (#iommu-cells = <1>), copied from the host tree`, { path, node: at });
    }
    for (let i = 0; i < iommus.length; i += 2) {
      const [ph, sid] = [iommus[i] ?? 0, iommus[i + 1] ?? 0];
      // The RFC rewrites the phandle cell whatever it holds; we take the host SMMU's (the
      // property copied from the host tree) or the guest vSMMU's, and call anything else a slip.
      if (ph !== HOST_PHANDLE_SMMU && ph !== GUEST_PHANDLE_VSMMUV3) {
        throw fail('EVSMMU_PARTIAL_DT', cfg, line, `${where}: iommus names phandle ${hex(ph)}, which is neither the host SMMU's nor the guest vSMMU's: copy the host property, <${hex(HOST_PHANDLE_SMMU)} StreamID>`, { path, node: at, phandle: ph });
      }
      const dev = devices.find((d) => d.sid === sid && (d.smmu ?? 0) === 0);
      if (dev === undefined) {
        throw fail('EVSMMU_PARTIAL_DT_DEVICE', cfg, line, `${where}: iommus names StreamID ${hex(sid)}, a device the domain is not given with dtdev`, { path, node: at, sid });
      }
      if (!names.has(dev)) {
        const name = baseName(n);
        if (!DEVICE_NAME_RE.test(name)) {
          throw fail('EVSMMU_PARTIAL_DT', cfg, line, `${where}: "${name}" cannot name a device (a letter, then letters, digits, . _ + -; at most 31 characters)`, { path, node: at });
        }
        names.set(dev, name);
      }
    }
  }
  return { node: pt, names };
}

/**
 * A domain's config with its passthrough keys applied: the `dtdev` devices appended to its
 * devices (named by the partial tree's node when it describes them, else by their host
 * node), and the partial tree's /passthrough node in `partialDt`. A config without
 * passthrough keys comes back unchanged.
 */
export function resolvePassthrough(cfg: DomainConfig, host: HostView, profile: XenProfile, readPartialDt: PartialDtReader): DomainConfig {
  const keys = cfg.passthrough;
  if (keys === undefined) return cfg;
  const given = resolveDtdev(cfg, keys, host);
  if (cfg.devices.length + given.length > GUEST_PASSTHROUGH_MAX_DEVS) {
    throw fail('EVSMMU_XLCFG_BAD_VALUE', cfg, given[0]?.line ?? 1, `${cfg.devices.length + given.length} devices exceed the ${GUEST_PASSTHROUGH_MAX_DEVS} the passthrough MMIO window holds`);
  }
  let devices: DomainDevice[] = [
    ...cfg.devices,
    ...given.map(({ dev, line }) => ({ name: dev.name, sid: dev.sid ?? 0, smmu: dev.smmu, line, path: dev.path })),
  ];
  const hostDevs = given.map((g) => g.dev);
  checkIomem(cfg, keys, hostDevs);
  checkIrqs(cfg, keys, hostDevs, profile);
  const dt = keys.deviceTree;
  if (dt === null) return { ...cfg, devices };
  let root: DtNode;
  try {
    root = readPartialDt(dt.path);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw fail('EVSMMU_PARTIAL_DT', cfg, dt.line, `device_tree "${dt.path}": ${why}`, { path: dt.path, cause: e instanceof VsmmuError ? e.code : undefined });
  }
  const { node, names } = checkPartialDt(cfg, dt.line, dt.path, root, devices);
  devices = devices.map((d) => {
    const name = names.get(d);
    return name === undefined ? d : { ...d, name };
  });
  return { ...cfg, devices, partialDt: node };
}
