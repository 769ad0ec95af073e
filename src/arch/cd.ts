// Context Descriptor (FACTS §3.1), its legality checks (§3.2), the level-1 CD descriptor and
// the SubstreamID -> CD address arithmetic (§3.3), nested-aware.

import { get64, POW2, structCodec, type Layout } from './bits.ts';
import { granuleSupported, tg0Shift, type SmmuFeatures } from './features.ts';
import { effectivePs, endiSupported, minTxsz, ttfSupported, type Ste } from './ste.ts';
import type { WordReader } from './types.ts';

/** CD field table: [dw, msb, lsb] as in the spec tables; 'addr' fields decode in place. */
export const CD_LAYOUT = {
  // dw0
  t0sz: [0, 5, 0],
  tg0: [0, 7, 6],
  ir0: [0, 9, 8],
  or0: [0, 11, 10],
  sh0: [0, 13, 12],
  epd0: [0, 14, 14],
  endi: [0, 15, 15],
  t1sz: [0, 21, 16],
  tg1: [0, 23, 22],
  ir1: [0, 25, 24],
  or1: [0, 27, 26],
  sh1: [0, 29, 28],
  epd1: [0, 30, 30],
  v: [0, 31, 31],
  ips: [0, 34, 32],
  affd: [0, 35, 35],
  wxn: [0, 36, 36],
  uwxn: [0, 37, 37],
  tbi0: [0, 38, 38],
  tbi1: [0, 39, 39],
  pan: [0, 40, 40],
  aa64: [0, 41, 41],
  hd: [0, 42, 42],
  ha: [0, 43, 43],
  s: [0, 44, 44],
  r: [0, 45, 45],
  a: [0, 46, 46],
  aset: [0, 47, 47],
  asid: [0, 63, 48],
  // dw1
  nscfg0: [1, 0, 0],
  had0: [1, 1, 1],
  e0pd0: [1, 2, 2],
  haft: [1, 3, 3],
  ttb0: [1, 55, 4, 'addr'],
  pnch: [1, 58, 58],
  epan: [1, 59, 59],
  hwu0: [1, 63, 60],
  // dw2
  nscfg1: [2, 0, 0],
  had1: [2, 1, 1],
  e0pd1: [2, 2, 2],
  aie: [2, 3, 3],
  ttb1: [2, 55, 4, 'addr'],
  ds: [2, 58, 58],
  pie: [2, 59, 59],
  hwu1: [2, 63, 60],
  // dw3-5
  mair0: [3, 31, 0],
  mair1: [3, 63, 32],
  amair0: [4, 31, 0],
  amair1: [4, 63, 32],
  impdef: [5, 31, 0],
  partid: [5, 47, 32],
  pmg: [5, 55, 48],
  // dw6-7 (PIIU/PIIP, S1PIE only) stay in `other`
} as const satisfies Layout;

/**
 * A decoded CD: every field of CD_LAYOUT (address fields hold the address itself) and
 * `other`, the bits no named field covers, so that encode(decode(w)) == w.
 */
export type Cd = { -readonly [K in keyof typeof CD_LAYOUT]: number } & { other: number[] };

export const CD_WORDS = 16;
export const CD_BYTES = 64;
const CD_CODEC = structCodec<Cd>(CD_LAYOUT, CD_WORDS);

export const decodeCd = CD_CODEC.decode;

export const encodeCd = CD_CODEC.encode;

/** A CD with the given fields and zero everywhere else. */
export const cdOf = CD_CODEC.of;

/** Granule shift of CD.TG1 (its own encoding: 1 16K, 2 4K, 3 64K; 0 reserved) or 0. */
export function tg1Shift(tg1: number): number {
  return tg1 === 1 ? 14 : tg1 === 2 ? 12 : tg1 === 3 ? 16 : 0;
}

