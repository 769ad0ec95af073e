// Passthrough as Xen users write it on Arm (src/xen/xlcfg.ts keys, src/xen/passthrough.ts
// checks, the guest tree's iommus rewritten in src/xen/devicetree.ts): dtdev resolved against
// the host device tree, iomem and irqs checked against the devices, the partial device tree's
// /passthrough nodes in the guest's tree with iommus = <vSMMU phandle, vSID>. Every refusal is
// a coded error naming the xl.cfg line.
import { describe, expect, it } from 'vitest';
import { VsmmuError } from '../../src/errors.ts';
import { cellsOf, findNode, parseDts, type DtNode } from '../../src/dt/dts.ts';
import { iommuMasters } from '../../src/dt/read.ts';
import { domUDeviceTree } from '../../src/xen/devicetree.ts';
import { hostDeviceTree, hostDevices } from '../../src/xen/hostdt.ts';
import { GUEST_PHANDLE_VSMMUV3 } from '../../src/xen/layout.ts';
import { resolvePassthrough } from '../../src/xen/passthrough.ts';
import { xenProfile, type XenProfileName } from '../../src/xen/profile.ts';
import { IGNORED_XL_KEYS, parseXlCfgFull, type DomainConfig } from '../../src/xen/xlcfg.ts';
import { partialDts } from '../support/passthrough-dts.ts';

const FILES: Record<string, string> = {
  'pt.dts': partialDts('0x2 0x10'),
  'odd.dts': partialDts('0x2 0x10 0x2'),
  'string.dts': partialDts('0x2 0x10').replace('iommus = <0x2 0x10>', 'iommus = "smmu"'),
  'phandle.dts': partialDts('0x1 0x10'),
  'other.dts': partialDts('0x2 0x15'),
  'none.dts': '/dts-v1/;\n/ { chosen { }; };\n',
  'syntax.dts': '/dts-v1/;\n/ { passthrough { nic { reg = <1 2; }; }; };\n',
  'badname.dts': partialDts('0x2 0x10').replace('nic@5000000', '9nic@5000000'),
};

function read(path: string): DtNode {
  const text = FILES[path];
  if (text === undefined) throw new VsmmuError('EVSMMU_FILE', `cannot read ${path}: no such file`);
  return parseDts(text);
}

const HOST = { tree: hostDeviceTree([], { memory: 512 * 2 ** 20 }), devices: hostDevices() };

function cfg(lines: string, viommu = true): DomainConfig {
  return parseXlCfgFull(`name = "pt"\nmemory = 64\n${viommu ? 'viommu = "smmuv3"\n' : ''}${lines}`, 'pt.cfg').config;
}

function resolve(lines: string, o: { profile?: XenProfileName; viommu?: boolean } = {}): DomainConfig {
  return resolvePassthrough(cfg(lines, o.viommu ?? true), HOST, xenProfile(o.profile ?? 'hardened'), read);
}

/** The coded error resolve() throws, with the line it names. */
function refusal(lines: string, o: { profile?: XenProfileName; viommu?: boolean } = {}): { code: string; line: unknown; message: string } {
  try {
    resolve(lines, o);
  } catch (e) {
    if (!(e instanceof VsmmuError)) throw e;
    return { code: e.code, line: e.details?.['line'], message: e.message };
  }
  throw new Error('resolve() accepted it');
}

const GOOD = 'dtdev = [ "/dma0@4001000000", "/dma3@4001003000" ]\niomem = [ "4001000,1@5000", "0x4001003,0x1@0x5001" ]\nirqs = [ 144, 147 ]\ndevice_tree = "pt.dts"\n';

