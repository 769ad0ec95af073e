// PageTable: geometry Linux would choose, exact descriptor encodings, block choice, splitting
// on partial unmap, publish order, rollback, destroy; every mapping checked with the walker.

import { beforeEach, describe, expect, it } from 'vitest';
import {
  PageTable, PROT_EXEC, PROT_MMIO, PROT_NOCACHE, PROT_PRIV, PROT_READ, PROT_WRITE, type PageTableOptions,
} from '../../src/arch/pgtable.ts';
import { ACC_INSTR, ACC_PRIV, ACC_WRITE, type WordReader, type WordWriter } from '../../src/arch/types.ts';
import { s1Cfg, s2Cfg, Walker, WalkResult, type S1Params, type S2Params } from '../../src/arch/walk.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { VsmmuError } from '../../src/errors.ts';

const mem = PhysMemory.create(16 << 20);
const res = new WalkResult();
const walker = new Walker({ oas: 48 });
let next = 0;
let allocs: Array<[number, number]> = [];
const alloc = (bytes: number, align: number): number => {
  const a = Math.ceil(next / align) * align;
  if (a + bytes > (8 << 20)) return -1;
  next = a + bytes;
  allocs.push([a, bytes]);
  return a;
};

beforeEach(() => {
  mem.fill(0, 8 << 20, 0xee); // tables must be zeroed by PageTable itself
  next = 0x1000;
  allocs = [];
});

function pt(o: Partial<PageTableOptions> = {}): PageTable {
  return new PageTable({ stage: 1, granuleShift: 12, ias: 48, mem, alloc, ...o });
}

function s1For(t: PageTable): ReturnType<typeof s1Cfg> {
  const p: S1Params = {
    gran0: t.granuleShift, gran1: 0, tsz0: t.t0sz, tsz1: 16, ttb0: t.root, ttb1: 0, epd0: false, epd1: true,
    tbi0: false, tbi1: false, had0: false, had1: false, ips: t.oas, affd: false, ha: false, hd: false,
    wxn: false, uwxn: false, pan: false, endi: false, lpa: t.oas >= 52, vax: false,
  };
  return s1Cfg(p);
}

function s2For(t: PageTable): ReturnType<typeof s2Cfg> {
  const p: S2Params = {
    gran: t.granuleShift, t0sz: t.t0sz, sl0: t.sl0, ttb: t.root, ps: t.oas, affd: false, ha: false, hd: false,
    ptw: false, fwb: false, endi: false, lpa: t.oas >= 52, xnx: false, oas: t.oas,
  };
  return s2Cfg(p);
}

function walk(t: PageTable, va: number, acc = 0): number {
  const w = t.oas === 48 ? walker : new Walker({ oas: t.oas });
  const ok = t.stage === 1
    ? w.translate(s1For(t), null, mem, Math.floor(va / 2 ** 32), va >>> 0, acc, res)
    : w.translate(null, s2For(t), mem, Math.floor(va / 2 ** 32), va >>> 0, acc, res);
  return ok ? res.pa : -1;
}

/** Raw descriptor of the leaf mapping va (following the tables). */
function leaf(t: PageTable, va: number): bigint {
  const g = t.granuleShift;
  let table = t.root;
  for (let level = t.startLevel; level <= 3; level++) {
    const shift = g + (3 - level) * (g - 3);
    const bits = level === t.startLevel ? t.ias - shift : g - 3;
    const d = mem.read64(table + (Math.floor(va / 2 ** shift) % 2 ** bits) * 8);
    if ((d & 3n) !== 3n || level === 3) return d;
    table = Number(d & 0x0000_ffff_ffff_f000n) - (Number(d & 0x0000_ffff_ffff_f000n) % 2 ** g);
  }
  return 0n;
}

describe('geometry', () => {
  it.each([
    // stage, granule, ias, oas -> start level, sl0, concat, root bytes
    [1, 12, 48, 48, 0, 0, 1, 4096],
    [1, 12, 39, 48, 1, 0, 1, 4096],
    [1, 16, 48, 48, 1, 0, 1, 512],
    [1, 14, 48, 48, 0, 0, 1, 64],
    [2, 12, 48, 48, 0, 2, 1, 4096],
    [2, 12, 40, 40, 1, 1, 2, 8192], // 4K level 0 needs PA >= 44 bits: concatenate at L1
    [2, 12, 42, 42, 1, 1, 8, 32768],
    [2, 12, 40, 48, 0, 2, 1, 64],
    [2, 14, 48, 48, 1, 2, 2, 32768], // Linux avoids 16K level 0
    [2, 14, 40, 40, 2, 1, 16, 262144],
    [2, 16, 48, 48, 1, 2, 1, 512],
    [2, 16, 40, 40, 2, 1, 1, 16384],
    [2, 16, 52, 52, 1, 2, 1, 8192],
  ])('stage %i granule 2^%i ias %i oas %i -> level %i sl0 %i concat %i root %i', (stage, g, ias, oas, level, sl0, concat, bytes) => {
    const t = pt({ stage: stage as 1 | 2, granuleShift: g, ias, oas });
    expect([t.startLevel, t.sl0, t.concat, t.rootBytes, t.t0sz]).toEqual([level, sl0, concat, bytes, 64 - ias]);
    expect(t.root % Math.max(64, bytes)).toBe(0);
    if (stage === 2) {
      const c = s2For(t);
      expect([c.start, c.concat]).toEqual([level, concat]);
    }
  });

  it('rejects bad geometry', () => {
    expect(() => pt({ granuleShift: 13 })).toThrow(VsmmuError);
    expect(() => pt({ ias: 52 })).toThrow(/input size/);
    expect(() => pt({ ias: 20 })).toThrow(/input size/);
  });
});

