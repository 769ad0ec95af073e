// The IOTLB: a bounded cache of leaf translations, as an open-addressing hash table over
// typed arrays (no allocation, no bigint on the lookup path).
//
// Tags (what an entry matches on):
//   kind    TLB_S1 (stage 1 only: VA -> PA), TLB_S2 (stage 2 only: IPA -> PA),
//           TLB_NESTED (combined stage 1 + stage 2: VA -> PA, the IPA kept per entry);
//   regime  EL1 (non-secure, non-hyp: NH_* / S12 / S2 / NSNH commands) or EL2 (EL2_* commands);
//   VMID    every entry (stage-1-only entries carry STE.S2VMID, 0 without stage 2);
//   ASID    stage-1 and nested entries made from a descriptor with nG = 1. Entries from a
//           global descriptor (nG = 0) are NOT ASID-tagged: they match every ASID of their
//           VMID, TLBI_NH_ASID leaves them alone and TLBI_NH_VA removes them whatever its
//           ASID (the VMSAv8-64 rules for global entries). Stage-2 entries have no ASID;
//   address the input page number at the entry's size (log2 of the page or block the
//           address lies in; a nested entry has the smaller of the stage-1 and stage-2 sizes).
// Level and permissions are stored but are not tags.
//
// Only leaf translations are cached (no walk cache), so TLBI Leaf=1 and Leaf=0 remove the
// same entries, and TTL (a level hint) never spares an entry: the architecture allows an
// invalidation to remove more than it must, never less.
//
// Permissions: `perm` holds each stage's permissions as the walker reports them (PERM_* bits
// of stage 1 in bits [5:0], of stage 2 in bits [11:6]), so a hit can raise F_PERMISSION
// from the entry and attribute it to the right stage, as hardware does with a cached
// translation.
//
// Replacement: LRU-ish. Each hit stamps the entry with a clock; when full, the oldest of a
// few sampled entries is evicted (Redis-style sampled LRU: O(1) per insertion).

export const TLB_S1 = 1;
export const TLB_S2 = 2;
export const TLB_NESTED = 3;
export const REGIME_EL1 = 0;
export const REGIME_EL2 = 1;

/** Stage masks for `invalidateVmid`. */
export const INV_STAGE1 = 1; // TLB_S1 + TLB_NESTED entries
export const INV_STAGE2 = 2; // TLB_S2 entries

// meta word: bit 0 valid, bits 2:1 kind, bit 3 regime, bit 4 global, bits 13:8 sizeLog2.
const M_VALID = 1;
const M_GLOBAL = 16;
const EVICT_SAMPLES = 8;
const UTLB_SLOTS = 256;
const TWO32 = 4294967296;
const POW2: Float64Array = Float64Array.from({ length: 65 }, (_, n) => 2 ** n);

export interface CacheCounters {
  lookups: number;
  hits: number;
  misses: number;
  insertions: number;
  evictions: number;
  /** Entries removed by invalidation commands. */
  invalidated: number;
}

export interface IotlbStats extends CacheCounters {
  readonly entries: number;
  readonly capacity: number;
}

function metaOf(kind: number, regime: number, global: boolean, sizeLog2: number): number {
  return M_VALID | (kind << 1) | (regime << 3) | (global ? M_GLOBAL : 0) | (sizeLog2 << 8);
}

/**
 * Probe key word: the high VPN bits (below 2^20: inputs are 64-bit and pages at least 4K)
 * with the tag bits above them, so a probe compares three words (ctx, key, vpnLo).
 */
function keyOf(meta: number, vHi: number): number {
  return (vHi | (((meta >>> 1) & 15) << 20) | (((meta >>> 8) & 63) << 24)) >>> 0;
}

/** `a` (an exact non-negative integer below 2^53) aligned down to 2^s, without fmod. */
function alignDown(a: number, s: number): number {
  if (s < 32) return a - ((a >>> 0) & ((1 << s) - 1) >>> 0);
  return a - (a % 2 ** s);
}

