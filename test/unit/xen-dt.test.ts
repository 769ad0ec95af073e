import { describe, expect, it } from 'vitest';
import { thrown } from '../support/errors.ts';
import {
  dom0DeviceTree, dom0Dts, dom0lessDts, dom0lessHostTree, domUDeviceTree, domUDts, vcpuMpidr,
  type PhysSmmuDesc,
} from '../../src/xen/devicetree.ts';
import {
  cellsOf, findNode, getProp, node, parseDts, pCells, pEmpty, pStr, stringsOf, walkNodes, writeDts,
  type DtNode,
} from '../../src/dt/dts.ts';
import { GUEST_PHANDLE_GIC, GUEST_PHANDLE_VSMMUV3 } from '../../src/xen/layout.ts';
import type { DomainConfig } from '../../src/xen/xlcfg.ts';


function must(root: DtNode, path: string): DtNode {
  const n = findNode(root, path);
  if (n === undefined) throw new Error(`no node ${path}`);
  return n;
}

/** Structural invariants every generated tree keeps (what dtc would check, and Linux needs). */
function checkInvariants(root: DtNode): void {
  const byPhandle = new Map<number, DtNode>();
  for (const { node: n } of walkNodes(root)) {
    const ph = cellsOf(n, 'phandle')?.[0];
    if (ph !== undefined) {
      expect(byPhandle.has(ph), `phandle ${ph} unique`).toBe(false);
      byPhandle.set(ph, n);
    }
  }
  const rec = (n: DtNode, addrCells: number): void => {
    const reg = cellsOf(n, 'reg');
    const unit = n.name.split('@')[1];
    if (reg !== undefined) {
      // unit address = first address of reg, in hex without leading zeros
      const addr = reg.slice(0, addrCells).reduce((a, c) => a * 2 ** 32 + c, 0);
      expect(unit, `${n.name}: unit address`).toBe(addr.toString(16));
    } else if (n.name !== '') expect(unit, `${n.name}: no unit address without reg`).toBeUndefined();
    const iommus = cellsOf(n, 'iommus');
    if (iommus !== undefined) {
      const target = byPhandle.get(iommus[0] ?? -1);
      expect(target, `${n.name}: iommus phandle resolves`).toBeDefined();
      expect(cellsOf(target ?? n, '#iommu-cells')).toEqual([1]);
      expect(iommus).toHaveLength(2);
    }
    const ip = cellsOf(n, 'interrupt-parent')?.[0];
    if (ip !== undefined) expect(byPhandle.get(ip)?.props.some((p) => p.name === 'interrupt-controller')).toBe(true);
    const childCells = cellsOf(n, '#address-cells')?.[0] ?? addrCells;
    for (const c of n.children) rec(c, childCells);
  };
  rec(root, 2);
}

const smmuGuest: DomainConfig = {
  name: 'g1',
  memory: 512 * 2 ** 20,
  vcpus: 2,
  viommu: 'smmuv3',
  devices: [{ name: 'dma0', sid: 0x10 }, { name: 'dma1', sid: 0x11 }],
};
const plainGuest: DomainConfig = { ...smmuGuest, name: 'g2', viommu: 'none' };
const SMMUS: PhysSmmuDesc[] = [
  { base: 0x0905_0000, size: 0x2_0000, irq: 106 },
  { base: 0x0907_0000, size: 0x2_0000, irq: 107, phandle: 0x8001 },
];