describe('map', () => {
  it('stage-1 encoding as io-pgtable-arm (AF, nG, AP, XN, AttrIndx, SH)', () => {
    const t = pt();
    t.map(0x10000, 0x200000, 0x1000, PROT_READ | PROT_WRITE);
    // page | AF | nG | AP[1] | SH=3 | AttrIndx=1 | UXN|PXN
    expect(leaf(t, 0x10000)).toBe(0x0060_0000_0020_0000n | 0x403n | 0x800n | 0x40n | 0x300n | 0x4n);
    t.map(0x11000, 0x201000, 0x1000, PROT_READ | PROT_EXEC | PROT_PRIV);
    expect(leaf(t, 0x11000)).toBe(0x201000n | 0x403n | 0x800n | 0x80n | 0x300n | 0x4n);
    t.map(0x12000, 0x202000, 0x1000, PROT_READ | PROT_WRITE | PROT_MMIO);
    expect(leaf(t, 0x12000) & 0xfffn).toBe(0x403n | 0x800n | 0x40n | 0x200n | 0x8n);
    t.map(0x13000, 0x203000, 0x1000, PROT_READ | PROT_NOCACHE);
    expect(leaf(t, 0x13000) & 0xfffn).toBe(0x403n | 0x800n | 0x40n | 0x80n | 0x200n);
  });

  it('stage-2 encoding (S2AP, MemAttr, XN, AF, SH; FWB)', () => {
    const t = pt({ stage: 2, ias: 40, oas: 48 });
    t.map(0x40000000, 0x300000, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC);
    expect(leaf(t, 0x40000000)).toBe(0x300000n | 0x403n | 0xc0n | 0x300n | (0xfn << 2n));
    t.map(0x40001000, 0x301000, 0x1000, PROT_READ | PROT_MMIO);
    expect(leaf(t, 0x40001000)).toBe(0x0060_0000_0030_1000n | 0x403n | 0x40n | 0x200n | (0x1n << 2n));
    t.map(0x40002000, 0x302000, 0x1000, PROT_WRITE | PROT_NOCACHE | PROT_EXEC);
    expect(leaf(t, 0x40002000)).toBe(0x302000n | 0x403n | 0x80n | 0x200n | (0x5n << 2n));
    const f = pt({ stage: 2, ias: 40, oas: 48, fwb: true });
    f.map(0, 0x300000, 0x1000, PROT_READ);
    expect((leaf(f, 0) >> 2n) & 0xfn).toBe(6n);
  });

  it('chooses the largest block that alignment and length allow', () => {
    const t = pt();
    // 2M-aligned va and pa, 4M + 8K: two 2M blocks and two pages
    t.map(0x4000_0000, 0x40_0000, 0x40_2000, PROT_READ);
    expect(walk(t, 0x4000_0000 + 0x12345)).toBe(0x40_0000 + 0x12345);
    expect(res.size).toBe(21);
    expect(walk(t, 0x4040_1008)).toBe(0x80_1008);
    expect(res.size).toBe(12);
    // 1 GiB block: va and pa 1G-aligned
    t.map(0x80_0000_0000, 0x4000_0000, 0x4000_0000, PROT_READ);
    expect(walk(t, 0x80_0000_0000 + 0x1234_5678)).toBe(0x4000_0000 + 0x1234_5678);
    expect(res.size).toBe(30);
    // misaligned pa: pages only
    t.map(0x1_0000_0000, 0x1000, 0x20_0000, PROT_READ);
    expect(walk(t, 0x1_0010_0000)).toBe(0x10_1000);
    expect(res.size).toBe(12);
  });

  it('16K and 64K blocks; 64K with a 52-bit output address', () => {
    const t16 = pt({ granuleShift: 14, ias: 47 });
    t16.map(0x200_0000 * 3, 0x200_0000, 0x200_0000, PROT_READ);
    expect(walk(t16, 0x600_0000 + 0x4321)).toBe(0x200_4321);
    expect(res.size).toBe(25);
    const t64 = pt({ granuleShift: 16, ias: 52, oas: 52 });
    const pa = 0xa_0000_0000_0000 + 0x2000_0000;
    t64.map(0x2000_0000, pa, 0x2000_0000, PROT_READ);
    expect(t64.translate(0x2000_1234)).toBe(pa + 0x1234);
    expect(walk(t64, 0x2000_1234)).toBe(pa + 0x1234);
    expect(res.size).toBe(29);
    expect((leaf(t64, 0x2000_0000) >> 12n) & 0xfn).toBe(0xan); // OA[51:48] in bits [15:12]
  });

  it('stage 2 with concatenated first level walks across the second page', () => {
    const t = pt({ stage: 2, ias: 40, oas: 40 });
    t.map(0xff_4000_0000, 0x20_0000, 0x1000, PROT_READ | PROT_WRITE);
    expect(walk(t, 0xff_4000_0008, ACC_WRITE)).toBe(0x20_0008);
    expect(walk(t, 0xff_4000_0008, ACC_INSTR)).toBe(-1);
  });

  it('permissions seen by the walker', () => {
    const t = pt();
    t.map(0x1000, 0x20_0000, 0x1000, PROT_READ);
    t.map(0x2000, 0x20_1000, 0x1000, PROT_READ | PROT_WRITE | PROT_PRIV);
    t.map(0x3000, 0x20_2000, 0x1000, PROT_READ | PROT_EXEC);
    expect(walk(t, 0x1000)).toBe(0x20_0000);
    expect(walk(t, 0x1000, ACC_WRITE)).toBe(-1);
    expect(walk(t, 0x2000)).toBe(-1);
    expect(walk(t, 0x2000, ACC_WRITE | ACC_PRIV)).toBe(0x20_1000);
    expect(walk(t, 0x1000, ACC_INSTR)).toBe(-1);
    expect(walk(t, 0x3000, ACC_INSTR)).toBe(0x20_2000);
  });

  it('no-op without read or write; EVSMMU_EXIST on overlap, rolled back', () => {
    const t = pt();
    t.map(0x1000, 0x20_0000, 0x1000, PROT_EXEC);
    expect(t.translate(0x1000)).toBe(-1);
    t.map(0x5000, 0x30_0000, 0x1000, PROT_READ);
    expect(() => t.map(0x3000, 0x40_0000, 0x3000, PROT_READ)).toThrow(/already mapped/);
    expect(t.translate(0x3000)).toBe(-1); // the part mapped before the clash was undone
    expect(t.translate(0x4000)).toBe(-1);
    expect(t.translate(0x5000)).toBe(0x30_0000);
    t.map(0x20_0000, 0x20_0000, 0x20_0000, PROT_READ);
    expect(() => t.map(0x20_1000, 0x1000, 0x1000, PROT_READ)).toThrow(/existing block/);
  });

  it('argument checks and allocation failure', () => {
    const t = pt();
    expect(() => t.map(0x1001, 0, 0x1000, PROT_READ)).toThrow(VsmmuError);
    expect(() => t.map(0x1000, 0x10, 0x1000, PROT_READ)).toThrow(VsmmuError);
    expect(() => t.map(2 ** 48, 0, 0x1000, PROT_READ)).toThrow(VsmmuError);
    expect(() => t.map(0, 2 ** 48, 0x1000, PROT_READ)).toThrow(VsmmuError);
    const n0 = allocs.length;
    const starving = new PageTable({ stage: 1, granuleShift: 12, ias: 48, mem, alloc: (b, a) => (allocs.length > n0 ? -1 : alloc(b, a)) });
    expect(() => starving.map(0x1000, 0, 0x1000, PROT_READ)).toThrow(expect.objectContaining({ code: 'EVSMMU_NOMEM' }));
  });

  it('a slot holding a table is descended into, not replaced', () => {
    const t = pt();
    t.map(0x20_1000, 0x1000, 0x1000, PROT_READ);
    t.unmap(0x20_1000, 0x1000); // leaves an empty L3 table
    t.map(0x20_0000, 0x40_0000, 0x20_0000, PROT_READ);
    expect(walk(t, 0x20_1234)).toBe(0x40_1234);
    expect(res.size).toBe(12);
  });
});

