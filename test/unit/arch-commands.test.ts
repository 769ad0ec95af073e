import { describe, expect, it } from 'vitest';
import {
  atcInvRange, CERROR, cfgiSteRange, CFGI_RANGE_ALL, cmdOf, commandError, decodeCommand, encodeCommand, OP, SYNC_CS, tlbiRange,
  type Command,
} from '../../src/arch/commands.ts';
import { DEFAULT_FEATURES, type SmmuFeatures } from '../../src/arch/features.ts';

const enc = (c: Command): number[] => {
  const out = new Uint32Array(4);
  encodeCommand(c, out);
  return [...out];
};
const F = DEFAULT_FEATURES;
const feat = (p: Partial<SmmuFeatures>): SmmuFeatures => ({ ...F, ...p });
const err = (w: number[], f: SmmuFeatures = F): number => commandError(decodeCommand(w), f);

// Words by hand from FACTS §4.1-§4.3 / §8 (what Linux writes).
const VECTORS: readonly [string, number[], Record<string, number | string>][] = [
  ['CFGI_ALL', [0x04, 0, 31, 0], { name: 'CFGI_STE_RANGE', sid: 0, range: CFGI_RANGE_ALL }],
  ['CFGI_STE leaf', [0x03, 0x1234, 1, 0], { name: 'CFGI_STE', sid: 0x1234, leaf: 1 }],
  ['CFGI_CD leaf', [0x7005, 0x10, 1, 0], { name: 'CFGI_CD', ssid: 7, sid: 0x10, leaf: 1 }],
  ['CFGI_CD_ALL', [0x06, 0x10, 0, 0], { name: 'CFGI_CD_ALL', sid: 0x10 }],
  ['PREFETCH_CONFIG', [0x01, 0x22, 0, 0], { name: 'PREFETCH_CONFIG', sid: 0x22, ssv: 0 }],
  // CS=SIG_IRQ (1<<12), MSH=ISH (3<<22), MSIAttr=0xF (<<24); MSIAddress = the slot's PA
  ['CMD_SYNC MSI', [0x0fc01046, 0, 0x00001230, 0x8],
    { name: 'SYNC', cs: SYNC_CS.SIG_IRQ, msh: 3, msiAttr: 0xf, msiData: 0, msiAddress: 0x800001230, msiAddressHi: 0 }],
  ['CMD_SYNC SEV', [0x2046, 0, 0, 0], { name: 'SYNC', cs: SYNC_CS.SIG_SEV, msiAddress: 0 }],
  // NUM 4 (<<12), SCALE 2 (<<20); VMID 3, ASID 0x42 (<<16 of hi); Leaf, TTL 3 (<<8), TG 1 (<<10), Address
  ['TLBI_NH_VA range', [0x00204012, 0x00420003, 0x12345701, 0x7fff],
    { name: 'TLBI_NH_VA', vmid: 3, asid: 0x42, num: 4, scale: 2, leaf: 1, ttl: 3, tg: 1, addr: 0x7fff12345000 }],
  ['TLBI_NH_ASID', [0x11, 0x00420003, 0, 0], { name: 'TLBI_NH_ASID', vmid: 3, asid: 0x42 }],
  ['TLBI_NH_ALL', [0x10, 0x3, 0, 0], { name: 'TLBI_NH_ALL', vmid: 3 }],
  ['TLBI_S2_IPA', [0x2a, 7, 0x00200001, 0x4], { name: 'TLBI_S2_IPA', vmid: 7, leaf: 1, tg: 0, addr: 0x400200000 }],
  ['TLBI_S12_VMALL', [0x28, 9, 0, 0], { name: 'TLBI_S12_VMALL', vmid: 9 }],
  ['TLBI_NSNH_ALL', [0x30, 0, 0, 0], { name: 'TLBI_NSNH_ALL' }],
  ['TLBI_EL2_ALL', [0x20, 0, 0, 0], { name: 'TLBI_EL2_ALL' }],
  ['TLBI_EL2_VA', [0x22, 0x00050000, 0x00401001, 0], { name: 'TLBI_EL2_VA', asid: 5, leaf: 1, addr: 0x401000 }],
  // Global (bit 9), SSV (bit 11), SSID 0x12 (<<12); Size 3
  ['ATC_INV', [0x00012a40, 0x44, 0x12345003, 0],
    { name: 'ATC_INV', global: 1, ssv: 1, ssid: 0x12, sid: 0x44, size: 3, addr: 0x12345000 }],
  ['PRI_RESP', [0x5841, 9, 0x21ff, 0], { name: 'PRI_RESP', ssv: 1, ssid: 5, sid: 9, prgIndex: 0x1ff, resp: 2 }],
  ['RESUME retry', [0x1044, 0x33, 0xbeef, 0], { name: 'RESUME', sid: 0x33, ac: 1, ab: 0, stag: 0xbeef }],
  ['RESUME abort', [0x2044, 0x33, 0xbeef, 0], { name: 'RESUME', sid: 0x33, ac: 0, ab: 1, stag: 0xbeef }],
  ['STALL_TERM', [0x45, 0x33, 0, 0], { name: 'STALL_TERM', sid: 0x33 }],
];

