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

/** Writes the 8 words of `e` at out[off..off+7]. Bits no field of the type uses are 0. */
export function encodeEvent(e: EventRecord, out: WordArray, off = 0): void {
  for (let i = 0; i < EVT_WORDS; i++) out[off + i] = 0;
  fieldSet(out, off, 0, 8, e.type);
  fieldSet(out, off, 11, 1, e.ssv);
  fieldSet(out, off, 12, 20, e.ssid);
  out[off + 1] = e.sid >>> 0;
  if (isStallEvent(e.type)) {
    fieldSet(out, off, 64, 16, e.stag);
    fieldSet(out, off, 95, 1, e.stall);
  } else {
    out[off + 2] = e.reason >>> 0;
  }
  fieldSet(out, off, 97, 1, e.pnu);
  fieldSet(out, off, 98, 1, e.ind);
  fieldSet(out, off, 99, 1, e.rnw);
  fieldSet(out, off, 103, 1, e.s2);
  fieldSet(out, off, 104, 2, e.cls);
  fieldSet(out, off, 108, 1, e.ttrnw);
  out[off + 4] = e.inputLo >>> 0;
  out[off + 5] = e.inputHi >>> 0;
  if (isFetchEvent(e.type)) fieldSet(out, off, 192 + 3, 53, Math.floor(e.fetchAddr / 8));
  else fieldSet(out, off, 192 + 12, 44, Math.floor(e.ipa / 4096));
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
