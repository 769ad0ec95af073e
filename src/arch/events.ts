// Event queue records (FACTS §6): 32 bytes = 8 u32 words, little-endian.

import { fieldGet, fieldSet, type WordArray } from './bits.ts';

/** Event type codes (FACTS §6.2). */
export const EVT = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
} as const;
export type EvtCode = (typeof EVT)[keyof typeof EVT];

const EVT_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(EVT).map(([k, v]) => [v, k]));

/** The architecture's name of an event type (`F_TRANSLATION`), or its number in hex. */
export function eventName(type: number): string {
  return EVT_NAMES.get(type) ?? `0x${type.toString(16)}`;
}

/** Event CLASS field (dw1[41:40]): what was being accessed when a translation fault hit. */
export const CLASS = { CD: 0, TT: 1, IN: 2 } as const;
export type EvtClass = (typeof CLASS)[keyof typeof CLASS];

/** Size of one event record in bytes and in u32 words. */
export const EVT_BYTES = 32;
export const EVT_WORDS = 8;

export interface EventRecord {
  type: number;
  sid: number;
  ssv: number;
  ssid: number;
  /** Stall tag, dw1[15:0] (stall-capable types only, see STALL_TYPES). */
  stag: number;
  stall: number;
  pnu: number;
  ind: number;
  rnw: number;
  s2: number;
  cls: number;
  ttrnw: number;
  /** IMPDEF reason, dw1[31:0], for types that carry no Stall/STAG (e.g. F_CFG_CONFLICT). */
  reason: number;
  /** InputAddr, dw2, as (lo, hi). */
  inputLo: number;
  inputHi: number;
  /** Faulting IPA, dw3[55:12], for non-fetch types (address in place, low 12 bits 0). */
  ipa: number;
  /** FetchAddr, dw3[55:3], for F_STE_FETCH/F_CD_FETCH/F_WALK_EABT/F_VMS_FETCH. */
  fetchAddr: number;
}

/** Types whose dw3 holds FetchAddr[55:3] rather than IPA[55:12]. */
export function isFetchEvent(type: number): boolean {
  return type === EVT.F_STE_FETCH || type === EVT.F_CD_FETCH || type === EVT.F_WALK_EABT || type === EVT.F_VMS_FETCH;
}

/**
 * Types whose dw1[31:0] holds Stall (bit 31) and STAG ([15:0]); every other type uses
 * dw1[31:0] as the IMPDEF Reason. Stall is only possible for the four translation faults
 * (spec §5.5 / Linux evt_to_fault).
 */
export function isStallEvent(type: number): boolean {
  return type >= EVT.F_TRANSLATION && type <= EVT.F_PERMISSION;
}

export function eventOf(p: Partial<EventRecord>): EventRecord {
  return {
    type: 0, sid: 0, ssv: 0, ssid: 0, stag: 0, stall: 0, pnu: 0, ind: 0, rnw: 0, s2: 0,
    cls: 0, ttrnw: 0, reason: 0, inputLo: 0, inputHi: 0, ipa: 0, fetchAddr: 0, ...p,
  };
}

// Which fields each event type defines (spec §7.3.2-§7.3.23; FACTS §6.2). Everything else
// in a record is RES0 and written as 0: C_BAD_STREAMID, C_BAD_STE and C_BAD_CD carry only the
// StreamID and SubstreamID; F_STREAM_DISABLED only the StreamID; C_BAD_SUBSTREAMID a
// SubstreamID that is always valid (no SSV bit); the fetch aborts add FetchAddr.
const EF_SSV = 1; // dw0[11]
const EF_SSID = 2; // dw0[31:12]
const EF_ACC = 4; // PnU, InD, RnW
const EF_RNW = 8; // RnW alone (F_TRANSL_FORBIDDEN)
const EF_STAGE = 16; // S2, CLASS
const EF_TTRNW = 32;
const EF_INPUT = 64; // InputAddr
const EF_IPA = 128;
const EF_FETCH = 256; // FetchAddr
const EF_STALL = 512; // Stall, STAG
const EF_REASON = 1024; // IMPDEF Reason, dw1[31:0]
const EF_SUB = EF_SSV | EF_SSID;
const EF_XLATE = EF_SUB | EF_ACC | EF_STAGE | EF_INPUT | EF_IPA | EF_STALL;
/** Types this table does not define (IMPDEF events): every common field, Reason in dw1. */
const EF_ALL = EF_SUB | EF_ACC | EF_STAGE | EF_TTRNW | EF_INPUT | EF_IPA | EF_REASON;

const EVENT_FIELDS: ReadonlyMap<number, number> = new Map<number, number>([
  [EVT.F_UUT, EF_SUB | EF_ACC | EF_INPUT | EF_REASON],
  [EVT.C_BAD_STREAMID, EF_SUB],
  [EVT.F_STE_FETCH, EF_SUB | EF_FETCH | EF_REASON],
  [EVT.C_BAD_STE, EF_SUB],
  [EVT.F_BAD_ATS_TREQ, EF_SUB | EF_ACC | EF_INPUT],
  [EVT.F_STREAM_DISABLED, 0],
  [EVT.F_TRANSL_FORBIDDEN, EF_SUB | EF_RNW | EF_INPUT],
  [EVT.C_BAD_SUBSTREAMID, EF_SSID],
  [EVT.F_CD_FETCH, EF_SUB | EF_FETCH | EF_REASON],
  [EVT.C_BAD_CD, EF_SUB],
  [EVT.F_WALK_EABT, EF_SUB | EF_ACC | EF_STAGE | EF_INPUT | EF_FETCH | EF_REASON],
  [EVT.F_TRANSLATION, EF_XLATE],
  [EVT.F_ADDR_SIZE, EF_XLATE],
  [EVT.F_ACCESS, EF_XLATE],
  [EVT.F_PERMISSION, EF_XLATE | EF_TTRNW],
  [EVT.F_TLB_CONFLICT, EF_SUB | EF_ACC | EF_STAGE | EF_INPUT | EF_IPA | EF_REASON],
  [EVT.F_CFG_CONFLICT, EF_SUB | EF_REASON],
  [EVT.E_PAGE_REQUEST, EF_SUB | EF_INPUT | EF_REASON],
  [EVT.F_VMS_FETCH, EF_SUB | EF_FETCH | EF_REASON],
]);

