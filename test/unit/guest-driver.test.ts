// The guest SMMUv3 driver against an in-process register file: reset order, probe refusals,
// the exact STE/CD/command words (hand-written from FACTS §8), update order, TLBI forms,
// command-error recovery and event draining with wrap and overflow.

import { describe, expect, it } from 'vitest';
import { R } from '../../src/arch/registers.ts';
import { EVT } from '../../src/arch/events.ts';
import { PROT_READ, PROT_WRITE } from '../../src/arch/pgtable.ts';
import { SmmuV3Driver, type DriverOptions } from '../../src/guest/driver.ts';
import type { VsmmuError } from '../../src/errors.ts';
import { FakeSmmu, guestRam, RAM_IPA, type FakeOptions } from '../support/guest-fake-smmu.ts';

function setup(fo: FakeOptions = {}, dopts: DriverOptions = {}) {
  const { ram, alloc } = guestRam();
  const fake = new FakeSmmu(ram, fo);
  const drv = new SmmuV3Driver(fake, ram, alloc, { irqPending: () => fake.irq, ...dopts });
  return { ram, alloc, fake, drv };
}

function words(ram: { read32(a: number): number }, ipa: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => ram.read32(ipa + 4 * i) >>> 0);
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as VsmmuError).code + ':' + String(((e as VsmmuError).details ?? {})['reason'] ?? '');
  }
  return 'no error';
}

const SYNC_MSI_W0 = 0x0fc01046; // SYNC | CS=SIG_IRQ | MSH=ISH | MSIAttr=OIWB, MSIData 0
const SYNC_SEV_W0 = 0x0fc02046; // SYNC | CS=SIG_SEV | MSH=ISH | MSIAttr=OIWB

