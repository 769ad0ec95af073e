// VMSAv8-64 page-table builder (stage 1 or stage 2, any granule), the equivalent of Linux
// io-pgtable-arm: the guest driver's io-pgtable, Xen's p2m and the tests all build their
// tables with it. Descriptors are written with WordWriter.store64 (single-copy atomic), and a
// new table is fully written (zeroed, or filled when splitting a block) before the table
// descriptor that publishes it, so a concurrent walker never sees a half-built table.
//
// Encodings (FACTS §7.9, as io-pgtable-arm):
// - stage 1: AF = 1, nG = 1, AP[1] (unprivileged) unless PROT_PRIV, AP[2] (read-only) unless
//   PROT_WRITE, UXN|PXN unless PROT_EXEC, AttrIndx 1 (cacheable, MAIR 0xFF) / 2 (PROT_MMIO,
//   Device-nGnRE) / 0 (PROT_NOCACHE), SH inner-shareable when cacheable, else outer.
// - stage 2: AF = 1, S2AP read/write from PROT_READ/PROT_WRITE, XN[1:0] = 11 unless PROT_EXEC,
//   MemAttr 0xF (0x6 with S2FWB) cacheable / 0x1 PROT_MMIO / 0x5 PROT_NOCACHE, SH as stage 1.
// - a mapping without PROT_READ or PROT_WRITE is a no-op (as iommu_map).
// Policy: `map` picks the largest block that the alignment of va and pa and the remaining
// length allow; a slot that already holds a table is descended into rather than replaced.
// `unmap` splits a block it only partly covers (the new table is complete before it replaces
// the block) and skips holes; empty tables are kept until `destroy` (as io-pgtable-arm).
// Misuse by the caller (unaligned or out-of-range arguments, an existing mapping in the way,
// allocation failure) throws VsmmuError; nothing here reads guest-controlled input except
// the tables it built itself.

import { VsmmuError } from '../errors.ts';
import { blockAllowed, levelShift, s1StartLevel } from './granule.ts';
import { s2StartLevel } from './ste.ts';
import { TWO32, type WordReader, type WordWriter } from './types.ts';

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const PROT_PRIV = 8;
export const PROT_MMIO = 16;
export const PROT_NOCACHE = 32;

export interface PageTableOptions {
  readonly stage: 1 | 2;
  /** 12 (4K), 14 (16K) or 16 (64K). */
  readonly granuleShift: number;
  /** Input address size in bits (stage 1: 64 − T0SZ; stage 2: 64 − S2T0SZ). */
  readonly ias: number;
  /** Output address size in bits (default 48): 52 enables the 64K OA[51:48] encoding and
   *  4 TiB blocks; for stage 2 it also decides the start level as Linux does. */
  readonly oas?: number;
  readonly mem: WordReader & WordWriter;
  /** Allocates `bytes` aligned to `align` in the address space of `mem`; -1 if none. */
  readonly alloc: (bytes: number, align: number) => number;
  /** Stage 2 with STE.S2FWB: cacheable mappings use MemAttr 0x6 (force write-back). */
  readonly fwb?: boolean;
  /** Stage 2 only: start at this level (concatenating first-level tables as needed) instead
   *  of the level Linux would choose; must be a legal S2SL0/S2T0SZ combination. */
  readonly startLevel?: number;
}

const P2: readonly number[] = Array.from({ length: 65 }, (_, n) => 2 ** n);
const pow2 = (n: number): number => P2[n] ?? 2 ** n;
const isAligned = (x: number, log2: number): boolean => x % pow2(log2) === 0;

export class PageTable {
  readonly stage: 1 | 2;
  readonly granuleShift: number;
  readonly ias: number;
  readonly oas: number;
  /** Table base for CD.TTB0 / STE.S2TTB (the concatenated first level for stage 2). */
  readonly root: number;
  readonly rootBytes: number;
  readonly startLevel: number;
  /** STE.S2SL0 and S2T0SZ (or CD.T0SZ) for this table. */
  readonly sl0: number;
  readonly t0sz: number;
  /** Concatenated first-level tables (stage 2; 1 otherwise). */
  readonly concat: number;
  /** log2 sizes of the mappings this table can hold, largest first. */
  readonly pgsizes: readonly number[];

