// Stream Table Entry (FACTS §2.1), its legality checks (§2.2), the level-1 stream table
// descriptor and the StreamID -> STE address arithmetic (§1.15, §2.3).

import {
  fieldGet, get64, POW2, structCodec, type Layout,
} from './bits.ts';
import { granuleSupported, oasBitsOf, tg0Shift, type SmmuFeatures } from './features.ts';
import type { WordReader } from './types.ts';

/** STE field table: [dw, msb, lsb] as in the spec tables; 'addr' fields decode in place. */
export const STE_LAYOUT = {
  // dw0
  v: [0, 0, 0],
  config: [0, 3, 1],
  s1fmt: [0, 5, 4],
  s1ContextPtr: [0, 55, 6, 'addr'],
  s1cdmax: [0, 63, 59],
  // dw1
  s1dss: [1, 1, 0],
  s1cir: [1, 3, 2],
  s1cor: [1, 5, 4],
  s1csh: [1, 7, 6],
  s2hwu: [1, 11, 8],
  dre: [1, 12, 12],
  cont: [1, 16, 13],
  dcp: [1, 17, 17],
  ppar: [1, 18, 18],
  mev: [1, 19, 19],
  swReserved: [1, 23, 20],
  s1pie: [1, 24, 24],
  s2fwb: [1, 25, 25],
  s1mpam: [1, 26, 26],
  s1stalld: [1, 27, 27],
  eats: [1, 29, 28],
  strw: [1, 31, 30],
  memattr: [1, 35, 32],
  mtcfg: [1, 36, 36],
  alloccfg: [1, 40, 37],
  shcfg: [1, 45, 44],
  nscfg: [1, 47, 46],
  privcfg: [1, 49, 48],
  instcfg: [1, 51, 50],
  impdef1: [1, 63, 52],
  // dw2
  s2vmid: [2, 15, 0],
  impdef2: [2, 31, 16],
  s2t0sz: [2, 37, 32],
  s2sl0: [2, 39, 38],
  s2ir0: [2, 41, 40],
  s2or0: [2, 43, 42],
  s2sh0: [2, 45, 44],
  s2tg: [2, 47, 46],
  s2ps: [2, 50, 48],
  s2aa64: [2, 51, 51],
  s2endi: [2, 52, 52],
  s2affd: [2, 53, 53],
  s2ptw: [2, 54, 54],
  s2hd: [2, 55, 55],
  s2ha: [2, 56, 56],
  s2s: [2, 57, 57],
  s2r: [2, 58, 58],
  s2haft: [2, 59, 59],
  s2pie: [2, 60, 60],
  s2poe: [2, 61, 61],
  dptVmatch: [2, 63, 62],
  // dw3
  s2nsw: [3, 0, 0],
  s2nsa: [3, 1, 1],
  s2sl0_2: [3, 2, 2],
  s2ds: [3, 3, 3],
  s2ttb: [3, 55, 4, 'addr'],
  s2skl: [3, 62, 61],
  // dw4, dw5 (MPAM); the secure/RME-only fields of dw4-7 stay in `other`
  partid: [4, 31, 16],
  pmg: [5, 7, 0],
} as const satisfies Layout;

/**
 * A decoded STE. Every field of STE_LAYOUT as a number (address fields hold the address
 * itself); `other` holds, per u32 word, the bits no named field covers (RES0, secure-only
 * and IMPDEF bits of dw4-7) so that encode(decode(w)) == w for any 16 words.
 */
export type Ste = { -readonly [K in keyof typeof STE_LAYOUT]: number } & { other: number[] };

export const STE_WORDS = 16;
export const STE_BYTES = 64;
const STE_CODEC = structCodec<Ste>(STE_LAYOUT, STE_WORDS);

/** STE.Config values (dw0[3:1]); 1..3 are reserved and behave as ABORT. */
export const STE_CFG = { ABORT: 0, BYPASS: 4, S1: 5, S2: 6, NESTED: 7 } as const;

export const decodeSte = STE_CODEC.decode;
export const encodeSte = STE_CODEC.encode;
/** An STE with the given fields and zero everywhere else. */
export const steOf = STE_CODEC.of;

