// Translation of one transaction page: configuration lookup (STE, CD through the
// configuration cache), IOTLB, walk on a miss, and the architectural fault record.
//
// Order of checks (spec §7.3.22 priority, FACTS §6.4): C_BAD_STREAMID -> F_STE_FETCH ->
// C_BAD_STE -> C_BAD_SUBSTREAMID -> F_STREAM_DISABLED -> stage-2 faults of the CD fetch ->
// F_CD_FETCH -> C_BAD_CD -> translation faults (the walker orders those).
//
// Recording: C_BAD_STREAMID only with CR2.RECINVSID; stage-1 F_TRANSLATION / F_ADDR_SIZE /
// F_ACCESS / F_PERMISSION only with CD.R, stage-2 ones only with STE.S2R (CD.S/STE.S2S
// stalls are not supported: STALL_MODEL = 1); everything else always. STE Config = abort
// (and the reserved values that behave as abort) and GBPA.ABORT abort silently.
//
// Caching: only legal STEs and CDs are cached (an ILLEGAL structure is re-fetched on every
// transaction, so a fixed structure is picked up without invalidation - permitted, since
// caching is never required). TLB entries hold each stage's permissions; a hit whose access
// is not permitted raises F_PERMISSION from the entry (S2 = 1 when stage 1 allowed it), as
// hardware does with a cached translation.

import { cdLocation, CD_BAD_SUBSTREAMID, CD_FETCH_ABORT, decodeCd, validateCd, type Cd, type CdLocOut } from '../arch/cd.ts';
import { CLASS, EVT, eventOf, type EventRecord } from '../arch/events.ts';
import type { SmmuFeatures } from '../arch/features.ts';
import {
  decodeSte, STE_BAD_STREAMID, STE_CFG, STE_L1_ABORT, steL1Addr, steLocation, steS1, steS2, validateSte, type Ste,
} from '../arch/ste.ts';
import { ACC_INSTR, ACC_PRIV, ACC_WRITE, TWO32, type WordReader } from '../arch/types.ts';
import { ACC_NEED, s1CfgFromCd, s2CfgFromSte, Walker, WalkResult, type Fault, type S1Cfg, type S2Cfg } from '../arch/walk.ts';
import type { ConfigCache } from './config-cache.ts';
import { ctxWord, Iotlb, REGIME_EL1, REGIME_EL2, tagWord, TLB_NESTED, TLB_S1, TLB_S2 } from './iotlb.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';

export const XL_OK = 0;
/** Terminated by the SMMU: `out.event` describes it (recorded or not, see `out.recorded`). */
export const XL_FAULT = 1;

/** Translation modes of a resolved stream context. */
const M_BYPASS = 0;

/** A resolved (StreamID, SubstreamID) context: what the IOTLB is tagged with and walks use. */
export interface StreamCtx {
  /** 0 = bypass (no translation), else TLB_S1 / TLB_S2 / TLB_NESTED. */
  readonly kind: number;
  readonly regime: number;
  readonly vmid: number;
  readonly asid: number;
  readonly s1: S1Cfg | null;
  readonly s2: S2Cfg | null;
  /** CD.R and STE.S2R: record stage-1 / stage-2 translation faults. */
  readonly s1Record: boolean;
  /** STE.MEV: identical records of this stream may be merged (spec 7.3.1). */
  readonly mev: boolean;
  readonly s2Record: boolean;
  readonly tbi0: boolean;
  readonly tbi1: boolean;
  /** Precomputed IOTLB words for the hot path (iotlb.ts ctxWord/tagWord); tag -1 when TBI
   *  is enabled (the key needs the top byte canonicalised: slow path). */
  readonly ctxWord: number;
  readonly tagWord: number;
}

/** A cached STE with what the SMMU derives from it once. */
export interface SteEntry {
  readonly ste: Ste;
  readonly s2: S2Cfg | null;
  readonly vmid: number;
  readonly regime: number;
  /** Context for traffic that bypasses stage 1 (bypass STE, S2-only STE, S1DSS = bypass). */
  readonly s1BypassCtx: StreamCtx;
}

