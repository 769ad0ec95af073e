// Every device tree the hypervisor generates goes through the real device-tree compiler:
// dts -> dtb must succeed with no warning at all, and dtb -> dts must give back the same
// nodes and property values. CI installs `device-tree-compiler` and sets VSMMU_REQUIRE_DTC=1;
// elsewhere a missing dtc skips these tests with one line (test/support/dtc.ts).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { dom0DeviceTree, dom0lessHostTree, domUDeviceTree, type PhysSmmuDesc } from '../../src/xen/devicetree.ts';
import { hostDeviceTree } from '../../src/xen/hostdt.ts';
import { node, parseDts, pCells, writeDts, type DtNode } from '../../src/dt/dts.ts';
import type { DomainConfig } from '../../src/xen/xlcfg.ts';
import { parseXlCfg } from '../../src/xen/xlcfg.ts';
import { dtc, dtcIt } from '../support/dtc.ts';

const DTC = dtc().bin;
const test = dtcIt('dtc round trips of generated device trees (test/integration/xen-dtc.test.ts)');

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vsmmu-dtc-'));
});
afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(DTC, args, { encoding: 'utf8', input, timeout: 10_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The tree as dtc prints it back from a blob: no labels, references already numbers. */
function unlabelled(n: DtNode): DtNode {
  return {
    name: n.name,
    props: n.props.map((p) => (p.value.kind === 'cells' ? { name: p.name, value: { kind: 'cells', values: p.value.values } } : p)),
    children: n.children.map(unlabelled),
  };
}

let seq = 0;
/** Compile `tree` with dtc (no warnings allowed), decompile, and compare. */
function roundTrip(tree: DtNode): void {
  const base = join(dir, `t${seq++}`);
  writeFileSync(`${base}.dts`, writeDts(tree, 'test'));
  const c = run(['-I', 'dts', '-O', 'dtb', '-o', `${base}.dtb`, `${base}.dts`]);
  expect(c.stderr, 'dtc warnings/errors compiling the generated DTS').toBe('');
  expect(c.status).toBe(0);
  const d = run(['-I', 'dtb', '-O', 'dts', `${base}.dtb`]);
  expect(d.stderr).toBe('');
  expect(d.status).toBe(0);
  expect(parseDts(d.stdout)).toEqual(unlabelled(tree));
}

const SMMUS: PhysSmmuDesc[] = [
  { base: 0x0905_0000, size: 0x2_0000, irq: 106 },
  { base: 0x0907_0000, size: 0x2_0000, irq: 107, phandle: 0x8001 },
];

const guest = parseXlCfg(`
name = "guest1"
memory = 5120
vcpus = 20
viommu = "smmuv3"
dmadev = [ "name=dma0,sid=0x10", "name=dma1,sid=0x11,smmu=1", "name=dma2,sid=0x2000" ]
`, 'guest1.cfg');
const plain: DomainConfig = { ...guest, name: 'guest2', viommu: 'none', memory: 256 * 2 ** 20, vcpus: 1 };

describe('dtc accepts every generated tree without warnings and round-trips it', () => {
  test('domU with vSMMUv3, devices and vPCI', () => {
    roundTrip(domUDeviceTree(guest, { vpci: true, bootargs: 'console=hvc0 earlycon', vsids: { dma2: 2 } }));
  });
  test('domU with vSMMUv3, dma-coherent and a v3-style iommu-map', () => {
    roundTrip(domUDeviceTree(guest, { dmaCoherent: true, vpci: { sidBase: 3, length: 0x1000, mask: 0xfff8 } }));
  });
  test('domU without vIOMMU, with and without devices', () => {
    roundTrip(domUDeviceTree(plain, { vpci: true }));
    roundTrip(domUDeviceTree({ ...plain, devices: [] }));
  });
  test('dom0 with vIOMMU on and off', () => {
    const dom0: DomainConfig = { ...guest, name: 'Domain-0', viommu: 'smmuv3' };
    roundTrip(dom0DeviceTree(dom0, { smmus: SMMUS, viommu: true, dmaCoherent: true }));
    roundTrip(dom0DeviceTree(dom0, { smmus: SMMUS, viommu: false }));
  });
  test('host tree with dom0less domUs', () => {
    roundTrip(dom0lessHostTree([guest, plain], {
      smmus: SMMUS,
      xenBootargs: 'viommu=1 console=dtuart',
      hostCpus: 4,
      kernels: { guest1: { base: 0x4a00_0000, size: 0x100_0000, bootargs: 'console=ttyAMA0' } },
    }));
  });
  test('host tree of the emulated machine (vsmmu dt --host): the SMMU, the platform and dmadev devices', () => {
    roundTrip(hostDeviceTree([guest, plain], { memory: 16 * 2 ** 30, xenBootargs: 'viommu=1' }));
    roundTrip(hostDeviceTree([], { memory: 32 * 2 ** 20 }));
  });
});

describe('the warning check is meaningful', () => {
  test('dtc does warn about a node with reg but no unit address (why /hypervisor gets one)', () => {
    const bad = node('', [pCells('#address-cells', 2), pCells('#size-cells', 2)], [node('hypervisor', [pCells('reg', 0, 0x3800_0000, 0, 0x100_0000)])]);
    const r = run(['-I', 'dts', '-O', 'dtb', '-o', '/dev/null', '-'], writeDts(bad));
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('unit_address_vs_reg');
  });
  test('dtc does warn about iommus written with a bare phandle number (why we emit &labels)', () => {
    const t = domUDeviceTree(guest);
    const numeric = writeDts(t).replaceAll('&vsmmu', '0xfdea');
    const r = run(['-I', 'dts', '-O', 'dtb', '-o', '/dev/null', '-'], numeric);
    expect(r.stderr).toContain('iommus_property');
  });
});
