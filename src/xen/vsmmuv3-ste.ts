// The guest's STE as Xen handles it on CFGI_STE: fetched once from the guest's stream
// table (in guest RAM, by IPA) into Xen's own copy, checked against the allow-list of
// Linux iommufd's nesting (peers.md §3.3, reliability.md §3.1), and turned into the physical
// STE Xen installs: the guest's stage-1 fields over the domain's stage-2 STE, Config forced
// to nested, MEV forced, the VMID always Xen's. A guest bypass becomes stage-2 only; a guest
// never obtains a host bypass, a host VMID or any stage-2 field.

import { get32 } from '../arch/bits.ts';
import { EVT } from '../arch/events.ts';
import type { SmmuFeatures } from '../arch/features.ts';
import {
  STE_BAD_STREAMID, STE_CFG, STE_L1_ABORT, STE_WORDS, steL1Addr, steLocation, strtabIs2Level,
} from '../arch/ste.ts';
import type { WordReader } from '../arch/types.ts';

/**
 * Bits of each STE word (u32 index 0..15) a guest may set; any other bit makes the STE
 * invalid (C_BAD_STE). Word 0/1 = dw0: V, Config, S1Fmt, S1ContextPtr[51:6], S1CDMax.
 * Word 2 = dw1[31:0]: S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS. Everything else (MEV,
 * STRW, the attribute overrides, every stage-2 field, dw2..dw7) is Xen's.
 */
