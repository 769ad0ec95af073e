// Page allocator for a range of physical memory: contiguous runs of pages at a requested
// power-of-two alignment (a 64 KiB-aligned 64 KiB L2 CD table, a 16-page concatenated
// stage-2 root, a queue of 2^n entries aligned to its size). Owned by one actor (Xen or a
// guest kernel); its state is ordinary memory, not shared.
//
// A bitmap (1 = page in use) searched next-fit from where the last allocation ended, word
// by word (full words skipped 32 pages at a time, ctz to find the bit), plus a map from the
// first page of each run to its length, so `free(pa)` needs no size and catches double and
// foreign frees. Deterministic: the same call sequence yields the same addresses.

import { VsmmuError } from '../errors.ts';
import { formatSize, parseSize } from './size.ts';

export type PageSize = 4096 | 16384 | 65536;
export const PAGE_SIZES: readonly number[] = [4096, 16384, 65536];

/** Bitmap bound: 2^26 pages (256 GiB of 4 KiB pages, an 8 MiB bitmap). */
export const MAX_PAGES = 2 ** 26;
/** Freed single pages remembered for reuse (PageAllocator.hot). */
const HOT_PAGES = 64;

export interface AllocStats {
  readonly pageSize: number;
  readonly totalPages: number;
  readonly usedPages: number;
  readonly freePages: number;
  /** Successful `alloc` calls since creation. */
  readonly allocations: number;
  /** Successful `free` calls since creation. */
  readonly frees: number;
  /** Runs allocated and not yet freed (allocations - frees). */
  readonly liveRuns: number;
}

function hex(n: number): string {
  return Number.isInteger(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);
}

function isPow2(x: number): boolean {
  if (!(Number.isSafeInteger(x) && x > 0)) return false;
  while (x > 1) {
    if (x % 2 !== 0) return false;
    x /= 2;
  }
  return true;
}