export type CdIllegal =
  | 'V_ZERO'
  | 'S_WITH_S1STALLD'
  | 'S_NO_STALL'
  | 'S_STALL_FORCED'
  | 'A_ZERO_TERM_MODEL'
  | 'ENDI_UNSUPPORTED'
  | 'AA64_UNSUPPORTED'
  | 'HA_UNSUPPORTED'
  | 'HD_UNSUPPORTED'
  | 'ASID_16'
  | 'TG0_UNSUPPORTED'
  | 'T0SZ_RANGE'
  | 'TTB0_RANGE'
  | 'TG1_UNSUPPORTED'
  | 'T1SZ_RANGE'
  | 'TTB1_RANGE';

export type CdCheck = { ok: true } | { ok: false; reason: CdIllegal };

const OK: CdCheck = Object.freeze({ ok: true });
const bad = (reason: CdIllegal): CdCheck => ({ ok: false, reason });

/** Largest legal TxSZ: 39, or 48 with small translation tables (IDR3.STT). */
function maxTxsz(f: Readonly<SmmuFeatures>): number {
  return f.stt ? 48 : 39;
}

/** Input address size bounding the smallest TxSZ: 52 with VAX for 64K, else 48. */
function s1Ias(f: Readonly<SmmuFeatures>, g: number): number {
  return g === 16 && f.vax >= 1 ? 52 : 48;
}

/**
 * Checks every CD legality condition of FACTS §3.2 (C_BAD_CD) against the STE that points
 * at it and the SMMU's features. TTB checks only apply to enabled halves (EPDx = 0).
 */
export function validateCd(cd: Readonly<Cd>, ste: Readonly<Pick<Ste, 's1stalld'>>, f: Readonly<SmmuFeatures>): CdCheck {
  if (!cd.v) return bad('V_ZERO');
  if (cd.s && ste.s1stalld) return bad('S_WITH_S1STALLD');
  if (cd.s && f.stallModel === 1) return bad('S_NO_STALL');
  if (!cd.s && f.stallModel === 2) return bad('S_STALL_FORCED');
  if (!cd.a && f.termModel === 1) return bad('A_ZERO_TERM_MODEL');
  if (!endiSupported(f, cd.endi)) return bad('ENDI_UNSUPPORTED');
  if (!ttfSupported(f, cd.aa64)) return bad('AA64_UNSUPPORTED');
  if (cd.ha && f.httu < 1) return bad('HA_UNSUPPORTED');
  if (cd.hd && f.httu < 2) return bad('HD_UNSUPPORTED');
  if (!f.asid16 && cd.asid > 0xff) return bad('ASID_16');
  if (!cd.aa64) return OK; // AArch32 (LPAE) CD: TxSZ/TG ranges differ; not modelled further
  if (!cd.epd0) {
    const g = tg0Shift(cd.tg0);
    if (g === 0 || !granuleSupported(f, g)) return bad('TG0_UNSUPPORTED');
    if (cd.t0sz > maxTxsz(f) || cd.t0sz < minTxsz(g, s1Ias(f, g))) return bad('T0SZ_RANGE');
    if (cd.ttb0 >= (POW2[effectivePs(cd.ips, f.oas, g)] ?? Infinity)) return bad('TTB0_RANGE');
  }
  if (!cd.epd1) {
    const g = tg1Shift(cd.tg1);
    if (g === 0 || !granuleSupported(f, g)) return bad('TG1_UNSUPPORTED');
    if (cd.t1sz > maxTxsz(f) || cd.t1sz < minTxsz(g, s1Ias(f, g))) return bad('T1SZ_RANGE');
    if (cd.ttb1 >= (POW2[effectivePs(cd.ips, f.oas, g)] ?? Infinity)) return bad('TTB1_RANGE');
  }
  return OK;
}

// ---------------------------------------------------------------------------------------
// Level-1 CD descriptor (FACTS §3.3)

export interface L1Cd {
  v: number;
  /** Address of a leaf CD table (bits [55:12] in place); IPA when nested. */
  l2ptr: number;
}

export function decodeL1Cd(lo: number, hi: number): L1Cd {
  return { v: lo & 1, l2ptr: get64(lo, hi, 55, 12) * 4096 };
}

