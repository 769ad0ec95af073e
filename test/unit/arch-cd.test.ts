import { describe, expect, it } from 'vitest';
import {
  CD_BAD_SUBSTREAMID, CD_FETCH_ABORT, CD_S2_FAULT, cdLocation, cdOf, decodeCd, decodeL1Cd, encodeCd, encodeL1Cd,
  validateCd, type Cd, type CdIllegal, type CdLocOut,
} from '../../src/arch/cd.ts';
import { DEFAULT_FEATURES, type SmmuFeatures } from '../../src/arch/features.ts';
import { steOf } from '../../src/arch/ste.ts';
import type { WordReader } from '../../src/arch/types.ts';

// Linux arm_smmu_make_s1_cd (FACTS §8.2), by hand from the §3.1 bit table:
// dw0 lo: T0SZ 16 (0x10) | IR0 1 (<<8) | OR0 1 (<<10) | SH0 3 (<<12) | EPD1 (bit 30) | V (bit 31) = 0xC0003510
// dw0 hi: IPS 5 | AA64 (41 -> 0x200) | R (45 -> 0x2000) | A (46 -> 0x4000) | ASET (47 -> 0x8000) | ASID 1 (<<16)
// dw1: TTB0 0x8_8765_4000; dw3: MAIR 0xF404FF44.
const LINUX_CD = [0xc0003510, 0x0001e205, 0x87654000, 0x8, 0, 0, 0xf404ff44, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const LINUX_FIELDS = {
  t0sz: 16, tg0: 0, ir0: 1, or0: 1, sh0: 3, epd0: 0, endi: 0, epd1: 1, v: 1, ips: 5, aa64: 1, r: 1, a: 1,
  aset: 1, asid: 1, s: 0, ha: 0, hd: 0, tbi0: 0, ttb0: 0x887654000, mair0: 0xf404ff44, mair1: 0, ttb1: 0,
};

describe('CD encoding (FACTS §3.1, §8.2)', () => {
  it('decodes the Linux stage-1 CD', () => {
    const cd = decodeCd(LINUX_CD);
    expect(cd).toMatchObject(LINUX_FIELDS);
    expect(cd.other.every((w) => w === 0)).toBe(true);
    expect(validateCd(cd, steOf({}), DEFAULT_FEATURES)).toEqual({ ok: true });
  });
  it('encodes the Linux stage-1 CD', () => {
    const out = new Uint32Array(16);
    encodeCd(cdOf(LINUX_FIELDS), out);
    expect([...out]).toEqual(LINUX_CD);
  });
  it('places TTB1/TG1 and dw5 fields', () => {
    const cd = decodeCd([0x00c00000, 0, 0, 0, 0x12345670, 0x000000ab | 0x04000000, 0, 0, 0, 0, 0xdeadbeef, 0x00ff0007]);
    expect(cd.tg1).toBe(3);
    expect(cd.ttb1).toBe(0xab12345670);
    expect(cd.ds).toBe(1);
    expect(cd.impdef).toBe(0xdeadbeef);
    expect(cd.partid).toBe(7);
    expect(cd.pmg).toBe(0xff);
  });
});

const LEGAL = decodeCd(LINUX_CD);
const F = DEFAULT_FEATURES;
const feat = (p: Partial<SmmuFeatures>): SmmuFeatures => ({ ...F, ...p });
const STE = steOf({});
function expectIllegal(cd: Cd, f: SmmuFeatures, reason: CdIllegal, ste = STE): void {
  expect(validateCd(cd, ste, f)).toEqual({ ok: false, reason });
}

describe('CD validity (FACTS §3.2): one test per condition', () => {
  it('V_ZERO', () => expectIllegal({ ...LEGAL, v: 0 }, F, 'V_ZERO'));
  it('S_WITH_S1STALLD', () =>
    expectIllegal({ ...LEGAL, s: 1 }, feat({ stallModel: 0 }), 'S_WITH_S1STALLD', steOf({ s1stalld: 1 })));
  it('S_NO_STALL', () => {
    expectIllegal({ ...LEGAL, s: 1 }, F, 'S_NO_STALL');
    expect(validateCd({ ...LEGAL, s: 1 }, STE, feat({ stallModel: 0 })).ok).toBe(true);
  });
  it('S_STALL_FORCED', () => expectIllegal(LEGAL, feat({ stallModel: 2 }), 'S_STALL_FORCED'));
  it('A_ZERO_TERM_MODEL', () => {
    expectIllegal({ ...LEGAL, a: 0 }, F, 'A_ZERO_TERM_MODEL');
    expect(validateCd({ ...LEGAL, a: 0 }, STE, feat({ termModel: 0 })).ok).toBe(true);
  });
  it('ENDI_UNSUPPORTED', () => expectIllegal({ ...LEGAL, endi: 1 }, F, 'ENDI_UNSUPPORTED'));
  it('AA64_UNSUPPORTED', () => expectIllegal({ ...LEGAL, aa64: 0 }, F, 'AA64_UNSUPPORTED'));
  it('HA_UNSUPPORTED / HD_UNSUPPORTED', () => {
    expectIllegal({ ...LEGAL, ha: 1 }, F, 'HA_UNSUPPORTED');
    expectIllegal({ ...LEGAL, hd: 1, ha: 1 }, feat({ httu: 1 }), 'HD_UNSUPPORTED');
    expect(validateCd({ ...LEGAL, hd: 1, ha: 1 }, STE, feat({ httu: 2 })).ok).toBe(true);
  });
  it('ASID_16', () => {
    expectIllegal({ ...LEGAL, asid: 0x100 }, feat({ asid16: false }), 'ASID_16');
    expect(validateCd({ ...LEGAL, asid: 0xffff }, STE, F).ok).toBe(true);
  });
  it('TG0_UNSUPPORTED', () => {
    expectIllegal({ ...LEGAL, tg0: 3 }, F, 'TG0_UNSUPPORTED');
    expectIllegal({ ...LEGAL, tg0: 1 }, feat({ gran64k: false }), 'TG0_UNSUPPORTED');
  });
  it('T0SZ_RANGE', () => {
    expectIllegal({ ...LEGAL, t0sz: 40 }, F, 'T0SZ_RANGE');
    expectIllegal({ ...LEGAL, t0sz: 15 }, F, 'T0SZ_RANGE');
    expectIllegal({ ...LEGAL, t0sz: 12, tg0: 1 }, F, 'T0SZ_RANGE');
    expect(validateCd({ ...LEGAL, t0sz: 12, tg0: 1 }, STE, feat({ vax: 1, oas: 52 })).ok).toBe(true);
    expect(validateCd({ ...LEGAL, t0sz: 48 }, STE, feat({ stt: true })).ok).toBe(true);
  });
  it('TTB0_RANGE (against MIN(IPS, OAS))', () => {
    expectIllegal({ ...LEGAL, ttb0: 2 ** 48 }, F, 'TTB0_RANGE');
    expectIllegal({ ...LEGAL, ips: 2, ttb0: 2 ** 40 }, F, 'TTB0_RANGE');
    expectIllegal({ ...LEGAL, ips: 6, ttb0: 2 ** 48 }, F, 'TTB0_RANGE'); // IPS 52 capped by OAS 48
    expect(validateCd({ ...LEGAL, ips: 2, ttb0: 2 ** 40 - 16 }, STE, F).ok).toBe(true);
  });
  it('disabled halves are not checked', () => {
    expect(validateCd({ ...LEGAL, epd0: 1, tg0: 3, t0sz: 0, ttb0: 2 ** 55 }, STE, F).ok).toBe(true);
  });
  it('TG1_UNSUPPORTED (TG1 has its own encoding)', () => {
    expectIllegal({ ...LEGAL, epd1: 0, tg1: 0, t1sz: 16 }, F, 'TG1_UNSUPPORTED');
    expect(validateCd({ ...LEGAL, epd1: 0, tg1: 2, t1sz: 16 }, STE, F).ok).toBe(true); // 2 = 4K
    expectIllegal({ ...LEGAL, epd1: 0, tg1: 1, t1sz: 16 }, feat({ gran16k: false }), 'TG1_UNSUPPORTED');
  });
  it('T1SZ_RANGE', () => expectIllegal({ ...LEGAL, epd1: 0, tg1: 2, t1sz: 8 }, F, 'T1SZ_RANGE'));
  it('TTB1_RANGE', () =>
    expectIllegal({ ...LEGAL, epd1: 0, tg1: 2, t1sz: 16, ttb1: 2 ** 50 }, F, 'TTB1_RANGE'));
});

class FakeMem implements WordReader {
  hi = 0;
  readonly m = new Map<number, [number, number]>();
  readonly reads: number[] = [];
  readonly limit: number;
  constructor(limit = 2 ** 40) {
    this.limit = limit;
  }
  load64(pa: number): number {
    this.reads.push(pa);
    if (pa >= this.limit) return -1;
    const v = this.m.get(pa) ?? [0, 0];
    this.hi = v[1];
    return v[0];
  }
}

describe('CD table lookup (FACTS §3.3)', () => {
  const out: CdLocOut = { fetchAddr: 0, ipa: 0 };
  it('single CD (S1CDMax = 0): only SSID 0', () => {
    const ste = steOf({ s1ContextPtr: 0x40000, s1cdmax: 0, s1fmt: 2 });
    expect(cdLocation(ste, 0, new FakeMem(), null, out, F)).toBe(0x40000);
    expect(cdLocation(ste, 1, new FakeMem(), null, out, F)).toBe(CD_BAD_SUBSTREAMID);
  });
  it('linear table: ptr + 64 * SSID, SSID < 2^S1CDMax', () => {
    const ste = steOf({ s1ContextPtr: 0x40000, s1cdmax: 8, s1fmt: 0 });
    expect(cdLocation(ste, 5, new FakeMem(), null, out, F)).toBe(0x40140);
    expect(cdLocation(ste, 256, new FakeMem(), null, out, F)).toBe(CD_BAD_SUBSTREAMID);
    expect(cdLocation(ste, 0, new FakeMem(), null, out, { ssidBits: 0 })).toBe(0x40000);
    expect(cdLocation(ste, 1, new FakeMem(), null, out, { ssidBits: 0 })).toBe(CD_BAD_SUBSTREAMID);
  });
  it('S1Fmt 1: 64-CD leaf tables', () => {
    const mem = new FakeMem();
    mem.m.set(0x40010, encodeL1Cd({ v: 1, l2ptr: 0x500000 }));
    const ste = steOf({ s1ContextPtr: 0x40000, s1cdmax: 8, s1fmt: 1 });
    expect(cdLocation(ste, 0x85, mem, null, out, F)).toBe(0x500000 + 5 * 64);
    expect(mem.reads).toEqual([0x40010]);
  });
  it('S1Fmt 2: 1024-CD leaf tables, L2Ptr[15:12] ignored', () => {
    const mem = new FakeMem();
    mem.m.set(0x40018, [0x00513001, 0]);
    const ste = steOf({ s1ContextPtr: 0x40000, s1cdmax: 16, s1fmt: 2 });
    expect(cdLocation(ste, 0x0c05, mem, null, out, { ssidBits: 16 })).toBe(0x510000 + 5 * 64);
  });
  it('L1CD.V = 0 gives C_BAD_SUBSTREAMID; an aborted L1CD read gives its address', () => {
    const mem = new FakeMem(0x50000);
    const ste = steOf({ s1ContextPtr: 0x40000, s1cdmax: 8, s1fmt: 1 });
    expect(cdLocation(ste, 0x85, mem, null, out, F)).toBe(CD_BAD_SUBSTREAMID);
    const far = steOf({ s1ContextPtr: 0x60000, s1cdmax: 8, s1fmt: 1 });
    expect(cdLocation(far, 0x85, mem, null, out, F)).toBe(CD_FETCH_ABORT);
    expect(out.fetchAddr).toBe(0x60010);
  });
  it('nested: the L1CD and CD IPAs go through stage 2; a stage-2 fault names the IPA', () => {
    const mem = new FakeMem();
    mem.m.set(0x10040010, encodeL1Cd({ v: 1, l2ptr: 0x500000 }));
    const seen: number[] = [];
    const xlate = (ipa: number): number => {
      seen.push(ipa);
      return ipa === 0x666010 ? -1 : ipa + 0x10000000;
    };
    const ste = steOf({ s1ContextPtr: 0x40000, s1cdmax: 8, s1fmt: 1 });
    expect(cdLocation(ste, 0x85, mem, xlate, out, F)).toBe(0x10500140);
    expect(seen).toEqual([0x40010, 0x500140]);
    expect(mem.reads).toEqual([0x10040010]);
    const bad = steOf({ s1ContextPtr: 0x666000, s1cdmax: 8, s1fmt: 1 });
    expect(cdLocation(bad, 0x85, mem, xlate, out, F)).toBe(CD_S2_FAULT);
    expect(out.ipa).toBe(0x666010); // the L1CD's IPA (L1 index 2)
    expect(mem.reads).toEqual([0x10040010]); // nothing read after the fault
  });
  it('nested: fault on the CD IPA itself', () => {
    const xlate = (ipa: number): number => (ipa === 0x666000 ? -1 : ipa);
    const ste = steOf({ s1ContextPtr: 0x666000, s1cdmax: 0 });
    expect(cdLocation(ste, 0, new FakeMem(), xlate, out, F)).toBe(CD_S2_FAULT);
    expect(out.ipa).toBe(0x666000);
  });
  it('L1CD fields', () => {
    expect(decodeL1Cd(0x12345001, 0x00ab)).toEqual({ v: 1, l2ptr: 0xab12345000 });
    expect(encodeL1Cd({ v: 1, l2ptr: 0xab12345000 })).toEqual([0x12345001, 0xab]);
  });
});