/** Count of trailing zero bits of a non-zero int32. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

export class PageAllocator {
  readonly base: number;
  readonly size: number;
  readonly pageSize: number;
  private readonly total: number;
  private readonly basePage: number;
  private readonly bits: Uint32Array;
  /** First page index of each live run -> its page count. */
  private readonly runs = new Map<number, number>();
  private hint = 0;
  /** Pages at and above this index were never allocated. */
  private top = 0;
  /**
   * Whether the run the last alloc() returned had never been allocated before. Memory that
   * starts zeroed (a new SharedArrayBuffer) is still zero there, so its owner can skip
   * clearing it, and the host never commits pages that nobody touches.
   */
  lastFresh = false;
  /**
   * Single pages freed last, reused first (as Linux's per-CPU lists of hot pages): a page
   * table freed by an unmap is the next one allocated, in memory the host has already
   * committed, where the next-fit search would walk on to a page never touched.
   */
  private readonly hot: number[] = [];
  private used = 0;
  private allocations = 0;
  private frees = 0;

  /**
   * Manages [base, base + size). `base` and `size` must be multiples of `pageSize` (4K, 16K
   * or 64K); alignment requests are honoured in absolute physical addresses.
   */
  constructor(base: number, size: number | string, pageSize: number = 4096) {
    if (!PAGE_SIZES.includes(pageSize)) {
      throw new VsmmuError('EVSMMU_BADSIZE', `invalid page size ${String(pageSize)}: expected 4096, 16384 or 65536`, { pageSize });
    }
    const bytes = parseSize(size, { what: 'allocator size', multipleOf: pageSize, min: pageSize });
    if (!(Number.isSafeInteger(base) && base >= 0 && base % pageSize === 0 && Number.isSafeInteger(base + bytes))) {
      throw new VsmmuError('EVSMMU_BADSIZE', `invalid allocator base ${hex(base)}: expected a multiple of the page size ${pageSize}`, { base });
    }
    if (bytes / pageSize > MAX_PAGES) {
      throw new VsmmuError('EVSMMU_BADSIZE', `allocator size ${formatSize(bytes)} exceeds ${MAX_PAGES} pages of ${formatSize(pageSize)}`, { size: bytes });
    }
    this.base = base;
    this.size = bytes;
    this.pageSize = pageSize;
    this.total = bytes / pageSize;
    this.basePage = base / pageSize;
    const words = Math.ceil(this.total / 32);
    this.bits = new Uint32Array(words);
    // Pages past the end of the last word are marked used so that scans stop there.
    const tail = this.total & 31;
    if (tail !== 0) this.bits[words - 1] = ~((1 << tail) - 1) >>> 0;
  }

  /**
   * Allocates a contiguous run of at least `bytes` (rounded up to whole pages) whose address
   * is a multiple of `align` (a power of two; below the page size means page-aligned).
   * Returns its physical address, or -1 if no such run is free. Contents are not cleared.
   */
  alloc(bytes: number, align: number = this.pageSize): number {
    if (!(Number.isSafeInteger(bytes) && bytes > 0)) {
      throw new VsmmuError('EVSMMU_BADSIZE', `alloc: size ${String(bytes)} is not a positive whole number of bytes`, { bytes });
    }
    if (!isPow2(align)) {
      throw new VsmmuError('EVSMMU_BADALIGN', `alloc: alignment ${String(align)} is not a power of two`, { align });
    }
    const n = Math.ceil(bytes / this.pageSize);
    if (n > this.total) return -1;
    const a = Math.max(align, this.pageSize) / this.pageSize;
    // Page indices i with (basePage + i) % a === 0 are the aligned ones: off, off + a, ...
    const off = (a - (this.basePage % a)) % a;
    const last = this.total - n;
    if (n === 1 && a === 1) {
      // A hot page may have gone to a run since: it is taken only if still free.
      for (let h = this.hot.pop(); h !== undefined; h = this.hot.pop()) if (this.nextFree(h) === h) return this.take(h, 1);
    }
    let s = this.findRun(n, a, off, this.hint, last);
    if (s < 0 && this.hint > 0) s = this.findRun(n, a, off, 0, Math.min(this.hint - 1, last));
    if (s < 0) return -1;
    this.hint = s + n >= this.total ? 0 : s + n;
    return this.take(s, n);
  }

  private take(s: number, n: number): number {
    this.setRange(s, n, true);
    this.lastFresh = s >= this.top;
    if (s + n > this.top) this.top = s + n;
    this.runs.set(s, n);
    this.used += n;
    this.allocations++;
    return this.base + s * this.pageSize;
  }

  /** Frees the run that `alloc` returned at `pa`; anything else throws EVSMMU_BADFREE. */
  free(pa: number): void {
    const s = (pa - this.base) / this.pageSize;
    const n = Number.isInteger(s) ? this.runs.get(s) : undefined;
    if (n === undefined) this.badFree(pa, s);
    this.runs.delete(s);
    this.setRange(s, n, false);
    if (n === 1 && this.hot.push(s) > HOT_PAGES) this.hot.shift();
    this.used -= n;
    this.frees++;
  }

  /** Size in bytes of the live run allocated at `pa`, or -1. */
  sizeOf(pa: number): number {
    const n = this.runs.get((pa - this.base) / this.pageSize);
    return n === undefined ? -1 : n * this.pageSize;
  }

  /** True if `pa` lies in the managed range. */
  contains(pa: number): boolean {
    return pa >= this.base && pa < this.base + this.size;
  }

  stats(): AllocStats {
    return {
      pageSize: this.pageSize,
      totalPages: this.total,
      usedPages: this.used,
      freePages: this.total - this.used,
      allocations: this.allocations,
      frees: this.frees,
      liveRuns: this.runs.size,
    };
  }

  // First aligned start s in [from, last] with pages [s, s + n) all free, or -1. Each step
  // either returns or moves past a used page, so a search is linear in the pages it crosses.
  private findRun(n: number, a: number, off: number, from: number, last: number): number {
    let i = this.alignUp(from, a, off);
    while (i <= last) {
      const f = this.nextFree(i);
      if (f > last) return -1;
      if (f !== i) {
        i = this.alignUp(f, a, off);
        if (i > last) return -1;
      }
      const u = this.nextUsed(i, i + n);
      if (u === i + n) return i;
      i = this.alignUp(u + 1, a, off);
    }
    return -1;
  }

  private alignUp(i: number, a: number, off: number): number {
    return i <= off ? off : off + Math.ceil((i - off) / a) * a;
  }

  /** First free page >= i, or total. */
  private nextFree(i: number): number {
    if (i >= this.total) return this.total;
    let w = i >>> 5;
    let word = ~(this.bits[w] as number) & (-1 << (i & 31));
    while (word === 0) {
      if (++w >= this.bits.length) return this.total;
      word = ~(this.bits[w] as number);
    }
    return Math.min((w << 5) + ctz(word), this.total);
  }

  /** First used page in [i, end), or end (end <= total). */
  private nextUsed(i: number, end: number): number {
    let w = i >>> 5;
    let word = (this.bits[w] as number) & (-1 << (i & 31));
    while (word === 0) {
      if (++w << 5 >= end) return end;
      word = this.bits[w] as number;
    }
    return Math.min((w << 5) + ctz(word), end);
  }

  private setRange(i: number, n: number, on: boolean): void {
    const end = i + n;
    const bits = this.bits;
    while (i < end) {
      const w = i >>> 5;
      const b = i & 31;
      const cnt = Math.min(32 - b, end - i);
      const mask = cnt === 32 ? -1 : ((1 << cnt) - 1) << b;
      bits[w] = on ? (bits[w] as number) | mask : (bits[w] as number) & ~mask;
      i += cnt;
    }
  }

  private badFree(pa: number, s: number): never {
    const details = { pa };
    if (!(Number.isInteger(pa) && pa >= this.base && pa < this.base + this.size)) {
      throw new VsmmuError(
        'EVSMMU_BADFREE',
        `free(${hex(pa)}): not an address of this allocator [${hex(this.base)}, ${hex(this.base + this.size)})`,
        details,
      );
    }
    const page = Math.floor(s);
    if ((((this.bits[page >>> 5] as number) >>> (page & 31)) & 1) !== 0) {
      let start = -1;
      for (const [r, n] of this.runs) if (page >= r && page < r + n) start = r;
      throw new VsmmuError(
        'EVSMMU_BADFREE',
        `free(${hex(pa)}): not the start of an allocation; it lies inside the run allocated at ` +
          `${hex(this.base + start * this.pageSize)}`,
        details,
      );
    }
    throw new VsmmuError('EVSMMU_BADFREE', `free(${hex(pa)}): not allocated (double free?)`, details);
  }
}