describe('probe and reset', () => {
  it('programs the registers in Linux order with Linux values', () => {
    const { fake, drv } = setup();
    const info = drv.probe();
    const w = fake.log.filter((a) => a.op === 'w').map((a) => [a.off, a.value] as const);
    const offs = w.map(([o]) => o);
    expect(offs).toEqual([
      R.CR0, R.CR1, R.CR2, R.STRTAB_BASE, R.STRTAB_BASE + 4, R.STRTAB_BASE_CFG,
      R.CMDQ_BASE, R.CMDQ_BASE + 4, R.CMDQ_PROD, R.CMDQ_CONS, R.CR0,
      R.CMDQ_PROD, // CFGI_ALL + SYNC
      R.CMDQ_PROD, // TLBI_NSNH_ALL + SYNC
      R.EVENTQ_BASE, R.EVENTQ_BASE + 4, R.EVENTQ_PROD, R.EVENTQ_CONS, R.CR0,
      R.IRQ_CTRL, R.GERROR_IRQ_CFG0, R.GERROR_IRQ_CFG0 + 4, R.EVENTQ_IRQ_CFG0, R.EVENTQ_IRQ_CFG0 + 4,
      R.IRQ_CTRL, R.CR0,
    ]);
    const val = (off: number, k = 0) => w.filter(([o]) => o === off).map(([, v]) => v)[k];
    expect(val(R.CR1)).toBe(0xd75);
    expect(val(R.CR2)).toBe(0x6); // PTM | RECINVSID
    expect(w.filter(([o]) => o === R.CR0).map(([, v]) => v)).toEqual([0, 0x8, 0xc, 0xd]);
    expect(w.filter(([o]) => o === R.IRQ_CTRL).map(([, v]) => v)).toEqual([0, 0x5]);
    // 2-level table (SIDSIZE 16 > SPLIT): 256 L1 entries, LOG2SIZE 16, SPLIT 8, FMT 1; RA set.
    expect(info.strtab.twoLevel).toBe(true);
    expect(val(R.STRTAB_BASE_CFG)).toBe(0x10210);
    expect(val(R.STRTAB_BASE)).toBe(info.strtab.ipa);
    expect(val(R.STRTAB_BASE + 4)).toBe(0x40000000);
    // Queues: RA/WA | addr | LOG2SIZE (capped by IDR1: 10 by default).
    expect(val(R.CMDQ_BASE)).toBe((info.cmdq.ipa | 10) >>> 0);
    expect(val(R.CMDQ_BASE + 4)).toBe(0x40000000);
    expect(val(R.EVENTQ_BASE)).toBe((info.evtq.ipa | 10) >>> 0);
    // Each ACK was polled after its write.
    const acks = fake.log.filter((a) => a.op === 'r' && (a.off === R.CR0ACK || a.off === R.IRQ_CTRLACK));
    expect(acks.length).toBe(6);
  });

  it('issues CFGI_ALL and TLBI_NSNH_ALL, each followed by an MSI CMD_SYNC to its own slot', () => {
    const { fake, drv } = setup();
    const info = drv.probe();
    const c = fake.commands.map((x) => x.words);
    expect(c).toEqual([
      [0x04, 0, 31, 0], // CFGI_STE_RANGE, Range 31 = CFGI_ALL
      [SYNC_MSI_W0, 0, (info.cmdq.ipa + 16) >>> 0, 0],
      [0x30, 0, 0, 0], // TLBI_NSNH_ALL
      [SYNC_MSI_W0, 0, (info.cmdq.ipa + 48) >>> 0, 0],
    ]);
    expect(info.cmdq.msiPoll).toBe(true);
  });

  it('uses CS=SIG_SEV and polls CMDQ_CONS without MSI', () => {
    const { fake, drv } = setup({ features: { msi: false } });
    drv.probe();
    expect(fake.commands[1]?.words).toEqual([SYNC_SEV_W0, 0, 0, 0]);
    expect(fake.log.some((a) => a.op === 'r' && a.off === R.CMDQ_CONS)).toBe(true);
  });

  it('issues TLBI_EL2_ALL + SYNC with IDR0.Hyp', () => {
    const { fake, drv } = setup({ features: { hyp: true } });
    drv.probe();
    expect(fake.commands.map((x) => x.cmd.name)).toEqual(['CFGI_STE_RANGE', 'SYNC', 'TLBI_EL2_ALL', 'SYNC', 'TLBI_NSNH_ALL', 'SYNC']);
  });

  it('sets GBPA.ABORT through the Update handshake first when the SMMU is already enabled', () => {
    const { fake, drv } = setup();
    fake.set(R.CR0, 1);
    drv.probe();
    const first = fake.log.filter((a) => a.op === 'w')[0];
    expect(first).toEqual({ op: 'w', off: R.GBPA, value: 0x80101000 });
    expect(fake.get(R.GBPA)).toBe(0x101000);
  });

  it('refuses what Linux refuses, with a coded reason', () => {
    expect(codeOf(() => setup({ features: { ttf: 1 } }).drv.probe())).toBe('EVSMMU_SMMU_UNSUPPORTED:no-aarch64-tables');
    expect(codeOf(() => setup({ features: { rel: true } }).drv.probe())).toBe('EVSMMU_SMMU_UNSUPPORTED:embedded-implementation');
    expect(codeOf(() => setup({ features: { queuesPreset: true } }).drv.probe())).toBe('EVSMMU_SMMU_UNSUPPORTED:embedded-implementation');
    expect(codeOf(() => setup({ features: { tablesPreset: true } }).drv.probe())).toBe('EVSMMU_SMMU_UNSUPPORTED:embedded-implementation');
    expect(codeOf(() => setup({ features: { cmdqLog2: 6 } }).drv.probe())).toBe('EVSMMU_SMMU_UNSUPPORTED:cmdq-too-small');
    expect(codeOf(() => setup({ features: { s1: false, s2: false } }).drv.probe())).toBe('EVSMMU_SMMU_UNSUPPORTED:no-translation');
    expect(codeOf(() => setup({ features: { ttendian: 3 } }).drv.probe())).toBe('EVSMMU_SMMU_UNSUPPORTED:tt-endianness');
    expect(codeOf(() => setup({ features: { cmdqLog2: 7 } }).drv.probe())).toBe('no error');
  });

  it('polls CR0ACK until it follows, and times out with a coded error when it never does', () => {
    const slow = setup({ ackDelay: 5 });
    slow.drv.probe();
    // CR0 = 0 matches the reset value at once; the three other writes each take 6 reads.
    expect(slow.fake.log.filter((a) => a.op === 'r' && a.off === R.CR0ACK).length).toBe(1 + 3 * 6);
    const dead = setup({ ackDelay: Infinity }, { pollTimeoutMs: 5 });
    expect(codeOf(() => dead.drv.probe())).toBe('EVSMMU_SMMU_TIMEOUT:');
    // A failed probe leaves nothing allocated and the driver unprobed.
    expect(dead.alloc.stats().usedPages).toBe(0);
    expect(dead.drv.probed).toBeNull();
  });

  it('uses a linear stream table of abort STEs when SIDSIZE <= 8 or without 2-level support', () => {
    for (const features of [{ sidBits: 8 }, { sidBits: 10, stLevel2: false }]) {
      const { fake, drv, ram } = setup({ features });
      const info = drv.probe();
      expect(info.strtab.twoLevel).toBe(false);
      expect(fake.get(R.STRTAB_BASE_CFG)).toBe(features.sidBits);
      const n = 2 ** features.sidBits;
      for (const sid of [0, 1, n - 1]) expect(words(ram, info.strtab.ipa + sid * 64, 16)).toEqual([1, ...new Array<number>(15).fill(0)]);
    }
  });
});