/** Returns the (lo, hi) words of an L1CD. */
export function encodeL1Cd(d: Readonly<L1Cd>): [number, number] {
  const addr = Math.floor(d.l2ptr / 4096) * 4096;
  const lo = ((addr % 4294967296) | (d.v & 1)) >>> 0;
  const hi = Math.floor(addr / 4294967296) & 0x00ffffff;
  return [lo, hi >>> 0];
}

// ---------------------------------------------------------------------------------------
// SubstreamID -> CD address (FACTS §3.3, §7.7)

/** cdLocation() failures. */
export const CD_BAD_SUBSTREAMID = -1; // SSID >= 2^S1CDMax or L1CD.V = 0: C_BAD_SUBSTREAMID
export const CD_FETCH_ABORT = -2; // the L1CD read aborted: F_CD_FETCH at out.fetchAddr
export const CD_S2_FAULT = -3; // the stage-2 translation of out.ipa faulted (CLASS CD)

/**
 * Translates the IPA of a CD-structure access to a PA through stage 2 (nested only).
 * Returns the PA, or a negative number after recording the stage-2 fault itself (the
 * caller's walker reports it with S2 = 1, CLASS = CD, IPA = `ipa`).
 */
export type CdXlate = (ipa: number) => number;

/** Side results of cdLocation(): the PA whose fetch aborted, or the IPA that faulted. */
export interface CdLocOut {
  fetchAddr: number;
  ipa: number;
}

/**
 * PA of the CD used for `ssid` (0 for traffic without a SubstreamID that uses CD 0) under
 * `ste`'s S1ContextPtr/S1Fmt/S1CDMax. With `xlate` (nested STEs) every structure address
 * (L1CD and CD) is an IPA translated before use. Returns the CD's PA or CD_BAD_SUBSTREAMID,
 * CD_FETCH_ABORT, CD_S2_FAULT. Never throws. The caller reads the 64-byte CD at the PA
 * (a CD never crosses a page: it is 64-byte aligned).
 */
export function cdLocation(
  ste: Readonly<Pick<Ste, 's1ContextPtr' | 's1fmt' | 's1cdmax'>>,
  ssid: number,
  mem: WordReader,
  xlate: CdXlate | null,
  out: CdLocOut,
  f: Readonly<Pick<SmmuFeatures, 'ssidBits'>>,
): number {
  out.fetchAddr = 0;
  out.ipa = 0;
  const id = ssid >>> 0;
  const cdmax = f.ssidBits === 0 ? 0 : ste.s1cdmax;
  if (id >= (POW2[cdmax] ?? 0)) return CD_BAD_SUBSTREAMID;
  const fmt = cdmax === 0 ? 0 : ste.s1fmt;
  let cdAddr: number;
  if (fmt === 1 || fmt === 2) {
    const leafBits = fmt === 1 ? 6 : 10;
    const l1Ipa = ste.s1ContextPtr + Math.floor(id / (POW2[leafBits] ?? 1)) * 8;
    const l1Pa = translate(l1Ipa, xlate, out);
    if (l1Pa < 0) return CD_S2_FAULT;
    const lo = mem.load64(l1Pa);
    if (lo < 0) {
      out.fetchAddr = l1Pa;
      return CD_FETCH_ABORT;
    }
    if ((lo & 1) === 0) return CD_BAD_SUBSTREAMID;
    let l2 = get64(lo, mem.hi, 55, 12) * 4096;
    if (fmt === 2) l2 -= l2 % 65536; // L2Ptr[15:12] RES0 for 64 KiB leaf tables
    cdAddr = l2 + (id % (POW2[leafBits] ?? 1)) * 64;
  } else {
    cdAddr = ste.s1ContextPtr + id * 64;
  }
  const pa = translate(cdAddr, xlate, out);
  return pa < 0 ? CD_S2_FAULT : pa;
}

function translate(addr: number, xlate: CdXlate | null, out: CdLocOut): number {
  if (!xlate) return addr;
  const pa = xlate(addr);
  if (pa < 0) out.ipa = addr;
  return pa;
}
