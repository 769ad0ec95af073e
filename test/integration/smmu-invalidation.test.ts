// Caches behave like hardware: after a driver changes a table or a structure, the old
// translation persists until the matching invalidation, survives a non-matching one, and is
// gone once the matching invalidation's CMD_SYNC completed. SMMU on its own thread.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmdOf, type Command } from '../../src/arch/commands.ts';
import { TX_OK } from '../../src/smmu/ports.ts';
import { startThreadedSmmu, type ThreadedSmmu } from '../support/smmu-thread.ts';
import { cdSlot, guestS2, nestedSte, RW, s1Cd, s1Ste, s1Table, s2Ste, s2Table } from '../support/smmu-world.ts';

let t: ThreadedSmmu;
beforeAll(async () => {
  t = await startThreadedSmmu();
});
afterAll(async () => {
  await t?.close();
});

const OLD = 0x01d0_0001;
const NEW = 0x0e00_0002;
let tag = 0;

/** DMA-reads 4 bytes at `iova` for `sid`; returns them. */
function dmaRead(sid: number, iova: number): number {
  const c = t.dev.run({ tag: ++tag, sid, iova, length: 4, offset: 64 });
  expect(c.status).toBe(TX_OK);
  return new DataView(t.dev.data.buffer).getUint32(64, true);
}

/** Two physical pages holding the markers OLD and NEW. */
function pages(): [number, number] {
  const a = t.w.alloc.alloc(0x1000, 0x1000);
  const b = t.w.alloc.alloc(0x1000, 0x1000);
  t.mem.write32(a + 0x10, OLD >>> 0);
  t.mem.write32(b + 0x10, NEW >>> 0);
  return [a, b];
}

interface Case {
  readonly name: string;
  /** Sets up a stream, returns its sid and va, the change to make, and the commands. */
  readonly setup: () => { sid: number; va: number; change: () => void; wrong: Command[]; right: Command[] };
}

function s1Case(name: string, wrong: (asid: number) => Command[], right: (asid: number, va: number) => Command[], range = false): Case {
  return {
    name,
    setup: () => {
      const [a, b] = pages();
      const pt = s1Table(t.w);
      const va = 0x4_0000_0000;
      if (range) pt.map(va - 0x2000, t.w.alloc.alloc(0x2000, 0x1000), 0x2000, RW);
      pt.map(va, a, 0x1000, RW);
      const cd = cdSlot(t.w);
      const asid = 40 + tag;
      t.w.drv.writeCd(cd, s1Cd(pt, asid));
      const sid = 10;
      t.w.drv.writeSte(sid, s1Ste(cd));
      return {
        sid, va: va + 0x10,
        change: () => {
          pt.unmap(va, 0x1000);
          pt.map(va, b, 0x1000, RW);
        },
        wrong: wrong(asid), right: right(asid, va),
      };
    },
  };
}

function s2Case(name: string, wrong: (vmid: number, ipa: number) => Command[], right: (vmid: number, ipa: number) => Command[]): Case {
  return {
    name,
    setup: () => {
      const [a, b] = pages();
      const pt = s2Table(t.w);
      const ipa = 0x9000_0000;
      pt.map(ipa, a, 0x1000, RW);
      const vmid = 7;
      t.w.drv.writeSte(11, s2Ste(pt, vmid));
      return {
        sid: 11, va: ipa + 0x10,
        change: () => {
          pt.unmap(ipa, 0x1000);
          pt.map(ipa, b, 0x1000, RW);
        },
        wrong: wrong(vmid, ipa), right: right(vmid, ipa),
      };
    },
  };
}

/** Structure changes: the stream moves to a new CD (new ASID, new table mapping va -> NEW). */
function cfgCase(name: string, viaSte: boolean, wrong: Command[], right: Command[], sid = 12): Case {
  return {
    name,
    setup: () => {
      const [a, b] = pages();
      const va = 0x7000;
      const pt1 = s1Table(t.w);
      pt1.map(va, a, 0x1000, RW);
      const pt2 = s1Table(t.w);
      pt2.map(va, b, 0x1000, RW);
      const cd1 = cdSlot(t.w);
      const cd2 = cdSlot(t.w);
      t.w.drv.writeCd(cd1, s1Cd(pt1, 100));
      t.w.drv.writeCd(cd2, s1Cd(pt2, 101));
      t.w.drv.writeSte(sid, s1Ste(cd1));
      return {
        sid, va: va + 0x10,
        change: () => (viaSte ? t.w.drv.writeSte(sid, s1Ste(cd2)) : t.w.drv.writeCd(cd1, s1Cd(pt2, 101))),
        wrong, right,
      };
    },
  };
}