describe('attach: STE and CD', () => {
  it('writes the Linux CD and S1 STE, CD first, each in its update order with CFGI + SYNC', () => {
    const { ram, alloc, mem } = guestRam();
    const fake = new FakeSmmu(ram, { features: { stallModel: 0 } });
    const drv = new SmmuV3Driver(fake, ram, alloc);
    const info = drv.probe();
    fake.commands.length = 0;
    // A copy of guest RAM at each CFGI, to check what the SMMU could see at that point.
    const snaps: { name: string; mem: Uint8Array }[] = [];
    fake.onCommand = (cmd) => {
      if (cmd.name === 'CFGI_STE' || cmd.name === 'CFGI_CD') snaps.push({ name: cmd.name, mem: mem.u8.slice(0, 8 * 1024 * 1024) });
    };
    const a = drv.attach({ vSid: 0x123 }, { asid: 7 });
    const at = (k: number, ipa: number, n: number) => Array.from(new Uint32Array(snaps[k]!.mem.buffer, ipa - RAM_IPA, n));
    // L1STD for sid >> 8 = 1: Span 9, L2Ptr.
    const l1 = words(ram, info.strtab.ipa + 8, 2);
    expect(l1[0]! & 31).toBe(9);
    expect((l1[0]! & ~63) >>> 0).toBe((a.steIpa - 0x23 * 64) >>> 0);
    // Hand-written vectors (FACTS §8.2, §8.3).
    const cd = [
      0xc0003510, // T0SZ 16 | IR0 WB | OR0 WB | SH0 ISH | EPD1 | V
      0x0007e205, // IPS 48 | AA64 | R | A | ASET | ASID 7
      a.ttb0 >>> 0, 0, 0, 0, 0xf404ff44, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    expect(words(ram, a.cdIpa, 16)).toEqual(cd);
    const ste = [
      (0xb | a.cdTableIpa) >>> 0, 0, // V | Config S1 | S1ContextPtr, S1CDMax 0
      0x080000d6, 0, // S1DSS SSID0 | S1CIR WB | S1COR WB | S1CSH ISH | S1STALLD (STALL_MODEL 0, master cannot stall)
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    expect(words(ram, a.steIpa, 16)).toEqual(ste);
    // Commands: CFGI_CD(leaf) + SYNC after dw1/dw3, again after dw0; CFGI_STE(leaf) + SYNC after dw1, again after dw0; PREFETCH_CONFIG.
    expect(fake.commands.map((x) => x.cmd.name)).toEqual([
      'CFGI_CD', 'SYNC', 'CFGI_CD', 'SYNC', 'CFGI_STE', 'SYNC', 'CFGI_STE', 'SYNC', 'PREFETCH_CONFIG',
    ]);
    expect(fake.commands[0]?.words).toEqual([0x05, 0x123, 1, 0]); // CFGI_CD SID 0x123 SSID 0 Leaf
    expect(fake.commands[4]?.words).toEqual([0x03, 0x123, 1, 0]); // CFGI_STE Leaf
    expect(fake.commands[8]?.words).toEqual([0x01, 0x123, 0, 0]);
    // Order: at the first CFGI_CD the CD had TTB0 and MAIR but no V; at the first CFGI_STE
    // the STE had dw1 but still the abort dw0.
    expect(snaps.map((x) => x.name)).toEqual(['CFGI_CD', 'CFGI_CD', 'CFGI_STE', 'CFGI_STE']);
    expect(at(0, a.cdIpa, 16)).toEqual([0, 0, ...cd.slice(2)]);
    expect(at(1, a.cdIpa, 16)).toEqual(cd);
    expect(at(2, a.steIpa, 16)).toEqual([1, 0, ...ste.slice(2)]);
    expect(at(3, a.steIpa, 16)).toEqual(ste);
  });

  it('omits S1STALLD when the SMMU cannot stall, sets CD.S for a stall-capable master', () => {
    const { drv, ram } = setup({ features: { stallModel: 1 } });
    drv.probe();
    const a = drv.attach({ vSid: 1 }, { asid: 1 });
    expect(ram.read32(a.steIpa + 8)).toBe(0xd6);
    const b = setup({ features: { stallModel: 0 } });
    b.drv.probe();
    const s = b.drv.attach({ vSid: 1 }, { asid: 1, stall: true });
    expect(b.ram.read32(s.steIpa + 8)).toBe(0xd6);
    expect(b.ram.read32(s.cdIpa + 4) & (1 << 12)).not.toBe(0); // CD.S is bit 44
  });

  it('encodes 16K and 64K granules in TG0, non-coherent walks as NC/OSH', () => {
    const { drv, ram } = setup({ features: { coherent: false } });
    drv.probe();
    const a = drv.attach({ vSid: 2 }, { asid: 2, granule: 16384 });
    expect(ram.read32(a.cdIpa) & 0x3fff).toBe(16 | (2 << 6) | (2 << 12));
    const b = drv.attach({ vSid: 3 }, { asid: 3, granule: 65536 });
    expect(ram.read32(b.cdIpa) & 0xff).toBe(16 | (1 << 6));
  });

  it('uses a 2-level CD table (S1Fmt 2) above 1024 SSIDs, publishing the L1CD with a non-leaf CFGI_CD', () => {
    const { fake, drv, ram } = setup({ features: { ssidBits: 12 } });
    drv.probe();
    fake.commands.length = 0;
    const a = drv.attach({ vSid: 4 }, { asid: 9, ssidBits: 12 });
    const ste = words(ram, a.steIpa, 2);
    expect(ste[0]! & 0x3f).toBe(0xb | (2 << 4));
    expect(ste[1]! >>> 27).toBe(12); // S1CDMax
    const l1cd = words(ram, a.cdTableIpa, 2);
    expect(l1cd[0]).toBe((a.cdIpa | 1) >>> 0);
    expect(fake.commands[0]?.words).toEqual([0x05, 4, 0, 0]); // CFGI_CD, Leaf 0
  });

  it('refuses SSIDs the SMMU does not have and unsupported granules', () => {
    const { drv } = setup({ features: { ssidBits: 0, gran16k: false } });
    drv.probe();
    expect(codeOf(() => drv.attach({ vSid: 1 }, { ssidBits: 2 }))).toBe('EVSMMU_INVAL:');
    expect(codeOf(() => drv.attach({ vSid: 1 }, { granule: 16384 }))).toBe('EVSMMU_INVAL:');
    expect(codeOf(() => drv.attach({ vSid: 70000 }))).toBe('EVSMMU_INVAL:');
  });

  it('attach is idempotent, moves a master between domains in place, shares a domain by ASID', () => {
    const { fake, drv, ram, alloc } = setup();
    drv.probe();
    const a = drv.attach({ vSid: 6 }, { asid: 3 });
    fake.commands.length = 0;
    expect(drv.attach({ vSid: 6 })).toEqual(a);
    expect(drv.attach({ vSid: 6 }, { asid: 3 })).toEqual(a);
    expect(fake.commands).toEqual([]);
    // Move to ASID 4: CD 0 rewritten (breaking: V = 0, rest, dw0), STE unchanged, ASID 3 freed.
    const steBefore = words(ram, a.steIpa, 16);
    const b = drv.attach({ vSid: 6 }, { asid: 4 });
    expect(b.cdIpa).toBe(a.cdIpa);
    expect(words(ram, a.steIpa, 16)).toEqual(steBefore);
    expect(ram.read32(b.cdIpa + 4) >>> 16).toBe(4);
    expect(fake.commands.map((x) => x.cmd.name)).toEqual([
      'CFGI_CD', 'SYNC', 'CFGI_CD', 'SYNC', 'CFGI_CD', 'SYNC', 'PREFETCH_CONFIG', 'TLBI_NH_ASID', 'SYNC',
    ]);
    // A second master with ASID 4 shares the page table.
    const buf = alloc.alloc(4096, 4096);
    drv.map(6, 0x7000, buf, 4096, PROT_READ);
    const c = drv.attach({ vSid: 7 }, { asid: 4 });
    expect(c.ttb0).toBe(b.ttb0);
    expect(drv.iovaToIpa(7, 0x7000)).toBe(buf);
    // Detaching one master keeps the domain for the other.
    drv.detach(6);
    expect(drv.iovaToIpa(7, 0x7000)).toBe(buf);
  });

  it('attaches PASIDs: CD[ssid] with its own ASID and tables, CFGI_CD for that SSID', () => {
    const { fake, drv, ram, alloc } = setup();
    drv.probe();
    const a = drv.attach({ vSid: 8 }, { asid: 1, ssidBits: 4 });
    expect(ram.read32(a.steIpa + 4) >>> 27).toBe(4); // S1CDMax
    expect(ram.read32(a.steIpa + 8) & 3).toBe(2); // S1DSS = SSID0
    fake.commands.length = 0;
    const p = drv.attachPasid(8, 3, { asid: 9 });
    expect(p.cdIpa).toBe(a.cdTableIpa + 3 * 64);
    expect(ram.read32(p.cdIpa + 4) >>> 16).toBe(9);
    expect(fake.commands[0]?.words).toEqual([0x05 | (3 << 12), 8, 1, 0]); // CFGI_CD SSID 3 Leaf
    const buf = alloc.alloc(4096, 4096);
    drv.map(8, 0x3000, buf, 4096, PROT_READ, 3);
    expect(drv.iovaToIpa(8, 0x3000, 3)).toBe(buf);
    expect(drv.iovaToIpa(8, 0x3000)).toBe(-1);
    expect(codeOf(() => drv.attachPasid(8, 16))).toBe('EVSMMU_INVAL:');
    drv.detach(8);
    expect(words(ram, p.cdIpa, 16)).toEqual(new Array<number>(16).fill(0));
    expect(codeOf(() => drv.iovaToIpa(8, 0x3000, 3))).toBe('EVSMMU_NODEV:');
  });

  it('detach aborts the STE, clears the CD and flushes the ASID', () => {
    const { fake, drv, ram } = setup();
    drv.probe();
    const a = drv.attach({ vSid: 5 }, { asid: 3 });
    fake.commands.length = 0;
    drv.detach(5);
    expect(words(ram, a.steIpa, 16)).toEqual([1, ...new Array<number>(15).fill(0)]);
    expect(words(ram, a.cdIpa, 16)).toEqual(new Array<number>(16).fill(0));
    const names = fake.commands.map((x) => x.cmd.name);
    expect(names.slice(0, 2)).toEqual(['CFGI_STE', 'SYNC']);
    expect(names).toContain('PREFETCH_CONFIG');
    expect(fake.commands.at(-2)?.words).toEqual([0x11, 3 << 16, 0, 0]); // TLBI_NH_ASID ASID 3
  });
});

describe('map / unmap and TLBI', () => {
  const IOVA = 0x1000_0000;
  function attached(fo: FakeOptions = {}) {
    const s = setup(fo);
    s.drv.probe();
    const buf = s.alloc.alloc(4 * 1024 * 1024, 2 * 1024 * 1024);
    s.drv.attach({ vSid: 9 }, { asid: 5 });
    s.fake.commands.length = 0;
    return { ...s, buf };
  }

  it('maps through the stage-1 table and issues no command', () => {
    const { drv, fake, buf } = attached();
    drv.map(9, IOVA, buf, 3 * 4096, PROT_READ | PROT_WRITE);
    expect(drv.iovaToIpa(9, IOVA + 0x1234)).toBe(buf + 0x1234);
    expect(fake.commands).toEqual([]);
  });

  it('RIL: one range TLBI_NH_VA (TG 4K, TTL 3, NUM/SCALE) + SYNC', () => {
    const { drv, fake, buf } = attached();
    drv.map(9, IOVA, buf, 3 * 4096, PROT_READ);
    expect(drv.unmap(9, IOVA, 3 * 4096)).toBe(3 * 4096);
    expect(drv.iovaToIpa(9, IOVA)).toBe(-1);
    expect(fake.commands.map((x) => x.words[0]! & 0xff)).toEqual([0x12, 0x46]);
    // NUM 2 (3 pages), SCALE 0, ASID 5 | Leaf, TTL 3, TG 1, Address
    expect(fake.commands[0]?.words).toEqual([0x2012, 5 << 16, (IOVA | 0x701) >>> 0, 0]);
  });

  it('RIL: splits 33 pages into NUM/SCALE chunks as Linux', () => {
    const { drv, fake, buf } = attached();
    drv.map(9, IOVA, buf, 33 * 4096, PROT_READ);
    drv.unmap(9, IOVA, 33 * 4096);
    const tlbi = fake.commands.filter((x) => x.cmd.name === 'TLBI_NH_VA').map((x) => x.words);
    expect(tlbi).toEqual([
      [0x0012, 5 << 16, (IOVA | 0x701) >>> 0, 0], // 1 page: NUM 0, SCALE 0
      [0x500012, 5 << 16, (IOVA + 4096) | 0x701, 0], // 32 pages: NUM 0, SCALE 5
    ]);
  });

  it('RIL: a 2 MiB block is invalidated with TTL 2', () => {
    const { drv, fake, buf } = attached();
    drv.map(9, 0x4000_0000, buf, 2 * 1024 * 1024, PROT_READ);
    drv.unmap(9, 0x4000_0000, 2 * 1024 * 1024);
    const t = fake.commands.find((x) => x.cmd.name === 'TLBI_NH_VA');
    // 512 pages: NUM 0, SCALE 9; Leaf | TTL 2 | TG 1
    expect(t?.words).toEqual([0x900012, 5 << 16, 0x4000_0000 | 0x601, 0]);
  });

  it('without RIL: one TLBI_NH_VA per page; TLBI_NH_ASID from 512 pages', () => {
    const { drv, fake, buf } = attached({ features: { ril: false } });
    drv.map(9, IOVA, buf, 3 * 4096, PROT_READ);
    drv.unmap(9, IOVA, 3 * 4096);
    expect(fake.commands.map((x) => x.words)).toEqual([
      [0x12, 5 << 16, (IOVA | 1) >>> 0, 0],
      [0x12, 5 << 16, (IOVA + 4096) | 1, 0],
      [0x12, 5 << 16, (IOVA + 8192) | 1, 0],
      expect.arrayContaining([SYNC_MSI_W0]),
    ]);
    fake.commands.length = 0;
    drv.map(9, IOVA, buf, 512 * 4096, PROT_READ);
    drv.unmap(9, IOVA, 512 * 4096);
    expect(fake.commands[0]?.words).toEqual([0x11, 5 << 16, 0, 0]);
  });

  it('unmapping a hole issues no invalidation', () => {
    const { drv, fake } = attached();
    expect(drv.unmap(9, IOVA, 4096)).toBe(0);
    expect(fake.commands).toEqual([]);
  });
});

describe('command errors', () => {
  for (const msi of [true, false]) {
    it(`recovers from CERROR_ILL like Linux (${msi ? 'MSI' : 'SEV'} sync)`, () => {
      const { fake, drv, ram } = setup({ features: { msi }, illegalOps: [0x30] });
      const info = drv.probe();
      const errs = drv.cmdqErrors();
      expect(errs.length).toBe(1);
      expect(errs[0]).toMatchObject({ code: 1, name: 'Illegal command', replaced: true });
      expect(errs[0]?.command).toEqual([0x30, 0, 0, 0]);
      // The bad slot (index 2) now holds a CMD_SYNC with CS = SIG_SEV.
      expect(words(ram, info.cmdq.ipa + 32, 4)).toEqual([SYNC_SEV_W0, 0, 0, 0]);
      // GERRORN acknowledged; processing went on to the end.
      expect(fake.get(R.GERRORN)).toBe(fake.get(R.GERROR));
      expect(fake.get(R.GERROR) & 1).toBe(1);
      expect(drv.gerrors()).toEqual([1]);
      expect(fake.commands.map((x) => x.cmd.name)).toEqual(['CFGI_STE_RANGE', 'SYNC', 'SYNC', 'SYNC']);
      expect(fake.get(R.CR0)).toBe(0xd);
    });
  }

  it('finds a command error by CONS.ERR even without the interrupt (MSI polling)', () => {
    const { ram, alloc } = guestRam();
    const fake = new FakeSmmu(ram, { illegalOps: [0x30] });
    const drv = new SmmuV3Driver(fake, ram, alloc); // no irqPending
    drv.probe();
    expect(drv.cmdqErrors().map((e) => e.code)).toEqual([1]);
  });

  it('disables the SMMU on Service Failure Mode', () => {
    const { fake, drv } = setup();
    drv.probe();
    fake.set(R.GERROR, 1 << 8);
    drv.handleIrq();
    expect(fake.get(R.CR0)).toBe(0);
    expect(fake.get(R.GERRORN)).toBe(1 << 8);
  });

  it('times out (coded) when a command error is never handled', () => {
    const { ram, alloc } = guestRam();
    const fake = new FakeSmmu(ram, { illegalOps: [0x30] });
    const drv = new SmmuV3Driver({ read32: (o) => (o === R.GERROR ? 0 : fake.read32(o)), write32: (o, v) => fake.write32(o, v) }, ram, alloc, { pollTimeoutMs: 5 });
    expect(codeOf(() => drv.probe())).toBe('EVSMMU_SMMU_TIMEOUT:');
  });
});

describe('event queue', () => {
  const fault = (i: number) => ({ type: EVT.F_TRANSLATION, sid: 0x40 + i, inputLo: 0x1000 * i, inputHi: i === 3 ? 1 : 0, rnw: 1, cls: 2 });

  it('drains records into the fault log, decoded, across the wrap', () => {
    const { fake, drv } = setup({}, { evtqMaxLog2: 2 });
    drv.probe();
    for (let i = 0; i < 3; i++) fake.pushEvent(fault(i));
    expect(drv.handleIrq()).toBe(3);
    for (let i = 3; i < 6; i++) fake.pushEvent(fault(i));
    expect(drv.handleIrq()).toBe(3);
    const f = drv.faults();
    expect(f.map((x) => x.sid)).toEqual([0x40, 0x41, 0x42, 0x43, 0x44, 0x45]);
    expect(f[3]).toMatchObject({ name: 'F_TRANSLATION', iova: 2 ** 32 + 0x3000, rnw: 1, cls: 2, s2: 0, seq: 4 });
    // 6 records in a 4-entry queue: CONS = index 2, wrap 1.
    expect(fake.get(R.EVENTQ_CONS)).toBe(0x4 | 2);
    expect(drv.stats().evtq).toMatchObject({ events: 6, overflows: 0 });
  });

  it('counts an overflow and acknowledges it with OVACKFLG', () => {
    const { fake, drv } = setup({}, { evtqMaxLog2: 2 });
    drv.probe();
    const kept = [0, 1, 2, 4, 5, 6].map((i) => fake.pushEvent(fault(i)));
    expect(kept).toEqual([true, true, true, true, false, false]);
    expect(fake.get(R.EVENTQ_PROD) >>> 31).toBe(1);
    expect(drv.handleIrq()).toBe(4);
    expect(drv.stats().evtq.overflows).toBe(1);
    expect(fake.get(R.EVENTQ_CONS) >>> 0).toBe((0x80000000 | 0x4) >>> 0);
    // Later events are taken normally, the overflow stays acknowledged.
    fake.pushEvent(fault(7));
    expect(drv.handleIrq()).toBe(1);
    expect(drv.stats().evtq.overflows).toBe(1);
    expect(drv.faults().map((x) => x.sid)).toEqual([0x40, 0x41, 0x42, 0x44, 0x47]);
  });

  it('acknowledges other global errors by writing GERRORN = GERROR', () => {
    const { fake, drv } = setup();
    drv.probe();
    fake.set(R.GERROR, 1 << 2); // EVENTQ_ABT_ERR
    drv.handleIrq();
    expect(fake.get(R.GERRORN)).toBe(1 << 2);
    expect(drv.gerrors()).toEqual([1 << 2]);
    drv.handleIrq();
    expect(drv.gerrors()).toEqual([1 << 2]);
  });
});