/** Whether event type `type` defines SSV (C_BAD_SUBSTREAMID and F_STREAM_DISABLED do not). */
export function eventHasSsv(type: number): boolean {
  return ((EVENT_FIELDS.get(type) ?? EF_ALL) & EF_SSV) !== 0;
}

/** `e` with the fields its type does not define set to 0: what a record of that type can hold. */
export function canonicalEvent(e: Readonly<EventRecord>): EventRecord {
  const f = EVENT_FIELDS.get(e.type) ?? EF_ALL;
  const on = (bit: number, v: number): number => ((f & bit) !== 0 ? v : 0);
  const stall = (f & EF_STALL) !== 0;
  return {
    type: e.type, sid: e.sid, ssv: on(EF_SSV, e.ssv), ssid: on(EF_SSID, e.ssid),
    stag: on(EF_STALL, e.stag), stall: on(EF_STALL, e.stall), reason: stall ? 0 : on(EF_REASON, e.reason),
    pnu: on(EF_ACC, e.pnu), ind: on(EF_ACC, e.ind), rnw: on(EF_ACC | EF_RNW, e.rnw),
    s2: on(EF_STAGE, e.s2), cls: on(EF_STAGE, e.cls), ttrnw: on(EF_TTRNW, e.ttrnw),
    inputLo: on(EF_INPUT, e.inputLo), inputHi: on(EF_INPUT, e.inputHi),
    ipa: (f & EF_FETCH) !== 0 ? 0 : on(EF_IPA, e.ipa), fetchAddr: on(EF_FETCH, e.fetchAddr),
  };
}

/**
 * Writes the 8 words of `e` at out[off..off+7], bit-exact for its type: the fields the type
 * does not define are RES0, whatever `e` holds in them.
 */
export function encodeEvent(e: EventRecord, out: WordArray, off = 0): void {
  const f = EVENT_FIELDS.get(e.type) ?? EF_ALL;
  for (let i = 0; i < EVT_WORDS; i++) out[off + i] = 0;
  fieldSet(out, off, 0, 8, e.type);
  if (f & EF_SSV) fieldSet(out, off, 11, 1, e.ssv);
  if (f & EF_SSID) fieldSet(out, off, 12, 20, e.ssid);
  out[off + 1] = e.sid >>> 0;
  if (f & EF_STALL) {
    fieldSet(out, off, 64, 16, e.stag);
    fieldSet(out, off, 95, 1, e.stall);
  } else if (f & EF_REASON) {
    out[off + 2] = e.reason >>> 0;
  }
  if (f & EF_ACC) {
    fieldSet(out, off, 97, 1, e.pnu);
    fieldSet(out, off, 98, 1, e.ind);
  }
  if (f & (EF_ACC | EF_RNW)) fieldSet(out, off, 99, 1, e.rnw);
  if (f & EF_STAGE) {
    fieldSet(out, off, 103, 1, e.s2);
    fieldSet(out, off, 104, 2, e.cls);
  }
  if (f & EF_TTRNW) fieldSet(out, off, 108, 1, e.ttrnw);
  if (f & EF_INPUT) {
    out[off + 4] = e.inputLo >>> 0;
    out[off + 5] = e.inputHi >>> 0;
  }
  if (f & EF_FETCH) fieldSet(out, off, 192 + 3, 53, Math.floor(e.fetchAddr / 8));
  else if (f & EF_IPA) fieldSet(out, off, 192 + 12, 44, Math.floor(e.ipa / 4096));
}

/** Decodes the record at words[off..off+7]. Never throws. */
export function decodeEvent(words: ArrayLike<number>, off = 0): EventRecord {
  const type = fieldGet(words, off, 0, 8);
  const stallish = isStallEvent(type);
  const fetch = isFetchEvent(type);
  return {
    type,
    ssv: fieldGet(words, off, 11, 1),
    ssid: fieldGet(words, off, 12, 20),
    sid: (words[off + 1] ?? 0) >>> 0,
    stag: stallish ? fieldGet(words, off, 64, 16) : 0,
    stall: stallish ? fieldGet(words, off, 95, 1) : 0,
    reason: stallish ? 0 : (words[off + 2] ?? 0) >>> 0,
    pnu: fieldGet(words, off, 97, 1),
    ind: fieldGet(words, off, 98, 1),
    rnw: fieldGet(words, off, 99, 1),
    s2: fieldGet(words, off, 103, 1),
    cls: fieldGet(words, off, 104, 2),
    ttrnw: fieldGet(words, off, 108, 1),
    inputLo: (words[off + 4] ?? 0) >>> 0,
    inputHi: (words[off + 5] ?? 0) >>> 0,
    ipa: fetch ? 0 : fieldGet(words, off, 204, 44) * 4096,
    fetchAddr: fetch ? fieldGet(words, off, 195, 53) * 8 : 0,
  };
}