export const GUEST_STE_ALLOWED: readonly number[] = [
  0xffff_ffff, // dw0[31:0]: V[0], Config[3:1], S1Fmt[5:4], S1ContextPtr[31:6]
  0xf80f_ffff, // dw0[63:32]: S1ContextPtr[51:32], S1CDMax[63:59]
  0x3800_00ff, // dw1[31:0]: S1DSS[1:0] S1CIR[3:2] S1COR[5:4] S1CSH[7:6] S1STALLD[27] EATS[29:28]
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/** Stage-1 fields copied into the physical nested STE (EATS is not: the guest has no ATS). */
const NESTED_COPY: readonly number[] = [0xffff_fff0, 0xf80f_ffff, 0x0800_00ff];
/** STE.MEV, dw1[19]: merge events, forced on nested STEs (DoS mitigation, peers.md §3.3). */
const MEV_W2 = 1 << 19;

/** What Xen installs for one device after reading its guest STE. */
export type GuestSteKind =
  /** Guest V = 0, or an STE Xen rejected: physical V = 0, so DMA records C_BAD_STE. */
  | 'invalid'
  /** Guest Config abort (or reserved-as-abort): physical abort, silent. */
  | 'abort'
  /** Guest bypass, or the guest SMMU disabled with GBPA.ABORT = 0: stage 2 only. */
  | 's2'
  /** Guest stage 1: physical nested STE (guest S1 + Xen S2). */
  | 'nested';

export interface GuestSteConfig {
  readonly kind: GuestSteKind;
  /** Xen's copy of the guest STE (16 words); only the allowed bits matter for 'nested'. */
  readonly words: Uint32Array;
  /**
   * For 'invalid': the guest's own stream-table lookup failed before any STE was read
   * (C_BAD_STREAMID, or F_STE_FETCH at the IPA `fetchAddr`). The device's transactions then
   * give the guest that event instead of the C_BAD_STE of the physical STE.
   */
  readonly lookup?: { readonly event: number; readonly fetchAddr: number };
}

export type GuestSteReject =
  | 'DISALLOWED_BITS'
  | 'CONFIG'
  | 'S1CDMAX'
  | 'S1FMT'
  | 'S1CTXPTR'
  | 'S1STALLD'
  | 'EATS';

/** Outcome of reading a guest STE: a config, or the event the guest gets instead. */
export type GuestSteRead =
  | { readonly ok: true; readonly cfg: GuestSteConfig }
  | {
      readonly ok: false;
      /** Event for the guest's event queue (C_BAD_STREAMID, F_STE_FETCH or C_BAD_STE). */
      readonly event: number;
      /** IPA for F_STE_FETCH's FetchAddr. */
      readonly fetchAddr: number;
      readonly reason: GuestSteReject | 'BAD_STREAMID' | 'FETCH_ABORT';
      /** For DISALLOWED_BITS: first offending word and its bits. */
      readonly word?: number;
      readonly bits?: number;
    };

/** The guest's stream-table registers and features the lookup needs. */
export interface GuestStrtab {
  /** STRTAB_BASE.ADDR, in place (an IPA). */
  readonly base: number;
  readonly cfg: number;
}

const ABORT_WORDS = new Uint32Array(STE_WORDS);

/**
 * Reads the STE of `vsid` from the guest's stream table through `ram` (IPA port), once, and
 * validates it. Never throws: every guest mistake is an event.
 */
export function readGuestSte(
  ram: WordReader,
  st: GuestStrtab,
  vsid: number,
  gf: Readonly<SmmuFeatures>,
  ipaBits: number,
): GuestSteRead {
  const at = steLocation(st.base, st.cfg, vsid, ram, gf);
  if (at === STE_BAD_STREAMID) return { ok: false, event: EVT.C_BAD_STREAMID, fetchAddr: 0, reason: 'BAD_STREAMID' };
  if (at === STE_L1_ABORT || at < 0) {
    const l1 = strtabIs2Level(st.cfg, gf) ? steL1Addr(st.base, st.cfg, vsid, gf) : 0;
    return { ok: false, event: EVT.F_STE_FETCH, fetchAddr: l1, reason: 'FETCH_ABORT' };
  }
  const words = new Uint32Array(STE_WORDS);
  for (let i = 0; i < STE_WORDS / 2; i++) {
    const lo = ram.load64(at + i * 8);
    if (lo < 0) return { ok: false, event: EVT.F_STE_FETCH, fetchAddr: at + i * 8, reason: 'FETCH_ABORT' };
    words[2 * i] = lo;
    words[2 * i + 1] = ram.hi;
  }
  return checkGuestSte(words, gf, ipaBits);
}

/** Allow-list and field checks of a fetched guest STE (pure). */
export function checkGuestSte(words: Uint32Array, gf: Readonly<SmmuFeatures>, ipaBits: number): GuestSteRead {
  const w0 = words[0] ?? 0;
  if ((w0 & 1) === 0) return { ok: true, cfg: { kind: 'invalid', words } }; // V = 0: the guest's choice
  for (let i = 0; i < STE_WORDS; i++) {
    const extra = ((words[i] ?? 0) & ~(GUEST_STE_ALLOWED[i] ?? 0)) >>> 0;
    if (extra !== 0) return reject('DISALLOWED_BITS', i, extra);
  }
  const config = get32(w0, 3, 1);
  if (config === STE_CFG.BYPASS) return { ok: true, cfg: { kind: 's2', words } };
  if (config < STE_CFG.BYPASS) return { ok: true, cfg: { kind: 'abort', words } }; // 1..3 behave as abort
  if (config !== STE_CFG.S1) return reject('CONFIG');
  const w1 = words[1] ?? 0;
  const w2 = words[2] ?? 0;
  const s1fmt = get32(w0, 5, 4);
  const s1cdmax = get32(w1, 31, 27);
  if (s1cdmax > gf.ssidBits) return reject('S1CDMAX');
  if (s1fmt === 3 || (s1cdmax !== 0 && s1fmt !== 0 && !gf.cd2l)) return reject('S1FMT');
  // S1ContextPtr is an IPA: above the guest's IPA size it can only fault (v3.1: ILLEGAL).
  const ptrHi = get32(w1, 19, 0);
  if (ipaBits < 52 && ptrHi >= 2 ** Math.max(0, ipaBits - 32)) return reject('S1CTXPTR');
  if (get32(w2, 27, 27) !== 0 && gf.stallModel !== 0) return reject('S1STALLD');
  const eats = get32(w2, 29, 28);
  if (eats > 1) return reject('EATS'); // ABT or TRANS only (iommufd); ignored without ATS
  return { ok: true, cfg: { kind: 'nested', words } };
}

function reject(reason: GuestSteReject, word?: number, bits?: number): GuestSteRead {
  const r = { ok: false as const, event: EVT.C_BAD_STE, fetchAddr: 0, reason };
  return word === undefined ? r : { ...r, word, bits: bits ?? 0 };
}

/**
 * The physical STE for a guest config: `s2` is the domain's stage-2-only STE (V = 1,
 * Config = S2, Xen's VMID, VTCR, S2TTB), written by Xen's SMMU driver. Writes 16 words.
 */
export function composePhysicalSte(kind: GuestSteKind, guest: Uint32Array, s2: Uint32Array, out: Uint32Array, mev = true): void {
  switch (kind) {
    case 'invalid':
      out.set(ABORT_WORDS);
      return;
    case 'abort':
      out.set(ABORT_WORDS);
      out[0] = 1 | (STE_CFG.ABORT << 1);
      return;
    case 's2':
      out.set(s2);
      return;
    case 'nested': {
      out.set(s2);
      out[0] = (((s2[0] ?? 0) & ~0xe) | (STE_CFG.NESTED << 1) | ((guest[0] ?? 0) & (NESTED_COPY[0] ?? 0))) >>> 0;
      out[1] = ((s2[1] ?? 0) | ((guest[1] ?? 0) & (NESTED_COPY[1] ?? 0))) >>> 0;
      out[2] = ((s2[2] ?? 0) | ((guest[2] ?? 0) & (NESTED_COPY[2] ?? 0)) | (mev ? MEV_W2 : 0)) >>> 0;
      return;
    }
  }
}
