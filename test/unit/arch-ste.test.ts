import { describe, expect, it } from 'vitest';
import { DEFAULT_FEATURES, type SmmuFeatures } from '../../src/arch/features.ts';
import {
  decodeL1Std, decodeSte, encodeL1Std, encodeSte, s2StartLevel, STE_BAD_STREAMID, STE_CFG, STE_L1_ABORT,
  steL1Addr, steLocation, steOf, validateSte, type Ste, type SteIllegal,
} from '../../src/arch/ste.ts';
import type { WordReader } from '../../src/arch/types.ts';

const words = (...w: number[]): Uint32Array => {
  const a = new Uint32Array(16);
  w.forEach((v, i) => (a[i] = v));
  return a;
};
const enc = (s: Ste): number[] => {
  const out = new Uint32Array(16);
  encodeSte(s, out);
  return [...out];
};

// Vectors written by hand from FACTS §2.1 and §8.3 (what Linux programs).
// S1 STE: V=1, Config=0b101 -> 0x0B; S1ContextPtr 0x12_3456_7840; S1CDMax 8 ([63:59] -> hi 0x40000000);
// dw1: S1DSS=2, S1CIR=1 (<<2), S1COR=1 (<<4), S1CSH=3 (<<6) -> 0xD6.
const LINUX_S1 = words(0x3456784b, 0x40000012, 0x000000d6, 0);
// S2 STE: 0x0D; S2VMID 5; S2T0SZ 16, S2SL0 2 (<<6), S2IR0 1 (<<8), S2OR0 1 (<<10), S2SH0 3 (<<12),
// S2TG 0, S2PS 5 (<<16), S2AA64 (bit 19), S2PTW (bit 22), S2R (bit 26) -> dw2 hi 0x044D3590;
// S2TTB 0x8004_2000.
const LINUX_S2 = words(0x0000000d, 0, 0, 0, 5, 0x044d3590, 0x80042000, 0);
// Nested: S2 fields + guest S1 fields + MEV (dw1 bit 19).
const LINUX_NESTED = words(0x3456784f, 0x40000012, 0x000800d6, 0, 5, 0x044d3590, 0x80042000, 0);

