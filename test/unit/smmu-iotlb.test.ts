import { describe, expect, it } from 'vitest';
import {
  INV_STAGE1,
  INV_STAGE2,
  Iotlb,
  REGIME_EL1,
  REGIME_EL2,
  TLB_NESTED,
  TLB_S1,
  TLB_S2,
} from '../../src/smmu/iotlb.ts';

const EL1 = REGIME_EL1;
const R = 1; // allow bit for a plain read (acc 0)

function hiLo(a: number): [number, number] {
  return [Math.floor(a / 2 ** 32) >>> 0, a >>> 0];
}

function ins(t: Iotlb, kind: number, vmid: number, asid: number, va: number, size: number, pa: number, opts: { global?: boolean; ipa?: number; regime?: number } = {}): number {
  const [hi, lo] = hiLo(va);
  return t.insert(kind, opts.regime ?? EL1, vmid, asid, opts.global ?? false, hi, lo, size, 3, pa, opts.ipa ?? pa, R);
}

function look(t: Iotlb, kind: number, vmid: number, asid: number, va: number, regime = EL1): number {
  const [hi, lo] = hiLo(va);
  const e = t.lookup(kind, regime, vmid, asid, hi, lo);
  return e < 0 ? -1 : t.outputOf(e, hi, lo);
}

