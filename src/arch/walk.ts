// The VMSAv8-64 translation-table walker of the SMMU (FACTS §7): stage 1 (CD), stage 2 (STE)
// and nested (every stage-1 table address and the stage-1 output translated through stage 2).
// AArch64 tables, 4K/16K/64K granules, DS = 0 (no LPA2), little- or big-endian descriptors.
//
// Hot path: no allocation, no closures, no bigint. A 64-bit input address travels as a
// (hi, lo) u32 pair; table and output addresses are plain numbers (< 2^52). Descriptors are
// read through WordReader.load64 (single-copy atomic), so the same code walks SAB memory.
//
// Deliberate choices (the architecture leaves them open or we do not model them):
// - HA/HD (HTTU) are not implemented: with CD.HA / STE.S2HA set an AF = 0 descriptor is used
//   as if AF were 1, without writing it back; without HA, AF = 0 is F_ACCESS unless AFFD.
//   DBM is ignored: a write to a read-only page is a permission fault even with HD.
// - The Contiguous hint is ignored: `size` is that of the descriptor itself.
// - TTB0/TTB1/S2TTB bits below the alignment of the first table (its size, at least 64 bytes)
//   are treated as zero (one of the two CONSTRAINED UNPREDICTABLE options; QEMU does the same).
// - A TTB above the output size gives F_ADDR_SIZE at level 0 (such a CD/STE is ILLEGAL anyway).
// - Input-range faults (TxSZ/TBI/EPD, S2T0SZ, stage-1-bypass IAS) report level 0.
// - Out-of-range TxSZ is clamped to [16 (12 for 64K with VAX), 39] and a reserved or
//   unimplemented TGx makes that half of the address space fault (CD validation rejects both).
// - Stage-1 permissions follow the EL1&0 regime (two privilege levels, STRW = NS-EL1); the
//   EL2 regimes of STRW = 0b10 are not modelled.
//   CD.UWXN is an AArch32 control and ignored: an unprivileged-writable page is never
//   privileged-executable in AArch64 anyway. PAN applies to privileged data accesses.
//   Instruction fetches need execute permission only (execute-only pages are legal).
// - Stage-2 XN is XN[1] (bit 54); with IDR3.XNX bits [54:53] distinguish EL0/EL1.
// - STE.S2PTW: a stage-1 table or CD read whose stage-2 memory type is Device is a stage-2
//   F_PERMISSION (S2FWB changes the Device encoding to MemAttr[2] = 0).

import { tg1Shift, type Cd } from './cd.ts';
import { CLASS, EVT } from './events.ts';
import { tg0Shift, type SmmuFeatures } from './features.ts';
import { blockAllowed, levelShift, s1StartLevel } from './granule.ts';
import { effectivePs, s2StartLevel, type Ste } from './ste.ts';
import { ACC_INSTR, ACC_PRIV, ACC_WRITE, TWO32, type WordReader } from './types.ts';

// ---------------------------------------------------------------------------------------------
// Permissions of a translation, as cached by an IOTLB: one bit per (privilege, access kind).

export const PERM_UR = 1;
export const PERM_UW = 2;
export const PERM_UX = 4;
export const PERM_PR = 8;
export const PERM_PW = 16;
export const PERM_PX = 32;
export const PERM_ALL = 63;

/** The PERM_* bit an access needs, indexed by its ACC_* bits (a write is never an ifetch). */
export const ACC_NEED: Uint8Array = Uint8Array.from({ length: 8 }, (_, acc) => {
  const priv = (acc & ACC_PRIV) !== 0;
  if (acc & ACC_WRITE) return priv ? PERM_PW : PERM_UW;
  if (acc & ACC_INSTR) return priv ? PERM_PX : PERM_UX;
  return priv ? PERM_PR : PERM_UR;
});

/** Whether permissions `perm` (PERM_* bits) allow an access with ACC_* bits `acc`. */
export function permAllows(perm: number, acc: number): boolean {
  return (perm & (ACC_NEED[acc & 7] ?? 0)) !== 0;
}

/**
 * Stage-1 permissions (EL1&0 regime, DDI0487 D8.4), indexed by
 * AP[1] | AP[2] << 1 | UXN << 2 | PXN << 3 | WXN << 4 | PAN << 5, where AP, UXN, PXN
 * already include APTable/XNTable/PXNTable.
 */