describe('xl.cfg passthrough keys', () => {
  it('dtdev, iomem, irqs and device_tree are read (no longer ignored with a warning); dmadev stays', () => {
    const { config, warnings } = parseXlCfgFull(`name = "pt"\nmemory = 64\ndmadev = [ "name=x,sid=0x30" ]\n${GOOD}`, 'pt.cfg');
    expect(warnings).toEqual([]);
    for (const k of ['dtdev', 'iomem', 'irqs', 'device_tree']) expect(IGNORED_XL_KEYS).not.toContain(k);
    expect(config.devices).toEqual([{ name: 'x', sid: 0x30, line: 3 }]);
    expect(config.passthrough).toEqual({
      dtdev: [{ path: '/dma0@4001000000', line: 4 }, { path: '/dma3@4001003000', line: 4 }],
      iomem: [{ mfn: 0x4001000, nr: 1, gfn: 0x5000, line: 5 }, { mfn: 0x4001003, nr: 1, gfn: 0x5001, line: 5 }],
      irqs: [{ irq: 144, line: 6 }, { irq: 147, line: 6 }],
      deviceTree: { path: 'pt.dts', line: 7 },
    });
  });

  it('iomem without @GFN maps 1:1 (GFN = MFN), as xl documents', () => {
    expect(cfg('iomem = [ "4001000,2" ]').passthrough?.iomem).toEqual([{ mfn: 0x4001000, nr: 2, gfn: 0x4001000, line: 4 }]);
  });

  it.each([
    ['dtdev = "/dma0@4001000000"', /expected a list/],
    ['dtdev = [ "dma0@4001000000" ]', /absolute path/],
    ['iomem = [ "4001000" ]', /MFN,NR_MFNS\[@GFN\]/],
    ['iomem = [ "4001000,0" ]', /at least one page/],
    ['iomem = [ "xyz,1" ]', /MFN,NR_MFNS/],
    ['irqs = [ 27 ]', /not an SPI/],
    ['irqs = [ "abc" ]', /not an SPI/],
    ['device_tree = [ "pt.dts" ]', /single value/],
  ])('%s is EVSMMU_XLCFG_BAD_VALUE at its line', (line, msg) => {
    let err: unknown;
    try {
      cfg(line);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'EVSMMU_XLCFG_BAD_VALUE', details: { line: 4 } });
    expect((err as Error).message).toMatch(msg);
  });
});