  private readonly mem: WordReader & WordWriter;
  private readonly alloc: (bytes: number, align: number) => number;
  private readonly fwb: boolean;
  private readonly lpa64: boolean;
  private readonly topBits: number;
  private destroyed = false;

  constructor(o: PageTableOptions) {
    const g = o.granuleShift;
    if (g !== 12 && g !== 14 && g !== 16) throw new VsmmuError('EVSMMU_INVAL', `granule shift ${g} is not 12, 14 or 16`);
    const oas = o.oas ?? 48;
    const maxIas = g === 16 && oas >= 52 ? 52 : 48;
    if (!(Number.isInteger(o.ias) && o.ias >= 25 && o.ias <= maxIas)) {
      throw new VsmmuError('EVSMMU_INVAL', `input size ${o.ias} bits is outside 25..${maxIas}`);
    }
    this.stage = o.stage;
    this.granuleShift = g;
    this.ias = o.ias;
    this.oas = oas;
    this.mem = o.mem;
    this.alloc = o.alloc;
    this.fwb = o.fwb ?? false;
    this.lpa64 = g === 16 && oas >= 52;
    this.t0sz = 64 - o.ias;
    let start = s1StartLevel(g, o.ias);
    if (o.stage === 2) {
      // Concatenate where the architecture requires it (as current io-pgtable-arm): 4K level 0
      // needs a 44-bit PA range, 16K/64K level 1 a 42-bit one; Linux avoids 16K level 0.
      const tooHigh = (l: number): boolean =>
        (g === 12 && l === 0 && oas < 44) || (g !== 12 && l === 1 && oas < 42) || (g === 14 && l === 0);
      while (start < 3 && tooHigh(start)) start++;
      if (o.startLevel !== undefined) start = o.startLevel;
      this.sl0 = g === 12 ? 2 - start : 3 - start;
      const tg = g === 12 ? 0 : g === 16 ? 1 : 2;
      const sl = s2StartLevel(tg, this.sl0, this.t0sz, oas);
      if (sl === null || sl.level !== start) {
        throw new VsmmuError('EVSMMU_INVAL', `no legal stage-2 start level for a ${o.ias}-bit input with granule 2^${g}`);
      }
      this.concat = sl.concat;
    } else {
      this.sl0 = 0;
      this.concat = 1;
    }
    this.startLevel = start;
    this.topBits = o.ias - levelShift(g, start);
    this.rootBytes = Math.max(64, 8 * pow2(this.topBits));
    const sizes: number[] = [];
    for (let l = Math.max(1, start); l <= 3; l++) {
      if (l === 3 || blockAllowed(g, l, this.lpa64)) sizes.push(levelShift(g, l));
    }
    this.pgsizes = sizes;
    this.root = this.newTable(this.rootBytes);
  }

  /** Maps [va, va + size) to [pa, pa + size) with PROT_* bits; all three granule-aligned. */
  map(va: number, pa: number, size: number, prot: number): void {
    this.live();
    const g = this.granuleShift;
    this.checkRange(va, size);
    if (!(Number.isSafeInteger(pa) && pa >= 0 && isAligned(pa, g) && pa + size <= pow2(this.oas))) {
      throw new VsmmuError('EVSMMU_INVAL', `map: output ${pa} is not a granule-aligned address below 2^${this.oas}`);
    }
    if ((prot & (PROT_READ | PROT_WRITE)) === 0) return;
    const [alo, ahi] = this.leafAttrs(prot);
    let done = 0;
    try {
      while (done < size) {
        const v = va + done;
        const p = pa + done;
        let mapped = 0;
        for (const s of this.pgsizes) {
          if (!isAligned(v, s) || !isAligned(p, s) || size - done < pow2(s)) continue;
          if (this.install(v, p, s, alo, ahi)) {
            mapped = pow2(s);
            break;
          }
        }
        if (mapped === 0) throw new VsmmuError('EVSMMU_EXIST', `map: ${hex(v)} is already mapped`);
        done += mapped;
      }
    } catch (e) {
      if (done > 0) this.unmap(va, done);
      throw e;
    }
  }