export const S1_PERMS: Uint8Array = Uint8Array.from({ length: 64 }, (_, i) => {
  const ap1 = (i & 1) !== 0;
  const ap2 = (i & 2) !== 0;
  const uxn = (i & 4) !== 0;
  const pxn = (i & 8) !== 0;
  const wxn = (i & 16) !== 0;
  const pan = (i & 32) !== 0;
  const ur = ap1;
  const uw = ap1 && !ap2;
  let pr = true;
  let pw = !ap2;
  const ux = !uxn && !(uw && wxn);
  const px = !pxn && !uw && !(pw && wxn);
  if (pan && ap1) pr = pw = false;
  return (ur ? PERM_UR : 0) | (uw ? PERM_UW : 0) | (ux ? PERM_UX : 0) |
    (pr ? PERM_PR : 0) | (pw ? PERM_PW : 0) | (px ? PERM_PX : 0);
});

/**
 * Stage-2 permissions, indexed by S2AP | XN[1:0] << 2 (bits [7:6] and [54:53]) | XNX << 4,
 * replicated to both privileges (stage 2 has none, except execute with IDR3.XNX).
 */
export const S2_PERMS: Uint8Array = Uint8Array.from({ length: 32 }, (_, i) => {
  const r = (i & 1) !== 0;
  const w = (i & 2) !== 0;
  const xn = (i >>> 2) & 3;
  let ux: boolean;
  let px: boolean;
  if (i & 16) {
    // XN[1:0]: 00 both execute, 01 EL1 never (PXN), 10 neither, 11 EL0 never (UXN)
    ux = xn === 0 || xn === 1;
    px = xn === 0 || xn === 3;
  } else {
    ux = px = (xn & 2) === 0;
  }
  return (r ? PERM_UR | PERM_PR : 0) | (w ? PERM_UW | PERM_PW : 0) | (ux ? PERM_UX : 0) | (px ? PERM_PX : 0);
});

// ---------------------------------------------------------------------------------------------
// Walk configurations

/** What the walker needs from a CD (raw, before derivation); booleans are the 1-bit fields. */
export interface S1Params {
  /** Granule shifts (12|14|16) of TTB0/TTB1; 0 = reserved or unimplemented TGx. */
  gran0: number;
  gran1: number;
  tsz0: number;
  tsz1: number;
  ttb0: number;
  ttb1: number;
  epd0: boolean;
  epd1: boolean;
  tbi0: boolean;
  tbi1: boolean;
  had0: boolean;
  had1: boolean;
  /** MIN(CD.IPS, OAS) in bits (before the 52 → 48 rule, which depends on the granule). */
  ips: number;
  affd: boolean;
  ha: boolean;
  hd: boolean;
  wxn: boolean;
  uwxn: boolean;
  pan: boolean;
  /** Big-endian descriptors (CD.ENDI). */
  endi: boolean;
  /** The SMMU has 52-bit PAs: 64K descriptors carry OA[51:48] in bits [15:12], L1 blocks. */
  lpa: boolean;
  /** IDR5.VAX >= 1: 64K TxSZ may go down to 12. */
  vax: boolean;
}

/** A stage-1 configuration: the CD fields plus what the walker derives once per CD. */
export interface S1Cfg extends Readonly<S1Params> {
  /** Per TTB range (0 = low, 1 = high): effective output bits, start level, bits the start
   *  level resolves, first-table base (aligned), TTB beyond the output size, and the masks of
   *  the input bits that must equal VA[55]. */
  readonly ps0: number;
  readonly ps1: number;
  readonly start0: number;
  readonly start1: number;
  readonly topBits0: number;
  readonly topBits1: number;
  readonly base0: number;
  readonly base1: number;
  readonly ttbBad0: boolean;
  readonly ttbBad1: boolean;
  readonly chkHi0: number;
  readonly chkLo0: number;
  readonly chkHi1: number;
  readonly chkLo1: number;
}