export interface CdEntry {
  readonly cd: Cd;
  readonly ctx: StreamCtx;
}

export interface TranslateStats {
  translations: number;
  faults: number;
  permissionHits: number;
  steFetches: number;
  cdFetches: number;
}

/** Per-call output of Translator.translate. */
export class XlateOut {
  /** Output address and the bytes from it to the end of its page/block. */
  pa = 0;
  pageBytes = 0;
  readonly event: EventRecord = eventOf({});
  /** The fault was written to the event queue (or would have been, if deliverable). */
  recorded = false;
}

/** Current register state the translator depends on (latched by the SMMU core). */
export interface TranslatorRegs {
  smmuEnabled: boolean;
  gbpaAbort: boolean;
  strtabBase: number;
  strtabCfg: number;
  recInvSid: boolean;
  e2h: boolean;
}

const POW2: Float64Array = Float64Array.from({ length: 65 }, (_, n) => 2 ** n);
const TRANSLATION_FAULT_MIN = EVT.F_TRANSLATION;
const TRANSLATION_FAULT_MAX = EVT.F_PERMISSION;

export class Translator {
  readonly walker: Walker;
  /** Trace points: IOTLB misses (walks) and configuration-cache misses, on `track`. */
  tr: Tracer = NO_TRACE;
  track = 'xlate';
  readonly stats: TranslateStats = { translations: 0, faults: 0, permissionHits: 0, steFetches: 0, cdFetches: 0 };
  private readonly res = new WalkResult();
  private readonly words = new Uint32Array(16);
  private readonly loc: CdLocOut = { fetchAddr: 0, ipa: 0 };
  private readonly oasHi: number;
  // One-entry memo of the last resolved context, dropped when the config cache removes
  // anything (the entries it was resolved from may be gone) and on register changes.
  private memoSid = -1;
  private memoSsid = -1;
  private memoCtx: StreamCtx | null = null;

  private readonly f: Readonly<SmmuFeatures>;
  private readonly mem: WordReader;
  private readonly iotlb: Iotlb;
  private readonly cfg: ConfigCache<SteEntry, CdEntry>;
  private readonly regs: TranslatorRegs;
  /** Writes a fault record to the event queue (`mergeable`: STE.MEV allows merging it). */
  private readonly record: (e: EventRecord, mergeable: boolean) => void;
  /**
   * Whether the record being raised may be merged: STE.MEV of the stream once its STE is
   * located; before that (C_BAD_STREAMID, F_STE_FETCH, C_BAD_STE) always (spec 7.3.1).
   */
  private mergeable = true;

  constructor(
    f: Readonly<SmmuFeatures>, mem: WordReader, iotlb: Iotlb, cfg: ConfigCache<SteEntry, CdEntry>, regs: TranslatorRegs,
    record: (e: EventRecord, mergeable: boolean) => void,
  ) {
    this.f = f;
    this.mem = mem;
    this.iotlb = iotlb;
    this.cfg = cfg;
    this.regs = regs;
    this.record = record;
    cfg.onRemove = () => this.forget();
    this.walker = new Walker({ oas: f.oas });
    this.oasHi = 2 ** Math.max(0, f.oas - 32);
  }

  /** Forgets the memoised context (register changes that alter resolution). */
  forget(): void {
    this.memoSid = -1;
    this.memoCtx = null;
  }

  /**
   * Translates the page of input address (hi, lo) for a transaction of `sid` (SubstreamID
   * `ssid` when `ssv`) with ACC_* attributes `acc`. XL_OK: out.pa / out.pageBytes. XL_FAULT:
   * out.event (and the record was written when architecturally recorded).
   */
  translate(sid: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number, out: XlateOut): number {
    // Hot path: memoised context + micro-TLB hit. Everything else is in translateSlow.
    const ctx = this.memoCtx;
    if (ctx !== null && sid === this.memoSid && (ssv ? ssid : -1) === this.memoSsid && ctx.tagWord >= 0) {
      if (this.iotlb.hit(ctx.ctxWord, ctx.tagWord, hi, lo, ACC_NEED[acc & 7]!, out)) {
        this.stats.translations++;
        return XL_OK;
      }
    }
    this.stats.translations++;
    return this.translateSlow(sid, ssv, ssid, hi, lo, acc, out);
  }