  /** Unmaps [va, va + size) (granule-aligned), splitting blocks it only partly covers.
   *  Returns the number of bytes that were mapped and are now unmapped. */
  unmap(va: number, size: number): number {
    this.live();
    this.checkRange(va, size);
    const g = this.granuleShift;
    const stride = g - 3;
    let v = va;
    const end = va + size;
    let unmapped = 0;
    while (v < end) {
      let table = this.root;
      let level = this.startLevel;
      let bits = this.topBits;
      for (;;) {
        const shift = levelShift(g, level);
        const slot = table + this.index(v, shift, bits) * 8;
        const lo = this.mem.load64(slot);
        const hi = this.mem.hi;
        const entry = pow2(shift);
        if (lo < 0 || (lo & 1) === 0) {
          // Hole: skip to the end of this entry's span.
          v = Math.min(end, v - (v % entry) + entry);
          break;
        }
        if (level < 3 && (lo & 2) !== 0) {
          table = this.addrOf(lo, hi, g);
          level++;
          bits = stride;
          continue;
        }
        if (v % entry === 0 && end - v >= entry) {
          this.mem.store64(slot, 0, 0);
          unmapped += entry;
          v += entry;
          break;
        }
        this.split(slot, lo, hi, level);
        // Walk again from the root: the slot now holds a table of smaller leaves.
        break;
      }
    }
    return unmapped;
  }

  /** Software lookup: the output address of `va`, or -1 when unmapped. */
  translate(va: number): number {
    this.live();
    const g = this.granuleShift;
    if (!(Number.isSafeInteger(va) && va >= 0 && va < pow2(this.ias))) return -1;
    let table = this.root;
    let bits = this.topBits;
    for (let level = this.startLevel; level <= 3; level++) {
      const shift = levelShift(g, level);
      const lo = this.mem.load64(table + this.index(va, shift, bits) * 8);
      const hi = this.mem.hi;
      if (lo < 0 || (lo & 1) === 0) return -1;
      if (level < 3 && (lo & 2) !== 0) {
        table = this.addrOf(lo, hi, g);
        bits = g - 3;
        continue;
      }
      const base = this.addrOf(lo, hi, shift);
      return base + (va % pow2(shift));
    }
    return -1;
  }

  /** Frees every table (leaves first, root last) through `free`; the table is unusable after. */
  destroy(free: (pa: number, bytes: number) => void): void {
    this.live();
    this.freeTable(this.root, this.startLevel, this.topBits, free);
    free(this.root, this.rootBytes);
    this.destroyed = true;
  }

  // ---- internals ---------------------------------------------------------------------------

  private live(): void {
    if (this.destroyed) throw new VsmmuError('EVSMMU_DESTROYED', 'page table was destroyed');
  }

  private checkRange(va: number, size: number): void {
    const g = this.granuleShift;
    if (!(Number.isSafeInteger(va) && Number.isSafeInteger(size) && va >= 0 && size > 0 &&
      isAligned(va, g) && isAligned(size, g) && va + size <= pow2(this.ias))) {
      throw new VsmmuError('EVSMMU_INVAL', `range ${va}+${size} is not granule-aligned inside 2^${this.ias}`);
    }
  }

  private index(va: number, shift: number, bits: number): number {
    return Math.floor(va / pow2(shift)) % pow2(bits);
  }

  /** Address held by a descriptor, bits [47:shift] (+ [51:48] from [15:12] for 64K LPA). */
  private addrOf(lo: number, hi: number, shift: number): number {
    let ahi = hi & 0xffff;
    if (this.lpa64) ahi |= ((lo >>> 12) & 0xf) << 16;
    const a = ahi * TWO32 + (lo >>> 0);
    return a - (a % pow2(shift));
  }

  /** (lo, hi) of a descriptor holding address `pa` (aligned) plus low bits `lo`. */
  private encode(pa: number, lo: number, hi: number): [number, number] {
    let dhi = Math.floor(pa / TWO32);
    let dlo = ((pa >>> 0) | lo) >>> 0;
    if (this.lpa64) dlo = (dlo | (((dhi >>> 16) & 0xf) << 12)) >>> 0;
    dhi = ((dhi & 0xffff) | hi) >>> 0;
    return [dlo, dhi];
  }