/** Stage 1 enabled by Config (0b101, 0b111). */
export function steS1(config: number): boolean {
  return (config & 5) === 5;
}
/** Stage 2 enabled by Config (0b110, 0b111). */
export function steS2(config: number): boolean {
  return (config & 6) === 6;
}

export type SteIllegal =
  | 'V_ZERO'
  | 'S1_NOT_SUPPORTED'
  | 'S2_NOT_SUPPORTED'
  | 'S1CDMAX_TOO_LARGE'
  | 'S1FMT_NO_CD2L'
  | 'S1CTXPTR_RANGE'
  | 'S1STALLD_ILLEGAL'
  | 'STRW_ILLEGAL'
  | 'EATS_ILLEGAL'
  | 'S2S_NO_STALL'
  | 'S2S_STALL_FORCED'
  | 'S2AA64_UNSUPPORTED'
  | 'S2HA_UNSUPPORTED'
  | 'S2HD_UNSUPPORTED'
  | 'S2TG_UNSUPPORTED'
  | 'S2T0SZ_RANGE'
  | 'S2_SL0_INCONSISTENT'
  | 'S2TTB_RANGE'
  | 'S2TTB_ALIGN'
  | 'S2ENDI_UNSUPPORTED'
  | 'S2VMID_16';

export type SteCheck = { ok: true } | { ok: false; reason: SteIllegal };

const OK: SteCheck = Object.freeze({ ok: true });
const bad = (reason: SteIllegal): SteCheck => ({ ok: false, reason });

/** Whether the SMMU walks tables with endianness `endi` (0 LE, 1 BE) under IDR0.TTENDIAN. */
export function endiSupported(f: Readonly<SmmuFeatures>, endi: number): boolean {
  return f.ttendian === 0 || (f.ttendian === 2 && endi === 0) || (f.ttendian === 3 && endi === 1);
}

/** Whether table format AArch64 (aa64 = 1) or AArch32 (0) is implemented (IDR0.TTF). */
export function ttfSupported(f: Readonly<SmmuFeatures>, aa64: number): boolean {
  return aa64 ? (f.ttf & 2) !== 0 : (f.ttf & 1) !== 0;
}

/**
 * Effective output size in bits of an address-size encoding (CD.IPS, STE.S2PS): MIN(field,
 * OAS), and 52 treated as 48 for 4K/16K granules without DS (FACTS §7.6).
 */
export function effectivePs(enc: number, oasBits: number, granuleShift: number, ds = false): number {
  let bits = Math.min(oasBitsOf(enc), oasBits);
  if (bits > 48 && granuleShift !== 16 && !ds) bits = 48;
  return bits;
}

/** Smallest legal S2T0SZ/TxSZ for a granule given the input address size (FACTS §2.1). */
export function minTxsz(granuleShift: number, iasBits: number): number {
  const ias = granuleShift === 16 ? iasBits : Math.min(iasBits, 48);
  return Math.max(granuleShift === 16 ? 12 : 16, 64 - ias);
}

/**
 * Stage-2 start level and number of concatenated first-level tables for S2TG/S2SL0/S2T0SZ
 * (AArch64, DS = 0, no STT), or null when the combination is illegal (FACTS §7.5).
 * `oasBits` is the SMMU's OAS (= IAS of an AArch64-only SMMU), bounding the smallest T0SZ.
 */
export function s2StartLevel(
  tg: number, sl0: number, t0sz: number, oasBits: number,
): { level: number; concat: number } | null {
  const g = tg0Shift(tg);
  if (g === 0 || sl0 > 3 || sl0 < 0) return null;
  if (t0sz > 39 || t0sz < minTxsz(g, oasBits)) return null;
  let level: number;
  if (g === 12) level = sl0 === 3 ? -1 : 2 - sl0; // SL0 = 3 needs STT
  else if (g === 14) level = 3 - sl0;
  else level = sl0 === 3 ? -1 : 3 - sl0;
  if (level < 0) return null;
  const stride = g - 3;
  const topBits = 64 - t0sz - (g + (3 - level) * stride);
  if (topBits < 1) return null; // start level below what the input size needs
  const extra = topBits - stride;
  if (extra > 4) return null; // more than 16 tables
  if (extra > 0 && level === 0) return null; // no concatenation at level 0
  return { level, concat: extra > 0 ? POW2[extra] ?? 1 : 1 };
}