describe('DTS model, writer and reader', () => {
  const tree = node('', [pStr('compatible', 'a,b', 'c'), pCells('#address-cells', 2), pCells('#size-cells', 2)], [
    node('x@1000', [pCells('reg', 0, 0x1000, 0, 0x100), pEmpty('flag'), pStr('s', 'q"uo\\te\n\x01'), pCells('phandle', 7)], [], 'lbl'),
    node('y', [pCells('ref', { ref: 'lbl', phandle: 7 }, 3)]),
  ]);
  it('writes labels, references, strings with escapes, empty properties', () => {
    const dts = writeDts(tree, 'hello');
    expect(dts.startsWith('/dts-v1/;\n\n// hello\n\n/ {\n')).toBe(true);
    expect(dts).toContain('\tlbl: x@1000 {\n');
    expect(dts).toContain('\t\tref = <&lbl 0x3>;\n');
    expect(dts).toContain('\t\ts = "q\\"uo\\\\te\\n\\x01";\n');
    expect(dts).toContain('\t\tflag;\n');
    expect(dts).toContain('compatible = "a,b", "c";');
  });
  it('reads back what it writes (references resolved to phandles)', () => {
    const back = parseDts(writeDts(tree));
    expect(back).toEqual(tree);
  });
  it('reads dtc’s decompiled style: NUL-separated string lists, padded hex, bytes, comments', () => {
    const t = parseDts('/dts-v1/;\n/memreserve/ 0x0 0x1000;\n/* c */ / {\n\tcompatible = "a\\0b";\n\tc = <0x02 10>; // x\n\tb = [00 ff];\n\tn { };\n};\n');
    expect(stringsOf(t, 'compatible')).toEqual(['a', 'b']);
    expect(cellsOf(t, 'c')).toEqual([2, 10]);
    expect(getProp(t, 'b')).toEqual({ kind: 'bytes', values: [0, 255] });
    expect(must(t, '/n').props).toEqual([]);
  });
  it.each([
    ['/ { };', 'expected "/dts-v1/"'],
    ['/dts-v1/; / { a = ; };', 'expected a value'],
    ['/dts-v1/; / { a = "x", <1>; };', 'mixed value kinds'],
    ['/dts-v1/; / { a = <0x100000000>; };', 'does not fit 32 bits'],
    ['/dts-v1/; / { a = <&nope>; };', 'reference &nope'],
    ['/dts-v1/; / { a = "x\n"; };', 'unterminated string'],
    ['/dts-v1/; / { a = <1> };', 'expected ";"'],
  ])('rejects %j', (src, msg) => {
    const e = thrown(() => parseDts(src));
    expect(e.code).toBe('EVSMMU_DTS_SYNTAX');
    expect(e.message).toContain(msg);
  });
  it('refuses cells that are not u32', () => {
    expect(thrown(() => pCells('x', -1)).code).toBe('EVSMMU_DT_CELL');
    expect(thrown(() => pCells('x', 2 ** 32)).code).toBe('EVSMMU_DT_CELL');
    expect(thrown(() => pCells('x', 1.5)).code).toBe('EVSMMU_DT_CELL');
  });
});