/** The context word `hit` takes: VMID and ASID as the IOTLB tags them. */
export function ctxWord(kind: number, vmid: number, asid: number): number {
  return (vmid << 16) | (kind === TLB_S2 ? 0 : asid);
}

/** The tag word `hit` takes: kind and regime in the key's tag bits. */
export function tagWord(kind: number, regime: number): number {
  return (kind | (regime << 2)) << 20;
}

export class Iotlb {
  readonly capacity: number;
  // Entry pool (index e in [0, capacity)).
  private readonly meta: Uint32Array;
  private readonly ctx: Uint32Array; // vmid << 16 | asid (asid 0 for global and S2 entries)
  private readonly vpnHi: Uint32Array;
  private readonly key: Uint32Array;
  private readonly vpnLo: Uint32Array;
  private readonly home: Uint32Array; // hash of the key (its home slot)
  private readonly stamp: Uint32Array;
  /** Input base address of the entry (page aligned, hence exact as a double). */
  readonly base: Float64Array;
  /** Output (PA) base address of the entry. */
  readonly pa: Float64Array;
  /** IPA base of the entry (nested: stage-1 output; S2: = base; S1: = pa). */
  readonly ipa: Float64Array;
  readonly level: Uint8Array;
  /** Stage-1 PERM_* bits [5:0], stage-2 PERM_* bits [11:6]. */
  readonly perm: Uint16Array;
  readonly sizeLog2: Uint8Array;
  // Index: 4 int32 words per slot [vpnLo, key, ctx, entry] (entry -1 = empty), so a probe
  // reads one cache line. Linear probing, load factor <= 0.5.
  private readonly slots: Int32Array;
  // Micro-TLB in front of the table (as hardware has): direct-mapped by 4K input page and
  // context, it remembers which entry translated that page. An entry's version changes
  // whenever the entry is removed, so a micro-TLB slot naming a removed (or reused) entry
  // never hits: it holds no translation of its own and needs no invalidation.
  // Slot of 8 int32: [page lo, key, ctx, entry (-1 empty), entry version, perm, sizeLog2, -],
  // plus the entry's output base in uPa: a hit reads two cache lines and the entry's version.
  private readonly u = new Int32Array(UTLB_SLOTS * 8).fill(-1);
  private readonly uPa = new Float64Array(UTLB_SLOTS);
  private readonly ver: Int32Array;
  /** Output base, permissions and size of the entry the last successful lookup returned. */
  hitPa = 0;
  hitPerm = 0;
  hitSize = 12;
  private readonly mask: number;
  private readonly freeList: Int32Array;
  private nFree: number;
  private clock = 0;
  private rng: number;
  // Page sizes present (so a lookup probes only those), split by ASID-tagged and global.
  private readonly sizeCnt = new Int32Array(64);
  private readonly globalCnt = new Int32Array(64);
  /** Live entries per VMID, so VMID-scoped invalidations skip or cut short the scan. */
  private readonly vmidLive = new Int32Array(65536);
  private readonly sizes = new Int32Array(64);
  private nSizes = 0;
  private nGlobal = 0;
  // Counters as plain fields (one load/store on the hot path); `counters` snapshots them.
  private nHits = 0;
  private nMisses = 0;
  private nInsertions = 0;
  private nEvictions = 0;
  private nInvalidated = 0;

  get counters(): CacheCounters {
    return {
      // Every lookup ends in a hit or a miss; counting lookups apart would cost the hit path.
      lookups: this.nHits + this.nMisses, hits: this.nHits, misses: this.nMisses, insertions: this.nInsertions,
      evictions: this.nEvictions, invalidated: this.nInvalidated,
    };
  }