/** log2 of the alignment of a first-level table that resolves `topBits` bits (>= 64 bytes). */
function tableAlignLog2(topBits: number): number {
  return Math.max(6, topBits + 3);
}

/**
 * Checks every STE legality condition of FACTS §2.2 that applies to `ste` (V = 1 and the
 * stages its Config enables). Config 0..4 need only V = 1. Never throws.
 */
export function validateSte(ste: Readonly<Ste>, f: Readonly<SmmuFeatures>): SteCheck {
  if (!ste.v) return bad('V_ZERO');
  const cfg = ste.config;
  if (cfg < STE_CFG.BYPASS) return OK; // abort (and reserved-as-abort) configurations
  const s1 = steS1(cfg);
  const s2 = steS2(cfg);
  if (s1 && !f.s1) return bad('S1_NOT_SUPPORTED');
  if (s2 && !f.s2) return bad('S2_NOT_SUPPORTED');
  if (s1) {
    if (ste.s1cdmax > f.ssidBits) return bad('S1CDMAX_TOO_LARGE');
    if (ste.s1cdmax !== 0 && f.ssidBits !== 0 && (ste.s1fmt === 1 || ste.s1fmt === 2) && !f.cd2l) {
      return bad('S1FMT_NO_CD2L');
    }
    // Nested: S1ContextPtr is an IPA, range-checked by the stage-2 walk instead.
    if (!s2 && ste.s1ContextPtr >= (POW2[f.oas] ?? Infinity)) return bad('S1CTXPTR_RANGE');
    if (ste.s1stalld && f.stallModel !== 0) return bad('S1STALLD_ILLEGAL');
    if (!s2 && f.hyp && (ste.strw & 1) !== 0) return bad('STRW_ILLEGAL');
  }
  if (f.ats) {
    if (ste.eats === 2 && !(cfg === STE_CFG.NESTED && !ste.s2s && !f.ns1ats)) return bad('EATS_ILLEGAL');
    if (ste.eats === 1 && s2 && ste.s2s) return bad('EATS_ILLEGAL');
  }
  if (s2) {
    if (ste.s2s && f.stallModel === 1) return bad('S2S_NO_STALL');
    if (!ste.s2s && f.stallModel === 2) return bad('S2S_STALL_FORCED');
    if (!ttfSupported(f, ste.s2aa64)) return bad('S2AA64_UNSUPPORTED');
    if (ste.s2ha && f.httu < 1) return bad('S2HA_UNSUPPORTED');
    if (ste.s2hd && f.httu < 2) return bad('S2HD_UNSUPPORTED');
    if (!endiSupported(f, ste.s2endi)) return bad('S2ENDI_UNSUPPORTED');
    if (!f.vmid16 && ste.s2vmid > 0xff) return bad('S2VMID_16');
    if (ste.s2aa64) {
      const g = tg0Shift(ste.s2tg);
      if (g === 0 || !granuleSupported(f, g)) return bad('S2TG_UNSUPPORTED');
      if (ste.s2t0sz > 39 || ste.s2t0sz < minTxsz(g, f.oas)) return bad('S2T0SZ_RANGE');
      const start = s2StartLevel(ste.s2tg, ste.s2sl0, ste.s2t0sz, f.oas);
      if (!start) return bad('S2_SL0_INCONSISTENT');
      const ps = effectivePs(ste.s2ps, f.oas, g);
      if (ste.s2ttb >= (POW2[ps] ?? Infinity)) return bad('S2TTB_RANGE');
      const topBits = 64 - ste.s2t0sz - (g + (3 - start.level) * (g - 3));
      if (ste.s2ttb % (POW2[tableAlignLog2(topBits)] ?? 1) !== 0) return bad('S2TTB_ALIGN');
    }
  }
  return OK;
}

// ---------------------------------------------------------------------------------------
// Level-1 stream table descriptor (FACTS §2.3)