describe('dtdev, iomem, irqs and device_tree against the host device tree', () => {
  it('dtdev devices join the domain with the host StreamID; the partial tree names the one it describes', () => {
    const r = resolve(GOOD);
    expect(r.devices).toEqual([
      { name: 'nic', sid: 0x10, smmu: 0, line: 4, path: '/dma0@4001000000' },
      { name: 'dma3', sid: 0x13, smmu: 0, line: 4, path: '/dma3@4001003000' },
    ]);
    expect(r.partialDt?.name).toBe('passthrough');
  });

  it('a dtdev path that is not in the host tree: EVSMMU_DTDEV_NOT_FOUND naming the line', () => {
    expect(refusal('vcpus = 1\ndtdev = [ "/dma9@4001009000" ]\n')).toMatchObject({ code: 'EVSMMU_DTDEV_NOT_FOUND', line: 5, message: expect.stringMatching(/^pt\.cfg:5: dtdev "\/dma9@4001009000" names no node/) });
  });

  it('a dtdev device behind no SMMU (the UART, /cpus): EVSMMU_DTDEV_NO_IOMMU naming the line', () => {
    expect(refusal('dtdev = [ "/uart@4000100000" ]')).toMatchObject({ code: 'EVSMMU_DTDEV_NO_IOMMU', line: 4 });
    expect(refusal('dtdev = [ "/cpus" ]')).toMatchObject({ code: 'EVSMMU_DTDEV_NO_IOMMU', line: 4 });
  });

  it('iomem outside the given devices\' reg, or onto guest RAM or the vSMMU: EVSMMU_IOMEM naming the line', () => {
    expect(refusal('dtdev = [ "/dma0@4001000000" ]\niomem = [ "4001001,1@5000" ]')).toMatchObject({ code: 'EVSMMU_IOMEM', line: 5 });
    expect(refusal('dtdev = [ "/dma0@4001000000" ]\niomem = [ "4001000,2@5000" ]')).toMatchObject({ code: 'EVSMMU_IOMEM', line: 5 });
    expect(refusal('iomem = [ "4001000,1@5000" ]')).toMatchObject({ code: 'EVSMMU_IOMEM', message: expect.stringMatching(/given none with dtdev/) });
    expect(refusal('dtdev = [ "/dma0@4001000000" ]\niomem = [ "4001000,1@40000" ]')).toMatchObject({ code: 'EVSMMU_IOMEM', message: expect.stringMatching(/guest's RAM/) });
    expect(refusal('dtdev = [ "/dma0@4001000000" ]\niomem = [ "4001000,1@4040" ]')).toMatchObject({ code: 'EVSMMU_IOMEM', message: expect.stringMatching(/vSMMUv3/) });
    expect(resolve('dtdev = [ "/dma0@4001000000" ]\niomem = [ "4001000,1" ]').devices).toHaveLength(1);
  });

  it('an IRQ no given device has: EVSMMU_IRQS naming the line', () => {
    expect(refusal('dtdev = [ "/dma0@4001000000" ]\n\nirqs = [ 144, 145 ]')).toMatchObject({ code: 'EVSMMU_IRQS', line: 6, message: expect.stringMatching(/IRQ 145/) });
  });

  it.each(['hardened', 'rfc', 'v3'] as const)('%s: a passthrough IRQ equal to 33 (the vSMMU SPI) is EVSMMU_IRQ_VSMMU_SPI in a domain with a vSMMU', (profile) => {
    expect(refusal('dtdev = [ "/dma0@4001000000" ]\nirqs = [ 144, 33 ]', { profile })).toMatchObject({ code: 'EVSMMU_IRQ_VSMMU_SPI', line: 5, message: expect.stringMatching(/conflicts with the vSMMUv3 SPI/) });
  });

  it('the partial device tree: unreadable, no /passthrough, iommus not pairs, not the host SMMU, bad syntax, unusable name: EVSMMU_PARTIAL_DT naming the line', () => {
    const pt = (file: string): string => `dtdev = [ "/dma0@4001000000" ]\ndevice_tree = "${file}"`;
    for (const [file, msg] of [
      ['missing.dts', /cannot read missing.dts/],
      ['none.dts', /no \/passthrough node/],
      ['odd.dts', /iommus has 3 cells/],
      ['string.dts', /iommus has 0 cells/],
      ['phandle.dts', /phandle 0x1, which is neither the host SMMU's nor the guest vSMMU's/],
      ['syntax.dts', /DTS line 2/],
      ['badname.dts', /cannot name a device/],
    ] as const) {
      expect(refusal(pt(file)), file).toMatchObject({ code: 'EVSMMU_PARTIAL_DT', line: 5, message: expect.stringMatching(msg) });
    }
  });

  it('iommus may name the guest vSMMU\'s phandle (65002) instead of the host SMMU\'s: the RFC rewrites the cell whatever it holds', () => {
    FILES['guest-phandle.dts'] = partialDts('65002 0x10');
    expect(resolve('dtdev = [ "/dma0@4001000000" ]\ndevice_tree = "guest-phandle.dts"').devices).toMatchObject([{ name: 'nic', sid: 0x10 }]);
  });

  it('a partial device tree describing a device the domain is not given: EVSMMU_PARTIAL_DT_DEVICE', () => {
    expect(refusal('dtdev = [ "/dma0@4001000000" ]\ndevice_tree = "other.dts"')).toMatchObject({ code: 'EVSMMU_PARTIAL_DT_DEVICE', line: 5, message: expect.stringMatching(/StreamID 0x15/) });
  });
});

describe('the guest tree: /passthrough from the partial tree, iommus rewritten (RFC patch 20, §5.1)', () => {
  it('every iommus becomes <vSMMU phandle, vSID>: the pSID where vSIDs are the identity, else the allocated vSID', () => {
    const r = resolve(GOOD);
    const identity = domUDeviceTree(r, { vsids: { nic: 0x10, dma3: 0x13 } });
    const nic = findNode(identity, '/passthrough/nic@5000000');
    expect(cellsOf(nic!, 'iommus')).toEqual([GUEST_PHANDLE_VSMMUV3, 0x10]);
    expect(cellsOf(nic!, 'reg')).toEqual([0, 0x500_0000, 0, 0x1000]);
    const allocated = domUDeviceTree(r, { vsids: { nic: 0, dma3: 1 } });
    expect([...iommuMasters(allocated, GUEST_PHANDLE_VSMMUV3)]).toEqual([['nic', 0], ['dma3', 1]]);
    // dma3 is not in the partial tree: it gets a node of ours.
    expect(findNode(allocated, '/passthrough/dma3@5001000')).toBeDefined();
  });

  it('without a vSMMU the partial tree\'s iommus are dropped (no IOMMU in the guest to name)', () => {
    const r = resolve('dtdev = [ "/dma0@4001000000" ]\ndevice_tree = "pt.dts"', { viommu: false });
    expect(cellsOf(findNode(domUDeviceTree(r), '/passthrough/nic@5000000')!, 'iommus')).toBeUndefined();
  });
});
