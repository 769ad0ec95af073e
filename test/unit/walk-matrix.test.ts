// Nested walk matrix: stage-1 granule x stage-2 granule x stage-2 start level. For each
// combination: a successful translation, then every fault class at every level where it can
// occur — stage 1 (translation, address size, access, permission, external abort) and stage 2
// on a stage-1 table read (CLASS TT), on the output IPA (CLASS IN) and on a CD fetch through
// ipaToPa (CLASS CD).
//
// Layout (IPA space of the guest, IAS chosen per start level):
//   region A  IPA 0x10_0000 + G2 ..  stage-1 tables          -> PA 4 MiB + G2 ..
//   region B  IPA 2^(ias-1)      ..  data (2 MiB, pages)     -> PA 8 MiB + G2 ..
//   region D  IPA 0x80_0000      ..  64 KiB mapped beyond the end of physical memory
// Stage-2 leaves are pages (PA offset by one granule so no block fits), so every stage-2
// level exists on each path; A and B differ from the stage-2 start level down.

import { beforeAll, describe, expect, it } from 'vitest';
import { bump } from '../support/bump.ts';
import { CLASS, EVT } from '../../src/arch/events.ts';
import { PageTable, PROT_READ, PROT_WRITE } from '../../src/arch/pgtable.ts';
import { blockAllowed, levelShift, s1StartLevel } from '../../src/arch/granule.ts';
import { ACC_WRITE, type WordReader, type WordWriter } from '../../src/arch/types.ts';
import { s1Cfg, s2Cfg, Walker, WalkResult, type S1Params, type S2Params } from '../../src/arch/walk.ts';
import { PhysMemory } from '../../src/mem/phys.ts';

const MEM = 16 << 20;
const phys = PhysMemory.create(MEM);
const res = new WalkResult();
const walker = new Walker({ oas: 48 });

/** (S2 granule, start level) -> S2T0SZ used (legal for OAS 48, IAS <= 44 where possible). */
const S2_GEOMS: Array<[number, number, number]> = [
  [12, 0, 20], [12, 1, 24], [12, 2, 30],
  [14, 0, 16], [14, 1, 20], [14, 2, 28], [14, 3, 35],
  [16, 1, 20], [16, 2, 28], [16, 3, 32],
];


/** PA of the descriptor slot at `level` for `va` in table `t`; tables addresses go through `toPa`. */
function slotAt(t: PageTable, va: number, level: number, toPa: (a: number) => number): number {
  const g = t.granuleShift;
  let table = t.root;
  for (let l = t.startLevel; ; l++) {
    const shift = levelShift(g, l);
    const bits = l === t.startLevel ? t.ias - shift : g - 3;
    const slot = toPa(table + (Math.floor(va / 2 ** shift) % 2 ** bits) * 8);
    if (l === level) return slot;
    const d = phys.read64(slot);
    if ((d & 3n) !== 3n) throw new Error(`no table at level ${l}`);
    const a = Number(d & 0xffff_ffff_f000n);
    table = a - (a % 2 ** g);
  }
}

/** Runs `fn` with the 64-bit word at `pa` replaced by `edit(old)`, then restores it. */
function withWord(pa: number, edit: (d: bigint) => bigint, fn: () => void): void {
  const old = phys.read64(pa);
  phys.write64(pa, edit(old));
  try {
    fn();
  } finally {
    phys.write64(pa, old);
  }
}

const BIT47 = 1n << 47n;
const setAddr = (d: bigint, a: bigint, g: number): bigint => (d & ~(0xffff_ffff_ffffn & ~((1n << BigInt(g)) - 1n))) | a;