  private translateSlow(sid: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number, out: XlateOut): number {
    const regs = this.regs;
    if (!regs.smmuEnabled) {
      if (regs.gbpaAbort) return this.silent(out, sid, ssv, ssid, hi, lo, acc);
      out.pa = hi * TWO32 + lo;
      out.pageBytes = Infinity;
      return XL_OK;
    }
    const ssidKey = ssv ? ssid : -1;
    let ctx: StreamCtx | null;
    this.mergeable = true;
    if (sid === this.memoSid && ssidKey === this.memoSsid) ctx = this.memoCtx;
    else {
      ctx = this.resolve(sid, ssv, ssid, hi, lo, acc, out);
      if (ctx === null) return XL_FAULT;
      this.memoSid = sid;
      this.memoSsid = ssidKey;
      this.memoCtx = ctx;
    }
    if (ctx === null) return XL_FAULT;
    this.mergeable = ctx.mev;
    if (ctx.kind === M_BYPASS) {
      if (hi >= this.oasHi) {
        return this.fault(out, EVT.F_ADDR_SIZE, 0, CLASS.IN, 0, 0, true, sid, ssv, ssid, hi, lo, acc);
      }
      out.pa = hi * TWO32 + lo;
      out.pageBytes = Infinity;
      return XL_OK;
    }
    // TLB key: with TBI for the selected half, the top byte is a sign extension of VA[55].
    let khi = hi;
    if (ctx.s1 !== null) {
      const sel = (hi >>> 23) & 1;
      if (sel ? ctx.tbi1 : ctx.tbi0) khi = sel ? (hi | 0xff000000) >>> 0 : hi & 0x00ffffff;
    }
    const tlb = this.iotlb;
    const e = tlb.lookup(ctx.kind, ctx.regime, ctx.vmid, ctx.asid, khi, lo);
    if (e >= 0) {
      const need = ACC_NEED[acc & 7]!;
      const perm = tlb.perm[e]!;
      if ((perm & need) !== 0 && ((perm >>> 6) & need) !== 0) {
        const s = tlb.sizeLog2[e]!;
        const off = s < 32 ? (lo & ((1 << s) - 1)) >>> 0 : offsetIn(khi, lo, s);
        out.pa = tlb.pa[e]! + off;
        out.pageBytes = POW2[s]! - off;
        return XL_OK;
      }
    }
    return this.afterLookup(ctx, e, khi, sid, ssv, ssid, hi, lo, acc, out);
  }

  /** An IOTLB miss (walk) or a hit the access is not permitted by (F_PERMISSION). */
  private afterLookup(
    ctx: StreamCtx, e: number, khi: number, sid: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number, out: XlateOut,
  ): number {
    const tlb = this.iotlb;
    if (e >= 0) {
      const need = ACC_NEED[acc & 7]!;
      const perm = tlb.perm[e]!;
      this.stats.permissionHits++;
      const s2 = (perm & need) !== 0 ? 1 : 0;
      const ipa = s2 ? tlb.ipaOf(e, khi, lo) : 0;
      return this.fault(out, EVT.F_PERMISSION, s2, CLASS.IN, ipa, 0, s2 ? ctx.s2Record : ctx.s1Record, sid, ssv, ssid, hi, lo, acc);
    }
    const res = this.res;
    const t0 = this.tr.enabled ? this.tr.stamp() : 0;
    const walked = this.walker.translate(ctx.s1, ctx.s2, this.mem, hi, lo, acc, res);
    if (this.tr.enabled) this.traceWalk(t0, sid, hi, lo, walked);
    if (!walked) return this.walkFault(out, res.fault, ctx, sid, ssv, ssid);
    const global = ctx.s1 !== null && res.nG === 0;
    const level = ctx.s1 !== null ? res.s1level : res.s2level;
    tlb.insert(ctx.kind, ctx.regime, ctx.vmid, ctx.asid, global, khi, lo, res.size, level < 0 ? 0 : level, res.pa - offsetIn(khi, lo, res.size), res.ipa - offsetIn(khi, lo, res.size), res.s1perm | (res.s2perm << 6));
    out.pa = res.pa;
    out.pageBytes = POW2[res.size]! - offsetIn(khi, lo, res.size);
    return XL_OK;
  }

