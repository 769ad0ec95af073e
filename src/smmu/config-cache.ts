// The configuration cache: decoded STEs by StreamID and decoded CDs by (StreamID,
// SubstreamID), each bounded with exact LRU replacement (a Map's insertion order: a hit
// re-inserts the entry at the young end, eviction takes the oldest).
//
// Entries leave only by replacement or by the commands that name them (IHI 0070 §4.3):
//   CFGI_STE(sid)            the STE and every CD cached through that StreamID;
//   CFGI_STE_RANGE(sid, r)   the same for the 2^(r+1) aligned StreamIDs (r = 31: CFGI_ALL);
//   CFGI_CD(sid, ssid)       the CD fetched from index ssid of sid's CD table (0 = single CD);
//   CFGI_CD_ALL(sid)         every CD of sid.
// Range commands walk the cached entries, never the guest-supplied range (work is
// proportional to the cache, not to 2^32 StreamIDs).
//
// Intermediate descriptors (L1STD, L1CD) are not cached: every STE or CD miss re-reads them,
// so Leaf = 0 and Leaf = 1 have the same effect here (over-invalidation is permitted).
//
// Every removal calls `onRemove`, so a caller may memoise its last lookup and drop the memo
// then, instead of revalidating it on each use.

import type { CacheCounters } from './iotlb.ts';

const SSID_SPACE = 1048576; // 2^20 SubstreamIDs per StreamID

function newCounters(): CacheCounters {
  return { lookups: 0, hits: 0, misses: 0, insertions: 0, evictions: 0, invalidated: 0 };
}

export interface ConfigCacheStats {
  readonly ste: CacheCounters & { readonly entries: number; readonly capacity: number };
  readonly cd: CacheCounters & { readonly entries: number; readonly capacity: number };
}

export class ConfigCache<S, C> {
  readonly steCapacity: number;
  readonly cdCapacity: number;
  private readonly stes = new Map<number, S>();
  private readonly cds = new Map<number, C>();
  readonly steCounters: CacheCounters = newCounters();
  readonly cdCounters: CacheCounters = newCounters();
  /** Called whenever any entry is removed (invalidation, eviction, clear). */
  onRemove: (() => void) | null = null;

  constructor(steCapacity = 256, cdCapacity = 1024) {
    if (!(steCapacity >= 1 && cdCapacity >= 1)) throw new RangeError('config cache capacity');
    this.steCapacity = steCapacity;
    this.cdCapacity = cdCapacity;
  }

  getSte(sid: number): S | undefined {
    this.steCounters.lookups++;
    const v = this.stes.get(sid);
    if (v === undefined) {
      this.steCounters.misses++;
      return undefined;
    }
    this.steCounters.hits++;
    this.stes.delete(sid);
    this.stes.set(sid, v);
    return v;
  }

  putSte(sid: number, v: S): void {
    if (this.stes.delete(sid)) this.onRemove?.();
    else if (this.stes.size >= this.steCapacity) {
      const oldest = this.stes.keys().next().value as number;
      this.stes.delete(oldest);
      this.steCounters.evictions++;
      this.onRemove?.();
    }
    this.stes.set(sid, v);
    this.steCounters.insertions++;
  }

  getCd(sid: number, ssid: number): C | undefined {
    this.cdCounters.lookups++;
    const k = sid * SSID_SPACE + ssid;
    const v = this.cds.get(k);
    if (v === undefined) {
      this.cdCounters.misses++;
      return undefined;
    }
    this.cdCounters.hits++;
    this.cds.delete(k);
    this.cds.set(k, v);
    return v;
  }

  putCd(sid: number, ssid: number, v: C): void {
    const k = sid * SSID_SPACE + ssid;
    if (this.cds.delete(k)) this.onRemove?.();
    else if (this.cds.size >= this.cdCapacity) {
      const oldest = this.cds.keys().next().value as number;
      this.cds.delete(oldest);
      this.cdCounters.evictions++;
      this.onRemove?.();
    }
    this.cds.set(k, v);
    this.cdCounters.insertions++;
  }

  /** CMD_CFGI_STE: the STE of `sid` and every CD cached through it. */
  invalidateSte(sid: number): void {
    this.invalidateSidRange(sid, sid);
  }

  /** CMD_CFGI_STE_RANGE: StreamIDs [first, last] (inclusive), their STEs and CDs. */
  invalidateSidRange(first: number, last: number): void {
    let n = 0;
    for (const sid of this.stes.keys()) {
      if (sid >= first && sid <= last) {
        this.stes.delete(sid);
        n++;
      }
    }
    this.steCounters.invalidated += n;
    let m = 0;
    for (const k of this.cds.keys()) {
      const sid = Math.floor(k / SSID_SPACE);
      if (sid >= first && sid <= last) {
        this.cds.delete(k);
        m++;
      }
    }
    this.cdCounters.invalidated += m;
    if (n + m > 0) this.onRemove?.();
  }

  /** CMD_CFGI_CD: the CD at index `ssid` of `sid`'s CD table. */
  invalidateCd(sid: number, ssid: number): void {
    if (this.cds.delete(sid * SSID_SPACE + ssid)) {
      this.cdCounters.invalidated++;
      this.onRemove?.();
    }
  }

  /** CMD_CFGI_CD_ALL: every CD cached through `sid`. */
  invalidateCdAll(sid: number): void {
    let m = 0;
    for (const k of this.cds.keys()) {
      if (Math.floor(k / SSID_SPACE) === sid) {
        this.cds.delete(k);
        m++;
      }
    }
    this.cdCounters.invalidated += m;
    if (m > 0) this.onRemove?.();
  }

  /** Everything (reset, CFGI_ALL). `byCommand` counts the removed entries as invalidated. */
  clear(byCommand = false): void {
    if (byCommand) {
      this.steCounters.invalidated += this.stes.size;
      this.cdCounters.invalidated += this.cds.size;
    }
    this.stes.clear();
    this.cds.clear();
    this.onRemove?.();
  }

  get steEntries(): number {
    return this.stes.size;
  }

  get cdEntries(): number {
    return this.cds.size;
  }

  stats(): ConfigCacheStats {
    return {
      ste: { ...this.steCounters, entries: this.stes.size, capacity: this.steCapacity },
      cd: { ...this.cdCounters, entries: this.cds.size, capacity: this.cdCapacity },
    };
  }
}
