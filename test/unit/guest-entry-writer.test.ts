// Linux's STE/CD update algorithm (arm_smmu_write_entry) as the guest driver runs it: which
// qwords are written in which step and where the syncs fall, for hitless and breaking
// updates; plus the TLBI command generator and the latency recorder.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planEntryUpdate } from '../../src/arch/entry-update.ts';
import { encodeSte, steOf, STE_CFG } from '../../src/arch/ste.ts';
import { cdUsed, EntryWriter, steUsed } from '../../src/guest/entry-writer.ts';
import { LatencyRecorder } from '../../src/guest/latency.ts';
import { tlbiRangeCommands } from '../../src/guest/tlbi.ts';
import { guestRam, RAM_IPA } from '../support/guest-fake-smmu.ts';

function ste(p: Parameters<typeof steOf>[0]): Uint32Array {
  const w = new Uint32Array(16);
  encodeSte(steOf(p), w, 0);
  return w;
}

/** Runs an update and returns, per sync, the entry as the SMMU could see it then. */
function run(from: Uint32Array, to: Uint32Array, used = steUsed) {
  const { ram } = guestRam(1 << 20);
  const at = RAM_IPA + 0x1000;
  for (let q = 0; q < 8; q++) ram.store64(at + 8 * q, from[2 * q] ?? 0, from[2 * q + 1] ?? 0);
  const seen: number[][] = [];
  const r = new EntryWriter(ram).write(at, to, used, () => seen.push(Array.from({ length: 16 }, (_, i) => ram.read32(at + 4 * i))));
  const final = Array.from({ length: 16 }, (_, i) => ram.read32(at + 4 * i));
  return { ...r, seen, final };
}

describe('entry writer (used-bits update)', () => {
  const abort = ste({ v: 1, config: STE_CFG.ABORT });
  const s1 = ste({ v: 1, config: STE_CFG.S1, s1ContextPtr: 0x4000_8000, s1dss: 2, s1cir: 1, s1cor: 1, s1csh: 3 });
  const s2 = ste({ v: 1, config: STE_CFG.S2, s2vmid: 5, s2t0sz: 24, s2sl0: 1, s2aa64: 1, s2r: 1, s2ttb: 0x80_0000 });

  it('abort -> S1 is hitless: dw1 first (sync), then dw0 (sync)', () => {
    const r = run(abort, s1);
    expect(r.kind).toBe('hitless');
    expect(r.syncs).toBe(2);
    expect(r.seen[0]?.slice(0, 4)).toEqual([1, 0, s1[2], 0]);
    expect(r.seen[1]).toEqual(Array.from(s1));
    expect(r.final).toEqual(Array.from(s1));
  });

  it('S1 -> abort is hitless: dw0 first, then the now-unused bits cleared', () => {
    const r = run(s1, abort);
    expect(r.kind).toBe('hitless');
    expect(r.seen[0]?.slice(0, 4)).toEqual([1, 0, s1[2], 0]);
    expect(r.seen[1]).toEqual(Array.from(abort));
  });

  it('S1 -> S2 changes the used bits of two qwords: breaking, V = 0 first', () => {
    const r = run(s1, s2);
    expect(r.kind).toBe('breaking');
    expect(r.syncs).toBe(3);
    expect(r.seen[0]?.slice(0, 2)).toEqual([0, 0]);
    expect(r.seen[1]?.slice(0, 2)).toEqual([0, 0]);
    expect(r.seen[1]?.slice(4, 8)).toEqual(Array.from(s2.slice(4, 8)));
    expect(r.seen[2]).toEqual(Array.from(s2));
  });

  it('rewriting the same entry writes nothing and syncs nothing', () => {
    const r = run(s1, s1);
    expect(r).toMatchObject({ kind: 'unused', syncs: 0 });
  });

  it('CD: valid -> other ASID and TTB0 is breaking; under EPD0 the TTB0 bits are unused', () => {
    const cd = (asid: number, ttb: number, epd0 = 0) => {
      const w = new Uint32Array(16);
      w[0] = (0x80000000 | (epd0 << 14) | 16) >>> 0;
      w[1] = asid << 16;
      w[2] = ttb;
      return w;
    };
    expect(run(cd(1, 0x1000), cd(2, 0x2000), cdUsed)).toMatchObject({ kind: 'breaking', syncs: 3 });
    expect(run(cd(1, 0x1000), cd(2, 0x1000), cdUsed)).toMatchObject({ kind: 'hitless', syncs: 1 });
    // Under EPD0 the TTB0 walk fields are not used bits.
    const u = new Uint32Array(16);
    cdUsed(cd(1, 0, 1), u);
    expect([u[0], u[2], u[3], u[4]]).toEqual([0xffffc000, 0xf, 0xfff00000, 0xffffffff]);
    cdUsed(cd(1, 0, 0).map((x, i) => (i === 0 ? x & 0x7fffffff : x)), u);
    expect(Array.from(u)).toEqual([0x80000000, ...new Array<number>(15).fill(0)]);
  });
});

