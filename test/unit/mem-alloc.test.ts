import { describe, expect, it } from 'vitest';
import { MAX_PAGES, PageAllocator } from '../../src/mem/alloc.ts';
import { thrown } from '../support/errors.ts';

const K4 = 4096;

describe('PageAllocator', () => {
  it('hands out consecutive pages next-fit and reports stats', () => {
    const a = new PageAllocator(0x1000_0000, '64K');
    expect(a.stats()).toEqual({
      pageSize: K4, totalPages: 16, usedPages: 0, freePages: 16, allocations: 0, frees: 0, liveRuns: 0,
    });
    expect(a.alloc(1)).toBe(0x1000_0000);
    expect(a.alloc(4096)).toBe(0x1000_1000);
    expect(a.alloc(4097)).toBe(0x1000_2000); // two pages
    expect(a.sizeOf(0x1000_2000)).toBe(8192);
    expect(a.stats()).toMatchObject({ usedPages: 4, freePages: 12, allocations: 3, liveRuns: 3 });
    a.free(0x1000_2000);
    // Next-fit: a run continues after the last run rather than reusing the hole at once...
    expect(a.alloc(8192)).toBe(0x1000_4000);
    a.free(0x1000_1000);
    // ...but a single page freed is hot: the next single page reuses it.
    expect(a.alloc(4096)).toBe(0x1000_1000);
    expect(a.alloc(4096)).toBe(0x1000_6000);
    expect(a.stats()).toEqual({
      pageSize: K4, totalPages: 16, usedPages: 5, freePages: 11, allocations: 6, frees: 2, liveRuns: 4,
    });
  });

  it('wraps around to reuse freed space when the tail is full', () => {
    const a = new PageAllocator(0, 4 * K4);
    const p = [a.alloc(K4), a.alloc(K4), a.alloc(K4), a.alloc(K4)];
    expect(p).toEqual([0, K4, 2 * K4, 3 * K4]);
    expect(a.alloc(K4)).toBe(-1);
    a.free(K4);
    a.free(2 * K4);
    expect(a.alloc(2 * K4)).toBe(K4); // the coalesced hole
    expect(a.alloc(K4)).toBe(-1);
  });

  it('honours alignment in absolute addresses', () => {
    // base is 4K-aligned but not 64K-aligned: the 64K-aligned run starts at 0x10000.
    const a = new PageAllocator(0x3000, '1M');
    expect(a.alloc(K4)).toBe(0x3000);
    expect(a.alloc(0x10000, 0x10000)).toBe(0x10000); // 64K L2 CD table
    expect(a.alloc(16 * K4, 16 * K4)).toBe(0x20000); // 16-page concatenated S2 root
    expect(a.alloc(K4, 0x40000)).toBe(0x40000);
    expect(a.alloc(K4, 8)).toBe(0x41000); // small alignments mean page-aligned
    const s = a.stats();
    expect(s.usedPages).toBe(1 + 16 + 16 + 1 + 1);
  });

  it('fails with -1 when no aligned run fits', () => {
    const a = new PageAllocator(0x1000, '64K'); // [0x1000, 0x11000): one 64K boundary
    expect(a.alloc(K4, 0x10000)).toBe(0x10000);
    expect(a.alloc(K4, 0x10000)).toBe(-1);
    expect(a.alloc(0x10000)).toBe(-1); // only 15 pages free
    expect(a.alloc(0x20000)).toBe(-1); // larger than everything
    expect(a.alloc(15 * K4)).toBe(0x1000);
  });

  it('supports 16K and 64K pages', () => {
    const a = new PageAllocator(0, '1M', 16384);
    expect(a.alloc(1)).toBe(0);
    expect(a.alloc(16385)).toBe(16384);
    expect(a.stats()).toMatchObject({ pageSize: 16384, totalPages: 64, usedPages: 3 });
    const b = new PageAllocator(0x10000, '1M', 65536);
    expect(b.alloc(100)).toBe(0x10000);
    expect(b.alloc(100, 0x40000)).toBe(0x40000);
  });

  it('crosses bitmap word boundaries and odd page counts', () => {
    const a = new PageAllocator(0, 100 * K4); // 100 pages: last word partly past the end
    expect(a.alloc(31 * K4)).toBe(0);
    expect(a.alloc(40 * K4)).toBe(31 * K4);
    expect(a.alloc(29 * K4)).toBe(71 * K4);
    expect(a.alloc(K4)).toBe(-1);
    a.free(31 * K4);
    expect(a.alloc(40 * K4)).toBe(31 * K4);
    expect(a.stats().freePages).toBe(0);
  });

  it('free() catches double, interior and foreign frees with EVSMMU_BADFREE', () => {
    const a = new PageAllocator(0x10000, '64K');
    const p = a.alloc(3 * K4);
    const e1 = thrown(() => a.free(p + K4));
    expect(e1.code).toBe('EVSMMU_BADFREE');
    expect(e1.message).toBe('free(0x11000): not the start of an allocation; it lies inside the run allocated at 0x10000');
    expect(thrown(() => a.free(p + 8)).message).toMatch(/inside the run allocated at 0x10000/);
    a.free(p);
    const e2 = thrown(() => a.free(p));
    expect(e2.code).toBe('EVSMMU_BADFREE');
    expect(e2.message).toBe('free(0x10000): not allocated (double free?)');
    const e3 = thrown(() => a.free(0x8000));
    expect(e3.message).toBe('free(0x8000): not an address of this allocator [0x10000, 0x20000)');
    expect(thrown(() => a.free(-1)).code).toBe('EVSMMU_BADFREE');
    expect(thrown(() => a.free(Number.NaN)).code).toBe('EVSMMU_BADFREE');
    expect(a.stats()).toMatchObject({ usedPages: 0, frees: 1, liveRuns: 0 });
  });

  it('rejects bad sizes and alignments', () => {
    const a = new PageAllocator(0, '64K');
    for (const bytes of [0, -1, 1.5, Number.NaN]) {
      const e = thrown(() => a.alloc(bytes));
      expect(e.code).toBe('EVSMMU_BADSIZE');
      expect(e.message).toMatch(/not a positive whole number of bytes/);
    }
    for (const align of [0, 3, 4096 + 4096 / 2, -4096, 0.5]) {
      const e = thrown(() => a.alloc(K4, align));
      expect(e.code).toBe('EVSMMU_BADALIGN');
      expect(e.message).toMatch(/not a power of two/);
    }
  });

  it('rejects bad construction parameters', () => {
    expect(thrown(() => new PageAllocator(0, '64K', 8192)).message).toMatch(/expected 4096, 16384 or 65536/);
    expect(thrown(() => new PageAllocator(0x800, '64K')).message).toMatch(/base 0x800/);
    expect(thrown(() => new PageAllocator(0, '6K')).message).toMatch(/not a multiple of 4K/);
    expect(thrown(() => new PageAllocator(0, 0)).message).toMatch(/below the minimum 4K/);
    expect(thrown(() => new PageAllocator(0, (MAX_PAGES + 1) * K4)).message).toMatch(/exceeds/);
    for (const f of [() => new PageAllocator(-4096, '64K'), () => new PageAllocator(0, '1Q')]) {
      expect(thrown(f).code).toBe('EVSMMU_BADSIZE');
    }
  });

  it('sizeOf and contains', () => {
    const a = new PageAllocator(0x4000, '64K');
    const p = a.alloc(5000);
    expect(a.sizeOf(p)).toBe(8192);
    expect(a.sizeOf(p + K4)).toBe(-1);
    expect(a.contains(0x4000)).toBe(true);
    expect(a.contains(0x14000)).toBe(false);
    expect(a.contains(0x3fff)).toBe(false);
  });

  it('is deterministic', () => {
    const run = (): number[] => {
      const a = new PageAllocator(0, '1M');
      const out: number[] = [];
      for (let i = 0; i < 50; i++) {
        const p = a.alloc(((i * 7) % 5 + 1) * K4, i % 3 === 0 ? 0x4000 : K4);
        out.push(p);
        if (i % 4 === 1 && out[i - 1]! >= 0) a.free(out[i - 1]!);
      }
      return out;
    };
    expect(run()).toEqual(run());
  });

  it('handles hundreds of thousands of pages without quadratic cost', () => {
    const pages = 1 << 18; // 1 GiB of 4K pages
    const a = new PageAllocator(0, pages * K4);
    const runs: number[] = [];
    for (let i = 0; i < pages; i++) runs.push(a.alloc(K4));
    expect(runs[pages - 1]).toBe((pages - 1) * K4);
    expect(a.alloc(K4)).toBe(-1);
    // Free every other page, then ask for a 2-page run: none exists, and the search that
    // says so crosses the bitmap once, not once per candidate.
    for (let i = 0; i < pages; i += 2) a.free(runs[i]!);
    expect(a.alloc(2 * K4)).toBe(-1);
    // The last 64 pages freed are hot (reused last-freed first), the rest come next-fit.
    const again: number[] = [];
    for (let i = 0; i < pages; i += 2) again.push(a.alloc(K4));
    const hot = runs.filter((_, i) => i % 2 === 0).slice(-64).reverse();
    expect(again.slice(0, 64)).toEqual(hot);
    let misplaced = 0;
    for (let k = 64, i = 0; k < again.length; k++, i += 2) if (again[k] !== i * K4) misplaced++;
    expect(misplaced).toBe(0);
    for (const p of runs) a.free(p);
    expect(a.stats()).toMatchObject({ usedPages: 0, liveRuns: 0, allocations: pages + pages / 2, frees: pages + pages / 2 });
  });
});