const CASES: Case[] = [
  s1Case('TLBI_NH_VA', (asid) => [cmdOf('TLBI_NH_VA', { asid: asid + 1, addr: 0x4_0000_0000, leaf: 1 }), cmdOf('TLBI_NH_VA', { asid, addr: 0x4_0000_1000 })],
    (asid, va) => [cmdOf('TLBI_NH_VA', { asid, addr: va, leaf: 1 })]),
  s1Case('TLBI_NH_VA range (RIL: TG/NUM/SCALE/TTL)', (asid) => [cmdOf('TLBI_NH_VA', { asid, addr: 0x4_0000_0000 - 0x2000, tg: 1, num: 1, scale: 0, ttl: 3, leaf: 1 })],
    (asid) => [cmdOf('TLBI_NH_VA', { asid, addr: 0x4_0000_0000 - 0x2000, tg: 1, num: 2, scale: 0, ttl: 3, leaf: 1 })], true),
  s1Case('TLBI_NH_VAA', () => [cmdOf('TLBI_NH_VAA', { vmid: 1, addr: 0x4_0000_0000 })], (_a, va) => [cmdOf('TLBI_NH_VAA', { vmid: 0, addr: va })]),
  s1Case('TLBI_NH_ASID', (asid) => [cmdOf('TLBI_NH_ASID', { asid: asid + 1 }), cmdOf('TLBI_NH_ASID', { vmid: 3, asid })], (asid) => [cmdOf('TLBI_NH_ASID', { asid })]),
  s1Case('TLBI_NH_ALL', () => [cmdOf('TLBI_NH_ALL', { vmid: 2 }), cmdOf('TLBI_S2_IPA', { vmid: 0, addr: 0x4_0000_0000 })], () => [cmdOf('TLBI_NH_ALL', { vmid: 0 })]),
  s1Case('TLBI_NSNH_ALL', () => [cmdOf('CFGI_STE_RANGE', { range: 31 })], () => [cmdOf('TLBI_NSNH_ALL')]),
  s2Case('TLBI_S12_VMALL', (vmid) => [cmdOf('TLBI_S12_VMALL', { vmid: vmid + 1 }), cmdOf('TLBI_NH_ALL', { vmid })], (vmid) => [cmdOf('TLBI_S12_VMALL', { vmid })]),
  s2Case('TLBI_S2_IPA', (vmid, ipa) => [cmdOf('TLBI_S2_IPA', { vmid, addr: ipa + 0x1000, leaf: 1 }), cmdOf('TLBI_NH_ASID', { vmid, asid: 0 })],
    (vmid, ipa) => [cmdOf('TLBI_S2_IPA', { vmid, addr: ipa, leaf: 1 })]),
  cfgCase('CFGI_STE', true, [cmdOf('CFGI_STE', { sid: 13, leaf: 1 }), cmdOf('CFGI_CD_ALL', { sid: 13 })], [cmdOf('CFGI_STE', { sid: 12, leaf: 1 })]),
  cfgCase('CFGI_STE_RANGE', true, [cmdOf('CFGI_STE_RANGE', { sid: 16, range: 2 })], [cmdOf('CFGI_STE_RANGE', { sid: 12, range: 2 })]),
  cfgCase('CFGI_ALL', true, [cmdOf('TLBI_NSNH_ALL')], [cmdOf('CFGI_STE_RANGE', { range: 31 })]),
  cfgCase('CFGI_CD', false, [cmdOf('CFGI_CD', { sid: 12, ssid: 1, leaf: 1 }), cmdOf('CFGI_CD', { sid: 14, ssid: 0 })], [cmdOf('CFGI_CD', { sid: 12, ssid: 0, leaf: 1 })]),
  cfgCase('CFGI_CD_ALL', false, [cmdOf('CFGI_CD_ALL', { sid: 14 })], [cmdOf('CFGI_CD_ALL', { sid: 12 })]),
];

describe('stale translations until the matching invalidation + CMD_SYNC (real thread)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      t.w.drv.reset();
      const s = c.setup();
      expect(dmaRead(s.sid, s.va)).toBe(OLD >>> 0);
      s.change();
      expect(dmaRead(s.sid, s.va)).toBe(OLD >>> 0); // cached: no invalidation yet
      t.w.drv.cmdSync(s.wrong);
      expect(dmaRead(s.sid, s.va)).toBe(OLD >>> 0); // a non-matching invalidation keeps it
      t.w.drv.cmdSync(s.right);
      expect(dmaRead(s.sid, s.va)).toBe(NEW >>> 0);
    });
  }

  it('TLBI_S2_IPA also removes nested (combined) entries built from that IPA', () => {
    t.w.drv.reset();
    const g = guestS2(t.w, 21);
    const gpt = s1Table(t.w, 12, true);
    const bufIpa = t.w.guestAlloc.alloc(0x1000, 0x1000);
    gpt.map(0x5000, bufIpa, 0x1000, RW);
    const cdIpa = cdSlot(t.w, 1, true);
    t.w.drv.writeCd(cdIpa, s1Cd(gpt, 1), t.w.guest);
    t.w.drv.writeSte(20, nestedSte(g.pt, 21, cdIpa));
    const [, b] = pages();
    t.w.guest.write(bufIpa + 0x10, 4, OLD >>> 0);
    expect(dmaRead(20, 0x5010)).toBe(OLD >>> 0);
    // Xen moves the guest page: stage 2 now maps bufIpa to page b.
    g.pt.unmap(bufIpa, 0x1000);
    g.pt.map(bufIpa, b, 0x1000, RW);
    expect(dmaRead(20, 0x5010)).toBe(OLD >>> 0);
    t.w.drv.cmdSync([cmdOf('TLBI_S2_IPA', { vmid: 22, addr: bufIpa })]);
    expect(dmaRead(20, 0x5010)).toBe(OLD >>> 0);
    t.w.drv.cmdSync([cmdOf('TLBI_S2_IPA', { vmid: 21, addr: bufIpa, leaf: 1 })]);
    expect(dmaRead(20, 0x5010)).toBe(NEW >>> 0);
  });
});
