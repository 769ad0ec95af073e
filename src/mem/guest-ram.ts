// A guest's view of its RAM: intermediate physical addresses translated to physical ones by
// the domain's p2m (owned by Xen; here only a lookup callback), one granule page at a time.
// The guest kernel reads and writes its own structures (stream table, CDs, stage-1 tables,
// queues) through it; a walker may read through its WordReader port.
//
// Accesses are split at granule boundaries, since consecutive IPA pages need not be
// consecutive in PA. 16/32/64-bit accesses must be naturally aligned, so they never cross a
// page. A zero-length byte access touches no page and is accepted at any IPA. An IPA the
// p2m does not map is refused: VsmmuError('EVSMMU_GUEST_RANGE') from the API
// methods, -1 / false from load64/store64.

import type { WordReader, WordWriter } from '../arch/types.ts';
import { VsmmuError } from '../errors.ts';
import type { PhysMemory } from './phys.ts';
import { PAGE_SIZES } from './alloc.ts';

/** IPA -> PA of that byte, or -1 when the IPA is not mapped. Must be consistent within a
 *  granule page (page-granular mappings). */
export type P2mLookup = (ipa: number) => number;

function hex(n: number): string {
  return Number.isInteger(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);
}

export class GuestRam implements WordReader, WordWriter {
  readonly mem: PhysMemory;
  readonly p2m: P2mLookup;
  readonly granule: number;
  /** High 32 bits of the last successful `load64`. */
  hi = 0;

  constructor(mem: PhysMemory, p2m: P2mLookup, granule: number = 4096) {
    if (!PAGE_SIZES.includes(granule)) {
      throw new VsmmuError('EVSMMU_BADSIZE', `invalid granule ${String(granule)}: expected 4096, 16384 or 65536`, { granule });
    }
    this.mem = mem;
    this.p2m = p2m;
    this.granule = granule;
  }

  /** PA of `ipa`, or -1 if the guest does not own it. */
  translate(ipa: number): number {
    if (!(Number.isSafeInteger(ipa) && ipa >= 0)) return -1;
    return this.p2m(ipa);
  }

  /** True if every byte of [ipa, ipa + len) is guest RAM. */
  owns(ipa: number, len = 1): boolean {
    if (!(Number.isSafeInteger(ipa) && ipa >= 0 && Number.isSafeInteger(len) && len >= 0)) return false;
    const end = ipa + len;
    for (let p = ipa; p < end; p = this.pageEnd(p)) if (this.p2m(p) < 0) return false;
    return true;
  }

  // ---- walker port -----------------------------------------------------------------------

  load64(ipa: number): number {
    const pa = this.p2m(ipa);
    if (pa < 0) return -1;
    const lo = this.mem.load64(pa);
    this.hi = this.mem.hi;
    return lo;
  }

  store64(ipa: number, lo: number, hi: number): boolean {
    const pa = this.p2m(ipa);
    return pa >= 0 && this.mem.store64(pa, lo, hi);
  }

  // ---- API -------------------------------------------------------------------------------

  read8(ipa: number): number {
    return this.mem.read8(this.pa(ipa, 1, 'read8'));
  }
  read16(ipa: number): number {
    return this.mem.read16(this.pa(ipa, 2, 'read16'));
  }
  read32(ipa: number): number {
    return this.mem.read32(this.pa(ipa, 4, 'read32'));
  }
  read64(ipa: number): bigint {
    return this.mem.read64(this.pa(ipa, 8, 'read64'));
  }
  write8(ipa: number, v: number): void {
    this.mem.write8(this.pa(ipa, 1, 'write8'), v);
  }
  write16(ipa: number, v: number): void {
    this.mem.write16(this.pa(ipa, 2, 'write16'), v);
  }
  write32(ipa: number, v: number): void {
    this.mem.write32(this.pa(ipa, 4, 'write32'), v);
  }
  write64(ipa: number, v: bigint): void {
    this.mem.write64(this.pa(ipa, 8, 'write64'), v);
  }

  /** Reads an unsigned value of `width` bytes (1, 2 or 4). */
  read(ipa: number, width: 1 | 2 | 4): number {
    return width === 1 ? this.read8(ipa) : width === 2 ? this.read16(ipa) : this.read32(ipa);
  }
  /** Writes `v` modulo 2^(8 * width). */
  write(ipa: number, width: 1 | 2 | 4, v: number): void {
    if (width === 1) this.write8(ipa, v);
    else if (width === 2) this.write16(ipa, v);
    else this.write32(ipa, v);
  }

  /** A copy of `len` bytes at `ipa`, gathered page by page. */
  readBytes(ipa: number, len: number): Uint8Array {
    this.checkAll(ipa, len, 'readBytes');
    const out = new Uint8Array(len);
    const u8 = this.mem.u8;
    for (let p = ipa, o = 0; o < len; ) {
      const n = Math.min(this.pageEnd(p) - p, len - o);
      const pa = this.p2m(p);
      out.set(u8.subarray(pa, pa + n), o);
      p += n;
      o += n;
    }
    return out;
  }

  /** Writes `bytes` at `ipa`; nothing is written unless every page is guest RAM. */
  writeBytes(ipa: number, bytes: ArrayLike<number>): void {
    const len = bytes.length;
    this.checkAll(ipa, len, 'writeBytes');
    const src = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    for (let p = ipa, o = 0; o < len; ) {
      const n = Math.min(this.pageEnd(p) - p, len - o);
      this.mem.writeBytes(this.p2m(p), src.subarray(o, o + n));
      p += n;
      o += n;
    }
  }