  /** Low and high attribute bits of a leaf for `prot` (type bits excluded). */
  private leafAttrs(prot: number): [number, number] {
    const mmio = (prot & PROT_MMIO) !== 0;
    const cached = !mmio && (prot & PROT_NOCACHE) === 0;
    let lo = 0x400 | (cached ? 3 << 8 : 2 << 8); // AF, SH
    let hi = 0;
    if ((prot & PROT_EXEC) === 0) hi |= 3 << 21; // [54:53]: UXN|PXN / XN[1:0]
    if (this.stage === 1) {
      lo |= 0x800; // nG
      if ((prot & PROT_PRIV) === 0) lo |= 0x40; // AP[1]
      if ((prot & PROT_WRITE) === 0) lo |= 0x80; // AP[2]: read-only
      lo |= (mmio ? 2 : cached ? 1 : 0) << 2;
    } else {
      if (prot & PROT_READ) lo |= 0x40;
      if (prot & PROT_WRITE) lo |= 0x80;
      lo |= (mmio ? 0x1 : cached ? (this.fwb ? 0x6 : 0xf) : 0x5) << 2;
    }
    return [lo, hi];
  }

  private newTable(bytes: number): number {
    const pa = this.alloc(bytes, Math.max(64, bytes));
    if (!(Number.isSafeInteger(pa) && pa >= 0)) throw new VsmmuError('EVSMMU_NOMEM', `page table: cannot allocate ${bytes} bytes`);
    for (let o = 0; o < bytes; o += 8) {
      if (!this.mem.store64(pa + o, 0, 0)) throw new VsmmuError('EVSMMU_NOMEM', `page table: allocated table at ${hex(pa)} is outside memory`);
    }
    return pa;
  }

  /**
   * Installs a leaf of log2 size `s` at va, creating tables on the way. False when the slot
   * holds a table (the caller tries a smaller size); throws EVSMMU_EXIST on an existing leaf.
   */
  private install(va: number, pa: number, s: number, alo: number, ahi: number): boolean {
    const g = this.granuleShift;
    let table = this.root;
    let bits = this.topBits;
    for (let level = this.startLevel; level <= 3; level++) {
      const shift = levelShift(g, level);
      const slot = table + this.index(va, shift, bits) * 8;
      const lo = this.mem.load64(slot);
      const hi = this.mem.hi;
      const valid = lo >= 0 && (lo & 1) !== 0;
      const isTable = valid && level < 3 && (lo & 2) !== 0;
      if (shift === s) {
        if (isTable) return false;
        if (valid) throw new VsmmuError('EVSMMU_EXIST', `map: ${hex(va)} is already mapped`);
        const [dlo, dhi] = this.encode(pa, alo | (level === 3 ? 3 : 1), ahi);
        this.mem.store64(slot, dlo, dhi);
        return true;
      }
      if (!valid) {
        const t = this.newTable(pow2(g));
        const [dlo, dhi] = this.encode(t, 3, 0);
        this.mem.store64(slot, dlo, dhi); // published after the table was zeroed
        table = t;
      } else if (isTable) {
        table = this.addrOf(lo, hi, g);
      } else {
        throw new VsmmuError('EVSMMU_EXIST', `map: ${hex(va)} lies in an existing block`);
      }
      bits = g - 3;
    }
    return false;
  }

  /** Replaces the block at `slot` (level < 3) by a full table of the next level's leaves. */
  private split(slot: number, lo: number, hi: number, level: number): void {
    const g = this.granuleShift;
    const childShift = levelShift(g, level + 1);
    const base = this.addrOf(lo, hi, levelShift(g, level));
    const alo = (lo & 0xffc) | (level + 1 === 3 ? 3 : 1);
    const ahi = (hi & 0xfff80000) >>> 0;
    const t = this.newTable(pow2(g));
    const n = pow2(g - 3);
    for (let i = 0; i < n; i++) {
      const [dlo, dhi] = this.encode(base + i * pow2(childShift), alo, ahi);
      this.mem.store64(t + i * 8, dlo, dhi);
    }
    const [dlo, dhi] = this.encode(t, 3, 0);
    this.mem.store64(slot, dlo, dhi);
  }

  private freeTable(table: number, level: number, bits: number, free: (pa: number, bytes: number) => void): void {
    if (level >= 3) return;
    const g = this.granuleShift;
    const n = pow2(bits);
    for (let i = 0; i < n; i++) {
      const lo = this.mem.load64(table + i * 8);
      const hi = this.mem.hi;
      if (lo < 0 || (lo & 3) !== 3) continue;
      const child = this.addrOf(lo, hi, g);
      this.freeTable(child, level + 1, g - 3, free);
      free(child, pow2(g));
    }
  }
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