describe('publish order', () => {
  it('a table is complete before the descriptor that publishes it', () => {
    const log: Array<[number, number, number]> = [];
    const rec: WordReader & WordWriter = {
      hi: 0,
      load64(pa) {
        const lo = mem.load64(pa);
        this.hi = mem.hi;
        return lo;
      },
      store64(pa, lo, hi) {
        log.push([pa, lo >>> 0, hi >>> 0]);
        return mem.store64(pa, lo, hi);
      },
    };
    const t = new PageTable({ stage: 1, granuleShift: 12, ias: 48, mem: rec, alloc });
    t.map(0x20_0000, 0x40_0000, 0x20_0000, PROT_READ);
    t.unmap(0x20_0000, 0x1000); // splits the 2M block into a new table
    // Every slot of a table was written (zeroed or filled) before the first descriptor
    // pointing to it was stored.
    let published = 0;
    for (const [at, bytes] of allocs) {
      if (at === t.root) continue;
      const first = log.findIndex(([, lo, hi]) => (lo & 3) === 3 && (lo & ~0xfff) >>> 0 === at && hi === 0);
      expect(first, `table ${at.toString(16)} never published`).toBeGreaterThan(0);
      const before = new Set(log.slice(0, first).map(([p]) => p).filter((p) => p >= at && p < at + bytes));
      expect(before.size, `table ${at.toString(16)}`).toBe(bytes / 8);
      published++;
    }
    expect(published).toBe(3); // L1 and L2 for the 2M block, L3 from the split
    expect(walk(t, 0x20_0000)).toBe(-1);
    expect(walk(t, 0x20_1000)).toBe(0x40_1000);
  });
});

