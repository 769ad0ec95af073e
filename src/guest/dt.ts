// What the guest kernel learns from the device tree the hypervisor gave it (as Linux's
// arm-smmu-v3 DT probe and of_iommu do): where its SMMU's registers are and which
// interrupt it raises ("combined"), the RAM banks, and for each DMA master the StreamID
// in its `iommus = <&smmu sid>` (#iommu-cells = 1): the vSID.

import { VsmmuError } from '../errors.ts';
import { cellsOf, parseDts, stringsOf, walkNodes, type DtNode } from '../xen/dts.ts';

export interface GuestPlatform {
  readonly smmu: { readonly base: number; readonly size: number; readonly intid: number; readonly phandle: number } | null;
  readonly memory: readonly { readonly base: number; readonly size: number }[];
  /** DMA masters behind the SMMU: node name without unit address -> vSID. */
  readonly masters: ReadonlyMap<string, number>;
}

const TWO32 = 4294967296;

function pairs(cells: readonly number[], addrCells: number, sizeCells: number): { base: number; size: number }[] {
  const out: { base: number; size: number }[] = [];
  const n = addrCells + sizeCells;
  const num = (c: readonly number[]): number => c.reduce((v, x) => v * TWO32 + (x >>> 0), 0);
  for (let i = 0; i + n <= cells.length; i += n) {
    out.push({ base: num(cells.slice(i, i + addrCells)), size: num(cells.slice(i + addrCells, i + n)) });
  }
  return out;
}

/** GIC specifier <type num flags> -> INTID (SPI: 32 + num, PPI: 16 + num). */
function intidOf(c: readonly number[]): number {
  const [type, num] = [c[0] ?? -1, c[1] ?? -1];
  return type === 0 ? 32 + num : type === 1 ? 16 + num : -1;
}

export function platformFromDt(root: DtNode | string): GuestPlatform {
  const tree = typeof root === 'string' ? parseDts(root) : root;
  const ac = cellsOf(tree, '#address-cells')?.[0] ?? 2;
  const sc = cellsOf(tree, '#size-cells')?.[0] ?? 1;
  let smmu: GuestPlatform['smmu'] = null;
  const memory: { base: number; size: number }[] = [];
  const all = walkNodes(tree);
  for (const { node } of all) {
    const compat = stringsOf(node, 'compatible') ?? [];
    if (compat.includes('arm,smmu-v3') && smmu === null) {
      const reg = pairs(cellsOf(node, 'reg') ?? [], ac, sc)[0];
      const names = stringsOf(node, 'interrupt-names') ?? [];
      const irqs = cellsOf(node, 'interrupts') ?? [];
      const k = Math.max(0, names.indexOf('combined'));
      const intid = intidOf(irqs.slice(3 * k, 3 * k + 3));
      const phandle = cellsOf(node, 'phandle')?.[0] ?? -1;
      if (!reg || intid < 0) throw new VsmmuError('EVSMMU_DT', `SMMUv3 node ${node.name} has no usable reg or combined interrupt`, { node: node.name });
      smmu = { base: reg.base, size: reg.size, intid, phandle };
    }
    if ((stringsOf(node, 'device_type') ?? []).includes('memory')) memory.push(...pairs(cellsOf(node, 'reg') ?? [], ac, sc));
  }
  const masters = new Map<string, number>();
  if (smmu !== null) {
    for (const { node } of all) {
      const iommus = cellsOf(node, 'iommus');
      if (!iommus) continue;
      for (let i = 0; i + 1 < iommus.length; i += 2) {
        if (iommus[i] === smmu.phandle) masters.set(node.name.split('@')[0] ?? node.name, iommus[i + 1] ?? 0);
      }
    }
  }
  return { smmu, memory, masters };
}