describe('STE encoding (FACTS §2.1, §8.3)', () => {
  it('decodes the Linux stage-1 STE', () => {
    const s = decodeSte(LINUX_S1);
    expect(s).toMatchObject({
      v: 1, config: STE_CFG.S1, s1fmt: 0, s1ContextPtr: 0x1234567840, s1cdmax: 8, s1dss: 2, s1cir: 1,
      s1cor: 1, s1csh: 3, s1stalld: 0, eats: 0, strw: 0, s2vmid: 0,
    });
    expect(s.other.every((w) => w === 0)).toBe(true);
    expect(enc(steOf({ v: 1, config: 5, s1ContextPtr: 0x1234567840, s1cdmax: 8, s1dss: 2, s1cir: 1, s1cor: 1, s1csh: 3 }))).toEqual([...LINUX_S1]);
    expect(validateSte(s, DEFAULT_FEATURES)).toEqual({ ok: true });
  });

  it('decodes the Linux stage-2 STE', () => {
    const fields = {
      v: 1, config: 6, s2vmid: 5, s2t0sz: 16, s2sl0: 2, s2ir0: 1, s2or0: 1, s2sh0: 3, s2tg: 0, s2ps: 5,
      s2aa64: 1, s2endi: 0, s2ptw: 1, s2r: 1, s2s: 0, s2ttb: 0x80042000,
    };
    expect(decodeSte(LINUX_S2)).toMatchObject(fields);
    expect(enc(steOf(fields))).toEqual([...LINUX_S2]);
    expect(validateSte(decodeSte(LINUX_S2), DEFAULT_FEATURES)).toEqual({ ok: true });
  });

  it('decodes the nested STE', () => {
    const s = decodeSte(LINUX_NESTED);
    expect(s.config).toBe(STE_CFG.NESTED);
    expect(s.mev).toBe(1);
    expect(s.s1ContextPtr).toBe(0x1234567840);
    expect(s.s2ttb).toBe(0x80042000);
    expect(validateSte(s, DEFAULT_FEATURES)).toEqual({ ok: true });
  });

  it('abort (0x1) and bypass (0x9) STEs', () => {
    expect(decodeSte(words(0x1)).config).toBe(STE_CFG.ABORT);
    expect(decodeSte(words(0x9)).config).toBe(STE_CFG.BYPASS);
    expect(enc(steOf({ v: 1, config: 4, shcfg: 1 }))).toEqual([...words(0x9, 0, 0, 0x1000)]); // SHCFG dw1[45:44]
    expect(validateSte(decodeSte(words(0x1)), DEFAULT_FEATURES)).toEqual({ ok: true });
    expect(validateSte(decodeSte(words(0x3)), DEFAULT_FEATURES)).toEqual({ ok: true }); // reserved = abort
  });

  it('places every upper field where the spec table says', () => {
    const w = words(0, 0, 0, 0, 0, 0, 0, 0, 0x00050000, 0, 0x7f, 0);
    expect(decodeSte(w)).toMatchObject({ partid: 5, pmg: 0x7f });
    expect(decodeSte(words(0, 0, 0, 0, 0, 0x01000000)).s2ha).toBe(1); // dw2 bit 56 (not 57 as old QEMU)
    const upper = decodeSte(words(0, 0, 0, 0, 0, 0x3e000000)); // dw2 bits 57..61
    expect([upper.s2hd, upper.s2ha, upper.s2s, upper.s2r, upper.s2haft, upper.s2pie, upper.s2poe]).toEqual([0, 0, 1, 1, 1, 1, 1]);
    expect(decodeSte(words(0, 0, 0, 0, 0, 0x04000000)).s2r).toBe(1); // S2R is dw2 bit 58
    expect(decodeSte(words(0, 0, 0x08000000)).s1stalld).toBe(1); // dw1 bit 27
    expect(decodeSte(words(0, 0, 0x80000000)).strw).toBe(2); // dw1[31:30]
    expect(decodeSte(words(0, 0, 0x10000000)).eats).toBe(1); // dw1[29:28]
    expect(decodeSte(words(0, 0, 0x02000000)).s2fwb).toBe(1); // dw1 bit 25
    expect(decodeSte(words(0, 0, 0, 0, 0, 0, 0xf, 0)).s2ds).toBe(1);
    expect(decodeSte(words(0, 0, 0, 0, 0, 0, 0xf, 0)).s2ttb).toBe(0);
    expect(decodeSte(words(0, 0x07000000)).other[1]).toBe(0x07000000); // dw0[58:56] RES0 kept
  });
});

const LEGAL_S2 = decodeSte(LINUX_S2);
const LEGAL_S1 = decodeSte(LINUX_S1);
const F = DEFAULT_FEATURES;
const feat = (p: Partial<SmmuFeatures>): SmmuFeatures => ({ ...F, ...p });

function expectIllegal(s: Ste, f: SmmuFeatures, reason: SteIllegal): void {
  expect(validateSte(s, f)).toEqual({ ok: false, reason });
}