for (const g1 of [12, 14, 16]) {
  for (const [g2, s2start, t0sz] of S2_GEOMS) {
    describe(`S1 2^${g1} x S2 2^${g2} start L${s2start} (S2T0SZ ${t0sz})`, () => {
      const build = () => {
        phys.fill(0, MEM, 0);
        const G1 = 2 ** g1;
        const G2 = 2 ** g2;
        const ias2 = 64 - t0sz;
        const s2 = new PageTable({ stage: 2, granuleShift: g2, ias: ias2, oas: 48, mem: phys, alloc: bump(0, 4 << 20), startLevel: s2start });
        const IPA_A = 0x10_0000 + G2;
        const IPA_B = 2 ** (ias2 - 1);
        const IPA_D = 0x80_0000;
        const PA_A = (4 << 20) + G2;
        const PA_B = (8 << 20) + G2;
        s2.map(IPA_A, PA_A, 2 << 20, PROT_READ | PROT_WRITE);
        s2.map(IPA_B, PA_B, 2 << 20, PROT_READ | PROT_WRITE);
        s2.map(IPA_D, 1 << 30, 0x10000, PROT_READ | PROT_WRITE); // beyond the 16 MiB of memory
        const ipaToPa = (a: number): number => {
          const p = s2.translate(a);
          if (p < 0) throw new Error(`IPA ${a.toString(16)} unmapped`);
          return p;
        };
        const gmem: WordReader & WordWriter = {
          hi: 0,
          load64(ipa) {
            const lo = phys.load64(ipaToPa(ipa));
            this.hi = phys.hi;
            return lo;
          },
          store64: (ipa, lo, hi) => phys.store64(ipaToPa(ipa), lo, hi),
        };
        const s1 = new PageTable({ stage: 1, granuleShift: g1, ias: 48, oas: 48, mem: gmem, alloc: bump(IPA_A, IPA_A + (2 << 20)) });
        // VA whose offset below every block size is 3 pages + 0x88.
        const VA = 2 ** 40 + 3 * G1 + 0x88;
        s1.map(2 ** 40 + 3 * G1, IPA_B + 3 * G1, G1, PROT_READ | PROT_WRITE);
        const EXPECT_PA = PA_B + 3 * G1 + 0x88;
        const vhi = Math.floor(VA / 2 ** 32);
        const vlo = VA >>> 0;

        const p1: S1Params = {
          gran0: g1, gran1: 0, tsz0: 16, tsz1: 16, ttb0: s1.root, ttb1: 0, epd0: false, epd1: true, tbi0: false,
          tbi1: false, had0: false, had1: false, ips: 48, affd: false, ha: false, hd: false, wxn: false, uwxn: false,
          pan: false, endi: false, lpa: false, vax: false,
        };
        const p2: S2Params = {
          gran: g2, t0sz, sl0: s2.sl0, ttb: s2.root, ps: 48, affd: false, ha: false, hd: false, ptw: false, fwb: false,
          endi: false, lpa: false, xnx: false, oas: 48,
        };
        const c1 = s1Cfg(p1);
        const c1ips44 = s1Cfg({ ...p1, ips: 44 });
        const c2 = s2Cfg(p2);
        const c2ps44 = s2Cfg({ ...p2, ps: 44 });
        return { s2, s1, IPA_A, IPA_B, IPA_D, PA_A, PA_B, ipaToPa, VA, EXPECT_PA, vhi, vlo, c1, c1ips44, c2, c2ps44, G1, G2 };
      };
      let x!: ReturnType<typeof build>;
      beforeAll(() => {
        x = build();
      });
      const s1Levels = Array.from({ length: 4 - s1StartLevel(g1, 48) }, (_, i) => s1StartLevel(g1, 48) + i);
      const s2Levels = Array.from({ length: 4 - s2start }, (_, i) => s2start + i);

      const expectFault = (type: number, s2f: number, cls: number, level: number, ipa?: number): void => {
        const f = res.fault;
        expect({ type: f.type, s2: f.s2, cls: f.cls, level: f.level }).toEqual({ type, s2: s2f, cls, level });
        if (ipa !== undefined) expect(f.ipa).toBe(ipa);
      };

      it('geometry and a successful nested translation', () => {
        const { s2, IPA_B, PA_B, EXPECT_PA, vhi, vlo, c1, c2, G1 } = x;
        expect([c2.start, s2.startLevel]).toEqual([s2start, s2start]);
        expect(walker.translate(c1, c2, phys, vhi, vlo, ACC_WRITE, res)).toBe(true);
        expect(res.pa).toBe(EXPECT_PA);
        expect(res.ipa).toBe(IPA_B + 3 * G1 + 0x88);
        expect(res.size).toBe(Math.min(g1, g2));
        expect(walker.ipaToPa(c2, phys, IPA_B + 0x40, vhi, vlo, 0, res)).toBe(PA_B + 0x40);
      });

      it.each(s1Levels)('stage-1 faults at level %i', (level) => {
        const { s2, s1, IPA_B, IPA_D, ipaToPa, VA, vhi, vlo, c1, c1ips44, c2, G1 } = x;
        const slot = slotAt(s1, VA, level, ipaToPa);
        withWord(slot, (d) => d & ~1n, () => {
          expect(walker.translate(c1, c2, phys, vhi, vlo, 0, res)).toBe(false);
          expectFault(EVT.F_TRANSLATION, 0, CLASS.IN, level);
        });
        withWord(slot, (d) => d | BIT47, () => {
          expect(walker.translate(c1ips44, c2, phys, vhi, vlo, 0, res)).toBe(false);
          expectFault(EVT.F_ADDR_SIZE, 0, CLASS.IN, level);
        });
        if (level === 3 || blockAllowed(g1, level, false)) {
          // A leaf at this level: block (or page) mapping IPA_B, then AF = 0 / read-only.
          const s = levelShift(g1, level);
          const base = Math.floor((IPA_B + 3 * G1) / 2 ** s) * 2 ** s;
          const leaf = (d: bigint): bigint => (setAddr(d, BigInt(base), g1) & ~0xfffn & ~(3n << 53n)) | (level === 3 ? 3n : 1n) | 0x440n;
          const outIpa = base + (VA % 2 ** s);
          withWord(slot, leaf, () => {
            const ok = walker.translate(c1, c2, phys, vhi, vlo, ACC_WRITE, res);
            if (s2.translate(outIpa) >= 0) {
              expect(ok).toBe(true);
              expect(res.pa).toBe(s2.translate(outIpa));
              expect(res.s1size).toBe(s);
            } else {
              // a block larger than the IPA space we mapped: the output IPA faults at stage 2
              expect(ok).toBe(false);
              expect([res.fault.s2, res.fault.cls, res.fault.ipa]).toEqual([1, CLASS.IN, outIpa]);
            }
          });
          withWord(slot, (d) => leaf(d) & ~0x400n, () => {
            expect(walker.translate(c1, c2, phys, vhi, vlo, 0, res)).toBe(false);
            expectFault(EVT.F_ACCESS, 0, CLASS.IN, level);
          });
          withWord(slot, (d) => leaf(d) | 0x80n, () => {
            expect(walker.translate(c1, c2, phys, vhi, vlo, 0, res)).toBe(s2.translate(outIpa) >= 0);
            expect(walker.translate(c1, c2, phys, vhi, vlo, ACC_WRITE, res)).toBe(false);
            expectFault(EVT.F_PERMISSION, 0, CLASS.IN, level);
          });
        } else {
          // A block where none is allowed: translation fault at this level.
          withWord(slot, (d) => d & ~2n, () => {
            expect(walker.translate(c1, c2, phys, vhi, vlo, 0, res)).toBe(false);
            expectFault(EVT.F_TRANSLATION, 0, CLASS.IN, level);
          });
        }
        if (level > s1.startLevel) {
          // The table holding this level's descriptor at an IPA whose PA is outside memory.
          const parent = slotAt(s1, VA, level - 1, ipaToPa);
          withWord(parent, (d) => setAddr(d, BigInt(IPA_D), g1), () => {
            expect(walker.translate(c1, c2, phys, vhi, vlo, 0, res)).toBe(false);
            expectFault(EVT.F_WALK_EABT, 0, CLASS.TT, level);
            const idx = Math.floor(VA / 2 ** levelShift(g1, level)) % 2 ** (g1 - 3);
            expect(res.fault.fetchAddr).toBe(2 ** 30 + idx * 8);
          });
        }
      });

      it.each(s2Levels)('stage-2 faults at level %i: CLASS TT, IN and CD', (level) => {
        const { s2, s1, IPA_B, VA, vhi, vlo, c1, c2, c2ps44, G1 } = x;
        // The first stage-1 descriptor read: IPA of the root table entry for VA.
        const rootIpa = s1.root + (Math.floor(VA / 2 ** levelShift(g1, s1.startLevel)) % 2 ** (48 - levelShift(g1, s1.startLevel))) * 8;
        const outIpa = IPA_B + 3 * G1 + 0x88;
        const cdIpa = IPA_B + 0x40;
        const paths: Array<[number, number, number]> = [
          [CLASS.TT, rootIpa, slotAt(s2, rootIpa, level, (a) => a)],
          [CLASS.IN, outIpa, slotAt(s2, outIpa, level, (a) => a)],
          [CLASS.CD, cdIpa, slotAt(s2, cdIpa, level, (a) => a)],
        ];
        const run = (cls: number, ipa: number, cfg = c2, acc = 0): boolean =>
          cls === CLASS.CD ? walker.ipaToPa(cfg, phys, ipa, vhi, vlo, acc, res) >= 0 : walker.translate(c1, cfg, phys, vhi, vlo, acc, res);
        for (const [cls, ipa, slot] of paths) {
          withWord(slot, (d) => d & ~1n, () => {
            expect(run(cls, ipa)).toBe(false);
            expectFault(EVT.F_TRANSLATION, 1, cls, level, ipa);
          });
          withWord(slot, (d) => d | BIT47, () => {
            expect(run(cls, ipa, c2ps44)).toBe(false);
            expectFault(EVT.F_ADDR_SIZE, 1, cls, level, ipa);
          });
          if (level === 3 || blockAllowed(g2, level, false)) {
            const leaf = (d: bigint): bigint => (d & ~0xfffn) | (level === 3 ? 3n : 1n) | 0x400n | 0xc0n | (0xfn << 2n);
            withWord(slot, (d) => leaf(d) & ~0x400n, () => {
              expect(run(cls, ipa)).toBe(false);
              expectFault(EVT.F_ACCESS, 1, cls, level, ipa);
            });
            withWord(slot, (d) => leaf(d) & ~0x40n, () => {
              // write-only at stage 2: reads of tables/CDs fault, the transaction's own read too
              expect(run(cls, ipa)).toBe(false);
              expectFault(EVT.F_PERMISSION, 1, cls, level, ipa);
              expect(res.fault.ttrnw).toBe(cls === CLASS.TT ? 1 : 0);
            });
            if (cls === CLASS.IN) {
              withWord(slot, (d) => leaf(d) & ~0x80n, () => {
                expect(run(cls, ipa, c2, ACC_WRITE)).toBe(false);
                expectFault(EVT.F_PERMISSION, 1, cls, level, ipa);
                expect(res.fault.rnw).toBe(0);
              });
            }
          }
          if (level > s2start) {
            const parent = slotAt(s2, ipa, level - 1, (a) => a);
            withWord(parent, (d) => setAddr(d, 1n << 30n, g2), () => {
              expect(run(cls, ipa)).toBe(false);
              expectFault(EVT.F_WALK_EABT, 1, cls, level, ipa);
              const idx = Math.floor(ipa / 2 ** levelShift(g2, level)) % 2 ** (g2 - 3);
              expect(res.fault.fetchAddr).toBe(2 ** 30 + idx * 8);
            });
          }
        }
      });
    });
  }
}
