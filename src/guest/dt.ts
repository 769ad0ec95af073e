// What the guest kernel learns from the device tree the hypervisor gave it (as Linux's
// arm-smmu-v3 DT probe and of_iommu do): where its SMMU's registers are and which
// interrupt it raises ("combined"), the RAM banks, and for each DMA master the StreamID
// in its `iommus = <&smmu sid>` (#iommu-cells = 1): the vSID. This is the guest's only
// source for them: it knows no hypervisor layout.

import { VsmmuError } from '../errors.ts';
import { cellsOf, parseDts, stringsOf, walkNodes, type DtNode } from '../dt/dts.ts';
import { iommuMasters, namedIntid, nodesCompatible, regRanges, rootCells } from '../dt/read.ts';

export interface GuestPlatform {
  readonly smmu: { readonly base: number; readonly size: number; readonly intid: number; readonly phandle: number } | null;
  readonly memory: readonly { readonly base: number; readonly size: number }[];
  /** DMA masters behind the SMMU: node name without unit address -> vSID. */
  readonly masters: ReadonlyMap<string, number>;
}

export function platformFromDt(root: DtNode | string): GuestPlatform {
  const tree = typeof root === 'string' ? parseDts(root) : root;
  const cells = rootCells(tree);
  let smmu: GuestPlatform['smmu'] = null;
  const node = nodesCompatible(tree, 'arm,smmu-v3')[0];
  if (node) {
    const reg = regRanges(cellsOf(node, 'reg') ?? [], cells.addr, cells.size)[0];
    const intid = namedIntid(node, 'combined');
    const phandle = cellsOf(node, 'phandle')?.[0] ?? -1;
    if (!reg || intid < 0) throw new VsmmuError('EVSMMU_DT', `SMMUv3 node ${node.name} has no usable reg or combined interrupt`, { node: node.name });
    smmu = { base: reg.base, size: reg.size, intid, phandle };
  }
  const memory: { base: number; size: number }[] = [];
  for (const { node: n } of walkNodes(tree)) {
    if ((stringsOf(n, 'device_type') ?? []).includes('memory')) memory.push(...regRanges(cellsOf(n, 'reg') ?? [], cells.addr, cells.size));
  }
  const masters = smmu !== null ? iommuMasters(tree, smmu.phandle) : new Map<string, number>();
  return { smmu, memory, masters };
}