/** What the walker needs from an STE's stage-2 fields. */
export interface S2Params {
  /** Granule shift 12|14|16, 0 = reserved/unimplemented S2TG. */
  gran: number;
  t0sz: number;
  sl0: number;
  ttb: number;
  /** Effective S2PS in bits: MIN(S2PS, OAS), 52 → 48 for 4K/16K. */
  ps: number;
  affd: boolean;
  ha: boolean;
  hd: boolean;
  ptw: boolean;
  fwb: boolean;
  endi: boolean;
  lpa: boolean;
  /** IDR3.XNX: stage-2 XN[1:0] distinguishes EL0 and EL1 execution. */
  xnx: boolean;
  /** The SMMU's OAS in bits (bounds the smallest S2T0SZ). */
  oas: number;
}

export interface S2Cfg extends Readonly<S2Params> {
  /** Start level, or -1 when S2TG/S2SL0/S2T0SZ are inconsistent (every walk faults). */
  readonly start: number;
  /** Number of concatenated first-level tables (1..16). */
  readonly concat: number;
  readonly topBits: number;
  readonly base: number;
  readonly ttbBad: boolean;
  /** 2^(64 − S2T0SZ): IPAs at or above it are outside the stage-2 input range. */
  readonly inLimit: number;
}

const P2: readonly number[] = Array.from({ length: 65 }, (_, n) => 2 ** n);
const pow2 = (n: number): number => P2[n] ?? 2 ** n;

/** Aligns a first-level table base: the low max(6, log2(table bytes)) bits are ignored. */
function alignBase(ttb: number, topBits: number): number {
  const a = pow2(Math.max(6, topBits + 3));
  return ttb - (ttb % a);
}

/** Derives a stage-1 configuration from raw fields. */
export function s1Cfg(p: S1Params): S1Cfg {
  const r0 = s1Range(p.gran0, p.tsz0, p.ttb0, p.tbi0, p.ips, p.vax);
  const r1 = s1Range(p.gran1, p.tsz1, p.ttb1, p.tbi1, p.ips, p.vax);
  return {
    gran0: p.gran0, gran1: p.gran1, tsz0: r0.tsz, tsz1: r1.tsz, ttb0: p.ttb0, ttb1: p.ttb1,
    epd0: p.epd0, epd1: p.epd1, tbi0: p.tbi0, tbi1: p.tbi1, had0: p.had0, had1: p.had1,
    ips: p.ips, affd: p.affd, ha: p.ha, hd: p.hd, wxn: p.wxn, uwxn: p.uwxn, pan: p.pan,
    endi: p.endi, lpa: p.lpa, vax: p.vax,
    ps0: r0.ps, ps1: r1.ps, start0: r0.start, start1: r1.start, topBits0: r0.topBits,
    topBits1: r1.topBits, base0: r0.base, base1: r1.base, ttbBad0: r0.ttbBad, ttbBad1: r1.ttbBad,
    chkHi0: r0.chkHi, chkLo0: r0.chkLo, chkHi1: r1.chkHi, chkLo1: r1.chkLo,
  };
}

function s1Range(g: number, tszIn: number, ttb: number, tbi: boolean, ips: number, vax: boolean) {
  const minT = g === 16 && vax ? 12 : 16;
  const tsz = Math.min(39, Math.max(minT, tszIn));
  const vaBits = 64 - tsz;
  const ps = g === 0 ? 48 : Math.min(ips, g === 16 ? 52 : 48);
  const start = g === 0 ? 0 : s1StartLevel(g, vaBits);
  const topBits = g === 0 ? 1 : vaBits - levelShift(g, start);
  const base = alignBase(ttb, topBits);
  // Bits [63 (55 with TBI) : vaBits] must all equal VA[55].
  let chkHi: number;
  let chkLo: number;
  if (vaBits >= 32) {
    chkHi = (0xffffffff << (vaBits - 32)) >>> 0;
    chkLo = 0;
  } else {
    chkHi = 0xffffffff;
    chkLo = (0xffffffff << vaBits) >>> 0;
  }
  if (tbi) chkHi = (chkHi & 0x00ffffff) >>> 0;
  return { tsz, ps, start, topBits, base, ttbBad: base >= pow2(ps), chkHi, chkLo };
}