describe('domU device tree', () => {
  const t = domUDeviceTree(smmuGuest, { bootargs: 'console=hvc0' });
  it('has libxl’s root properties and nodes', () => {
    expect(stringsOf(t, 'compatible')).toEqual(['xen,xenvm-4.20', 'xen,xenvm']);
    expect(stringsOf(t, 'model')).toEqual(['XENVM-4.20']);
    expect(cellsOf(t, '#address-cells')).toEqual([2]);
    expect(cellsOf(t, '#size-cells')).toEqual([2]);
    expect(cellsOf(t, 'interrupt-parent')).toEqual([GUEST_PHANDLE_GIC]);
    expect(stringsOf(must(t, '/chosen'), 'bootargs')).toEqual(['console=hvc0']);
    expect(stringsOf(must(t, '/psci'), 'method')).toEqual(['hvc']);
    expect(cellsOf(must(t, '/timer'), 'interrupts')).toEqual([1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08]);
    const gic = must(t, '/interrupt-controller@3001000');
    expect(cellsOf(gic, 'phandle')).toEqual([65000]);
    expect(cellsOf(gic, 'reg')).toEqual([0, 0x0300_1000, 0, 0x1000, 0, 0x0300_2000, 0, 0x2000]);
    expect(cellsOf(must(t, '/hypervisor@38000000'), 'interrupts')).toEqual([1, 15, 0xf08]);
    checkInvariants(t);
  });
  it('describes one PSCI cpu per vCPU with Xen’s MPIDR numbering', () => {
    const cpus = domUDeviceTree({ ...smmuGuest, vcpus: 18 }).children.find((c) => c.name === 'cpus');
    expect(cpus?.children.map((c) => c.name).slice(14)).toEqual(['cpu@e', 'cpu@f', 'cpu@100', 'cpu@101']);
    expect(vcpuMpidr(17)).toBe(0x101);
    expect(stringsOf(must(t, '/cpus/cpu@1'), 'enable-method')).toEqual(['psci']);
  });
  it('describes RAM per bank', () => {
    expect(cellsOf(must(t, '/memory@40000000'), 'reg')).toEqual([0, 0x4000_0000, 0, 512 * 2 ** 20]);
    expect(findNode(t, '/memory@200000000')).toBeUndefined();
    const big = domUDeviceTree({ ...smmuGuest, memory: 5 * 2 ** 30 });
    expect(cellsOf(must(big, '/memory@40000000'), 'reg')).toEqual([0, 0x4000_0000, 0, 0xc000_0000]);
    expect(cellsOf(must(big, '/memory@200000000'), 'reg')).toEqual([2, 0, 0, 0x8000_0000]);
  });
  it('has the vSMMUv3 node of the series', () => {
    const v = must(t, '/iommu@4040000');
    expect(v.label).toBe('vsmmu');
    expect(v.props.map((p) => p.name)).toEqual(['compatible', 'reg', 'interrupts', 'interrupt-names', 'interrupt-parent', '#iommu-cells', 'phandle']);
    expect(stringsOf(v, 'compatible')).toEqual(['arm,smmu-v3']);
    expect(cellsOf(v, 'reg')).toEqual([0, 0x0404_0000, 0, 0x4_0000]);
    expect(cellsOf(v, 'interrupts')).toEqual([0, 1, 0xf04]); // GIC_SPI, 33 - 32, cpumask 0xf | level-high
    expect(stringsOf(v, 'interrupt-names')).toEqual(['combined']);
    expect(cellsOf(v, '#iommu-cells')).toEqual([1]);
    expect(cellsOf(v, 'phandle')).toEqual([65002]);
    expect(getProp(must(domUDeviceTree(smmuGuest, { dmaCoherent: true }), '/iommu@4040000'), 'dma-coherent')).toEqual({ kind: 'empty' });
  });
  it('puts passed-through devices under /passthrough with iommus = <vsmmu vSID>', () => {
    const pt = must(t, '/passthrough');
    expect(stringsOf(pt, 'compatible')).toEqual(['simple-bus']);
    expect(getProp(pt, 'ranges')).toEqual({ kind: 'empty' });
    const d0 = must(t, '/passthrough/dma0@5000000');
    expect(stringsOf(d0, 'compatible')).toEqual(['vsmmu,test-dma']);
    expect(cellsOf(d0, 'reg')).toEqual([0, 0x0500_0000, 0, 0x1000]);
    expect(getProp(d0, 'iommus')).toEqual({ kind: 'cells', values: [GUEST_PHANDLE_VSMMUV3, 0x10], refs: ['vsmmu', undefined] });
    expect(cellsOf(must(t, '/passthrough/dma1@5001000'), 'iommus')).toEqual([65002, 0x11]);
  });
  it('uses the vSID assignment when given (Map or record), identity otherwise', () => {
    const m = domUDeviceTree(smmuGuest, { vsids: new Map([['dma1', 0]]) });
    expect(cellsOf(must(m, '/passthrough/dma0@5000000'), 'iommus')).toEqual([65002, 0x10]);
    expect(cellsOf(must(m, '/passthrough/dma1@5001000'), 'iommus')).toEqual([65002, 0]);
    const r = domUDeviceTree(smmuGuest, { vsids: { dma0: 1, dma1: 2 } });
    expect(cellsOf(must(r, '/passthrough/dma0@5000000'), 'iommus')).toEqual([65002, 1]);
    expect(thrown(() => domUDeviceTree(smmuGuest, { vsids: { dma0: -1 } })).code).toBe('EVSMMU_DT_VSID');
  });
  it('has no vSMMU and no iommus without viommu', () => {
    const p = domUDeviceTree(plainGuest, { vpci: true });
    expect(findNode(p, '/iommu@4040000')).toBeUndefined();
    expect(getProp(must(p, '/passthrough/dma0@5000000'), 'iommus')).toBeUndefined();
    expect(getProp(must(p, '/pcie@10000000'), 'iommu-map')).toBeUndefined();
    expect(findNode(domUDeviceTree({ ...plainGuest, devices: [] }), '/passthrough')).toBeUndefined();
    checkInvariants(p);
  });
  it('describes the vPCI host bridge with an iommu-map to the vSMMU', () => {
    const p = must(domUDeviceTree(smmuGuest, { vpci: true }), '/pcie@10000000');
    expect(stringsOf(p, 'compatible')).toEqual(['pci-host-ecam-generic']);
    expect(stringsOf(p, 'device_type')).toEqual(['pci']);
    expect(cellsOf(p, 'reg')).toEqual([0, 0x1000_0000, 0, 0x1000_0000]);
    expect(cellsOf(p, 'bus-range')).toEqual([0, 255]);
    expect(cellsOf(p, '#address-cells')).toEqual([3]);
    expect(cellsOf(p, '#size-cells')).toEqual([2]);
    expect(cellsOf(p, 'ranges')).toEqual([
      0x0200_0000, 0, 0x2300_0000, 0, 0x2300_0000, 0, 0x1000_0000,
      0x4300_0000, 1, 0, 1, 0, 1, 0,
    ]);
    expect(cellsOf(p, 'iommu-map')).toEqual([0, 65002, 0, 0x10000]); // RFC: identity over all RIDs
    expect(getProp(p, 'iommu-map-mask')).toBeUndefined();
    const v3 = must(domUDeviceTree(smmuGuest, { vpci: { sidBase: 0x20, length: 0x1000, mask: 0xff00 } }), '/pcie@10000000');
    expect(cellsOf(v3, 'iommu-map')).toEqual([0, 65002, 0x20, 0x1000]);
    expect(cellsOf(v3, 'iommu-map-mask')).toEqual([0xff00]);
    expect(thrown(() => domUDeviceTree(smmuGuest, { vpci: { ridBase: 0xff00, length: 0x1000 } })).code).toBe('EVSMMU_DT_IOMMU_MAP');
  });
  it('writes DTS text that reads back to the same tree', () => {
    const dts = domUDts(smmuGuest, { vpci: true });
    expect(dts).toContain('iommus = <&vsmmu 0x10>;');
    expect(dts).toContain('vsmmu: iommu@4040000 {');
    expect(parseDts(dts)).toEqual(domUDeviceTree(smmuGuest, { vpci: true }));
  });
});