describe('Iotlb', () => {
  it('hits within the page, misses outside, keeps offsets', () => {
    const t = new Iotlb(16);
    ins(t, TLB_S1, 1, 5, 0x4000_1000, 12, 0x8000_3000);
    expect(look(t, TLB_S1, 1, 5, 0x4000_1abc)).toBe(0x8000_3abc);
    expect(look(t, TLB_S1, 1, 5, 0x4000_2000)).toBe(-1);
    expect(look(t, TLB_S1, 1, 6, 0x4000_1000)).toBe(-1); // other ASID
    expect(look(t, TLB_S1, 2, 5, 0x4000_1000)).toBe(-1); // other VMID
    expect(look(t, TLB_NESTED, 1, 5, 0x4000_1000)).toBe(-1); // other kind
    expect(look(t, TLB_S1, 1, 5, 0x4000_1000, REGIME_EL2)).toBe(-1); // other regime
    expect(t.counters).toMatchObject({ lookups: 6, hits: 1, misses: 5, insertions: 1 });
  });

  it('handles blocks (2M, 1G) and 64-bit inputs above 2^53', () => {
    const t = new Iotlb(16);
    ins(t, TLB_S1, 0, 1, 0x4020_0000, 21, 0x1_0000_0000);
    ins(t, TLB_S1, 0, 1, 0x80_4000_0000, 30, 0x2_4000_0000);
    expect(look(t, TLB_S1, 0, 1, 0x403f_fff8)).toBe(0x1_001f_fff8);
    expect(look(t, TLB_S1, 0, 1, 0x80_7fff_0010)).toBe(0x2_7fff_0010);
    // TTB1-range address: 0xffff_8000_0000_2000
    t.insert(TLB_S1, EL1, 0, 1, false, 0xffff8000, 0x2000, 12, 3, 0x5000, 0x5000, R);
    const e = t.lookup(TLB_S1, EL1, 0, 1, 0xffff8000, 0x2010);
    expect(t.outputOf(e, 0xffff8000, 0x2010)).toBe(0x5010);
    expect(t.lookup(TLB_S1, EL1, 0, 1, 0x7fff8000, 0x2010)).toBe(-1);
  });

  it('global entries match every ASID of the VMID and survive TLBI by ASID', () => {
    const t = new Iotlb(16);
    ins(t, TLB_S1, 3, 7, 0x1000, 12, 0xa000, { global: true });
    expect(look(t, TLB_S1, 3, 9, 0x1000)).toBe(0xa000);
    expect(look(t, TLB_S1, 4, 9, 0x1000)).toBe(-1);
    t.invalidateAsid(EL1, 3, 7);
    expect(look(t, TLB_S1, 3, 7, 0x1000)).toBe(0xa000);
    // TLBI_NH_VA removes global entries whatever its ASID.
    t.invalidateVa(EL1, 3, 12, 0x1000, 0x1000);
    expect(look(t, TLB_S1, 3, 7, 0x1000)).toBe(-1);
  });

  it('TLBI_NH_ASID removes only that ASID in that VMID', () => {
    const t = new Iotlb(16);
    ins(t, TLB_S1, 1, 1, 0x1000, 12, 0xa000);
    ins(t, TLB_S1, 1, 2, 0x1000, 12, 0xb000);
    ins(t, TLB_NESTED, 2, 1, 0x1000, 12, 0xc000);
    ins(t, TLB_S2, 1, 0, 0x1000, 12, 0xd000);
    expect(t.invalidateAsid(EL1, 1, 1)).toBe(1);
    expect(look(t, TLB_S1, 1, 1, 0x1000)).toBe(-1);
    expect(look(t, TLB_S1, 1, 2, 0x1000)).toBe(0xb000);
    expect(look(t, TLB_NESTED, 2, 1, 0x1000)).toBe(0xc000);
    expect(look(t, TLB_S2, 1, 0, 0x1000)).toBe(0xd000);
  });

  it('TLBI_NH_ALL keeps stage-2 entries; S12_VMALL removes them; NSNH_ALL spares EL2', () => {
    const t = new Iotlb(16);
    ins(t, TLB_S1, 1, 1, 0x1000, 12, 0xa000);
    ins(t, TLB_NESTED, 1, 1, 0x2000, 12, 0xa000);
    ins(t, TLB_S2, 1, 0, 0x3000, 12, 0xd000);
    ins(t, TLB_S2, 2, 0, 0x3000, 12, 0xe000);
    ins(t, TLB_S1, 0, 4, 0x3000, 12, 0xe000, { regime: REGIME_EL2 });
    expect(t.invalidateVmid(1, INV_STAGE1)).toBe(2);
    expect(look(t, TLB_S2, 1, 0, 0x3000)).toBe(0xd000);
    expect(t.invalidateVmid(1, INV_STAGE1 | INV_STAGE2)).toBe(1);
    expect(look(t, TLB_S2, 2, 0, 0x3000)).toBe(0xe000);
    expect(t.invalidateRegime(EL1)).toBe(1);
    expect(look(t, TLB_S1, 0, 4, 0x3000, REGIME_EL2)).toBe(0xe000);
    expect(t.invalidateRegime(REGIME_EL2)).toBe(1);
    expect(t.entries).toBe(0);
  });

  it('TLBI by VA range removes exactly the overlapping entries (probe and sweep paths agree)', () => {
    for (const pages of [1, 3, 40, 4096]) {
      const t = new Iotlb(256);
      for (let i = 0; i < 64; i++) ins(t, TLB_S1, 1, 1, 0x10_0000 + i * 0x1000, 12, 0x100_0000 + i * 0x1000);
      ins(t, TLB_S1, 1, 1, 0x20_0000, 21, 0x400_0000); // a 2M block
      ins(t, TLB_S1, 1, 2, 0x10_0000, 12, 0x900_0000); // other ASID
      const start = 0x10_5000;
      const end = start + pages * 0x1000;
      t.invalidateVa(EL1, 1, 1, start, pages * 0x1000);
      for (let i = 0; i < 64; i++) {
        const va = 0x10_0000 + i * 0x1000;
        const gone = va >= start && va < end;
        expect(look(t, TLB_S1, 1, 1, va)).toBe(gone ? -1 : 0x100_0000 + i * 0x1000);
      }
      expect(look(t, TLB_S1, 1, 1, 0x20_0000) === -1).toBe(end > 0x20_0000);
      expect(look(t, TLB_S1, 1, 2, 0x10_0000)).toBe(0x900_0000);
    }
  });

  it('TLBI_NH_VAA removes every ASID; a VA inside a block removes the block', () => {
    const t = new Iotlb(16);
    ins(t, TLB_S1, 1, 1, 0x20_0000, 21, 0x400_0000);
    ins(t, TLB_S1, 1, 2, 0x20_0000, 12, 0x500_0000);
    ins(t, TLB_S1, 2, 2, 0x20_0000, 12, 0x500_0000);
    expect(t.invalidateVa(EL1, 1, -1, 0x20_0000, 0x1000)).toBe(2);
    expect(look(t, TLB_S1, 2, 2, 0x20_0000)).toBe(0x500_0000);
    ins(t, TLB_S1, 1, 1, 0x20_0000, 21, 0x400_0000);
    expect(t.invalidateVa(EL1, 1, 1, 0x3f_f000, 0x1000)).toBe(1);
  });

  it('TLBI_S2_IPA removes stage-2 entries by input and nested entries by their IPA', () => {
    const t = new Iotlb(16);
    ins(t, TLB_S2, 1, 0, 0x4000_0000, 12, 0x8000_0000);
    ins(t, TLB_NESTED, 1, 3, 0x1000, 12, 0x8000_0000, { ipa: 0x4000_0000 });
    ins(t, TLB_NESTED, 1, 3, 0x2000, 12, 0x8000_1000, { ipa: 0x4000_1000 });
    ins(t, TLB_S1, 1, 3, 0x4000_0000, 12, 0x8000_0000);
    expect(t.invalidateIpa(1, 0x4000_0000, 0x1000)).toBe(2);
    expect(look(t, TLB_NESTED, 1, 3, 0x2000)).toBe(0x8000_1000);
    expect(look(t, TLB_S1, 1, 3, 0x4000_0000)).toBe(0x8000_0000);
    expect(t.invalidateIpa(2, 0x4000_1000, 0x1000)).toBe(0);
  });

  it('is bounded: evicts (sampled LRU) and keeps recently used entries', () => {
    const t = new Iotlb(64, 7);
    for (let i = 0; i < 64; i++) ins(t, TLB_S1, 0, 1, i * 0x1000, 12, i * 0x1000);
    // Touch the first 8 so they are young.
    for (let r = 0; r < 4; r++) for (let i = 0; i < 8; i++) look(t, TLB_S1, 0, 1, i * 0x1000);
    for (let i = 64; i < 96; i++) ins(t, TLB_S1, 0, 1, i * 0x1000, 12, i * 0x1000);
    expect(t.entries).toBe(64);
    expect(t.counters.evictions).toBe(32);
    let young = 0;
    for (let i = 0; i < 8; i++) if (t.find(TLB_S1, EL1, 0, 1, 0, i * 0x1000) >= 0) young++;
    expect(young).toBeGreaterThanOrEqual(6);
    // Every remaining entry still resolves to its own output (no corrupted chains).
    t.forEach((e) => expect(t.pa[e]).toBe(t.base[e]));
  });

  it('re-inserting the same page refreshes it in place (a re-walk)', () => {
    const t = new Iotlb(8);
    const e1 = t.insert(TLB_S1, EL1, 0, 1, false, 0, 0x1000, 12, 3, 0xa000, 0xa000, 1);
    const e2 = t.insert(TLB_S1, EL1, 0, 1, false, 0, 0x1000, 12, 3, 0xb000, 0xb000, 0x7ff);
    expect(e2).toBe(e1);
    expect(t.perm[e1]).toBe(0x7ff);
    expect(t.outputOf(e1, 0, 0x1004)).toBe(0xb004);
    expect(t.entries).toBe(1);
  });

  it('a small TLBI_NH_VA removes every overlapping size, also when one size empties (regression)', () => {
    // Removing the last 4K entry used to shift the list of present sizes under the probe
    // loop, so the 64K entry covering the same address survived the invalidation.
    const t = new Iotlb(2048, 99);
    t.insert(TLB_S1, REGIME_EL1, 1, 0, false, 0, 0, 12, 3, 0, 2 ** 32, 0xfff);
    t.insert(TLB_S1, REGIME_EL1, 1, 0, false, 0, 0, 16, 3, 0x10_0000, 2 ** 32, 0xfff);
    t.insert(TLB_S1, REGIME_EL1, 1, 0, false, 0, 0, 21, 2, 0x20_0000, 2 ** 32, 0xfff);
    expect(t.invalidateVa(REGIME_EL1, 1, 0, 0, 4096)).toBe(3);
    expect(t.entries).toBe(0);
  });
});