/** Derives a stage-2 configuration from raw fields. */
export function s2Cfg(p: S2Params): S2Cfg {
  // s2StartLevel takes the S2TG encoding; map the shift back (0 4K, 1 64K, 2 16K).
  const tg = p.gran === 12 ? 0 : p.gran === 16 ? 1 : p.gran === 14 ? 2 : 3;
  const sl = s2StartLevel(tg, p.sl0, p.t0sz, p.oas);
  const start = sl === null ? -1 : sl.level;
  const ias = 64 - p.t0sz;
  const topBits = sl === null ? 1 : ias - levelShift(p.gran, start);
  const base = alignBase(p.ttb, topBits);
  return {
    gran: p.gran, t0sz: p.t0sz, sl0: p.sl0, ttb: p.ttb, ps: p.ps, affd: p.affd, ha: p.ha,
    hd: p.hd, ptw: p.ptw, fwb: p.fwb, endi: p.endi, lpa: p.lpa, xnx: p.xnx, oas: p.oas,
    start, concat: sl === null ? 0 : sl.concat, topBits, base, ttbBad: base >= pow2(p.ps),
    inLimit: sl === null ? 0 : pow2(ias),
  };
}

type CdWalkFields = Pick<Cd, 't0sz' | 'tg0' | 'epd0' | 'endi' | 't1sz' | 'tg1' | 'epd1' | 'ips' |
  'affd' | 'wxn' | 'uwxn' | 'tbi0' | 'tbi1' | 'pan' | 'hd' | 'ha' | 'had0' | 'had1' | 'ttb0' | 'ttb1'>;
type FeatWalkFields = Pick<SmmuFeatures, 'oas' | 'gran4k' | 'gran16k' | 'gran64k' | 'vax' | 'had' | 'xnx'>;

function supported(f: Readonly<FeatWalkFields>, g: number): number {
  return (g === 12 && f.gran4k) || (g === 14 && f.gran16k) || (g === 16 && f.gran64k) ? g : 0;
}

/**
 * Stage-1 walk configuration of a CD: effective IPS = MIN(IPS, OAS) (52 → 48 for 4K/16K),
 * TG0 and TG1 with their different encodings, HAD only when IDR3.HAD.
 */
export function s1CfgFromCd(cd: Readonly<CdWalkFields>, f: Readonly<FeatWalkFields>): S1Cfg {
  return s1Cfg({
    gran0: supported(f, tg0Shift(cd.tg0)), gran1: supported(f, tg1Shift(cd.tg1)),
    tsz0: cd.t0sz, tsz1: cd.t1sz, ttb0: cd.ttb0, ttb1: cd.ttb1,
    epd0: cd.epd0 !== 0, epd1: cd.epd1 !== 0, tbi0: cd.tbi0 !== 0, tbi1: cd.tbi1 !== 0,
    had0: f.had && cd.had0 !== 0, had1: f.had && cd.had1 !== 0,
    ips: effectivePs(cd.ips, f.oas, 16), affd: cd.affd !== 0, ha: cd.ha !== 0, hd: cd.hd !== 0,
    wxn: cd.wxn !== 0, uwxn: cd.uwxn !== 0, pan: cd.pan !== 0, endi: cd.endi !== 0,
    lpa: f.oas >= 52, vax: f.vax >= 1,
  });
}

type SteWalkFields = Pick<Ste, 's2t0sz' | 's2sl0' | 's2tg' | 's2ps' | 's2endi' | 's2affd' | 's2ptw' |
  's2hd' | 's2ha' | 's2ttb' | 's2fwb'>;

/** Stage-2 walk configuration of an STE: effective S2PS = MIN(S2PS, OAS) (52 → 48 for 4K/16K). */
export function s2CfgFromSte(ste: Readonly<SteWalkFields>, f: Readonly<FeatWalkFields>): S2Cfg {
  const g = supported(f, tg0Shift(ste.s2tg));
  return s2Cfg({
    gran: g, t0sz: ste.s2t0sz, sl0: ste.s2sl0, ttb: ste.s2ttb,
    ps: effectivePs(ste.s2ps, f.oas, g === 0 ? 12 : g), affd: ste.s2affd !== 0,
    ha: ste.s2ha !== 0, hd: ste.s2hd !== 0, ptw: ste.s2ptw !== 0, fwb: ste.s2fwb !== 0,
    endi: ste.s2endi !== 0, lpa: f.oas >= 52, xnx: f.xnx, oas: f.oas,
  });
}