describe('STE validity (FACTS §2.2): one test per condition', () => {
  it('V_ZERO', () => expectIllegal({ ...LEGAL_S2, v: 0 }, F, 'V_ZERO'));
  it('S1_NOT_SUPPORTED', () => expectIllegal(LEGAL_S1, feat({ s1: false }), 'S1_NOT_SUPPORTED'));
  it('S2_NOT_SUPPORTED', () => expectIllegal(LEGAL_S2, feat({ s2: false }), 'S2_NOT_SUPPORTED'));
  it('S1CDMAX_TOO_LARGE', () => {
    expectIllegal({ ...LEGAL_S1, s1cdmax: 9 }, F, 'S1CDMAX_TOO_LARGE');
    expectIllegal({ ...LEGAL_S1, s1cdmax: 1 }, feat({ ssidBits: 0 }), 'S1CDMAX_TOO_LARGE');
  });
  it('S1FMT_NO_CD2L', () => {
    expectIllegal({ ...LEGAL_S1, s1fmt: 2 }, feat({ cd2l: false }), 'S1FMT_NO_CD2L');
    expect(validateSte({ ...LEGAL_S1, s1fmt: 2 }, F).ok).toBe(true);
    expect(validateSte({ ...LEGAL_S1, s1fmt: 2, s1cdmax: 0 }, feat({ cd2l: false })).ok).toBe(true); // IGNORED
  });
  it('S1CTXPTR_RANGE (not for nested, where it is an IPA)', () => {
    expectIllegal({ ...LEGAL_S1, s1ContextPtr: 2 ** 48 }, F, 'S1CTXPTR_RANGE');
    expect(validateSte({ ...LEGAL_S1, s1ContextPtr: 2 ** 48 - 64 }, F).ok).toBe(true);
    expect(validateSte({ ...decodeSte(LINUX_NESTED), s1ContextPtr: 2 ** 48 }, F).ok).toBe(true);
  });
  it('S1STALLD_ILLEGAL', () => {
    expectIllegal({ ...LEGAL_S1, s1stalld: 1 }, F, 'S1STALLD_ILLEGAL');
    expect(validateSte({ ...LEGAL_S1, s1stalld: 1 }, feat({ stallModel: 0 })).ok).toBe(true);
  });
  it('STRW_ILLEGAL', () => {
    expectIllegal({ ...LEGAL_S1, strw: 1 }, feat({ hyp: true }), 'STRW_ILLEGAL');
    expectIllegal({ ...LEGAL_S1, strw: 3 }, feat({ hyp: true }), 'STRW_ILLEGAL');
    expect(validateSte({ ...LEGAL_S1, strw: 2 }, feat({ hyp: true })).ok).toBe(true);
  });
  it('EATS_ILLEGAL', () => {
    const ats = feat({ ats: true });
    expectIllegal({ ...LEGAL_S1, eats: 2 }, ats, 'EATS_ILLEGAL');
    expect(validateSte({ ...decodeSte(LINUX_NESTED), eats: 2 }, ats).ok).toBe(true);
    expectIllegal({ ...decodeSte(LINUX_NESTED), eats: 2 }, feat({ ats: true, ns1ats: true }), 'EATS_ILLEGAL');
    const stall = feat({ ats: true, stallModel: 0 });
    expectIllegal({ ...LEGAL_S2, eats: 1, s2s: 1 }, stall, 'EATS_ILLEGAL');
    expect(validateSte({ ...LEGAL_S2, eats: 1 }, stall).ok).toBe(true);
    expect(validateSte({ ...LEGAL_S1, eats: 2 }, F).ok).toBe(true); // IGNORED without ATS
  });
  it('S2S_NO_STALL', () => expectIllegal({ ...LEGAL_S2, s2s: 1 }, F, 'S2S_NO_STALL'));
  it('S2S_STALL_FORCED', () => expectIllegal(LEGAL_S2, feat({ stallModel: 2 }), 'S2S_STALL_FORCED'));
  it('S2AA64_UNSUPPORTED', () => expectIllegal({ ...LEGAL_S2, s2aa64: 0 }, F, 'S2AA64_UNSUPPORTED'));
  it('S2HA_UNSUPPORTED / S2HD_UNSUPPORTED', () => {
    expectIllegal({ ...LEGAL_S2, s2ha: 1 }, F, 'S2HA_UNSUPPORTED');
    expect(validateSte({ ...LEGAL_S2, s2ha: 1 }, feat({ httu: 1 })).ok).toBe(true);
    expectIllegal({ ...LEGAL_S2, s2hd: 1 }, feat({ httu: 1 }), 'S2HD_UNSUPPORTED');
    expect(validateSte({ ...LEGAL_S2, s2hd: 1, s2ha: 1 }, feat({ httu: 2 })).ok).toBe(true);
  });
  it('S2TG_UNSUPPORTED', () => {
    expectIllegal({ ...LEGAL_S2, s2tg: 3 }, F, 'S2TG_UNSUPPORTED');
    expectIllegal(LEGAL_S2, feat({ gran4k: false }), 'S2TG_UNSUPPORTED');
  });
  it('S2T0SZ_RANGE', () => {
    expectIllegal({ ...LEGAL_S2, s2t0sz: 40, s2sl0: 0 }, F, 'S2T0SZ_RANGE');
    expectIllegal({ ...LEGAL_S2, s2t0sz: 15 }, F, 'S2T0SZ_RANGE');
    expectIllegal({ ...LEGAL_S2, s2t0sz: 23, s2sl0: 1 }, feat({ oas: 40 }), 'S2T0SZ_RANGE'); // min 64-40
    expect(validateSte({ ...LEGAL_S2, s2t0sz: 24, s2sl0: 2 }, feat({ oas: 40 })).ok).toBe(true);
  });
  it('S2_SL0_INCONSISTENT', () => {
    expectIllegal({ ...LEGAL_S2, s2sl0: 0 }, F, 'S2_SL0_INCONSISTENT'); // 48-bit IPA from level 2
    expectIllegal({ ...LEGAL_S2, s2sl0: 3 }, F, 'S2_SL0_INCONSISTENT'); // 4K SL0=3 needs STT
    expectIllegal({ ...LEGAL_S2, s2t0sz: 34, s2sl0: 1 }, F, 'S2_SL0_INCONSISTENT'); // L1 start too high
  });
  it('S2TTB_RANGE', () => {
    expectIllegal({ ...LEGAL_S2, s2ttb: 2 ** 48 }, F, 'S2TTB_RANGE');
    expectIllegal({ ...LEGAL_S2, s2ps: 2, s2ttb: 2 ** 40 }, F, 'S2TTB_RANGE');
    // S2PS 52 is capped by OAS 48
    expectIllegal({ ...LEGAL_S2, s2ps: 6, s2ttb: 2 ** 49 }, F, 'S2TTB_RANGE');
  });
  it('S2TTB_ALIGN', () => {
    expectIllegal({ ...LEGAL_S2, s2ttb: 0x80042010 }, F, 'S2TTB_ALIGN');
    // 4K, L1 start, T0SZ 24: two concatenated 4K tables -> 8K alignment
    const concat = { ...LEGAL_S2, s2t0sz: 24, s2sl0: 1 };
    expectIllegal({ ...concat, s2ttb: 0x80041000 }, F, 'S2TTB_ALIGN');
    expect(validateSte({ ...concat, s2ttb: 0x80042000 }, F).ok).toBe(true);
    // 4K, L1 start, T0SZ 32: a 16-byte... 4-entry table only needs 64-byte alignment
    expect(validateSte({ ...LEGAL_S2, s2t0sz: 32, s2sl0: 1, s2ttb: 0x80042040 }, F).ok).toBe(true);
  });
  it('S2ENDI_UNSUPPORTED', () => {
    expectIllegal({ ...LEGAL_S2, s2endi: 1 }, F, 'S2ENDI_UNSUPPORTED');
    expect(validateSte({ ...LEGAL_S2, s2endi: 1 }, feat({ ttendian: 0 })).ok).toBe(true);
    expectIllegal(LEGAL_S2, feat({ ttendian: 3 }), 'S2ENDI_UNSUPPORTED');
  });
  it('S2VMID_16', () => {
    expectIllegal({ ...LEGAL_S2, s2vmid: 0x100 }, feat({ vmid16: false }), 'S2VMID_16');
    expect(validateSte({ ...LEGAL_S2, s2vmid: 0xff }, feat({ vmid16: false })).ok).toBe(true);
  });
  it('ignores S2 fields when stage 2 bypasses and S1 fields when stage 1 bypasses', () => {
    expect(validateSte({ ...LEGAL_S1, s2tg: 3, s2t0sz: 0 }, F).ok).toBe(true);
    expect(validateSte({ ...LEGAL_S2, s1cdmax: 31, s1stalld: 1 }, F).ok).toBe(true);
  });
});

