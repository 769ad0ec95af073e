// Random alloc/free sequences against a reference model: runs never overlap, stay inside the
// range, respect alignment, stats match the model, and freeing everything returns to empty.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../../src/mem/alloc.ts';

type Op =
  | { readonly kind: 'alloc'; readonly pages: number; readonly alignLog2: number; readonly extra: number }
  | { readonly kind: 'free'; readonly pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({
    kind: fc.constant('alloc' as const),
    pages: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 40 })),
    alignLog2: fc.integer({ min: 0, max: 20 }),
    extra: fc.integer({ min: 0, max: 4095 }),
  }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
);

const configArb = fc.record({
  pageSize: fc.constantFrom(4096, 16384, 65536),
  basePages: fc.integer({ min: 0, max: 70 }),
  pages: fc.integer({ min: 1, max: 300 }),
});

describe('PageAllocator properties', () => {
  it('random alloc/free sequences keep the invariants', () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { maxLength: 300, size: 'max' }), ({ pageSize, basePages, pages }, ops) => {
        const base = basePages * pageSize;
        const a = new PageAllocator(base, pages * pageSize, pageSize);
        const live = new Map<number, number>(); // pa -> bytes
        let allocations = 0;
        let frees = 0;
        let usedPages = 0;
        for (const op of ops) {
          if (op.kind === 'alloc') {
            const bytes = Math.max(1, (op.pages - 1) * pageSize + 1 + (op.extra % pageSize));
            const align = 2 ** op.alignLog2;
            const pa = a.alloc(bytes, align);
            if (pa === -1) {
              // Cross-check against the model: no aligned free run of that length exists.
              const n = Math.ceil(bytes / pageSize);
              const used = new Uint8Array(pages);
              for (const [p, b] of live) used.fill(1, (p - base) / pageSize, (p - base + b) / pageSize);
              const step = Math.max(align, pageSize);
              for (let s = Math.ceil(base / step) * step; s + n * pageSize <= base + pages * pageSize; s += step) {
                const i = (s - base) / pageSize;
                if (used.subarray(i, i + n).every((u) => u === 0)) throw new Error(`alloc failed but ${s} was free`);
              }
              continue;
            }
            const runBytes = Math.ceil(bytes / pageSize) * pageSize;
            expect(pa % Math.max(align, pageSize)).toBe(0);
            expect(pa).toBeGreaterThanOrEqual(base);
            expect(pa + runBytes).toBeLessThanOrEqual(base + pages * pageSize);
            for (const [p, b] of live) {
              if (!(pa + runBytes <= p || p + b <= pa)) throw new Error(`run ${pa}+${runBytes} overlaps ${p}+${b}`);
            }
            expect(a.sizeOf(pa)).toBe(runBytes);
            live.set(pa, runBytes);
            allocations++;
            usedPages += runBytes / pageSize;
          } else if (live.size > 0) {
            const keys = [...live.keys()];
            const pa = keys[op.pick % keys.length]!;
            a.free(pa);
            usedPages -= live.get(pa)! / pageSize;
            live.delete(pa);
            frees++;
            let refused = false;
            try {
              a.free(pa);
            } catch {
              refused = true;
            }
            if (!refused) throw new Error(`double free of ${pa} accepted`);
          }
          const st = a.stats();
          if (st.usedPages !== usedPages || st.freePages !== pages - usedPages || st.allocations !== allocations ||
              st.frees !== frees || st.liveRuns !== live.size || st.totalPages !== pages || st.pageSize !== pageSize) {
            expect(st).toEqual({
              pageSize, totalPages: pages, usedPages, freePages: pages - usedPages, allocations, frees, liveRuns: live.size,
            });
          }
        }
        for (const pa of live.keys()) a.free(pa);
        const s = a.stats();
        expect(s.usedPages).toBe(0);
        expect(s.liveRuns).toBe(0);
        expect(s.freePages).toBe(pages);
        // Empty again: the whole range is one free run.
        expect(a.alloc(pages * pageSize)).toBe(base);
      }),
      { numRuns: 150 },
    );
  });

  it('the same sequence gives the same addresses', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 100, size: 'max' }), (ops) => {
        const run = (): number[] => {
          const a = new PageAllocator(0x10000, 128 * 4096);
          const live: number[] = [];
          const out: number[] = [];
          for (const op of ops) {
            if (op.kind === 'alloc') {
              const pa = a.alloc(op.pages * 4096, 2 ** op.alignLog2);
              out.push(pa);
              if (pa >= 0) live.push(pa);
            } else if (live.length > 0) {
              a.free(live.splice(op.pick % live.length, 1)[0]!);
            }
          }
          return out;
        };
        expect(run()).toEqual(run());
      }),
      { numRuns: 50 },
    );
  });
});