export interface L1Std {
  /** 0 invalid; 1..11: the L2 table holds 2^(span-1) STEs; 12..31 reserved (= invalid). */
  span: number;
  /** PA of the L2 table (bits [55:6] in place). */
  l2ptr: number;
}

export function decodeL1Std(lo: number, hi: number): L1Std {
  return { span: get64(lo, hi, 4, 0), l2ptr: get64(lo, hi, 55, 6) * 64 };
}

/** Returns the (lo, hi) words of an L1STD. */
export function encodeL1Std(d: Readonly<L1Std>): [number, number] {
  const addr = Math.floor(d.l2ptr / 64) * 64;
  const lo = ((addr % 4294967296) & ~63 | (d.span & 31)) >>> 0;
  const hi = Math.floor(addr / 4294967296) & 0x00ffffff;
  return [lo, hi >>> 0];
}

// ---------------------------------------------------------------------------------------
// StreamID -> STE address (FACTS §1.15, §2.3)

/** steLocation() failure: StreamID out of range or no valid L2 table (C_BAD_STREAMID). */
export const STE_BAD_STREAMID = -1;
/** steLocation() failure: the L1STD read aborted (F_STE_FETCH at steL1Addr()). */
export const STE_L1_ABORT = -2;

/** STRTAB_BASE_CFG fields. */
export function strtabLog2Size(cfg: number): number {
  return cfg & 63;
}
export function strtabSplit(cfg: number): number {
  const s = (cfg >>> 6) & 31;
  return s === 8 || s === 10 ? s : 6; // other values behave as 6
}
/** Whether STRTAB_BASE_CFG selects a 2-level table (FMT = 1 and the SMMU supports it). */
export function strtabIs2Level(cfg: number, f: Readonly<Pick<SmmuFeatures, 'stLevel2'>>): boolean {
  return f.stLevel2 && ((cfg >>> 16) & 3) === 1;
}

/**
 * Address of the L1STD for `sid` in a 2-level table (for the F_STE_FETCH FetchAddr), with
 * the base aligned down to the L1 table size as the spec's "treated as zero" rule.
 */
export function steL1Addr(base: number, cfg: number, sid: number, f: Readonly<Pick<SmmuFeatures, 'sidBits'>>): number {
  const log2 = Math.min(strtabLog2Size(cfg), f.sidBits);
  const split = strtabSplit(cfg);
  const align = POW2[Math.max(6, log2 - split + 3)] ?? 64;
  const b = base - (base % align);
  return b + Math.floor((sid >>> 0) / (POW2[split] ?? 1)) * 8;
}

/**
 * PA of the STE for `sid` given STRTAB_BASE's ADDR (`base`, in place) and STRTAB_BASE_CFG,
 * reading the L1STD through `mem` for 2-level tables. Returns the STE address,
 * STE_BAD_STREAMID, or STE_L1_ABORT. Never throws.
 */
export function steLocation(
  base: number, cfg: number, sid: number, mem: WordReader,
  f: Readonly<Pick<SmmuFeatures, 'sidBits' | 'stLevel2'>>,
): number {
  const id = sid >>> 0;
  const log2 = Math.min(strtabLog2Size(cfg), f.sidBits);
  if (id >= (POW2[log2] ?? 0)) return STE_BAD_STREAMID;
  if (!strtabIs2Level(cfg, f)) {
    const align = POW2[log2 + 6] ?? 64;
    return base - (base % align) + id * 64;
  }
  const split = strtabSplit(cfg);
  const lo = mem.load64(steL1Addr(base, cfg, id, f));
  if (lo < 0) return STE_L1_ABORT;
  const span = lo & 31;
  if (span === 0 || span > 11 || span > split + 1) return STE_BAD_STREAMID;
  const idx = id % (POW2[split] ?? 1);
  if (idx >= (POW2[span - 1] ?? 0)) return STE_BAD_STREAMID;
  const l2 = get64(lo, mem.hi, 55, 6) * 64;
  const align = POW2[span - 1 + 6] ?? 64;
  return l2 - (l2 % align) + idx * 64;
}

/** Config of a raw STE without decoding all of it (hot-path helper). */
export function steConfigOf(words: ArrayLike<number>, off = 0): number {
  return fieldGet(words, off, 1, 3);
}
