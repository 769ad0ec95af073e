// Passthrough as Xen users configure it on Arm, end to end on real threads: a system created
// from an xl.cfg that passes a host device through with dtdev + device_tree (+ iomem, irqs)
// boots; the guest kernel finds the device in /passthrough with its iommus rewritten to
// <vSMMU phandle, vSID> (the pSID under rfc and hardened's identity vSIDs, the allocated vSID
// under v3; reference §5.1) and a DMA through it translates. The partial tree may be a DTB
// (decompiled with dtc). The same in sim mode. Refusals reach the API and CLI as coded
// errors naming the line.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSystem } from '../../src/index.ts';
import { cellsOf, findNode, parseDts } from '../../src/dt/dts.ts';
import { dtc, dtcIt } from '../support/dtc.ts';
import { cli } from '../support/cli.ts';
import { partialDts } from '../support/passthrough-dts.ts';

const withDtc = dtcIt('partial device trees through dtc (test/integration/passthrough.test.ts)');
const dir = mkdtempSync(join(tmpdir(), 'vsmmu-pt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PARTIAL = partialDts('0x2 0x11', ['interrupts = <0x0 0x70 0x4>;', 'interrupt-parent = <65000>;']);
const DTS = join(dir, 'passthrough.dts');
writeFileSync(DTS, PARTIAL);

/** An xl.cfg as xl users write it: the host path, its MMIO page and SPI, the partial tree. */
function xlcfg(deviceTree: string, extra = ''): string {
  return `name = "pt"
type = "pvh"
kernel = "/boot/Image"
memory = 64
vcpus = 1
viommu = "smmuv3"
dtdev = [ "/dma1@4001001000" ]
iomem = [ "4001001,1@5000" ]
irqs = [ 145 ]
device_tree = "${deviceTree}"
${extra}`;
}

const IOVA = 0x1000_0000;
const IPA = 0x4010_0000;

async function bootAndDma(profile: 'hardened' | 'rfc' | 'v3', deviceTree: string, sim: { seed: number } | false = false): Promise<void> {
  const sys = await createSystem({ memory: '256M', sim, xen: { profile }, domains: [{ file: join(dir, 'pt.cfg'), xlcfg: xlcfg(deviceTree) }] });
  try {
    // The host tree the dtdev path was resolved against.
    const host = findNode(parseDts(sys.hostDeviceTree()), '/dma1@4001001000');
    expect(cellsOf(host!, 'iommus')).toEqual([2, 0x11]);
    const vsid = profile === 'v3' ? 0 : 0x11;
    const d = sys.domain('pt');
    // The guest's tree: the partial tree's node, iommus = <65002 vSID>.
    const nic = findNode(parseDts(d.deviceTree()), '/passthrough/nic@5000000');
    expect(nic, d.deviceTree()).toBeDefined();
    expect(cellsOf(nic!, 'iommus')).toEqual([65002, vsid]);
    expect(cellsOf(nic!, 'interrupts')).toEqual([0, 0x70, 4]);
    // The guest kernel found its device and its vSID there (it knows nothing else).
    expect(await d.call('devices')).toEqual([{ name: 'nic', vSid: vsid, pSid: 0x11 }]);
    expect(d.device('nic')).toMatchObject({ sid: 0x11, vsid });
    // A DMA by the guest's device through stage 1 + stage 2.
    await d.driver.probe();
    await d.driver.attach('nic', { asid: 1 });
    await d.driver.map(IOVA, IPA, 4096, 'rw');
    const w = await d.call('dma', 'nic', { op: 'write', iova: IOVA + 0x40, length: 64, fill: 0xa5 });
    expect(w).toMatchObject({ status: 'ok', bytes: 64 });
    expect(sys.host.read(d.ipaToPa(IPA + 0x40), 64)).toEqual(new Uint8Array(64).fill(0xa5));
    const r = await d.call('dma', 'nic', { op: 'read', iova: IOVA + 0x1000, length: 4 });
    expect(r).toMatchObject({ status: 'fault', fault: { name: 'F_TRANSLATION' } });
  } finally {
    await sys.close();
  }
}

describe('§5.1 dtdev + device_tree (+ iomem, irqs): the guest boots from the rewritten tree and DMAs (threads)', () => {
  it.each(['hardened', 'rfc', 'v3'] as const)('%s', async (profile) => {
    await bootAndDma(profile, DTS);
  });

  it.each(['hardened', 'rfc', 'v3'] as const)('%s in sim mode', async (profile) => {
    await bootAndDma(profile, DTS, { seed: 5 });
  });

  withDtc('the partial device tree as a DTB (decompiled with dtc -I dtb -O dts)', async () => {
    const dtb = join(dir, 'passthrough.dtb');
    const c = spawnSync(dtc().bin, ['-I', 'dts', '-O', 'dtb', '-o', dtb, DTS], { encoding: 'utf8' });
    expect(c.status, c.stderr).toBe(0);
    await bootAndDma('hardened', dtb);
  });

  withDtc('vsmmu dt prints the guest tree with the partial tree\'s node; dtc compiles it without a warning', async () => {
    const file = join(dir, 'dt.cfg');
    writeFileSync(file, xlcfg(DTS));
    const r = await cli(['dt', '--profile', 'v3', file]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/nic@5000000 \{[^}]*iommus = <&vsmmu 0x0>;/s);
    const c = spawnSync(dtc().bin, ['-I', 'dts', '-O', 'dtb', '-o', '/dev/null', '-'], { input: r.out, encoding: 'utf8' });
    expect(c.stderr).toBe('');
    expect(c.status).toBe(0);
  });
});

describe('refusals through createSystem and vsmmu run: coded errors naming the cfg line', () => {
  const cases = [
    ['EVSMMU_DTDEV_NOT_FOUND', xlcfg(DTS).replace('/dma1@4001001000', '/soc/dma1@4001001000'), 7],
    ['EVSMMU_DTDEV_NO_IOMMU', xlcfg(DTS).replace('"/dma1@4001001000"', '"/dma1@4001001000", "/uart@4000100000"'), 7],
    ['EVSMMU_IOMEM', xlcfg(DTS).replace('4001001,1@5000', '4001002,1@5000'), 8],
    ['EVSMMU_IRQS', xlcfg(DTS).replace('[ 145 ]', '[ 146 ]'), 9],
    ['EVSMMU_IRQ_VSMMU_SPI', xlcfg(DTS).replace('[ 145 ]', '[ 145, 33 ]'), 9],
    ['EVSMMU_PARTIAL_DT', xlcfg(join(dir, 'absent.dts')), 10],
    ['EVSMMU_PARTIAL_DT_DEVICE', xlcfg(DTS).replace(/dtdev = .*\niomem = .*\nirqs = .*\n/, 'dtdev = [ "/dma2@4001002000" ]\n'), 8],
  ] as const;

  it.each(cases)('%s', async (code, text, line) => {
    const file = join(dir, `${code}.cfg`);
    await expect(createSystem({ memory: '256M', sim: false, domains: [{ file, xlcfg: text }] })).rejects.toMatchObject({ code, message: expect.stringContaining(`${file}:${line}`) });
    writeFileSync(file, text);
    const r = await cli(['run', '--seconds', '0', file]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`${file.replaceAll('.', '\\.')}:${line}.*\\[${code}\\]`));
  });

  withDtc('a DTB that dtc cannot decompile: EVSMMU_PARTIAL_DT naming the device_tree line', async () => {
    const bad = join(dir, 'bad.dtb');
    writeFileSync(bad, Uint8Array.from([0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 8]));
    await expect(createSystem({ memory: '256M', sim: false, domains: [{ file: 'bad.cfg', xlcfg: xlcfg(bad) }] }))
      .rejects.toMatchObject({ code: 'EVSMMU_PARTIAL_DT', message: expect.stringMatching(/^bad\.cfg:10: device_tree ".*bad\.dtb": dtc cannot decompile/) });
  });

  it('two partial-tree nodes with the same name (without unit address): EVSMMU_DEVICE_DUPLICATE', async () => {
    const two = join(dir, 'two.dts');
    writeFileSync(two, PARTIAL.replace('\t};\n};', '\t\tnic@5001000 {\n\t\t\treg = <0x0 0x5001000 0x0 0x1000>;\n\t\t\tiommus = <0x2 0x12>;\n\t\t};\n\t};\n};'));
    const text = xlcfg(two).replace('"/dma1@4001001000"', '"/dma1@4001001000", "/dma2@4001002000"');
    await expect(createSystem({ memory: '256M', sim: false, domains: [text] })).rejects.toMatchObject({ code: 'EVSMMU_DEVICE_DUPLICATE', message: expect.stringMatching(/two devices named "nic"/) });
  });

  it('a dtdev device and a dmadev entry with the same StreamID: EVSMMU_SID_CONFLICT', async () => {
    const text = xlcfg(DTS, 'dmadev = [ "name=dup,sid=0x11" ]\n');
    await expect(createSystem({ memory: '256M', sim: false, domains: [text] })).rejects.toMatchObject({ code: 'EVSMMU_SID_CONFLICT' });
  });
});