describe('dom0 device tree', () => {
  const dom0: DomainConfig = {
    name: 'Domain-0', memory: 2 ** 30, vcpus: 1, viommu: 'smmuv3',
    devices: [{ name: 'dma0', sid: 4 }, { name: 'dma1', sid: 4, smmu: 1 }],
  };
  it('has one vSMMU per physical SMMU at the host address, phandle and IRQ', () => {
    const t = dom0DeviceTree(dom0, { smmus: SMMUS, viommu: true });
    const a = must(t, '/iommu@9050000');
    const b = must(t, '/iommu@9070000');
    expect(cellsOf(a, 'reg')).toEqual([0, 0x0905_0000, 0, 0x2_0000]);
    expect(cellsOf(a, 'interrupts')).toEqual([0, 106 - 32, 0xf04]);
    expect(cellsOf(a, 'phandle')).toEqual([1]);
    expect(cellsOf(b, 'phandle')).toEqual([0x8001]);
    expect(stringsOf(b, 'interrupt-names')).toEqual(['combined']);
    expect(cellsOf(must(t, '/dma0@5000000'), 'iommus')).toEqual([1, 4]);
    expect(cellsOf(must(t, '/dma1@5001000'), 'iommus')).toEqual([0x8001, 4]);
    checkInvariants(t);
    expect(parseDts(dom0Dts(dom0, { smmus: SMMUS, viommu: true }))).toEqual(t);
  });
  it('hides the SMMUs and strips iommus when viommu is off', () => {
    const t = dom0DeviceTree(dom0, { smmus: SMMUS, viommu: false });
    expect(walkNodes(t).filter((w) => w.node.name.startsWith('iommu@'))).toEqual([]);
    expect(getProp(must(t, '/dma0@5000000'), 'iommus')).toBeUndefined();
  });
  it('rejects a device behind an SMMU that is not described', () => {
    expect(thrown(() => dom0DeviceTree(dom0, { smmus: SMMUS.slice(0, 1), viommu: true })).code).toBe('EVSMMU_SMMU_INDEX');
  });
});