  // Trace points, out of the hot functions (they stay small enough to inline).
  private traceWalk(t0: number, sid: number, hi: number, lo: number, ok: boolean): void {
    this.tr.slice(this.track, 'IOTLB miss: walk', t0, { sid, iova: `0x${(hi * TWO32 + lo).toString(16)}`, ok });
  }

  private traceMiss(what: string, sid: number, ssid: number): void {
    this.tr.instant(this.track, what, ssid < 0 ? { sid } : { sid, ssid });
  }

  // ---- configuration --------------------------------------------------------------------

  private resolve(sid: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number, out: XlateOut): StreamCtx | null {
    let se = this.cfg.getSte(sid);
    if (se === undefined) {
      if (this.tr.enabled) this.traceMiss('STE cache miss', sid, -1);
      const fetched = this.fetchSte(sid, ssv, ssid, hi, lo, acc, out);
      if (fetched === null) return null;
      se = fetched;
    }
    const ste = se.ste;
    this.mergeable = ste.mev !== 0;
    const config = ste.config;
    if (config < STE_CFG.BYPASS) {
      this.silent(out, sid, ssv, ssid, hi, lo, acc);
      return null;
    }
    const s1 = steS1(config);
    if (!s1) {
      if (ssv) return this.cfgFault(out, EVT.C_BAD_SUBSTREAMID, sid, ssv, ssid, hi, lo, acc);
      return se.s1BypassCtx;
    }
    const cdmax = this.f.ssidBits === 0 ? 0 : ste.s1cdmax;
    let idx: number;
    if (ssv) {
      if (cdmax === 0 || ssid >= 2 ** cdmax) return this.cfgFault(out, EVT.C_BAD_SUBSTREAMID, sid, ssv, ssid, hi, lo, acc);
      if (ssid === 0 && ste.s1dss === 2) return this.cfgFault(out, EVT.F_STREAM_DISABLED, sid, ssv, ssid, hi, lo, acc);
      idx = ssid;
    } else if (cdmax === 0) {
      idx = 0;
    } else if (ste.s1dss === 1) {
      return se.s1BypassCtx;
    } else if (ste.s1dss === 2) {
      idx = 0;
    } else {
      return this.cfgFault(out, EVT.F_STREAM_DISABLED, sid, ssv, ssid, hi, lo, acc);
    }
    let ce = this.cfg.getCd(sid, idx);
    if (ce === undefined) {
      if (this.tr.enabled) this.traceMiss('CD cache miss', sid, idx);
      const fetched = this.fetchCd(se, sid, idx, ssv, ssid, hi, lo, acc, out);
      if (fetched === null) return null;
      ce = fetched;
    }
    return ce.ctx;
  }