  /** Sets `len` bytes at `ipa` to `byte`; nothing is written unless every page is guest RAM. */
  fill(ipa: number, len: number, byte: number): void {
    this.checkAll(ipa, len, 'fill');
    for (let p = ipa, o = 0; o < len; ) {
      // One fill per physically contiguous run (PhysMemory.fill treats a page and a larger
      // buffer differently).
      const pa = this.p2m(p);
      let n = Math.min(this.pageEnd(p) - p, len - o);
      while (o + n < len && this.p2m(p + n) === pa + n) n += Math.min(this.granule, len - o - n);
      this.mem.fill(pa, n, byte);
      p += n;
      o += n;
    }
  }

  private pageEnd(ipa: number): number {
    return (Math.floor(ipa / this.granule) + 1) * this.granule;
  }

  // PA of a naturally aligned access of n bytes at ipa (never crosses a page).
  private pa(ipa: number, n: number, op: string): number {
    if (!(Number.isSafeInteger(ipa) && ipa >= 0)) this.notRam(op, ipa, n, ipa);
    if (ipa % n !== 0) {
      throw new VsmmuError('EVSMMU_MEM_ALIGN', `${op} at IPA ${hex(ipa)} is not ${n}-byte aligned`, { ipa, length: n });
    }
    const pa = this.p2m(ipa);
    if (pa < 0) this.notRam(op, ipa, n, ipa);
    return pa;
  }

  // Every page of [ipa, ipa + len) mapped, checked before any byte moves.
  private checkAll(ipa: number, len: number, op: string): void {
    if (!(Number.isSafeInteger(len) && len >= 0)) {
      throw new VsmmuError('EVSMMU_GUEST_RANGE', `${op}: length ${String(len)} is not a non-negative integer`, { ipa, length: len });
    }
    if (!(Number.isSafeInteger(ipa) && ipa >= 0 && Number.isSafeInteger(ipa + len))) this.notRam(op, ipa, len, ipa);
    const end = ipa + len;
    for (let p = ipa; p < end; p = this.pageEnd(p)) if (this.p2m(p) < 0) this.notRam(op, ipa, len, p);
  }

  private notRam(op: string, ipa: number, len: number, bad: number): never {
    const where = bad === ipa ? '' : ` (IPA ${hex(bad)} is not mapped)`;
    throw new VsmmuError(
      'EVSMMU_GUEST_RANGE',
      `${op} of ${len} bytes at IPA ${hex(ipa)} is outside the guest's RAM${where}`,
      { ipa, length: len, unmapped: bad },
    );
  }
}

export interface P2mRange {
  readonly ipa: number;
  readonly pa: number;
  readonly size: number;
}

/**
 * A p2m made of contiguous IPA -> PA ranges, as Xen gives a guest its RAM banks. `lookup` is
 * the P2mLookup callback (bound; pass it as is): the last range hit is tried first, then a
 * binary search over the ranges sorted by IPA.
 */
export class RangeP2m {
  /** The ranges, sorted by IPA. */
  readonly ranges: readonly P2mRange[];
  /** Sum of the range sizes. */
  readonly totalSize: number;
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private readonly deltas: Float64Array;
  private last = 0;

  /** Ranges must be non-empty, aligned to `granule` and disjoint in IPA. */
  constructor(ranges: readonly P2mRange[], granule: number = 4096) {
    const sorted = [...ranges].sort((a, b) => a.ipa - b.ipa);
    let total = 0;
    sorted.forEach((r, k) => {
      const ok = [r.ipa, r.pa, r.size].every((x) => Number.isSafeInteger(x) && x >= 0 && x % granule === 0);
      if (!ok || r.size === 0 || !Number.isSafeInteger(r.ipa + r.size) || !Number.isSafeInteger(r.pa + r.size)) {
        throw new VsmmuError(
          'EVSMMU_BADRANGE',
          `p2m range ipa=${hex(r.ipa)} pa=${hex(r.pa)} size=${hex(r.size)}: addresses and size must be ` +
            `multiples of the granule ${granule}, size non-zero`,
          { ...r },
        );
      }
      const prev = sorted[k - 1];
      if (prev !== undefined && prev.ipa + prev.size > r.ipa) {
        throw new VsmmuError(
          'EVSMMU_BADRANGE',
          `p2m ranges overlap in IPA: [${hex(prev.ipa)}, ${hex(prev.ipa + prev.size)}) and [${hex(r.ipa)}, ${hex(r.ipa + r.size)})`,
          { a: { ...prev }, b: { ...r } },
        );
      }
      total += r.size;
    });
    this.ranges = sorted.map((r) => ({ ipa: r.ipa, pa: r.pa, size: r.size }));
    this.totalSize = total;
    this.starts = Float64Array.from(sorted, (r) => r.ipa);
    this.ends = Float64Array.from(sorted, (r) => r.ipa + r.size);
    this.deltas = Float64Array.from(sorted, (r) => r.pa - r.ipa);
  }

  readonly lookup: P2mLookup = (ipa: number): number => {
    const n = this.starts.length;
    if (n === 0) return -1;
    const k = this.last;
    if (ipa >= (this.starts[k] as number) && ipa < (this.ends[k] as number)) return ipa + (this.deltas[k] as number);
    // Greatest j with starts[j] <= ipa.
    let lo = 0;
    let hi = n - 1;
    if (!(ipa >= (this.starts[0] as number))) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.starts[mid] as number) <= ipa) lo = mid;
      else hi = mid - 1;
    }
    if (ipa < (this.ends[lo] as number)) {
      this.last = lo;
      return ipa + (this.deltas[lo] as number);
    }
    return -1;
  };
}
