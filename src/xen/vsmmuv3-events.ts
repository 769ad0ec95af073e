// What a guest's stage-1-only vSMMU reports for a physical event of one of its devices
// (spec 7.3; reference/xen-vsmmuv3.md "event forwarding"). Pure: it reads only Xen's copy
// of the guest STE and, for the two stage-2 cases, the guest's own structures by IPA.
//
//   physical record                              the guest's record
//   stage-1 translation faults (S2 = 0)          the same, with the vSID
//   C_BAD_STE, C_BAD_CD, C_BAD_SUBSTREAMID,      the same, with the vSID
//     F_STREAM_DISABLED
//   C_BAD_STE of an STE Xen installed invalid    what the guest's own stream table gives:
//     because the guest's lookup failed            C_BAD_STREAMID (7.3.3, only with the guest's
//                                                  CR2.RECINVSID) or F_STE_FETCH (7.3.4) with
//                                                  the IPA the guest's table pointed at
//   stage-2 fault, CLASS = CD                    F_CD_FETCH with the IPA of the guest's CD or
//                                                  L1CD (the note of 7.3.10)
//   stage-2 fault, CLASS = TT                    F_WALK_EABT, S2 = 0, CLASS = TT, with the IPA
//                                                  of the guest's stage-1 descriptor (7.3.12)
//   anything else (stage-2 faults on the final  nothing: Xen's business
//     IPA, fetch aborts at PAs, F_UUT, ...)

import { cdLocation, decodeCd, type CdLocOut } from '../arch/cd.ts';
import { CLASS, EVT, eventOf, type EventRecord } from '../arch/events.ts';
import type { SmmuFeatures } from '../arch/features.ts';
import { decodeSte } from '../arch/ste.ts';
import { ACC_INSTR, ACC_PRIV, ACC_WRITE, type WordReader } from '../arch/types.ts';
import { s1CfgFromCd, Walker, WalkResult } from '../arch/walk.ts';
import type { GuestSteConfig } from './vsmmuv3-ste.ts';

/** Event types a guest receives as they are (besides the rewritten ones). */
const AS_IS: ReadonlySet<number> = new Set<number>([
  EVT.C_BAD_STE, EVT.F_STREAM_DISABLED, EVT.C_BAD_SUBSTREAMID, EVT.C_BAD_CD,
  EVT.F_TRANSLATION, EVT.F_ADDR_SIZE, EVT.F_ACCESS, EVT.F_PERMISSION,
]);

/** Whether a stage-1 record of `type` reaches the guest as it is (with the vSID). */
export function forwardedAsIs(type: number): boolean {
  return AS_IS.has(type);
}

/** Stage-2 faults a nested walk reports for the guest's own structures. */
function isTranslationFault(type: number): boolean {
  return type >= EVT.F_TRANSLATION && type <= EVT.F_PERMISSION;
}

export interface GuestView {
  readonly vsid: number;
  /** Xen's copy of the device's guest STE (undefined: the guest never configured it). */
  readonly cfg: GuestSteConfig | undefined;
  /** The guest's CR2.RECINVSID. */
  readonly recInvSid: boolean;
  /** The guest's RAM by IPA (-1 outside it). */
  readonly ram: WordReader;
  /** The features the guest sees. */
  readonly gf: Readonly<SmmuFeatures>;
}

const CD_WORDS = new Uint32Array(16);
const LOC: CdLocOut = { fetchAddr: 0, ipa: 0 };

/** The guest's record for physical record `p` of one of its devices, or null (Xen keeps it). */
export function guestEventOf(p: Readonly<EventRecord>, g: GuestView, walker: Walker, res: WalkResult): EventRecord | null {
  if (p.s2 === 0 && AS_IS.has(p.type)) {
    if (p.type === EVT.C_BAD_STE && g.cfg?.lookup !== undefined) return lookupEvent(p, g);
    return { ...p, sid: g.vsid };
  }
  if (p.s2 === 1 && isTranslationFault(p.type) && g.cfg?.kind === 'nested') {
    if (p.cls === CLASS.CD) {
      return eventOf({ type: EVT.F_CD_FETCH, sid: g.vsid, ssv: p.ssv, ssid: p.ssid, fetchAddr: cdIpa(p, g) });
    }
    if (p.cls === CLASS.TT) {
      return eventOf({
        type: EVT.F_WALK_EABT, sid: g.vsid, ssv: p.ssv, ssid: p.ssid, pnu: p.pnu, ind: p.ind, rnw: p.rnw,
        s2: 0, cls: CLASS.TT, inputLo: p.inputLo, inputHi: p.inputHi, fetchAddr: descriptorIpa(p, g, walker, res),
      });
    }
  }
  return null;
}

/** C_BAD_STREAMID or F_STE_FETCH, as the guest's own stream-table lookup gave it. */
function lookupEvent(p: Readonly<EventRecord>, g: GuestView): EventRecord | null {
  const l = g.cfg?.lookup;
  if (l === undefined) return null;
  if (l.event === EVT.C_BAD_STREAMID) {
    return g.recInvSid ? eventOf({ type: EVT.C_BAD_STREAMID, sid: g.vsid, ssv: p.ssv, ssid: p.ssid }) : null;
  }
  return eventOf({ type: l.event, sid: g.vsid, ssv: p.ssv, ssid: p.ssid, fetchAddr: l.fetchAddr });
}

/**
 * IPA of the CD (or L1CD) the hardware could not fetch: from the guest STE and the guest's
 * RAM; the physical record's IPA (its page only) when the guest's tables say otherwise.
 */
function cdIpa(p: Readonly<EventRecord>, g: GuestView): number {
  const words = g.cfg?.words;
  if (words === undefined) return p.ipa;
  const ste = decodeSte(words);
  const idx = p.ssv ? p.ssid : 0;
  const at = cdLocation(ste, idx, g.ram, null, LOC, g.gf);
  if (at >= 0) return at;
  return LOC.fetchAddr !== 0 ? LOC.fetchAddr : p.ipa;
}

/**
 * IPA of the stage-1 descriptor whose stage-2 translation faulted: the guest's walk redone
 * in its IPA space (which aborts at that descriptor); the physical IPA (its page) otherwise.
 */
function descriptorIpa(p: Readonly<EventRecord>, g: GuestView, walker: Walker, res: WalkResult): number {
  const words = g.cfg?.words;
  if (words === undefined) return p.ipa;
  const ste = decodeSte(words);
  const at = cdLocation(ste, p.ssv ? p.ssid : 0, g.ram, null, LOC, g.gf);
  if (at < 0) return p.ipa;
  for (let i = 0; i < 8; i++) {
    const lo = g.ram.load64(at + 8 * i);
    if (lo < 0) return p.ipa;
    CD_WORDS[2 * i] = lo;
    CD_WORDS[2 * i + 1] = g.ram.hi;
  }
  const s1 = s1CfgFromCd(decodeCd(CD_WORDS), g.gf);
  const acc = (p.rnw ? 0 : ACC_WRITE) | (p.ind ? ACC_INSTR : 0) | (p.pnu ? ACC_PRIV : 0);
  if (walker.translate(s1, null, g.ram, p.inputHi, p.inputLo, acc, res)) return p.ipa;
  const f = res.fault;
  if (f.type === EVT.F_WALK_EABT && f.fetchAddr - (f.fetchAddr % 4096) === p.ipa) return f.fetchAddr;
  return p.ipa;
}