  private fetchSte(sid: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number, out: XlateOut): SteEntry | null {
    this.stats.steFetches++;
    const r = this.regs;
    const at = steLocation(r.strtabBase, r.strtabCfg, sid, this.mem, this.f);
    if (at === STE_BAD_STREAMID) {
      this.fault(out, EVT.C_BAD_STREAMID, 0, 0, 0, 0, r.recInvSid, sid, ssv, ssid, hi, lo, acc);
      return null;
    }
    if (at === STE_L1_ABORT) {
      this.fault(out, EVT.F_STE_FETCH, 0, 0, 0, steL1Addr(r.strtabBase, r.strtabCfg, sid, this.f), true, sid, ssv, ssid, hi, lo, acc);
      return null;
    }
    const w = this.words;
    for (let i = 0; i < 8; i++) {
      const v = this.mem.load64(at + 8 * i);
      if (v < 0) {
        this.fault(out, EVT.F_STE_FETCH, 0, 0, 0, at + 8 * i, true, sid, ssv, ssid, hi, lo, acc);
        return null;
      }
      w[2 * i] = v;
      w[2 * i + 1] = this.mem.hi;
    }
    const ste = decodeSte(w);
    if (!validateSte(ste, this.f).ok) {
      this.cfgFault(out, EVT.C_BAD_STE, sid, ssv, ssid, hi, lo, acc);
      return null;
    }
    const s2 = steS2(ste.config) ? s2CfgFromSte(ste, this.f) : null;
    const vmid = this.f.s2 ? ste.s2vmid : 0;
    // STRW selects EL2 only for stage-1-only STEs with IDR0.Hyp (FACTS §2.1).
    const regime = this.f.hyp && ste.config === STE_CFG.S1 && ste.strw === 2 ? REGIME_EL2 : REGIME_EL1;
    const bkind = s2 !== null ? TLB_S2 : M_BYPASS;
    const s1BypassCtx: StreamCtx = {
      kind: bkind, regime: REGIME_EL1, vmid, asid: 0, s1: null, s2,
      s1Record: false, s2Record: ste.s2r !== 0, mev: ste.mev !== 0, tbi0: false, tbi1: false,
      ctxWord: ctxWord(bkind, vmid, 0), tagWord: bkind === M_BYPASS ? -1 : tagWord(bkind, REGIME_EL1),
    };
    const entry: SteEntry = { ste, s2, vmid, regime, s1BypassCtx };
    this.cfg.putSte(sid, entry);
    return entry;
  }

  private fetchCd(
    se: SteEntry, sid: number, idx: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number, out: XlateOut,
  ): CdEntry | null {
    this.stats.cdFetches++;
    const ste = se.ste;
    const s2 = se.s2;
    const res = this.res;
    const walker = this.walker;
    const mem = this.mem;
    const xlate = s2 === null ? null : (ipa: number): number => walker.ipaToPa(s2, mem, ipa, hi, lo, acc, res);
    const pa = cdLocation(ste, idx, mem, xlate, this.loc, this.f);
    if (pa < 0) {
      if (pa === CD_BAD_SUBSTREAMID) return this.cfgFault(out, EVT.C_BAD_SUBSTREAMID, sid, ssv, ssid, hi, lo, acc);
      if (pa === CD_FETCH_ABORT) {
        this.fault(out, EVT.F_CD_FETCH, 0, 0, 0, this.loc.fetchAddr, true, sid, ssv, ssid, hi, lo, acc);
        return null;
      }
      // CD_S2_FAULT: the stage-2 walk of the CD (or L1CD) address faulted, CLASS CD.
      this.walkFault(out, res.fault, se.s1BypassCtx, sid, ssv, ssid);
      return null;
    }
    const w = this.words;
    for (let i = 0; i < 8; i++) {
      const v = mem.load64(pa + 8 * i);
      if (v < 0) {
        this.fault(out, EVT.F_CD_FETCH, 0, 0, 0, pa + 8 * i, true, sid, ssv, ssid, hi, lo, acc);
        return null;
      }
      w[2 * i] = v;
      w[2 * i + 1] = mem.hi;
    }
    const cd = decodeCd(w);
    if (!validateCd(cd, ste, this.f).ok) {
      this.cfgFault(out, EVT.C_BAD_CD, sid, ssv, ssid, hi, lo, acc);
      return null;
    }
    const kind = s2 !== null ? TLB_NESTED : TLB_S1;
    const asid = se.regime === REGIME_EL2 && !this.regs.e2h ? 0 : cd.asid;
    const ctx: StreamCtx = {
      kind,
      regime: se.regime,
      vmid: se.vmid,
      asid,
      s1: s1CfgFromCd(cd, this.f),
      s2,
      s1Record: cd.r !== 0,
      s2Record: ste.s2r !== 0,
      mev: ste.mev !== 0,
      tbi0: cd.tbi0 !== 0,
      tbi1: cd.tbi1 !== 0,
      ctxWord: ctxWord(kind, se.vmid, asid),
      tagWord: cd.tbi0 !== 0 || cd.tbi1 !== 0 ? -1 : tagWord(kind, se.regime),
    };
    const entry: CdEntry = { cd, ctx };
    this.cfg.putCd(sid, idx, entry);
    return entry;
  }

