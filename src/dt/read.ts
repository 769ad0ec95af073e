// Reading the generic bindings of a device tree: `reg` (address/size pairs by the parent's
// #address-cells/#size-cells), GIC interrupt specifiers (<type num flags>, arm,gic-400 and
// gic-v3 with #interrupt-cells = 3) and `iommus` (arm,smmu-v3: #iommu-cells = 1, the StreamID).
// Shared by whoever reads a tree (a guest kernel, tools); knows no hypervisor.

import { cellsOf, stringsOf, walkNodes, type DtNode } from './dts.ts';

const TWO32 = 4294967296;

export interface RegRange {
  readonly base: number;
  readonly size: number;
}

/** Big-endian cells as one number (callers keep values below 2^53). */
export function cellsValue(cells: readonly number[]): number {
  return cells.reduce((v, x) => v * TWO32 + (x >>> 0), 0);
}

/** `reg`-shaped cells as (base, size) ranges; a trailing partial pair is ignored. */
export function regRanges(cells: readonly number[], addrCells: number, sizeCells: number): RegRange[] {
  const out: RegRange[] = [];
  const n = addrCells + sizeCells;
  if (n <= 0) return out;
  for (let i = 0; i + n <= cells.length; i += n) {
    out.push({ base: cellsValue(cells.slice(i, i + addrCells)), size: cellsValue(cells.slice(i + addrCells, i + n)) });
  }
  return out;
}

/** The root's #address-cells and #size-cells (defaults 2 and 1, as the DT specification). */
export function rootCells(root: DtNode): { readonly addr: number; readonly size: number } {
  return { addr: cellsOf(root, '#address-cells')?.[0] ?? 2, size: cellsOf(root, '#size-cells')?.[0] ?? 1 };
}

/** GIC specifier <type num flags> -> INTID (SPI: 32 + num, PPI: 16 + num); -1 if neither. */
export function gicIntid(spec: readonly number[]): number {
  const [type, num] = [spec[0] ?? -1, spec[1] ?? -1];
  if (num < 0) return -1;
  return type === 0 ? 32 + num : type === 1 ? 16 + num : -1;
}

/** The INTID of interrupt `name` of a node (by `interrupt-names`, else the first), -1 if none. */
export function namedIntid(node: DtNode, name: string): number {
  const names = stringsOf(node, 'interrupt-names') ?? [];
  const irqs = cellsOf(node, 'interrupts') ?? [];
  const k = Math.max(0, names.indexOf(name));
  return gicIntid(irqs.slice(3 * k, 3 * k + 3));
}

/** Nodes whose `compatible` lists `compat`, in tree order. */
export function nodesCompatible(root: DtNode, compat: string): DtNode[] {
  return walkNodes(root).map((w) => w.node).filter((n) => (stringsOf(n, 'compatible') ?? []).includes(compat));
}

/** Masters of the IOMMU with `phandle` (#iommu-cells = 1): node name without unit address -> StreamID. */
export function iommuMasters(root: DtNode, phandle: number): Map<string, number> {
  const masters = new Map<string, number>();
  for (const { node } of walkNodes(root)) {
    const iommus = cellsOf(node, 'iommus');
    if (!iommus) continue;
    for (let i = 0; i + 1 < iommus.length; i += 2) {
      if (iommus[i] === phandle) masters.set(node.name.split('@')[0] ?? node.name, iommus[i + 1] ?? 0);
    }
  }
  return masters;
}
