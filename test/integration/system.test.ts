// End to end through the public API only: createSystem() on real threads and in sim mode (the
// same program, every actor on this thread under a seeded scheduler), guests driven through
// their driver, their vCPU's trapped MMIO, their devices and their interrupt, and checked
// from outside through system.host and domain.ipaToPa.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystem, type System } from '../../src/index.ts';

const VSMMU = 0x0404_0000;
const IOVA = 0x1000_0000;

/** Each mode and what it adds to createSystem's options. */
const MODES = [['threads', {}], ['sim', { sim: { seed: 7 } }]] as const;

describe.each(MODES)('createSystem end to end (%s)', (mode, extra) => {
  let sys: System;

  beforeAll(async () => {
    sys = await createSystem({
      ...extra,
      memory: '256M',
      xen: { cmdline: 'viommu=1' },
      domains: [
        { name: 'g1', memory: '32M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }, { name: 'dma1', sid: 0x11 }] },
        `name = "g2"\nmemory = 32\nviommu = "smmuv3"\ndmadev = [ "name=dma0,sid=0x20" ]\n`,
        { name: 'g3', memory: '16M', devices: [{ name: 'dma0', sid: 0x30 }] },
      ],
    });
  });

  afterAll(async () => {
    await sys?.close();
  });

  it('guests read the ID registers of a stage-1-only vSMMU through trapped MMIO', async () => {
    const g1 = sys.domain('g1');
    const idr0 = await g1.mmio.read32(VSMMU + 0x0);
    expect(idr0 & 0b10).toBe(0b10); // S1P
    expect(idr0 & 0b01).toBe(0); // no S2P for guests
    const strtab = await g1.mmio.read64(VSMMU + 0x80);
    expect(typeof strtab).toBe('bigint');
    expect(g1.deviceTree()).toMatch(/compatible = "arm,smmu-v3"/);
    expect(g1.deviceTree()).toMatch(/iommus = <&vsmmu 0x10>/);
  });

  it('domain.deviceTree() is exactly the device tree each guest kernel booted from', async () => {
    for (const d of sys.domains) {
      const received = await d.call('deviceTree');
      expect(received).toBe(d.deviceTree());
    }
    expect(sys.domain('g2').deviceTree()).toMatch(/iommus = <&vsmmu 0x20>/);
  });

  it('a device DMAs through S1 + S2 into the right host pages', async () => {
    const g1 = sys.domain('g1');
    await g1.driver.probe();
    await g1.driver.attach('dma0', { asid: 1 });
    const ipa = 0x4010_0000;
    await g1.driver.map(IOVA, ipa, 2 * 4096, 'rw');
    const data = Uint8Array.from({ length: 8192 }, (_, i) => (i * 7) & 0xff);
    const w = await g1.device('dma0').dma({ iova: IOVA, data });
    expect(w).toEqual({ ok: true, bytes: 8192 });
    for (const off of [0, 4096]) {
      expect(sys.host.read(g1.ipaToPa(ipa + off), 4096)).toEqual(data.subarray(off, off + 4096));
    }
    expect(g1.memory.read(ipa, 8192)).toEqual(data);
    g1.memory.write(ipa, [0xde, 0xad]);
    const r = await g1.device('dma0').dma({ iova: IOVA, length: 2 });
    expect(r).toEqual({ ok: true, bytes: 2, data: new Uint8Array([0xde, 0xad]) });
  });

  it('unmap + TLBI + SYNC: the next DMA faults, F_TRANSLATION with the vSID and IOVA reaches the guest by interrupt', async () => {
    const g1 = sys.domain('g1');
    await g1.irq.wait(0); // forget earlier interrupts
    await g1.driver.unmap(IOVA, 2 * 4096);
    const r = await g1.device('dma0').dma({ iova: IOVA + 4096, length: 4 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.fault).toMatchObject({ name: 'F_TRANSLATION', s2: 0 });
    expect(await g1.irq.wait(5000)).toBe(true);
    const faults = await g1.driver.faults();
    expect(faults.at(-1)).toMatchObject({ name: 'F_TRANSLATION', sid: 0x10, iova: IOVA + 4096, s2: 0 });
  });

  it('two guests never see each other\'s data', async () => {
    const g1 = sys.domain('g1');
    const g2 = sys.domain('g2');
    await g2.driver.probe();
    await g2.driver.attach('dma0', { asid: 1 });
    const ipa = 0x4010_0000; // the same IPA in both guests is different host memory
    expect(g2.ipaToPa(ipa)).not.toBe(g1.ipaToPa(ipa));
    g1.memory.write(ipa, new Uint8Array(64).fill(0x11));
    g2.memory.write(ipa, new Uint8Array(64).fill(0x22));
    await g1.driver.map(IOVA, ipa, 4096, 'r');
    await g2.driver.map(IOVA, ipa, 4096, 'r');
    expect((await g1.device('dma0').dma({ iova: IOVA, length: 64 })).ok && g1.memory.read(ipa, 1)[0]).toBe(0x11);
    const r2 = await g2.device('dma0').dma({ iova: IOVA, length: 64 });
    expect(r2).toEqual({ ok: true, bytes: 64, data: new Uint8Array(64).fill(0x22) });
    // g2 maps an IPA outside its RAM (where g1's pages are on the host): stage 2 stops it.
    const hostPaOfG1 = g1.ipaToPa(ipa);
    await g2.driver.map(IOVA + 0x10_0000, hostPaOfG1, 4096, 'r');
    const r3 = await g2.device('dma0').dma({ iova: IOVA + 0x10_0000, length: 64 });
    expect(r3.ok).toBe(false);
    if (!r3.ok) expect(r3.fault).toMatchObject({ s2: 1 });
    // A read-only mapping refuses writes (stage-1 permission).
    const w = await g2.device('dma0').dma({ iova: IOVA, data: new Uint8Array([1]) });
    expect(w.ok).toBe(false);
    if (!w.ok) expect(w.fault).toMatchObject({ name: 'F_PERMISSION', s2: 0 });
  });

  it('a guest without a vIOMMU gets stage-2-only DMA', async () => {
    const g3 = sys.domain('g3');
    expect(g3.deviceTree()).not.toMatch(/arm,smmu-v3/);
    const ipa = 0x4000_2000;
    g3.memory.write(ipa, [1, 2, 3, 4]);
    expect(await g3.device('dma0').dma({ iova: ipa, length: 4 })).toEqual({ ok: true, bytes: 4, data: new Uint8Array([1, 2, 3, 4]) });
    const outside = await g3.device('dma0').dma({ iova: 0x4000_0000 + 16 * 1024 * 1024, length: 4 });
    expect(outside.ok).toBe(false);
    if (!outside.ok) expect(outside.fault).toMatchObject({ s2: 1 });
  });

  it('device.dma() from the API goes through the device\'s own queue, not through the guest kernel', async () => {
    const g1 = sys.domain('g1');
    const before = (await g1.guestStats()).devices.find((d) => d.name === 'dma0')?.stats.transfers;
    const ipa = 0x4040_0000;
    await g1.driver.map(IOVA + 0x60_0000, ipa, 4096, 'rw');
    g1.memory.write(ipa, [9, 8, 7]);
    expect(await g1.device('dma0').dma({ iova: IOVA + 0x60_0000, length: 3 })).toEqual({ ok: true, bytes: 3, data: new Uint8Array([9, 8, 7]) });
    // The guest kernel's driver of the device did nothing: the API has its own channel.
    expect((await g1.guestStats()).devices.find((d) => d.name === 'dma0')?.stats.transfers).toBe(before);
  });

  it('dmaBatch runs many DMAs in one call, each with its own outcome', async () => {
    const g1 = sys.domain('g1');
    const ipa = 0x4030_0000;
    await g1.driver.map(IOVA + 0x40_0000, ipa, 4096, 'rw');
    const rs = await g1.device('dma0').dmaBatch([
      { iova: IOVA + 0x40_0000, data: new Uint8Array([5, 6, 7]) },
      { iova: IOVA + 0x40_0000, length: 3 },
      { iova: IOVA + 0x50_0000, length: 3 }, // not mapped
    ]);
    expect(rs[0]).toEqual({ ok: true, bytes: 3 });
    expect(rs[1]).toEqual({ ok: true, bytes: 3, data: new Uint8Array([5, 6, 7]) });
    expect(rs[2]).toMatchObject({ ok: false, fault: { name: 'F_TRANSLATION' } });
    expect(sys.host.read(g1.ipaToPa(ipa), 3)).toEqual(new Uint8Array([5, 6, 7]));
    await expect(g1.device('dma0').dmaBatch([{ iova: 1.5, length: 1 }])).rejects.toMatchObject({ code: 'EVSMMU_BADDMA' });
  });

  it('bad API input gets coded errors', async () => {
    expect(() => sys.domain('nope')).toThrow(expect.objectContaining({ code: 'EVSMMU_UNKNOWN_DOMAIN' }));
    expect(() => sys.domain('g1').device('nope')).toThrow(expect.objectContaining({ code: 'EVSMMU_UNKNOWN_DEVICE' }));
    expect(() => sys.domain('g1').memory.read(0x1000, 4)).toThrow(expect.objectContaining({ code: 'EVSMMU_GUEST_RANGE' }));
    expect(() => sys.host.read(sys.host.size, 4)).toThrow(expect.objectContaining({ code: 'EVSMMU_MEM_RANGE' }));
    await expect(sys.domain('g1').device('dma0').dma({ iova: -1, length: 4 })).rejects.toMatchObject({ code: 'EVSMMU_BADDMA' });
  });

  it('killing a guest worker mid-DMA leaves the others running', async () => {
    const g2 = sys.domain('g2');
    const inflight = Promise.allSettled(Array.from({ length: 20 }, () => g2.device('dma0').dma({ iova: IOVA, length: 4096 })));
    await g2.kill();
    const settled = await inflight;
    for (const s of settled) if (s.status === 'rejected') expect(s.reason).toMatchObject({ code: 'EVSMMU_DOMAIN_CRASHED' });
    await expect(g2.device('dma0').dma({ iova: IOVA, length: 4 })).rejects.toMatchObject({ code: 'EVSMMU_DOMAIN_CRASHED' });
    expect(() => g2.memory.read(0x4000_0000, 4)).toThrow(expect.objectContaining({ code: 'EVSMMU_DOMAIN_CRASHED' }));
    // The others go on.
    const g1 = sys.domain('g1');
    await g1.driver.map(IOVA + 0x20_0000, 0x4020_0000, 4096, 'rw');
    expect((await g1.device('dma0').dma({ iova: IOVA + 0x20_0000, length: 8 })).ok).toBe(true);
    const g3 = sys.domain('g3');
    expect((await g3.device('dma0').dma({ iova: 0x4000_2000, length: 4 })).ok).toBe(true);
    const stats = await sys.stats();
    expect(stats.domains["g2"]).toEqual({ dead: "EVSMMU_DOMAIN_CRASHED" });
    expect(stats.xenDomains.map((d) => d.name).sort()).toEqual(["g1", "g3"]);
    expect(stats.smmu).toBeDefined();
  });
});

describe('createSystem options', () => {
  it.each([
    [{ memory: 'lots' }, 'EVSMMU_BADSIZE'],
    [{ bogus: 1 }, 'EVSMMU_BADOPTIONS'],
    [{ domains: [{ name: 'a', memory: '16M', viommu: 'iommu9' }] }, 'EVSMMU_BADOPTIONS'],
    [{ domains: [{ name: 'a', memory: '16M', devices: [{ name: 'd', sid: 1 }] }, { name: 'b', memory: '16M', devices: [{ name: 'd', sid: 1 }] }] }, 'EVSMMU_SID_CONFLICT'],
    [{ xen: { cmdline: 'viommu=0' }, domains: [{ name: 'a', memory: '16M', viommu: 'smmuv3' }] }, 'EVSMMU_VIOMMU_DISABLED'],
    [{ xen: { cmdline: 'viommu=maybe' } }, 'EVSMMU_XEN_CMDLINE'],
    [{ domains: ['name = "a"\nmemory = 16\nfoo = 1\n'] }, 'EVSMMU_XLCFG_UNKNOWN_KEY'],
    [{ memory: '64M', domains: [{ name: 'a', memory: '256M' }] }, 'EVSMMU_NOMEM'],
  ])('%j -> %s', async (options, code) => {
    await expect(createSystem(options as never)).rejects.toMatchObject({ code });
  });
});

// Sim mode: 20 virtual us per step, so the 300 ms bound passes in 15 000 steps.
describe.each([MODES[0], ['sim', { sim: { seed: 7, stepUs: 20 } }]] as const)('a hung guest (%s)', (_mode, extra) => {
  it('is killed after guestTimeoutMs, its domain destroyed, the others go on', async () => {
    await using sys = await createSystem({
      ...extra,
      memory: '128M',
      guestTimeoutMs: 300,
      domains: [
        { name: 'busy', memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 1 }] },
        { name: 'calm', memory: '16M', devices: [{ name: 'dma0', sid: 2 }] },
      ],
    });
    const busy = sys.domain('busy');
    await busy.driver.probe();
    // A stream far longer than the bound: the guest does not answer in time.
    await expect(busy.call('workloadDmaStream', { vSid: busy.device('dma0').vsid, count: 1e8, size: 4096 })).rejects.toMatchObject({ code: 'EVSMMU_DOMAIN_HUNG' });
    expect(busy.dead?.code).toBe('EVSMMU_DOMAIN_HUNG');
    await expect(busy.device('dma0').dma({ iova: 0, length: 4 })).rejects.toMatchObject({ code: 'EVSMMU_DOMAIN_HUNG' });
    expect(() => busy.memory.read(0x4000_0000, 4)).toThrow(expect.objectContaining({ code: 'EVSMMU_DOMAIN_HUNG' }));
    const calm = sys.domain('calm');
    expect((await calm.device('dma0').dma({ iova: 0x4000_0000, length: 4 })).ok).toBe(true);
    const st = await sys.stats();
    expect(st.xenDomains.map((d) => d.name)).toEqual(['calm']);
  });
});