// ---------------------------------------------------------------------------------------------
// Results

/** Everything an event record needs about a translation fault (FACTS §6.1, §6.3). */
export interface Fault {
  /** EVT.F_TRANSLATION | F_ADDR_SIZE | F_ACCESS | F_PERMISSION | F_WALK_EABT. */
  type: number;
  /** 1 = stage-2 fault. */
  s2: number;
  /** CLASS.CD | TT | IN. */
  cls: number;
  /** Lookup level (0..3) at which it was found; 0 for input-range faults. */
  level: number;
  /** Stage-2 faults: the IPA being translated (CLASS TT: IPA of the stage-1 descriptor). */
  ipa: number;
  /** F_WALK_EABT: PA of the descriptor whose read aborted. */
  fetchAddr: number;
  /** F_PERMISSION, CLASS TT: 1 = descriptor read. */
  ttrnw: number;
  rnw: number;
  ind: number;
  pnu: number;
  inputLo: number;
  inputHi: number;
}

export function newFault(): Fault {
  return { type: 0, s2: 0, cls: 0, level: 0, ipa: 0, fetchAddr: 0, ttrnw: 0, rnw: 0, ind: 0, pnu: 0, inputLo: 0, inputHi: 0 };
}

/** Output of Walker.translate; reused across walks (one per caller). */
export class WalkResult {
  /** Output address of the input address. */
  pa = 0;
  /** log2 of the size of the combined mapping containing it (min of both stages). */
  size = 0;
  /** Combined permissions (PERM_*), stage 1 ∧ stage 2; and each stage alone. */
  perm = 0;
  s1perm = 0;
  s2perm = 0;
  /** Stage-1 output (the IPA; = input when stage 1 bypasses). */
  ipa = 0;
  /** Leaf levels (-1 = stage bypassed). */
  s1level = -1;
  s2level = -1;
  /** log2 of each stage's leaf size (64 = stage bypassed). */
  s1size = 64;
  s2size = 64;
  /** Stage-1 nG (1 = tagged by ASID), AttrIndx, SH; stage-2 MemAttr, SH. */
  nG = 0;
  attrIndx = 0;
  s2memattr = 0;
  readonly fault: Fault = newFault();
}

function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** Index bits [shift + n − 1 : shift] of the 64-bit address (hi, lo); mask = 2^n − 1. */
function indexOf(hi: number, lo: number, shift: number, mask: number): number {
  return (shift >= 32 ? hi >>> (shift - 32) : (lo >>> shift) | (hi << (32 - shift))) & mask;
}