// FACTS §7.5 concatenation table, written out: [tg, sl0, level, [t0sz range lo, hi, concat]...]
const TABLE: readonly [number, number, number, readonly (readonly [number, number, number])[]][] = [
  [0, 2, 0, [[16, 24, 1]]],
  [0, 1, 1, [[25, 33, 1], [24, 24, 2], [23, 23, 4], [22, 22, 8], [21, 21, 16]]],
  [0, 0, 2, [[34, 39, 1], [33, 33, 2], [32, 32, 4], [31, 31, 8], [30, 30, 16]]],
  [2, 3, 0, [[16, 16, 1]]],
  [2, 2, 1, [[17, 27, 1], [16, 16, 2]]],
  [2, 1, 2, [[28, 38, 1], [27, 27, 2], [26, 26, 4], [25, 25, 8], [24, 24, 16]]],
  [2, 0, 3, [[39, 39, 1], [38, 38, 2], [37, 37, 4], [36, 36, 8], [35, 35, 16]]],
  [1, 2, 1, [[16, 21, 1]]],
  [1, 1, 2, [[22, 34, 1], [21, 21, 2], [20, 20, 4], [19, 19, 8], [18, 18, 16]]],
  [1, 0, 3, [[35, 39, 1], [34, 34, 2], [33, 33, 4], [32, 32, 8], [31, 31, 16]]],
];

