import { describe, expect, it } from 'vitest';
import { CLASS, decodeEvent, encodeEvent, eventOf, EVT, type EventRecord } from '../../src/arch/events.ts';

const enc = (e: EventRecord): number[] => {
  const out = new Uint32Array(8);
  encodeEvent(e, out);
  return [...out];
};

// Words by hand from FACTS §6.1.
const VECTORS: readonly [string, number[], Partial<EventRecord>][] = [
  // Type 0x10 | SSV (bit 11) | SSID 3 (<<12); SID 0x10; RnW (dw1 bit 35 -> hi 0x8), CLASS IN (2 << 8 of hi)
  ['S1 F_TRANSLATION', [0x3810, 0x10, 0, 0x208, 0x12345678, 0x7fff, 0, 0],
    { type: EVT.F_TRANSLATION, ssv: 1, ssid: 3, sid: 0x10, rnw: 1, cls: CLASS.IN, s2: 0, inputLo: 0x12345678, inputHi: 0x7fff }],
  // S2 (hi bit 7), CLASS TT (1 << 8), TTRnW (hi bit 12), RnW; IPA 0x4_8000_3000 in dw3[55:12]
  ['S2 F_PERMISSION on a stage-1 descriptor', [0x13, 0x5, 0, 0x1188, 0x1000, 0, 0x80003000, 0x4],
    { type: EVT.F_PERMISSION, sid: 5, s2: 1, cls: CLASS.TT, ttrnw: 1, rnw: 1, ipa: 0x480003000, inputLo: 0x1000 }],
  // Stall (dw1 bit 31) with STAG 0xABCD; PnU (hi bit 1), InD (hi bit 2)
  ['stalled F_ACCESS', [0x12, 0x7, 0x8000abcd, 0x0006 | 0x8, 0, 0, 0, 0],
    { type: EVT.F_ACCESS, sid: 7, stall: 1, stag: 0xabcd, pnu: 1, ind: 1, rnw: 1 }],
  ['F_STE_FETCH', [0x03, 0x99, 0, 0, 0, 0, 0x12345678, 0x8], { type: EVT.F_STE_FETCH, sid: 0x99, fetchAddr: 0x812345678 }],
  ['F_CD_FETCH', [0x09, 0x99, 0, 0, 0, 0, 0x00400040, 0], { type: EVT.F_CD_FETCH, sid: 0x99, fetchAddr: 0x400040 }],
  ['F_WALK_EABT stage 2 during a CD fetch', [0x0b, 0x1, 0, 0x80, 0, 0, 0x00500ff8, 0],
    { type: EVT.F_WALK_EABT, sid: 1, s2: 1, cls: CLASS.CD, fetchAddr: 0x500ff8 }],
  ['C_BAD_STE', [0x04, 0x7, 0, 0, 0, 0, 0, 0], { type: EVT.C_BAD_STE, sid: 7 }],
  // No SSV: the SubstreamID of this event is always valid (spec 7.3.9), bit 11 is RES0.
  ['C_BAD_SUBSTREAMID', [0xfffff008, 0x7, 0, 0, 0, 0, 0, 0], { type: EVT.C_BAD_SUBSTREAMID, sid: 7, ssid: 0xfffff }],
  ['C_BAD_STREAMID', [0x02, 0xffffffff, 0, 0, 0, 0, 0, 0], { type: EVT.C_BAD_STREAMID, sid: 0xffffffff }],
  ['F_CFG_CONFLICT reason', [0x21, 0x7, 0xdeadbeef, 0, 0, 0, 0, 0], { type: EVT.F_CFG_CONFLICT, sid: 7, reason: 0xdeadbeef }],
];

describe('event records (FACTS §6)', () => {
  for (const [label, words, fields] of VECTORS) {
    it(`decodes ${label}`, () => expect(decodeEvent(words)).toEqual(eventOf(fields)));
    it(`encodes ${label}`, () => expect(enc(eventOf(fields))).toEqual(words));
  }
  it('type codes of FACTS §6.2', () => {
    expect(EVT).toEqual({
      F_UUT: 1, C_BAD_STREAMID: 2, F_STE_FETCH: 3, C_BAD_STE: 4, F_BAD_ATS_TREQ: 5, F_STREAM_DISABLED: 6,
      F_TRANSL_FORBIDDEN: 7, C_BAD_SUBSTREAMID: 8, F_CD_FETCH: 9, C_BAD_CD: 0xa, F_WALK_EABT: 0xb,
      F_TRANSLATION: 0x10, F_ADDR_SIZE: 0x11, F_ACCESS: 0x12, F_PERMISSION: 0x13, F_TLB_CONFLICT: 0x20,
      F_CFG_CONFLICT: 0x21, E_PAGE_REQUEST: 0x24, F_VMS_FETCH: 0x25,
    });
    expect(CLASS).toEqual({ CD: 0, TT: 1, IN: 2 });
  });
  it('writes at an offset and leaves neighbours alone', () => {
    const out = new Uint32Array(24).fill(0xaaaaaaaa);
    encodeEvent(eventOf({ type: EVT.C_BAD_CD, sid: 3 }), out, 8);
    expect([...out.slice(8, 16)]).toEqual([0x0a, 3, 0, 0, 0, 0, 0, 0]);
    expect(out[7]).toBe(0xaaaaaaaa);
    expect(out[16]).toBe(0xaaaaaaaa);
    expect(decodeEvent(out, 8).type).toBe(EVT.C_BAD_CD);
  });
});