describe('command encoding (FACTS §4)', () => {
  for (const [label, words, fields] of VECTORS) {
    it(`decodes ${label}`, () => {
      const c = decodeCommand(words);
      expect(c).toMatchObject(fields);
      expect(c.op).toBe(words[0]! & 0xff);
    });
    it(`encodes ${label}`, () => {
      const { name, ...rest } = fields;
      const c = cmdOf(name as 'SYNC', rest);
      expect(enc(c)).toEqual(words);
    });
  }

  it('keeps OP values of FACTS §4.2', () => {
    expect(OP).toMatchObject({
      PREFETCH_CONFIG: 1, PREFETCH_ADDR: 2, CFGI_STE: 3, CFGI_STE_RANGE: 4, CFGI_CD: 5, CFGI_CD_ALL: 6,
      CFGI_VMS_PIDM: 7, TLBI_NH_ALL: 0x10, TLBI_NH_ASID: 0x11, TLBI_NH_VA: 0x12, TLBI_NH_VAA: 0x13,
      TLBI_EL3_ALL: 0x18, TLBI_EL3_VA: 0x1a, TLBI_EL2_ALL: 0x20, TLBI_EL2_ASID: 0x21, TLBI_EL2_VA: 0x22,
      TLBI_EL2_VAA: 0x23, TLBI_S12_VMALL: 0x28, TLBI_S2_IPA: 0x2a, TLBI_NSNH_ALL: 0x30, ATC_INV: 0x40,
      PRI_RESP: 0x41, RESUME: 0x44, STALL_TERM: 0x45, SYNC: 0x46,
    });
  });

  it('unknown opcodes decode raw and encode back', () => {
    const w = [0xdead0008, 1, 2, 3];
    const c = decodeCommand(w);
    expect(c).toEqual({ name: 'UNKNOWN', op: 8, raw: w });
    expect(enc(c)).toEqual(w);
  });

  it('decodes from an offset and short arrays without throwing', () => {
    expect(decodeCommand([0, 0, 0, 0, 0x03, 0x1234, 1, 0], 4)).toMatchObject({ name: 'CFGI_STE', sid: 0x1234 });
    expect(decodeCommand([0x46])).toMatchObject({ name: 'SYNC', cs: 0 });
  });

  it('MSIAddress bits [55:52] are kept apart from the address', () => {
    const c = decodeCommand([0x46, 0, 0xfffffffc, 0x00ffffff]);
    expect(c).toMatchObject({ msiAddress: 2 ** 52 - 4, msiAddressHi: 0xf });
    expect(enc(c)).toEqual([0x46, 0, 0xfffffffc, 0x00ffffff]);
  });
});