/** The bits below `shift` of (hi, lo) as a number. */
function offsetOf(hi: number, lo: number, shift: number): number {
  if (shift >= 32) return (hi & ((1 << (shift - 32)) - 1)) * TWO32 + lo;
  return (lo & ((1 << shift) - 1)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// The walker

export interface WalkerOptions {
  /** The SMMU's OAS in bits (= IAS of an AArch64-only SMMU). */
  readonly oas: number;
}

export class Walker {
  /** Descriptor reads performed (stage 1 and stage 2), for statistics. */
  reads = 0;
  /** Walks started (translate + ipaToPa). */
  walks = 0;
  private readonly iasHi: number;
  // Current transaction (for fault records) and the last stage-2 leaf.
  private acc = 0;
  private inHi = 0;
  private inLo = 0;
  private s2Size = 0;
  private s2Level = 0;
  private s2Perm = 0;
  private s2Attr = 0;

  constructor(opts: WalkerOptions = { oas: 48 }) {
    // Stage-1 bypass: an input at or above 2^IAS is an address-size fault (FACTS §7.8).
    this.iasHi = pow2(Math.max(0, Math.min(64, opts.oas) - 32));
  }

  /**
   * Translates the 64-bit input (iaHi, iaLo) for an access with ACC_* bits `acc` through
   * stage 1 (`s1`, null = bypass) and stage 2 (`s2`, null = bypass). True: `res` holds the
   * output. False: `res.fault` holds the fault. Never throws on any memory contents.
   */
  translate(s1: S1Cfg | null, s2: S2Cfg | null, mem: WordReader, iaHi: number, iaLo: number, acc: number, res: WalkResult): boolean {
    this.walks++;
    this.acc = acc;
    this.inHi = iaHi >>> 0;
    this.inLo = iaLo >>> 0;
    let ipa: number;
    if (s1 === null) {
      if (this.inHi >= this.iasHi) return this.fail(res, EVT.F_ADDR_SIZE, 0, CLASS.IN, 0, 0, 0);
      ipa = this.inHi * TWO32 + this.inLo;
      res.s1perm = PERM_ALL;
      res.s1level = -1;
      res.s1size = 64;
      res.nG = 0;
      res.attrIndx = 0;
    } else {
      ipa = this.walkS1(s1, s2, mem, res);
      if (ipa < 0) return false;
    }
    res.ipa = ipa;
    if (s2 === null) {
      res.pa = ipa;
      res.s2perm = PERM_ALL;
      res.s2level = -1;
      res.s2size = 64;
      res.s2memattr = 0;
    } else {
      const pa = this.walkS2(s2, mem, ipa, CLASS.IN, res);
      if (pa < 0) return false;
      res.pa = pa;
      res.s2perm = this.s2Perm;
      res.s2level = this.s2Level;
      res.s2size = this.s2Size;
      res.s2memattr = this.s2Attr;
    }
    res.perm = res.s1perm & res.s2perm;
    res.size = res.s1size < res.s2size ? res.s1size : res.s2size;
    return true;
  }

  /**
   * Stage-2 translation of a CD or L1CD fetch address (nested): returns the PA, or -1 with
   * `res.fault` set (S2 = 1, CLASS CD, IPA = `ipa`). The transaction (iaHi, iaLo, acc) only
   * fills the fault's InputAddr/RnW/InD/PnU. With `s2` null the IPA is the PA.
   */
  ipaToPa(s2: S2Cfg | null, mem: WordReader, ipa: number, iaHi: number, iaLo: number, acc: number, res: WalkResult): number {
    if (s2 === null) return ipa;
    this.walks++;
    this.acc = acc;
    this.inHi = iaHi >>> 0;
    this.inLo = iaLo >>> 0;
    return this.walkS2(s2, mem, ipa, CLASS.CD, res);
  }

  private fail(res: WalkResult, type: number, s2: number, cls: number, level: number, ipa: number, fetchAddr: number): false {
    const f = res.fault;
    const acc = this.acc;
    const write = (acc & ACC_WRITE) !== 0;
    f.type = type;
    f.s2 = s2;
    f.cls = cls;
    f.level = level;
    f.ipa = ipa;
    f.fetchAddr = fetchAddr;
    f.ttrnw = type === EVT.F_PERMISSION && cls === CLASS.TT ? 1 : 0;
    f.rnw = write ? 0 : 1;
    f.ind = !write && (acc & ACC_INSTR) !== 0 ? 1 : 0;
    f.pnu = (acc & ACC_PRIV) !== 0 ? 1 : 0;
    f.inputLo = this.inLo;
    f.inputHi = this.inHi;
    return false;
  }

  private failN(res: WalkResult, type: number, s2: number, cls: number, level: number, ipa: number, fetchAddr: number): number {
    this.fail(res, type, s2, cls, level, ipa, fetchAddr);
    return -1;
  }

  /** Stage-1 walk of the current input; returns the output IPA or -1 (fault in res). */
  private walkS1(c: S1Cfg, s2: S2Cfg | null, mem: WordReader, res: WalkResult): number {
    const hi = this.inHi;
    const lo = this.inLo;
    // TTB range selection by VA[55] (FACTS §3.1).
    const sel = (hi >>> 23) & 1;
    const g = sel ? c.gran1 : c.gran0;
    const epd = sel ? c.epd1 : c.epd0;
    const chkHi = sel ? c.chkHi1 : c.chkHi0;
    const chkLo = sel ? c.chkLo1 : c.chkLo0;
    if (epd || g === 0 || ((hi & chkHi) >>> 0) !== (sel ? chkHi : 0) || ((lo & chkLo) >>> 0) !== (sel ? chkLo : 0)) {
      this.fail(res, EVT.F_TRANSLATION, 0, CLASS.IN, 0, 0, 0);
      return -1;
    }
    const ps = sel ? c.ps1 : c.ps0;
    if (sel ? c.ttbBad1 : c.ttbBad0) {
      this.fail(res, EVT.F_ADDR_SIZE, 0, CLASS.IN, 0, 0, 0);
      return -1;
    }
    const had = sel ? c.had1 : c.had0;
    const psHi = ps >= 32 ? pow2(ps - 32) : 0;
    const lpa64 = c.lpa && g === 16;
    const stride = g - 3;
    let level = sel ? c.start1 : c.start0;
    let table = sel ? c.base1 : c.base0;
    let shift = levelShift(g, level);
    let mask = (1 << (sel ? c.topBits1 : c.topBits0)) - 1;
    let apt = 0; // bit 0: no unprivileged access below, bit 1: no write below (APTable)
    let xnt = 0;
    let pxnt = 0;
    let dlo = 0;
    let dhi = 0;
    for (;;) {
      let da = table + indexOf(hi, lo, shift, mask) * 8;
      if (s2 !== null) {
        // Nested: the descriptor address is an IPA (FACTS §7.7); S2 faults here are CLASS TT.
        da = this.walkS2(s2, mem, da, CLASS.TT, res);
        if (da < 0) return -1;
      }
      dlo = mem.load64(da);
      this.reads++;
      if (dlo < 0) {
        this.fail(res, EVT.F_WALK_EABT, 0, CLASS.TT, level, 0, da);
        return -1;
      }
      dhi = mem.hi >>> 0;
      if (c.endi) {
        const t = dlo;
        dlo = bswap32(dhi);
        dhi = bswap32(t);
      }
      if ((dlo & 1) === 0) break; // invalid
      if ((dlo & 2) !== 0 && level < 3) {
        // Table descriptor: next-level table address [47:g] (+ [51:48] in [15:12] for 64K LPA).
        let ahi = dhi & 0xffff;
        if (lpa64) ahi |= ((dlo >>> 12) & 0xf) << 16;
        if (ahi >= psHi) {
          this.fail(res, EVT.F_ADDR_SIZE, 0, CLASS.IN, level, 0, 0);
          return -1;
        }
        table = ahi * TWO32 + ((dlo & ~((1 << g) - 1)) >>> 0);
        if (!had) {
          apt |= (dhi >>> 29) & 3;
          xnt |= (dhi >>> 28) & 1;
          pxnt |= (dhi >>> 27) & 1;
        }
        level++;
        shift -= stride;
        mask = (1 << stride) - 1;
        continue;
      }
      if (level === 3 ? (dlo & 2) === 0 : !blockAllowed(g, level, c.lpa)) break; // reserved
      // Leaf: output address [47:shift] (+ [51:48] for 64K LPA); bits below shift ignored.
      let ahi = dhi & 0xffff;
      if (lpa64) ahi |= ((dlo >>> 12) & 0xf) << 16;
      if (ahi >= psHi) {
        this.fail(res, EVT.F_ADDR_SIZE, 0, CLASS.IN, level, 0, 0);
        return -1;
      }
      let alo: number;
      if (shift >= 32) {
        ahi &= ~((1 << (shift - 32)) - 1);
        alo = 0;
      } else {
        alo = (dlo & ~((1 << shift) - 1)) >>> 0;
      }
      if ((dlo & 0x400) === 0 && !c.affd && !c.ha) {
        this.fail(res, EVT.F_ACCESS, 0, CLASS.IN, level, 0, 0);
        return -1;
      }
      const ap1 = ((dlo >>> 6) & 1) & ~apt & 1;
      const ap2 = ((dlo >>> 7) & 1) | (apt >>> 1);
      const uxn = ((dhi >>> 22) & 1) | xnt;
      const pxn = ((dhi >>> 21) & 1) | pxnt;
      const perm = S1_PERMS[ap1 | (ap2 << 1) | (uxn << 2) | (pxn << 3) | (c.wxn ? 16 : 0) | (c.pan ? 32 : 0)] ?? 0;
      if ((perm & (ACC_NEED[this.acc & 7] ?? 0)) === 0) {
        this.fail(res, EVT.F_PERMISSION, 0, CLASS.IN, level, 0, 0);
        return -1;
      }
      res.s1perm = perm;
      res.s1level = level;
      res.s1size = shift;
      res.nG = (dlo >>> 11) & 1;
      res.attrIndx = (dlo >>> 2) & 7;
      return ahi * TWO32 + alo + offsetOf(hi, lo, shift);
    }
    this.fail(res, EVT.F_TRANSLATION, 0, CLASS.IN, level, 0, 0);
    return -1;
  }

  /**
   * Stage-2 walk of `ipa` for a `cls` access (IN: the transaction itself, checked against its
   * ACC bits; TT/CD: a table/CD read). Returns the PA or -1 (fault in res). Leaves the leaf's
   * size, level, permissions and MemAttr in this.s2*.
   */
  private walkS2(c: S2Cfg, mem: WordReader, ipa: number, cls: number, res: WalkResult): number {
    if (c.start < 0 || ipa >= c.inLimit) return this.failN(res, EVT.F_TRANSLATION, 1, cls, 0, ipa, 0);
    if (c.ttbBad) return this.failN(res, EVT.F_ADDR_SIZE, 1, cls, 0, ipa, 0);
    const hi = (ipa / TWO32) >>> 0;
    const lo = ipa >>> 0;
    const g = c.gran;
    const stride = g - 3;
    const psHi = c.ps >= 32 ? pow2(c.ps - 32) : 0;
    const lpa64 = c.lpa && g === 16;
    let level = c.start;
    let table = c.base;
    let shift = levelShift(g, level);
    let mask = (1 << c.topBits) - 1;
    let dlo = 0;
    let dhi = 0;
    for (;;) {
      const da = table + indexOf(hi, lo, shift, mask) * 8;
      dlo = mem.load64(da);
      this.reads++;
      if (dlo < 0) return this.failN(res, EVT.F_WALK_EABT, 1, cls, level, ipa, da);
      dhi = mem.hi >>> 0;
      if (c.endi) {
        const t = dlo;
        dlo = bswap32(dhi);
        dhi = bswap32(t);
      }
      if ((dlo & 1) === 0) break;
      if ((dlo & 2) !== 0 && level < 3) {
        let ahi = dhi & 0xffff;
        if (lpa64) ahi |= ((dlo >>> 12) & 0xf) << 16;
        if (ahi >= psHi) return this.failN(res, EVT.F_ADDR_SIZE, 1, cls, level, ipa, 0);
        table = ahi * TWO32 + ((dlo & ~((1 << g) - 1)) >>> 0);
        level++;
        shift -= stride;
        mask = (1 << stride) - 1;
        continue;
      }
      if (level === 3 ? (dlo & 2) === 0 : !blockAllowed(g, level, c.lpa)) break;
      let ahi = dhi & 0xffff;
      if (lpa64) ahi |= ((dlo >>> 12) & 0xf) << 16;
      if (ahi >= psHi) return this.failN(res, EVT.F_ADDR_SIZE, 1, cls, level, ipa, 0);
      let alo: number;
      if (shift >= 32) {
        ahi &= ~((1 << (shift - 32)) - 1);
        alo = 0;
      } else {
        alo = (dlo & ~((1 << shift) - 1)) >>> 0;
      }
      if ((dlo & 0x400) === 0 && !c.affd && !c.ha) return this.failN(res, EVT.F_ACCESS, 1, cls, level, ipa, 0);
      const perm = S2_PERMS[((dlo >>> 6) & 3) | (((dhi >>> 21) & 3) << 2) | (c.xnx ? 16 : 0)] ?? 0;
      const memattr = (dlo >>> 2) & 0xf;
      if (cls === CLASS.IN) {
        if ((perm & (ACC_NEED[this.acc & 7] ?? 0)) === 0) return this.failN(res, EVT.F_PERMISSION, 1, cls, level, ipa, 0);
      } else if ((perm & PERM_UR) === 0 || (c.ptw && (c.fwb ? (memattr & 4) === 0 : (memattr & 0xc) === 0))) {
        // Table/CD reads need S2 read permission; with S2PTW not to Device memory.
        return this.failN(res, EVT.F_PERMISSION, 1, cls, level, ipa, 0);
      }
      this.s2Size = shift;
      this.s2Level = level;
      this.s2Perm = perm;
      this.s2Attr = memattr;
      return ahi * TWO32 + alo + offsetOf(hi, lo, shift);
    }
    return this.failN(res, EVT.F_TRANSLATION, 1, cls, level, ipa, 0);
  }
}