describe('dom0less host device tree', () => {
  const domains = [smmuGuest, { ...plainGuest, devices: [{ name: 'dma2', sid: 3, smmu: 1 }] }];
  const t = dom0lessHostTree(domains, {
    smmus: SMMUS,
    xenBootargs: 'viommu=1',
    kernels: { g1: { base: 0x4a00_0000, size: 0x100_0000, bootargs: 'console=ttyAMA0' } },
  });
  it('has a xen,domain node per domU under /chosen', () => {
    expect(stringsOf(must(t, '/chosen'), 'xen,xen-bootargs')).toEqual(['viommu=1']);
    const d1 = must(t, '/chosen/domU1');
    expect(stringsOf(d1, 'compatible')).toEqual(['xen,domain']);
    expect(cellsOf(d1, 'memory')).toEqual([0, 512 * 1024]); // KiB
    expect(cellsOf(d1, 'cpus')).toEqual([2]);
    expect(getProp(d1, 'vpl011')).toEqual({ kind: 'empty' });
    expect(stringsOf(d1, 'viommu')).toEqual(['smmuv3']);
    const k = must(t, '/chosen/domU1/module@4a000000');
    expect(stringsOf(k, 'compatible')).toEqual(['multiboot,kernel', 'multiboot,module']);
    expect(cellsOf(k, 'reg')).toEqual([0, 0x4a00_0000, 0, 0x100_0000]);
    expect(stringsOf(k, 'bootargs')).toEqual(['console=ttyAMA0']);
    const d2 = must(t, '/chosen/domU2');
    expect(getProp(d2, 'viommu')).toBeUndefined();
    expect(d2.children).toEqual([]);
    const noProp = dom0lessHostTree(domains, { smmus: SMMUS, perDomainViommu: false });
    expect(getProp(must(noProp, '/chosen/domU1'), 'viommu')).toBeUndefined();
  });
  it('describes the physical SMMUs and the passed-through devices with host iommus', () => {
    expect(stringsOf(must(t, '/iommu@9050000'), 'compatible')).toEqual(['arm,smmu-v3']);
    const d = must(t, '/dma2@5002000');
    expect(cellsOf(d, 'iommus')).toEqual([0x8001, 3]);
    expect(getProp(d, 'xen,passthrough')).toEqual({ kind: 'empty' });
    expect(cellsOf(must(t, '/dma0@5000000'), 'iommus')).toEqual([1, 0x10]);
    checkInvariants(t);
    expect(parseDts(dom0lessDts(domains, { smmus: SMMUS }))).toEqual(dom0lessHostTree(domains, { smmus: SMMUS }));
  });
});