describe('s2StartLevel (FACTS §7.5)', () => {
  it('matches the concatenation table exactly for a 48-bit SMMU', () => {
    for (let tg = 0; tg < 4; tg++) {
      for (let sl0 = 0; sl0 < 4; sl0++) {
        for (let t0sz = 0; t0sz < 64; t0sz++) {
          const row = TABLE.find(([t, s]) => t === tg && s === sl0);
          const hit = row?.[3].find(([lo, hi]) => t0sz >= lo && t0sz <= hi);
          const want = row && hit ? { level: row[2], concat: hit[2] } : null;
          expect(s2StartLevel(tg, sl0, t0sz, 48), `tg ${tg} sl0 ${sl0} t0sz ${t0sz}`).toEqual(want);
        }
      }
    }
  });
  it('allows T0SZ 12..15 for 64K with a 52-bit OAS only', () => {
    expect(s2StartLevel(1, 2, 12, 52)).toEqual({ level: 1, concat: 1 });
    expect(s2StartLevel(1, 2, 12, 48)).toBeNull();
    expect(s2StartLevel(0, 2, 12, 52)).toBeNull(); // 4K without DS stays at 48 bits
  });
  it('raises the minimum T0SZ for a small OAS', () => {
    expect(s2StartLevel(0, 1, 24, 40)).toEqual({ level: 1, concat: 2 });
    expect(s2StartLevel(0, 1, 23, 40)).toBeNull();
  });
});

class FakeMem implements WordReader {
  hi = 0;
  readonly m = new Map<number, [number, number]>();
  reads: number[] = [];
  readonly size: number;
  constructor(size = 2 ** 32) {
    this.size = size;
  }
  load64(pa: number): number {
    this.reads.push(pa);
    if (pa < 0 || pa + 8 > this.size) return -1;
    const v = this.m.get(pa) ?? [0, 0];
    this.hi = v[1];
    return v[0];
  }
  set(pa: number, lo: number, hi: number): void {
    this.m.set(pa, [lo >>> 0, hi >>> 0]);
  }
}