describe('unmap', () => {
  it('splits a block it partly covers and keeps the rest with the same attributes', () => {
    const t = pt();
    t.map(0x4000_0000, 0x4000_0000, 0x4000_0000, PROT_READ | PROT_WRITE); // 1 GiB block
    const before = leaf(t, 0x4000_0000);
    expect(t.unmap(0x4000_0000 + 0x20_3000, 0x1000)).toBe(0x1000);
    expect(walk(t, 0x4020_3000)).toBe(-1);
    expect(walk(t, 0x4020_2000, ACC_WRITE)).toBe(0x4020_2000);
    expect(res.size).toBe(12);
    expect(walk(t, 0x4020_4000)).toBe(0x4020_4000);
    expect(walk(t, 0x7fe0_0000)).toBe(0x7fe0_0000);
    expect(res.size).toBe(21); // the other 2 MiB pieces stay blocks
    const attrs = 0xffcn | 0xfff8_0000_0000_0000n;
    expect(leaf(t, 0x4020_2000) & attrs).toBe(before & attrs);
  });

  it('skips holes and returns the bytes unmapped', () => {
    const t = pt();
    t.map(0x1000, 0x1000, 0x2000, PROT_READ);
    t.map(0x10_0000, 0x2000, 0x1000, PROT_READ);
    expect(t.unmap(0, 0x40_0000)).toBe(0x3000);
    expect(t.translate(0x1000)).toBe(-1);
    expect(t.unmap(0, 0x1000)).toBe(0);
    expect(() => t.unmap(0x800, 0x1000)).toThrow(VsmmuError);
  });

  it('maps and unmaps many ranges consistently with a software model', () => {
    const t = pt({ granuleShift: 14, ias: 40 });
    const G = 0x4000;
    const model = new Map<number, number>();
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 200; i++) {
      const pages = 1 + rnd(8);
      const va = rnd(1024) * G;
      if (rnd(3) === 0) {
        const n = t.unmap(va, pages * G);
        let expected = 0;
        for (let p = 0; p < pages; p++) if (model.delete(va + p * G)) expected += G;
        expect(n).toBe(expected);
      } else {
        let free = true;
        for (let p = 0; p < pages; p++) if (model.has(va + p * G)) free = false;
        const pa = rnd(64) * G * 8;
        if (!free) continue;
        t.map(va, pa, pages * G, PROT_READ);
        for (let p = 0; p < pages; p++) model.set(va + p * G, pa + p * G);
      }
    }
    for (let p = 0; p < 1032; p++) {
      const va = p * G;
      expect(t.translate(va + 8)).toBe(model.has(va) ? (model.get(va) ?? 0) + 8 : -1);
      expect(walk(t, va + 8)).toBe(model.has(va) ? (model.get(va) ?? 0) + 8 : -1);
    }
  });
});

describe('destroy', () => {
  it('frees every table once, root last; the table is unusable afterwards', () => {
    const t = pt({ stage: 2, ias: 40, oas: 40 });
    t.map(0, 0, 0x1000, PROT_READ);
    t.map(0xff_0000_0000, 0x1000, 0x1000, PROT_READ);
    const freed: Array<[number, number]> = [];
    t.destroy((pa, bytes) => freed.push([pa, bytes]));
    expect(freed.map(([a]) => a).sort((a, b) => a - b)).toEqual(allocs.map(([a]) => a).sort((a, b) => a - b));
    expect(freed.at(-1)).toEqual([t.root, t.rootBytes]);
    expect(() => t.translate(0)).toThrow(/destroyed/);
  });
});