describe('TLBI generator', () => {
  const base = { asid: 1, iova: 0x10000, pageShift: 12, leaf: true };
  it('non-leaf range nudges a 1-page count so NUM and SCALE are not both 0', () => {
    const c = tlbiRangeCommands({ ...base, size: 4096, granule: 4096, leaf: false, ril: true });
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ name: 'TLBI_NH_VA', ttl: 0, tg: 1, num: 0, scale: 1, leaf: 0 });
  });
  it('16K and 64K pages use TG 2 and 3', () => {
    expect(tlbiRangeCommands({ ...base, pageShift: 14, size: 16384, granule: 16384, ril: true })[0]).toMatchObject({ tg: 2, ttl: 3 });
    expect(tlbiRangeCommands({ ...base, pageShift: 16, size: 65536, granule: 65536, ril: true })[0]).toMatchObject({ tg: 3, ttl: 3 });
  });
  it('covers exactly the range, chunk by chunk', () => {
    for (const pages of [1, 2, 31, 32, 33, 63, 100, 1000, 4097]) {
      const c = tlbiRangeCommands({ ...base, size: pages * 4096, granule: 4096, ril: true });
      let at = base.iova;
      for (const x of c) {
        if (x.name !== 'TLBI_NH_VA') throw new Error('not NH_VA');
        expect(x.addr).toBe(at);
        at += (x.num + 1) * 2 ** x.scale * 4096;
      }
      expect(at).toBe(base.iova + pages * 4096);
    }
  });
});

describe('latency recorder', () => {
  it('gives percentiles in microseconds over the kept samples', () => {
    const l = new LatencyRecorder(1000);
    for (let i = 1; i <= 100; i++) l.record(i / 1000); // 1..100 us
    const s = l.summary();
    expect(s).toMatchObject({ count: 100, p50Us: 50, p90Us: 90, p99Us: 99, maxUs: 100 });
    expect(s.meanUs).toBeCloseTo(50.5, 6);
    expect(new LatencyRecorder().summary().count).toBe(0);
  });
});

describe('entry update planner (src/arch/entry-update.ts, shared by the guest and Xen)', () => {
  const word = fc.integer({ min: 0, max: 0xffff_ffff });
  const entry = fc.array(word, { minLength: 16, maxLength: 16 });

  it('any plan ends at the target in at most three syncs; a breaking one first clears qword 0 (V)', () => {
    fc.assert(
      fc.property(entry, entry, fc.boolean(), (from, to, isCd) => {
        const used = isCd ? cdUsed : steUsed;
        const plan = planEntryUpdate(from, to, used);
        const cur = Array.from(from, (x) => x >>> 0);
        for (const stores of plan.steps) {
          expect(stores.length).toBeGreaterThan(0);
          for (const s of stores) [cur[2 * s.qword], cur[2 * s.qword + 1]] = [s.lo, s.hi];
        }
        expect(cur).toEqual(Array.from(to, (x) => x >>> 0));
        expect(plan.steps.length).toBeLessThanOrEqual(3);
        if (plan.kind === 'breaking') expect(plan.steps[0]).toEqual([{ qword: 0, lo: 0, hi: 0 }]);
      }),
      { numRuns: 300 },
    );
  });
});