describe('stream table lookup (FACTS §1.15, §2.3)', () => {
  const linear = (log2: number): number => log2; // FMT 0
  const twoLevel = (log2: number, split: number): number => log2 | (split << 6) | (1 << 16);

  it('linear table: base + 64 * SID, bounded by LOG2SIZE and SIDSIZE', () => {
    const mem = new FakeMem();
    expect(steLocation(0x100000, linear(8), 5, mem, F)).toBe(0x100140);
    expect(steLocation(0x100000, linear(8), 255, mem, F)).toBe(0x103fc0);
    expect(steLocation(0x100000, linear(8), 256, mem, F)).toBe(STE_BAD_STREAMID);
    expect(steLocation(0x100000, linear(20), 0x10000, mem, F)).toBe(STE_BAD_STREAMID); // capped at SIDSIZE 16
    expect(steLocation(0x100000, linear(8), 0xffffffff, mem, F)).toBe(STE_BAD_STREAMID);
    expect(steLocation(0x100040, linear(8), 0, mem, F)).toBe(0x100000); // misaligned base bits as 0
    expect(mem.reads).toEqual([]);
  });

  it('2-level table: L1STD at base + 8 * (SID >> SPLIT), STE in the L2 table', () => {
    const mem = new FakeMem();
    const [lo, hi] = encodeL1Std({ span: 9, l2ptr: 0x300000 });
    expect([lo, hi]).toEqual([0x00300009, 0]);
    mem.set(0x200018, lo, hi);
    expect(steLocation(0x200000, twoLevel(16, 8), 0x0305, mem, F)).toBe(0x300140);
    expect(mem.reads).toEqual([0x200018]);
    expect(steL1Addr(0x200000, twoLevel(16, 8), 0x0305, F)).toBe(0x200018);
  });

  it('invalid spans give C_BAD_STREAMID', () => {
    const mem = new FakeMem();
    const cfg = twoLevel(16, 8);
    for (const span of [0, 10, 12, 31]) {
      mem.set(0x200000, 0x300000 | span, 0);
      expect(steLocation(0x200000, cfg, 0x05, mem, F), `span ${span}`).toBe(STE_BAD_STREAMID);
    }
    mem.set(0x200000, 0x300000 | 3, 0); // 4 STEs
    expect(steLocation(0x200000, cfg, 0x03, mem, F)).toBe(0x3000c0);
    expect(steLocation(0x200000, cfg, 0x04, mem, F)).toBe(STE_BAD_STREAMID);
  });

  it('an aborted L1STD read is reported separately', () => {
    const mem = new FakeMem(0x1000);
    expect(steLocation(0x200000, twoLevel(16, 8), 0x0305, mem, F)).toBe(STE_L1_ABORT);
  });

  it('SPLIT values other than 6/8/10 behave as 6; FMT=1 without 2-level support is linear', () => {
    const mem = new FakeMem();
    mem.set(0x200008, 0x300000 | 7, 0); // L1 index 1 with split 6
    expect(steLocation(0x200000, twoLevel(16, 7), 0x45, mem, F)).toBe(0x300000 + 5 * 64);
    expect(steLocation(0x200000, twoLevel(8, 8), 0x45, mem, { ...F, stLevel2: false })).toBe(0x200000 + 0x45 * 64);
  });

  it('L1STD fields', () => {
    expect(decodeL1Std(0x34564009, 0x12)).toEqual({ span: 9, l2ptr: 0x1234564000 });
    expect(encodeL1Std({ span: 9, l2ptr: 0x1234564000 })).toEqual([0x34564009, 0x12]);
    expect(decodeL1Std(0xffffffff, 0xffffffff)).toEqual({ span: 31, l2ptr: 2 ** 56 - 64 });
  });
});