  // ---- fault records -------------------------------------------------------------------

  private silent(out: XlateOut, sid: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number): number {
    this.fill(out.event, 0, 0, 0, 0, 0, sid, ssv, ssid, hi, lo, acc);
    out.recorded = false;
    this.stats.faults++;
    return XL_FAULT;
  }

  private cfgFault(out: XlateOut, type: number, sid: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number): null {
    this.fault(out, type, 0, 0, 0, 0, true, sid, ssv, ssid, hi, lo, acc);
    return null;
  }

  private walkFault(out: XlateOut, f: Fault, ctx: StreamCtx, sid: number, ssv: boolean, ssid: number): number {
    const translationType = f.type >= TRANSLATION_FAULT_MIN && f.type <= TRANSLATION_FAULT_MAX;
    const rec = !translationType || (f.s2 ? ctx.s2Record : ctx.s1Record);
    const acc = (f.rnw ? 0 : ACC_WRITE) | (f.ind ? ACC_INSTR : 0) | (f.pnu ? ACC_PRIV : 0);
    this.fill(out.event, f.type, f.s2, f.cls, f.ipa, f.fetchAddr, sid, ssv, ssid, f.inputHi, f.inputLo, acc);
    out.event.ttrnw = f.ttrnw;
    return this.finish(out, rec);
  }

  private fault(
    out: XlateOut, type: number, s2: number, cls: number, ipa: number, fetchAddr: number, rec: boolean,
    sid: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number,
  ): number {
    this.fill(out.event, type, s2, cls, ipa, fetchAddr, sid, ssv, ssid, hi, lo, acc);
    return this.finish(out, rec);
  }

  private finish(out: XlateOut, rec: boolean): number {
    this.stats.faults++;
    out.recorded = rec;
    if (rec) this.record(out.event, this.mergeable);
    return XL_FAULT;
  }

  private fill(
    e: EventRecord, type: number, s2: number, cls: number, ipa: number, fetchAddr: number,
    sid: number, ssv: boolean, ssid: number, hi: number, lo: number, acc: number,
  ): void {
    const write = (acc & ACC_WRITE) !== 0;
    e.type = type;
    e.sid = sid >>> 0;
    e.ssv = ssv ? 1 : 0;
    e.ssid = ssv ? ssid : 0;
    e.stag = 0;
    e.stall = 0;
    e.pnu = (acc & ACC_PRIV) !== 0 ? 1 : 0;
    e.ind = !write && (acc & ACC_INSTR) !== 0 ? 1 : 0;
    e.rnw = write ? 0 : 1;
    e.s2 = s2;
    e.cls = cls;
    e.ttrnw = 0;
    e.reason = 0;
    e.inputLo = lo >>> 0;
    e.inputHi = hi >>> 0;
    e.ipa = ipa - (ipa % 4096);
    e.fetchAddr = fetchAddr - (fetchAddr % 8);
  }
}

/** The bits of (hi, lo) below 2^s, as a number. */
function offsetIn(hi: number, lo: number, s: number): number {
  if (s >= 64) return hi * TWO32 + lo;
  if (s >= 32) return (hi & (2 ** (s - 32) - 1)) * TWO32 + lo;
  return (lo & ((1 << s) - 1)) >>> 0;
}
