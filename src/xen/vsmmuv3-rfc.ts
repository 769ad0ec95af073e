// The series' own reading of the guest's stream table and STE on CMD_CFGI_STE
// (arm_vsmmu_find_ste / arm_vsmmu_decode_ste, reference/xen-vsmmuv3.md §3.3), for the `rfc`
// and `v3` profiles, and the constant ID registers those profiles show the guest (§2.2).
// Pure: guest RAM by IPA through a WordReader; nothing here throws on guest input. The
// guest-triggerable BUG() is an outcome ('panic') that Xen turns into a hypervisor panic.

import { EVT } from '../arch/events.ts';
import { decodeIdRegs, encodeIdRegs, type IdRegs, type SmmuFeatures } from '../arch/features.ts';
import { STE_CFG } from '../arch/ste.ts';
import type { WordReader } from '../arch/types.ts';

/** The series' constant ID registers (§2.2): S1P, AArch64, ASID16, 2-level, SIDSIZE 16, 19-bit queues, 48-bit OAS. */
export const RFC_ID_REGS: Readonly<IdRegs> = {
  idr0: 0x0d00_100a, idr1: 0x0273_0010, idr2: 0, idr3: 0, idr4: 0, idr5: 0x75, iidr: 0, aidr: 0,
};

/**
 * The ID registers and the features a guest of the series sees: the constants with `iidr`
 * (null: the physical one), and with `hw` the fields v3's review derives from the hardware
 * (ASID16, OAS bounded by the domain's IPA size, the granules, TTENDIAN).
 */
export function rfcIdRegs(iidr: number | null, hw: { phys: Readonly<SmmuFeatures>; ipaBits: number } | null): { regs: IdRegs; features: SmmuFeatures } {
  const f = decodeIdRegs({ ...RFC_ID_REGS });
  const p = hw?.phys;
  const features: SmmuFeatures = p === undefined ? f : {
    ...f, asid16: p.asid16, gran4k: p.gran4k, gran16k: p.gran16k, gran64k: p.gran64k, ttendian: p.ttendian,
    oas: Math.min(p.oas, hw?.ipaBits ?? p.oas),
  };
  features.iidr = iidr ?? p?.iidr ?? 0;
  const regs = p === undefined ? { ...RFC_ID_REGS, iidr: features.iidr } : encodeIdRegs(features);
  return { regs, features };
}

/** The L1 index of the series: `sid >> STRTAB_SPLIT` with the fixed constant 8, not the guest's SPLIT. */
export const RFC_STRTAB_SPLIT = 8;

/** What CFGI_STE does with one guest STE. */
export type RfcSte =
  /** Logged and nothing else: a read failure, a bad L1 span, or V = 0 (the physical STE stays). */
  | { readonly kind: 'ignore'; readonly why: string }
  /** An event for the guest (C_BAD_STE or C_BAD_STREAMID, SID and nothing else). */
  | { readonly kind: 'event'; readonly event: number; readonly why: string }
  /** Config = nested (0b111) or reserved (0b001..0b011): the series' BUG(). */
  | { readonly kind: 'panic'; readonly config: number }
  | { readonly kind: 'abort' }
  | { readonly kind: 'bypass' }
  /** Stage 1: dword 0 (two words), S1ContextPtr, S1Fmt and S1CDMax are taken from it. */
  | { readonly kind: 'nested'; readonly w0: number; readonly w1: number };

/** The guest's stream-table registers as the series stores them. */
export interface RfcStrtab {
  /** STRTAB_BASE.ADDR in place (an IPA). */
  readonly base: number;
  readonly cfg: number;
  /** Whether STRTAB_BASE_CFG was ever written: from then on the table is taken as 2-level. */
  readonly twoLevel: boolean;
}

const TWO_32 = 4294967296;

/** `a` with bits [k:0] cleared (a < 2^53). */
function clearLow(a: number, k: number): number {
  const m = 2 ** (k + 1);
  return Math.floor(a / m) * m;
}

/** arm_vsmmu_find_ste + the 8-byte read + arm_vsmmu_decode_ste. */
export function rfcReadSte(ram: WordReader, st: RfcStrtab, sid: number): RfcSte {
  const log2size = st.cfg & 0x3f;
  const split = (st.cfg >>> 6) & 0x1f;
  if (sid >= 2 ** Math.min(log2size, 16)) return { kind: 'event', event: EVT.C_BAD_STE, why: 'StreamID beyond LOG2SIZE' };
  let at: number;
  if (st.twoLevel) {
    const l1 = clearLow(st.base, Math.max(5, log2size - split - 1 + 3));
    const lo = ram.load64(l1 + Math.floor(sid / 2 ** RFC_STRTAB_SPLIT) * 8);
    if (lo < 0) return { kind: 'ignore', why: 'L1 descriptor read failed' };
    const span = lo & 0x1f;
    if (span === 0) return { kind: 'ignore', why: 'Bad StreamID span' };
    const l2ptr = (ram.hi & 0x000f_ffff) * TWO_32 + ((lo & ~0x3f) >>> 0);
    const idx = sid % 2 ** split;
    if (idx > 2 ** span - 1) return { kind: 'event', event: EVT.C_BAD_STREAMID, why: 'index beyond the L2 span' };
    at = l2ptr + idx * 64;
  } else {
    at = clearLow(st.base, log2size + 5) + sid * 64;
  }
  const w0 = ram.load64(at);
  if (w0 < 0) return { kind: 'ignore', why: 'STE read failed' };
  return rfcDecodeSte(w0 >>> 0, ram.hi >>> 0);
}

/** arm_vsmmu_decode_ste over dword 0 only. */
export function rfcDecodeSte(w0: number, w1: number): RfcSte {
  if ((w0 & 1) === 0) return { kind: 'ignore', why: 'V = 0' };
  const config = (w0 >>> 1) & 7;
  switch (config) {
    case STE_CFG.BYPASS:
      return { kind: 'bypass' };
    case STE_CFG.ABORT:
      return { kind: 'abort' };
    case STE_CFG.S1:
      if (w1 >>> 27 !== 0) return { kind: 'event', event: EVT.C_BAD_STE, why: 'S1CDMax != 0: multiple context descriptors not supported' };
      return { kind: 'nested', w0, w1 };
    case STE_CFG.S2:
      return { kind: 'event', event: EVT.C_BAD_STE, why: 'stage 2 not supported' };
    default:
      return { kind: 'panic', config };
  }
}

/**
 * The guest words of the physical nested STE the series writes (§3.3): dword 0's
 * S1ContextPtr, S1Fmt and S1CDMax from the guest, dword 1 Xen's own (S1DSS = SSID0,
 * S1CIR = S1COR = WBRA, S1CSH = ISH, STRW = NSEL1), nothing else of the guest's.
 */
export function rfcNestedWords(w0: number, w1: number, out: Uint32Array): Uint32Array {
  out.fill(0);
  out[0] = (w0 & 0xffff_ffc0 & ~0xe) | (w0 & 0x30) | 1;
  out[1] = w1 & 0xf80f_ffff;
  out[2] = 0b10 | (0b01 << 2) | (0b01 << 4) | (0b11 << 6);
  return out;
}