describe('commandError (FACTS §4, §5)', () => {
  it('accepts every Linux vector on the default SMMU except those of absent features', () => {
    const absent = new Set(['TLBI_EL2_ALL', 'TLBI_EL2_VA', 'ATC_INV', 'PRI_RESP', 'RESUME retry', 'RESUME abort', 'STALL_TERM']);
    for (const [label, words] of VECTORS) {
      expect(err(words), label).toBe(absent.has(label) ? CERROR.ILL : CERROR.NONE);
    }
  });
  it('reserved, secure-only, DPT and IMPDEF opcodes are ILL', () => {
    for (const op of [0x00, 0x08, 0x0f, 0x14, 0x19, 0x2b, 0x47, 0x50, 0x51, 0x58, 0x5a, 0x60, 0x70, 0x73, 0x80, 0x8f, 0xff]) {
      expect(err([op, 0, 0, 0]), `op ${op}`).toBe(CERROR.ILL);
    }
  });
  it('EL3 TLBIs are ILL on the non-secure queue', () => {
    expect(err([0x18, 0, 0, 0])).toBe(CERROR.ILL);
    expect(err([0x1a, 0, 0, 0], feat({ hyp: true }))).toBe(CERROR.ILL);
  });
  it('CMD_SYNC CS = 3 is ILL', () => expect(err([0x3046, 0, 0, 0])).toBe(CERROR.ILL));
  it('range TLBI: TG != 0 with NUM = SCALE = TTL = 0 is ILL; TTL alone makes it legal', () => {
    expect(err([0x12, 0, 0x00000400, 0])).toBe(CERROR.ILL);
    expect(err([0x12, 0, 0x00000700, 0])).toBe(CERROR.NONE);
    expect(err([0x1012, 0, 0x00000400, 0])).toBe(CERROR.NONE); // NUM = 1
    expect(err([0x2a, 0, 0x00000c00, 0])).toBe(CERROR.ILL); // S2_IPA, TG 64K, nothing else
  });
  it('4.4.1.1 range TLBI: without IDR5.DS, TG = 16K with TTL = 1 is TTL = 0, so with NUM = SCALE = 0 it is CERROR_ILL', () => {
    // dw1: TTL [9:8], TG [11:10]
    const w = (ttl: number, tg: number, num = 0, scale = 0): number[] => [0x12 | (num << 12) | (scale << 20), 0, (tg << 10) | (ttl << 8), 0];
    expect(err(w(1, 2), feat({ ds: false }))).toBe(CERROR.ILL);
    expect(err(w(1, 2), feat({ ds: true }))).toBe(CERROR.NONE); // DS: level 1 of a 16K table exists
    expect(err(w(1, 2, 1), feat({ ds: false }))).toBe(CERROR.NONE); // a real range: TTL only a hint
    expect(err(w(1, 2, 0, 1), feat({ ds: false }))).toBe(CERROR.NONE);
    expect(err(w(2, 2), feat({ ds: false }))).toBe(CERROR.NONE);
    for (const tg of [1, 3]) expect(err(w(1, tg), feat({ ds: false }))).toBe(CERROR.NONE);
    for (const tg of [1, 2, 3]) expect(err(w(0, tg), feat({ ds: true }))).toBe(CERROR.ILL);
    // S2_IPA and the EL2 forms share the encoding.
    expect(err([0x2a, 0, (2 << 10) | (1 << 8), 0], feat({ ds: false }))).toBe(CERROR.ILL);
    expect(err([0x22, 0, (2 << 10) | (1 << 8), 0], feat({ ds: false, hyp: true }))).toBe(CERROR.ILL);
  });
  it('range TLBI without IDR3.RIL is ILL; TG = 0 ignores NUM/SCALE/TTL', () => {
    expect(err([0x00204012, 0x00420003, 0x12345701, 0x7fff], feat({ ril: false }))).toBe(CERROR.ILL);
    expect(err([0x00204012, 0x00420003, 0x12345301, 0x7fff], feat({ ril: false }))).toBe(CERROR.NONE);
  });
  it('commands of absent features are ILL', () => {
    const noS1 = feat({ s1: false });
    expect(err([0x05, 0, 1, 0], noS1)).toBe(CERROR.ILL);
    expect(err([0x06, 0, 0, 0], noS1)).toBe(CERROR.ILL);
    expect(err([0x10, 0, 0, 0], noS1)).toBe(CERROR.ILL);
    expect(err([0x13, 0, 0, 0], noS1)).toBe(CERROR.ILL);
    expect(err([0x03, 0, 1, 0], noS1)).toBe(CERROR.NONE);
    const noS2 = feat({ s2: false });
    expect(err([0x28, 0, 0, 0], noS2)).toBe(CERROR.ILL);
    expect(err([0x2a, 0, 0, 0], noS2)).toBe(CERROR.ILL);
    expect(err([0x30, 0, 0, 0], noS2)).toBe(CERROR.NONE);
    expect(err([0x20, 0, 0, 0], feat({ hyp: true }))).toBe(CERROR.NONE);
    expect(err([0x07, 0, 0, 0])).toBe(CERROR.ILL);
    expect(err([0x07, 0, 0, 0], feat({ mpam: true }))).toBe(CERROR.NONE);
  });
  it('ATC_INV Size > 52 is ILL', () => {
    const ats = feat({ ats: true });
    expect(err([0x40, 0, 52, 0], ats)).toBe(CERROR.NONE);
    expect(err([0x40, 0, 53, 0], ats)).toBe(CERROR.ILL);
  });
  it('PRI_RESP Resp = 3 is ILL', () => {
    const pri = feat({ pri: true });
    expect(err([0x41, 0, 0x2000, 0], pri)).toBe(CERROR.NONE);
    expect(err([0x41, 0, 0x3000, 0], pri)).toBe(CERROR.ILL);
  });
  it('RESUME / STALL_TERM need a stall model', () => {
    expect(err([0x44, 0, 0, 0], feat({ stallModel: 0 }))).toBe(CERROR.NONE);
    expect(err([0x45, 0, 0, 0], feat({ stallModel: 2 }))).toBe(CERROR.NONE);
  });
  it('non-zero RES0 bits are ILL', () => {
    expect(err([0x403, 0, 1, 0])).toBe(CERROR.ILL); // SSec
    expect(err([0x803, 0, 1, 0])).toBe(CERROR.ILL); // SSV: CFGI_STE has none
    expect(err([0x03, 0, 3, 0])).toBe(CERROR.ILL); // CFGI_STE dw1[1]
    expect(err([0x10, 0x00010003, 0, 0])).toBe(CERROR.ILL); // ASID in TLBI_NH_ALL
    expect(err([0x02000012, 0, 0x100, 0])).toBe(CERROR.ILL); // SCALE[5] without DS
    expect(err([0x12, 0, 0x80, 0])).toBe(CERROR.ILL); // TTL128 without D128
    expect(err([0x2a, 0, 0, 0x01000000])).toBe(CERROR.ILL); // S2_IPA address above bit 55
    expect(err([0x46, 0, 1, 0])).toBe(CERROR.ILL); // MSIAddress[1:0]
    expect(err([0x02, 0, 0xfe0, 0])).toBe(CERROR.NONE); // PREFETCH_ADDR NS/Stride: not checked
  });
});