describe('names (defined once)', () => {
  it('eventName and opName give the architecture names', async () => {
    const { eventName } = await import('../../src/arch/events.ts');
    const { opName } = await import('../../src/arch/commands.ts');
    expect(eventName(0x10)).toBe('F_TRANSLATION');
    expect(eventName(0xe3)).toBe('0xe3');
    expect(opName(0x46)).toBe('SYNC');
    expect(opName(0x99)).toBe('0x99');
  });
});

describe('bit-exact records per type (spec 7.3)', () => {
  // Every field set: what a generic encoder would spill into the record.
  const noisy = (type: number): EventRecord => eventOf({
    type, sid: 0x42, ssv: 1, ssid: 0x123, stag: 0x55, stall: 1, pnu: 1, ind: 1, rnw: 1, s2: 1, cls: CLASS.TT,
    ttrnw: 1, reason: 0xabcd, inputLo: 0xdead_b000, inputHi: 0x7f, ipa: 0x8000_3000, fetchAddr: 0x8000_3008,
  });
  it('7.3.3 C_BAD_STREAMID: StreamID, SSV and SubstreamID only', () => {
    expect(enc(noisy(EVT.C_BAD_STREAMID))).toEqual([0x0012_3802, 0x42, 0, 0, 0, 0, 0, 0]);
  });
  it('7.3.4 F_STE_FETCH: StreamID, SubstreamID, Reason and FetchAddr only', () => {
    expect(enc(noisy(EVT.F_STE_FETCH))).toEqual([0x0012_3803, 0x42, 0xabcd, 0, 0, 0, 0x8000_3008, 0]);
  });
  it('7.3.5 C_BAD_STE: StreamID, SSV and SubstreamID only', () => {
    expect(enc(noisy(EVT.C_BAD_STE))).toEqual([0x0012_3804, 0x42, 0, 0, 0, 0, 0, 0]);
  });
  it('7.3.7 F_STREAM_DISABLED: the StreamID only', () => {
    expect(enc(noisy(EVT.F_STREAM_DISABLED))).toEqual([0x06, 0x42, 0, 0, 0, 0, 0, 0]);
  });
  it('7.3.9 C_BAD_SUBSTREAMID: StreamID and SubstreamID, no SSV', () => {
    expect(enc(noisy(EVT.C_BAD_SUBSTREAMID))).toEqual([0x0012_3008, 0x42, 0, 0, 0, 0, 0, 0]);
  });
  it('7.3.10 F_CD_FETCH: StreamID, SubstreamID, Reason and FetchAddr only', () => {
    expect(enc(noisy(EVT.F_CD_FETCH))).toEqual([0x0012_3809, 0x42, 0xabcd, 0, 0, 0, 0x8000_3008, 0]);
  });
  it('7.3.11 C_BAD_CD: StreamID, SSV and SubstreamID only', () => {
    expect(enc(noisy(EVT.C_BAD_CD))).toEqual([0x0012_380a, 0x42, 0, 0, 0, 0, 0, 0]);
  });
  it('7.3.12 F_WALK_EABT: access, stage, class, InputAddr and FetchAddr; no Stall, TTRnW or IPA', () => {
    expect(enc(noisy(EVT.F_WALK_EABT))).toEqual([0x0012_380b, 0x42, 0xabcd, 0x18e, 0xdead_b000, 0x7f, 0x8000_3008, 0]);
  });
  it('7.3.13 F_TRANSLATION: Stall/STAG, access, stage, class, InputAddr and IPA; no TTRnW', () => {
    expect(enc(noisy(EVT.F_TRANSLATION))).toEqual([0x0012_3810, 0x42, 0x8000_0055, 0x18e, 0xdead_b000, 0x7f, 0x8000_3000, 0]);
  });
  it('7.3.16 F_PERMISSION: as F_TRANSLATION plus TTRnW', () => {
    expect(enc(noisy(EVT.F_PERMISSION))).toEqual([0x0012_3813, 0x42, 0x8000_0055, 0x118e, 0xdead_b000, 0x7f, 0x8000_3000, 0]);
  });
  it('eventHasSsv: every type but C_BAD_SUBSTREAMID and F_STREAM_DISABLED', async () => {
    const { eventHasSsv } = await import('../../src/arch/events.ts');
    for (const [name, t] of Object.entries(EVT)) {
      expect(eventHasSsv(t), name).toBe(t !== EVT.C_BAD_SUBSTREAMID && t !== EVT.F_STREAM_DISABLED);
    }
  });
});