  constructor(capacity = 2048, seed = 0x2545f491) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 22) throw new RangeError(`IOTLB capacity ${capacity}`);
    this.capacity = capacity;
    this.meta = new Uint32Array(capacity);
    this.ctx = new Uint32Array(capacity);
    this.vpnHi = new Uint32Array(capacity);
    this.key = new Uint32Array(capacity);
    this.vpnLo = new Uint32Array(capacity);
    this.home = new Uint32Array(capacity);
    this.stamp = new Uint32Array(capacity);
    this.base = new Float64Array(capacity);
    this.pa = new Float64Array(capacity);
    this.ipa = new Float64Array(capacity);
    this.level = new Uint8Array(capacity);
    this.perm = new Uint16Array(capacity);
    this.sizeLog2 = new Uint8Array(capacity);
    let n = 2;
    while (n < capacity * 2) n *= 2;
    this.slots = new Int32Array(n * 4).fill(-1);
    this.ver = new Int32Array(capacity);
    this.mask = n - 1;
    this.freeList = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.freeList[i] = capacity - 1 - i;
    this.nFree = capacity;
    this.rng = seed | 0 || 1;
  }

  get entries(): number {
    return this.capacity - this.nFree;
  }

  stats(): IotlbStats {
    return { ...this.counters, entries: this.entries, capacity: this.capacity };
  }

  private hash(ctx: number, key: number, vLo: number): number {
    const h = Math.imul(vLo ^ Math.imul(ctx ^ key, 0x9e3779b1), 0x85ebca77);
    return (h ^ (h >>> 16)) >>> 0;
  }

  private probe(ctx: number, key: number, vLo: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const l = vLo | 0;
    const k = key | 0;
    const c = ctx | 0;
    let i = this.hash(ctx, key, vLo) & mask;
    for (;;) {
      const o = i << 2;
      const e = slots[o + 3]!;
      if (e < 0) return -1;
      if (slots[o] === l && slots[o + 1] === k && slots[o + 2] === c) return e;
      i = (i + 1) & mask;
    }
  }

  /**
   * Finds the entry translating input address (hi, lo) for this context, or -1. Global
   * entries of the VMID match any ASID. Counts a lookup and a hit or miss.
   */
  /**
   * The translation hot path, micro-TLB only: the output address of (hi, lo) when the
   * micro-TLB holds a live entry for this context (`ctxWord(kind, vmid, asid)`, `tagWord(kind,
   * regime)`) whose permissions at both stages include `need` (PERM_* bits); -1 otherwise,
   * and the caller uses lookup(). Counts a lookup and a hit when it returns an address.
   */
  hit(ctx: number, tag: number, hi: number, lo: number, need: number, out: { pa: number; pageBytes: number }): boolean {
    const plo = (lo >>> 12) | (hi << 20);
    const u = ((plo ^ (plo >>> 8) ^ ctx) & (UTLB_SLOTS - 1)) << 3;
    const us = this.u;
    const ue = us[u + 3]!;
    if (us[u] !== plo || us[u + 1] !== (tag | (hi >>> 12)) || us[u + 2] !== ctx || ue < 0 || us[u + 4] !== this.ver[ue]) return false;
    const perm = us[u + 5]!;
    if ((perm & need) === 0 || ((perm >>> 6) & need) === 0) return false;
    this.nHits++;
    this.clock = (this.clock + 1) & 0x3fffffff;
    this.stamp[ue] = this.clock;
    const s = us[u + 6]!;
    const off = s < 32 ? (lo & ((1 << s) - 1)) >>> 0 : (hi & ((1 << (s - 32)) - 1)) * TWO32 + lo;
    out.pa = this.uPa[u >> 3]! + off;
    out.pageBytes = POW2[s]! - off;
    return true;
  }

  lookup(kind: number, regime: number, vmid: number, asid: number, hi: number, lo: number): number {
    const ctx = (vmid << 16) | (kind === TLB_S2 ? 0 : asid);
    const key = ((kind | (regime << 2)) << 20) | (hi >>> 12);
    const plo = (lo >>> 12) | (hi << 20);
    const u = ((plo ^ (plo >>> 8) ^ ctx) & (UTLB_SLOTS - 1)) << 3;
    const us = this.u;
    const ue = us[u + 3]!;
    if (us[u] === plo && us[u + 1] === key && us[u + 2] === ctx && ue >= 0 && us[u + 4] === this.ver[ue]) {
      this.nHits++;
      this.clock = (this.clock + 1) & 0x3fffffff;
      this.stamp[ue] = this.clock;
      this.hitPa = this.uPa[u >> 3]!;
      this.hitPerm = us[u + 5]!;
      this.hitSize = us[u + 6]!;
      return ue;
    }
    return this.lookupSlow(kind, regime, vmid, asid, hi, lo, ctx, key, plo, u);
  }

  /** Micro-TLB miss: the hash table, then refill the micro-TLB slot `u`. */
  private lookupSlow(kind: number, regime: number, vmid: number, asid: number, hi: number, lo: number, ctx: number, key: number, plo: number, u: number): number {
    const us = this.u;
    const e = this.find(kind, regime, vmid, asid, hi, lo);
    if (e >= 0) {
      this.nHits++;
      this.clock = (this.clock + 1) & 0x3fffffff;
      this.stamp[e] = this.clock;
      this.hitPa = this.pa[e]!;
      this.hitPerm = this.perm[e]!;
      this.hitSize = this.sizeLog2[e]!;
      us[u] = plo;
      us[u + 1] = key;
      us[u + 2] = ctx;
      us[u + 3] = e;
      us[u + 4] = this.ver[e]!;
      us[u + 5] = this.hitPerm;
      us[u + 6] = this.hitSize;
      this.uPa[u >> 3] = this.hitPa;
    } else this.nMisses++;
    return e;
  }

  /** Like lookup, without counting or stamping (for tests and reference checks). */
  find(kind: number, regime: number, vmid: number, asid: number, hi: number, lo: number): number {
    const n = this.nSizes;
    const ctx = ((vmid << 16) | (kind === TLB_S2 ? 0 : asid)) >>> 0; // stage-2 entries have no ASID
    const tag = ((kind | (regime << 2)) << 20) >>> 0;
    for (let k = 0; k < n; k++) {
      const s = this.sizes[k]!;
      let vLo: number, vHi: number;
      if (s < 32) {
        vLo = ((lo >>> s) | (hi << (32 - s))) >>> 0;
        vHi = hi >>> s;
      } else {
        vLo = hi >>> (s - 32);
        vHi = 0;
      }
      const key = (vHi | tag | (s << 24)) >>> 0;
      if (this.sizeCnt[s]! > 0) {
        const e = this.probe(ctx, key, vLo);
        if (e >= 0) return e;
      }
      if (this.globalCnt[s]! > 0) {
        const e = this.probe((vmid << 16) >>> 0, (key | (1 << 23)) >>> 0, vLo);
        if (e >= 0) return e;
      }
    }
    return -1;
  }

  /** Output address for input (hi, lo) through entry e. */
  outputOf(e: number, hi: number, lo: number): number {
    const s = this.sizeLog2[e]!;
    const off = s < 32 ? (lo & ((1 << s) - 1)) >>> 0 : (hi & ((1 << (s - 32)) - 1)) * TWO32 + lo;
    return this.pa[e]! + off;
  }

  /** IPA for input (hi, lo) through entry e (meaningful for nested and S2 entries). */
  ipaOf(e: number, hi: number, lo: number): number {
    const s = this.sizeLog2[e]!;
    const off = s < 32 ? (lo & ((1 << s) - 1)) >>> 0 : (hi & ((1 << (s - 32)) - 1)) * TWO32 + lo;
    return this.ipa[e]! + off;
  }

  /**
   * Inserts (or refreshes) the translation of the 2^sizeLog2 page containing (hi, lo).
   * `pa`/`ipa` are the page's output and intermediate addresses (any offset inside the page
   * is dropped). An existing entry with the same tags is refreshed in place (a re-walk).
   * Returns the entry index.
   */
  insert(
    kind: number,
    regime: number,
    vmid: number,
    asid: number,
    global: boolean,
    hi: number,
    lo: number,
    sizeLog2: number,
    level: number,
    pa: number,
    ipa: number,
    perm: number,
  ): number {
    const s = sizeLog2;
    let vLo: number, vHi: number;
    if (s < 32) {
      vLo = ((lo >>> s) | (hi << (32 - s))) >>> 0;
      vHi = hi >>> s;
    } else {
      vLo = hi >>> (s - 32);
      vHi = 0;
    }
    const ctx = global || kind === TLB_S2 ? (vmid << 16) >>> 0 : ((vmid << 16) | asid) >>> 0;
    const m = metaOf(kind, regime, global, s);
    const size = 2 ** s;
    const paBase = alignDown(pa, s);
    const ipaBase = alignDown(ipa, s);
    const key = keyOf(m, vHi);
    let e = this.probe(ctx, key, vLo);
    if (e >= 0) {
      this.pa[e] = paBase;
      this.ipa[e] = ipaBase;
      this.perm[e] = perm;
      this.level[e] = level;
      this.ver[e] = (this.ver[e]! + 1) | 0; // micro-TLB copies of the old contents die
      return e;
    }
    if (this.nFree === 0) this.evictOne();
    e = this.freeList[--this.nFree]!;
    const h = this.hash(ctx, key, vLo);
    this.meta[e] = m;
    this.key[e] = key;
    this.ctx[e] = ctx;
    this.vmidLive[ctx >>> 16]!++;
    this.vpnHi[e] = vHi;
    this.vpnLo[e] = vLo;
    this.home[e] = h;
    this.base[e] = (vHi * TWO32 + vLo) * size;
    this.pa[e] = paBase;
    this.ipa[e] = ipaBase;
    this.level[e] = level;
    this.perm[e] = perm;
    this.sizeLog2[e] = s;
    this.clock = (this.clock + 1) & 0x3fffffff;
    this.stamp[e] = this.clock;
    let i = h & this.mask;
    while (this.slots[(i << 2) + 3]! >= 0) i = (i + 1) & this.mask;
    const o = i << 2;
    this.slots[o] = vLo | 0;
    this.slots[o + 1] = key | 0;
    this.slots[o + 2] = ctx | 0;
    this.slots[o + 3] = e;
    this.countSize(s, global, 1);
    this.nInsertions++;
    return e;
  }

  private countSize(s: number, global: boolean, d: number): void {
    const before = this.sizeCnt[s]! + this.globalCnt[s]!;
    if (global) {
      this.globalCnt[s]! += d;
      this.nGlobal += d;
    } else this.sizeCnt[s]! += d;
    const after = this.sizeCnt[s]! + this.globalCnt[s]!;
    if ((before === 0) !== (after === 0)) {
      let n = 0;
      for (let k = 12; k < 64; k++) if (this.sizeCnt[k]! + this.globalCnt[k]! > 0) this.sizes[n++] = k;
      this.nSizes = n;
    }
  }

  private evictOne(): void {
    let victim = -1;
    let oldest = -1;
    for (let k = 0; k < EVICT_SAMPLES; k++) {
      // xorshift32
      let x = this.rng;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.rng = x | 0; // int32: keeps the field a Smi/int32 and the modulo an integer one
      const e = (x >>> 1) % this.capacity;
      if (this.meta[e] === 0) continue;
      const age = (this.clock - this.stamp[e]!) & 0x3fffffff;
      if (age > oldest) {
        oldest = age;
        victim = e;
      }
    }
    if (victim < 0) {
      for (let e = 0; e < this.capacity; e++) if (this.meta[e] !== 0) { victim = e; break; }
    }
    this.remove(victim);
    this.nEvictions++;
  }

  /** Removes entry e (backward-shift deletion keeps probe chains intact). */
  private remove(e: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = this.home[e]! & mask;
    while (slots[(i << 2) + 3] !== e) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const f = slots[(j << 2) + 3]!;
      if (f < 0) break;
      const k = this.home[f]! & mask;
      // Move f back to the hole at i unless its home lies cyclically in (i, j].
      const inRange = i <= j ? k > i && k <= j : k > i || k <= j;
      if (!inRange) {
        const a = i << 2;
        const b = j << 2;
        slots[a] = slots[b]!;
        slots[a + 1] = slots[b + 1]!;
        slots[a + 2] = slots[b + 2]!;
        slots[a + 3] = f;
        i = j;
      }
    }
    slots[(i << 2) + 3] = -1;
    const m = this.meta[e]!;
    this.countSize((m >>> 8) & 63, (m & M_GLOBAL) !== 0, -1);
    this.vmidLive[this.ctx[e]! >>> 16]!--;
    this.meta[e] = 0;
    this.ver[e] = (this.ver[e]! + 1) | 0;
    this.freeList[this.nFree++] = e;
  }

  /** Removes every entry for which `pred(e, meta, vmid, asid)` holds; returns the count. */
  private sweep(pred: (e: number, meta: number, vmid: number, asid: number) => boolean, vmid = -1): number {
    // Hardware matches every entry at once; a scan costs the capacity, so skip it when no
    // entry can match (common: a TLBI for a VMID with nothing cached) and stop once every
    // live entry has been looked at.
    let live = vmid >= 0 ? this.vmidLive[vmid]! : this.capacity - this.nFree;
    let n = 0;
    for (let e = 0; e < this.capacity && live > 0; e++) {
      const m = this.meta[e]!;
      if (m === 0) continue;
      if (vmid < 0 || this.ctx[e]! >>> 16 === vmid) live--;
      const c = this.ctx[e]!;
      if (pred(e, m, c >>> 16, c & 0xffff)) {
        this.remove(e);
        n++;
      }
    }
    this.nInvalidated += n;
    return n;
  }

  /** Everything (reset). Not counted as invalidation by command. */
  clear(): void {
    this.slots.fill(-1);
    this.u.fill(-1);
    this.meta.fill(0);
    for (let i = 0; i < this.capacity; i++) this.freeList[i] = this.capacity - 1 - i;
    this.nFree = this.capacity;
    this.sizeCnt.fill(0);
    this.globalCnt.fill(0);
    this.vmidLive.fill(0);
    this.nSizes = 0;
    this.nGlobal = 0;
  }

  /** All entries of a regime: TLBI_NSNH_ALL (EL1, every VMID) and TLBI_EL2_ALL (EL2). */
  invalidateRegime(regime: number): number {
    return this.sweep((_e, m) => ((m >>> 3) & 1) === regime);
  }

  /** EL1 entries of a VMID: stages INV_STAGE1 (TLBI_NH_ALL) or INV_STAGE1|INV_STAGE2 (TLBI_S12_VMALL). */
  invalidateVmid(vmid: number, stages: number): number {
    return this.sweep((_e, m, v) => {
      if (v !== vmid || (m & 8) !== 0) return false;
      const kind = (m >>> 1) & 3;
      return kind === TLB_S2 ? (stages & INV_STAGE2) !== 0 : (stages & INV_STAGE1) !== 0;
    }, vmid);
  }

  /**
   * Non-global stage-1 (S1 and nested) entries of an ASID: TLBI_NH_ASID (regime EL1, VMID
   * given) and TLBI_EL2_ASID (regime EL2, vmid -1 = any).
   */
  invalidateAsid(regime: number, vmid: number, asid: number): number {
    return this.sweep((_e, m, v, a) => {
      if (((m >>> 3) & 1) !== regime || (m & M_GLOBAL) !== 0) return false;
      if (((m >>> 1) & 3) === TLB_S2) return false;
      return (vmid < 0 || v === vmid) && a === asid;
    }, vmid);
  }

  /**
   * Stage-1 (S1 and nested) entries overlapping the input range [start, start + len):
   * TLBI_NH_VA (asid given: that ASID's entries and global ones), TLBI_NH_VAA (asid -1: every
   * ASID), and the EL2 forms (regime EL2, vmid -1). `start` is page aligned (exact double).
   */
  invalidateVa(regime: number, vmid: number, asid: number, start: number, len: number): number {
    const end = start + len;
    if (asid >= 0 && this.nGlobal === 0 && regime === REGIME_EL1 && vmid >= 0) {
      const n = this.probeRange(vmid, asid, start, end);
      if (n >= 0) {
        this.nInvalidated += n;
        return n;
      }
    }
    return this.sweep((e, m, v, a) => {
      if (((m >>> 3) & 1) !== regime || ((m >>> 1) & 3) === TLB_S2) return false;
      if (vmid >= 0 && v !== vmid) return false;
      if (asid >= 0 && (m & M_GLOBAL) === 0 && a !== asid) return false;
      const b = this.base[e]!;
      return b < end && start < b + 2 ** ((m >>> 8) & 63);
    }, vmid);
  }

  /**
   * Fast path for small VA ranges: probe each page of each present size instead of scanning
   * the table. Returns -1 when the range is too large for probing (the caller sweeps).
   */
  private probeRange(vmid: number, asid: number, start: number, end: number): number {
    let probes = 0;
    for (let k = 0; k < this.nSizes; k++) {
      const size = 2 ** this.sizes[k]!;
      probes += Math.floor((end - 1) / size) - Math.floor(start / size) + 1;
      if (probes > 64) return -1;
    }
    const ctx = ((vmid << 16) | asid) >>> 0;
    let n = 0;
    // Walk the present sizes from the largest down: removing the last entry of a size
    // compacts `sizes`, which only moves the entries above it.
    for (let k = this.nSizes - 1; k >= 0; k--) {
      const s = this.sizes[k]!;
      if (this.sizeCnt[s] === 0) continue;
      const size = 2 ** s;
      const first = Math.floor(start / size);
      const last = Math.floor((end - 1) / size);
      for (let vpn = first; vpn <= last; vpn++) {
        const vHi = Math.floor(vpn / TWO32) >>> 0;
        const vLo = vpn >>> 0;
        for (let kind = TLB_S1; kind <= TLB_NESTED; kind += TLB_NESTED - TLB_S1) {
          const e = this.probe(ctx, keyOf(metaOf(kind, REGIME_EL1, false, s), vHi), vLo);
          if (e >= 0) {
            this.remove(e);
            n++;
          }
        }
      }
    }
    return n;
  }

  /**
   * TLBI_S2_IPA: stage-2 entries whose input range overlaps [start, start + len), and nested
   * entries whose IPA range overlaps it (a combined entry is derived from that stage-2
   * mapping; removing it too is the conservative, always-permitted choice).
   */
  invalidateIpa(vmid: number, start: number, len: number): number {
    const end = start + len;
    return this.sweep((e, m, v) => {
      if (v !== vmid || (m & 8) !== 0) return false;
      const kind = (m >>> 1) & 3;
      const size = 2 ** ((m >>> 8) & 63);
      if (kind === TLB_S2) {
        const b = this.base[e]!;
        return b < end && start < b + size;
      }
      if (kind === TLB_NESTED) {
        const b = this.ipa[e]!;
        return b < end && start < b + size;
      }
      return false;
    }, vmid);
  }

  /** Visits every valid entry (tests, dumps). */
  forEach(fn: (e: number, kind: number, regime: number, vmid: number, asid: number, global: boolean) => void): void {
    for (let e = 0; e < this.capacity; e++) {
      const m = this.meta[e]!;
      if (m === 0) continue;
      const c = this.ctx[e]!;
      fn(e, (m >>> 1) & 3, (m >>> 3) & 1, c >>> 16, c & 0xffff, (m & M_GLOBAL) !== 0);
    }
  }
}