describe('TLBI range span', () => {
  it('(NUM+1) * 2^SCALE granules from Address', () => {
    expect(tlbiRange(1, 4, 2, 3, 0x12345000)).toEqual({ start: 0x12345000, length: 5 * 4 * 4096, level: 3 });
    expect(tlbiRange(2, 0, 0, 3, 0x12345000)).toEqual({ start: 0x12344000, length: 16384, level: 3 });
    expect(tlbiRange(3, 31, 31, 0, 0x12345000)).toEqual({ start: 0x12340000, length: 32 * 2 ** 31 * 65536, level: 0 });
    expect(tlbiRange(0, 7, 7, 2, 0x12345000)).toEqual({ start: 0x12345000, length: 0, level: 2 });
  });
  it("covers Linux's chunking of 35 pages contiguously", () => {
    // 35 = 0b100011: chunk 1 SCALE 0, NUM 2 (3 pages); chunk 2 SCALE 5, NUM 0 (32 pages)
    const a = tlbiRange(1, 2, 0, 3, 0x100000);
    const b = tlbiRange(1, 0, 5, 3, a.start + a.length);
    expect(a.length + b.length).toBe(35 * 4096);
    expect(b.start).toBe(0x103000);
  });
  it('CFGI_STE_RANGE span', () => {
    expect(cfgiSteRange(0x1235, 3)).toEqual({ first: 0x1230, count: 16 });
    expect(cfgiSteRange(0x1235, 0)).toEqual({ first: 0x1234, count: 2 });
    expect(cfgiSteRange(0xffffffff, CFGI_RANGE_ALL)).toEqual({ first: 0, count: 2 ** 32 });
  });
  it('ATC_INV span', () => {
    expect(atcInvRange(3, 0x12345000)).toEqual({ start: 0x12340000, length: 0x8000 });
    expect(atcInvRange(52, 0x12345000)).toEqual({ start: 0, length: 2 ** 64 });
  });
});
