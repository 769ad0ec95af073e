// Xen core in-process: its SMMU driver against the physical SMMU core (stepped synchronously),
// domains and p2m, the vSMMU through Xen's trap dispatcher, event attribution, destroy.
import { describe, expect, it } from 'vitest';
import { ACC_WRITE } from '../../src/arch/types.ts';
import { EVT } from '../../src/arch/events.ts';
import { R } from '../../src/arch/registers.ts';
import { steUsed } from '../../src/arch/entry-update.ts';
import { STE_CFG, steConfigOf } from '../../src/arch/ste.ts';
import { XL_OK, XlateOut } from '../../src/smmu/translate.ts';
import { GUEST_RAM0_BASE, GUEST_VSMMUV3_BASE } from '../../src/xen/layout.ts';
import { VmidAllocator } from '../../src/xen/vmid.ts';
import { VsidTable } from '../../src/xen/vsid.ts';
import type { Xen } from '../../src/xen/xen.ts';
import { G, TestGuest } from '../support/xen-guest.ts';
import { MiB, domCfg, guestOf, xenRig, type XenRig } from '../support/xen-rig.ts';


function translate(r: XenRig, sid: number, iova: number, acc = 0): { ok: boolean; pa: number; type: number; s2: number } {
  const out = new XlateOut();
  const ok = r.smmu.translator.translate(sid, false, 0, Math.floor(iova / 2 ** 32), iova >>> 0, acc, out) === XL_OK;
  r.smmu.step(); // let the SMMU publish any event
  return { ok, pa: out.pa, type: out.event.type, s2: out.event.s2 };
}

function ste(r: XenRig, sid: number): Uint32Array {
  return r.xen.driver.readSte(sid);
}

describe('VMID and vSID allocation', () => {
  it('hands out VMIDs from 1, reuses freed ones last, and runs out cleanly', () => {
    const a = new VmidAllocator(false);
    const got = Array.from({ length: 255 }, () => a.alloc());
    expect(got[0]).toBe(1);
    expect(new Set(got).size).toBe(255);
    expect(() => a.alloc()).toThrow(expect.objectContaining({ code: 'EVSMMU_NOVMID' }));
    a.free(7);
    expect(a.alloc()).toBe(7);
    expect(() => a.free(0)).toThrow(expect.objectContaining({ code: 'EVSMMU_BADFREE' }));
  });

  it('maps vSIDs injectively, identity or lowest-free', () => {
    const t = new VsidTable('lowest-free', 16);
    expect([t.allocate(0x900), t.allocate(0x20), t.allocate(0x31)]).toEqual([0, 1, 2]);
    t.release(0x20);
    expect(t.allocate(0x44)).toBe(1);
    expect(() => t.allocate(0x44)).toThrow(expect.objectContaining({ code: 'EVSMMU_VSID' }));
    expect(t.psidOf(2)).toBe(0x31);
    expect(t.vsidOf(0x900)).toBe(0);
    const id = new VsidTable('identity', 8);
    expect(id.allocate(0x12)).toBe(0x12);
    expect(() => id.allocate(0x100)).toThrow(expect.objectContaining({ code: 'EVSMMU_VSID' }));
  });
});

describe('Xen SMMUv3 driver', () => {
  it('probes and enables the SMMU in Linux order with a 2-level stream table', () => {
    const r = xenRig();
    expect(r.port.read32(R.CR0ACK)).toBe(0xd);
    expect(r.port.read32(R.IRQ_CTRLACK)).toBe(0x5);
    const cfg = r.port.read32(R.STRTAB_BASE_CFG);
    expect(cfg >>> 16).toBe(1); // 2-level
    expect((cfg >>> 6) & 31).toBe(8);
    const order = r.mmio.writes.map(([o]) => o).filter((o) => [R.CR0, R.STRTAB_BASE, R.CMDQ_BASE, R.EVENTQ_BASE, R.IRQ_CTRL].includes(o));
    expect(order.indexOf(R.STRTAB_BASE)).toBeLessThan(order.indexOf(R.CMDQ_BASE));
    expect(order.indexOf(R.CMDQ_BASE)).toBeLessThan(order.indexOf(R.EVENTQ_BASE));
    expect(order.lastIndexOf(R.CR0)).toBeGreaterThan(order.lastIndexOf(R.IRQ_CTRL));
    const ops = r.smmu.stats().commands.byOpcode;
    expect(ops['CFGI_STE_RANGE']).toBe(1);
    expect(ops['TLBI_NSNH_ALL']).toBe(1);
    expect(r.smmu.stats().commands.errors).toEqual({ ill: 0, abt: 0 });
  });

  it('uses a linear stream table when StreamIDs are few', () => {
    const r = xenRig({ features: { sidBits: 6 } });
    expect(r.port.read32(R.STRTAB_BASE_CFG)).toBe(6);
  });

  it('refuses an SMMU without stage 2', () => {
    expect(() => xenRig({ features: { s2: false } })).toThrow(expect.objectContaining({ code: 'EVSMMU_SMMU_PROBE' }));
  });

  it('never lets the hardware see a mix of old and new STE fields', () => {
    const r = xenRig();
    const sid = 0x31;
    const d = r.xen.driver;
    d.addStream(sid, 1, 5);
    const seen: Uint32Array[] = [];
    const orig = r.mmio.write32;
    r.mmio.write32 = (off, v) => {
      if (off === R.CMDQ_PROD) seen.push(Uint32Array.from(d.readSte(sid)));
      orig(off, v);
    };
    const states: Uint32Array[] = [];
    const mk = (w0: number, w2: number, w4: number, w6: number): Uint32Array => {
      const w = new Uint32Array(16);
      w[0] = w0;
      w[2] = w2;
      w[4] = w4;
      w[6] = w6;
      return w;
    };
    states.push(mk(0xd, 0, 5, 0x10000)); // S2
    states.push(mk(0x4000_000f, 0x80000d6, 5, 0x10000)); // nested
    states.push(mk(0x5000_000f, 0x80000d6, 5, 0x10000)); // nested, new CD pointer: one word, hitless
    states.push(mk(0xd, 0, 6, 0x20000)); // S2 of another VMID and table: not hitless
    states.push(mk(0x1, 0, 0, 0)); // abort
    let prev = d.readSte(sid);
    for (const next of states) {
      seen.length = 0;
      d.writeSte(sid, next);
      for (const s of seen) {
        // What the hardware reads of `s` (its used bits, Linux's used-bits method) is what it
        // reads of the old or of the new STE: unused bits may change in between.
        const used = (a: ArrayLike<number>): number[] => {
          const u = new Uint32Array(16);
          steUsed(a, u);
          return Array.from(u, (m, i) => ((a[i] ?? 0) & m) >>> 0);
        };
        const seenUsed = used(s);
        const same = (a: Uint32Array): boolean => used(a).every((x, i) => x === seenUsed[i]);
        const nonLive = (s[0]! & 1) === 0 || steConfigOf(s) < STE_CFG.BYPASS;
        expect(same(prev) || same(next) || nonLive).toBe(true);
      }
      expect([...d.readSte(sid)]).toEqual([...next]);
      prev = Uint32Array.from(next);
    }
    expect(d.stats.hitless).toBeGreaterThan(0);
    expect(d.stats.viaAbort).toBeGreaterThan(0);
  });
});

describe('Xen domains', () => {
  it('creates a domain with RAM at the guest layout, a VMID and a stage-2-only device', () => {
    const r = xenRig();
    const info = r.xen.createDomain(domCfg('d1', [{ sid: 0x10 }], 'none'));
    expect(info.vmid).toBe(1);
    expect(info.ram[0]?.ipa).toBe(GUEST_RAM0_BASE);
    expect(info.ram.reduce((a, x) => a + x.size, 0)).toBe(8 * MiB);
    const s = ste(r, 0x10);
    expect(steConfigOf(s)).toBe(STE_CFG.S2);
    expect(s[4]! & 0xffff).toBe(1);
    const dom = r.xen.domain(info.domid);
    const t = translate(r, 0x10, GUEST_RAM0_BASE + 0x1234, ACC_WRITE);
    expect(t.ok).toBe(true);
    expect(t.pa).toBe(dom.p2m.lookup(GUEST_RAM0_BASE + 0x1234));
    const bad = translate(r, 0x10, 0x1000);
    expect([bad.ok, bad.type, bad.s2]).toEqual([false, EVT.F_TRANSLATION, 1]);
    r.xen.pump();
    expect(r.xen.domain(info.domid).stats.s2Faults).toBe(1);
  });

  it('rejects what the command line or the config forbids', () => {
    const r = xenRig({ cmdline: '' });
    expect(() => r.xen.createDomain(domCfg('d1', []))).toThrow(expect.objectContaining({ code: 'EVSMMU_VIOMMU_DISABLED' }));
    const r2 = xenRig();
    r2.xen.createDomain(domCfg('d1', [{ sid: 1 }]));
    expect(() => r2.xen.createDomain(domCfg('d1', []))).toThrow(expect.objectContaining({ code: 'EVSMMU_DOMAIN_DUPLICATE' }));
    expect(() => r2.xen.createDomain(domCfg('d2', [{ sid: 1 }]))).toThrow(expect.objectContaining({ code: 'EVSMMU_BUSY' }));
    expect(() => r2.xen.createDomain(domCfg('d3', [], 'none', 1024 * MiB))).toThrow(expect.objectContaining({ code: 'EVSMMU_NOMEM' }));
    expect(r2.xen.stats().domains).toBe(1);
    expect(r2.xen.stats().vmidsInUse).toBe(1);
  });

  it('destroys a domain with devices attached: STEs abort first, then memory, VMID freed, nothing leaks', () => {
    const r = xenRig();
    const base = r.xen.stats();
    const a = r.xen.createDomain(domCfg('a', [{ sid: 0x10 }, { sid: 0x11 }]));
    const b = r.xen.createDomain(domCfg('b', [{ sid: 0x20 }], 'none'));
    const g = guestOf(r, a.domid);
    g.reset();
    g.attachS1(0x10, 1);
    expect(steConfigOf(ste(r, 0x10))).toBe(STE_CFG.NESTED);
    const syncsBefore = r.xen.driver.stats.syncs;
    r.xen.destroyDomain(a.domid);
    expect(steConfigOf(ste(r, 0x10))).toBe(STE_CFG.ABORT);
    expect(ste(r, 0x10)[0]! & 1).toBe(1);
    expect(steConfigOf(ste(r, 0x11))).toBe(STE_CFG.ABORT);
    expect(r.xen.driver.stats.syncs).toBeGreaterThan(syncsBefore);
    expect(translate(r, 0x10, 0x1000).ok).toBe(false);
    r.xen.destroyDomain(b.domid);
    const after = r.xen.stats();
    expect(after.domains).toBe(0);
    expect(after.vmidsInUse).toBe(0);
    expect(after.streams).toBe(0);
    // Only the SMMU's L2 stream tables (allocated once per 256 StreamIDs) remain.
    expect(after.memory.usedPages - base.memory.usedPages).toBe(r.xen.driver.structures.l2Tables * 4);
    expect(() => r.xen.destroyDomain(a.domid)).toThrow(expect.objectContaining({ code: 'EVSMMU_NODOMAIN' }));
  });
});

describe("a guest never sees another guest's data", () => {
  it('RAM freed by a destroyed domain is zero when the next domain gets it (scrubbed at allocation)', () => {
    const r = xenRig({ memBytes: 40 * MiB });
    const ramOf = (domid: number) => r.xen.domain(domid).info().ram;
    const a = r.xen.createDomain(domCfg('a', [], 'none', 24 * MiB));
    const ranges = ramOf(a.domid);
    for (const g of ranges) r.mem.fill(g.pa, g.size, 0xa5); // the guest writes all of its RAM
    r.xen.destroyDomain(a.domid);
    // The next domain is given the same pages (the allocator reuses them): scrubbed for it.
    const b = r.xen.createDomain(domCfg('b', [], 'none', 24 * MiB));
    const reused = ramOf(b.domid).filter((g) => ranges.some((x) => g.pa < x.pa + x.size && x.pa < g.pa + g.size));
    expect(reused.length).toBeGreaterThan(0);
    for (const g of ramOf(b.domid)) expect(r.mem.readBytes(g.pa, g.size).every((v) => v === 0)).toBe(true);
  });
});

describe('Xen vSMMU through the trap dispatcher', () => {
  function setup(): { r: XenRig; x: Xen; g: TestGuest; domid: number } {
    const r = xenRig();
    const info = r.xen.createDomain(domCfg('g', [{ sid: 0x10 }]));
    const g = guestOf(r, info.domid);
    return { r, x: r.xen, g, domid: info.domid };
  }

  it('starts with stage 2 only (guest SMMU off, GBPA bypass) and aborts other MMIO', () => {
    const { r, x, domid } = setup();
    expect(steConfigOf(ste(r, 0x10))).toBe(STE_CFG.S2);
    const out = { lo: 0, hi: 0 };
    expect(x.mmio(domid, false, 4, 0x0800_0000, 0, 0, out)).toBe(false);
    expect(x.mmio(domid, false, 4, GUEST_VSMMUV3_BASE + R.IDR0, 0, 0, out)).toBe(true);
    expect(out.lo & 3).toBe(2); // S1P only
    expect(x.mmio(99, false, 4, GUEST_VSMMUV3_BASE, 0, 0, out)).toBe(false);
  });

  it('installs the nested STE and translates through the guest stage 1 and Xen stage 2', () => {
    const { r, g, domid } = setup();
    g.reset();
    expect(ste(r, 0x10)[0]! & 1).toBe(0); // guest SMMU on, its STE still zero: invalid
    g.attachS1(0x10, 3);
    expect(g.drained()).toBe(true);
    const s = ste(r, 0x10);
    expect(steConfigOf(s)).toBe(STE_CFG.NESTED);
    expect(s[4]! & 0xffff).toBe(r.xen.domain(domid).vmid);
    expect((s[2]! >>> 19) & 1).toBe(1); // MEV
    g.map(0x10, 0x1000_0000, G.DATA, 0x2000);
    const t = translate(r, 0x10, 0x1000_1008, ACC_WRITE);
    expect(t.ok).toBe(true);
    expect(t.pa).toBe(r.xen.domain(domid).p2m.lookup(G.DATA + 0x1008));
  });

  it('installs a guest STE as ticketed steps: other guests are served meanwhile, the CMD_SYNC completes after the last step', () => {
    const r = xenRig();
    const a = r.xen.createDomain(domCfg('a', [{ sid: 0x10 }]));
    const b = r.xen.createDomain(domCfg('b', [{ sid: 0x20 }]));
    const ga = guestOf(r, a.domid);
    const gb = guestOf(r, b.domid);
    ga.reset();
    gb.reset();
    r.hold = true; // the SMMU consumes commands only when the test steps it
    const syncs = r.xen.stats().driver.syncs;
    ga.attachS1(0x10, 3);
    // Issued: the first step (dw1..7, CFGI_STE, SYNC) and the guest's SYNC; dw0 waits for
    // the first SYNC: the STE is still invalid.
    expect(r.xen.stats().driver.syncs).toBe(syncs + 2);
    expect(ste(r, 0x10)[0]! & 1).toBe(0);
    expect(ga.drained()).toBe(false);
    expect(r.xen.hasWork()).toBe(false); // nothing to do until the hardware answers
    // The other guest's traps are answered while the install is in flight.
    expect(gb.r(R.IDR0)).toBe(r.xen.domain(b.domid).vsmmu!.reg('IDR0'));
    gb.w(R.EVENTQ_CONS, 0);
    let rounds = 0;
    while (!ga.drained() && rounds++ < 20) {
      r.smmu.step();
      r.xen.pump();
    }
    expect(ga.drained()).toBe(true);
    expect(r.xen.stats().driver.syncs).toBe(syncs + 3); // two STE steps and the guest's SYNC
    const s = ste(r, 0x10);
    expect(steConfigOf(s)).toBe(STE_CFG.NESTED);
    r.hold = false;
    ga.map(0x10, 0x1000_0000, G.DATA, 0x1000);
    expect(translate(r, 0x10, 0x1000_0008, ACC_WRITE).ok).toBe(true);
  });

  it('forwards TLBI_NH_VA with the VMID: a stale translation goes away after the guest TLBI + SYNC', () => {
    const { r, g } = setup();
    g.reset();
    g.attachS1(0x10, 3);
    g.map(0x10, 0x1000_0000, G.DATA, 0x1000);
    expect(translate(r, 0x10, 0x1000_0000).ok).toBe(true); // now cached
    g.unmap(0x10, 0x1000_0000, 0x1000);
    expect(translate(r, 0x10, 0x1000_0000).ok).toBe(true); // stale, as on hardware
    g.submit(g.cmd('TLBI_NH_VA', { asid: 3, addr: 0x1000_0000, leaf: 1, vmid: 0x77 }), g.cmd('SYNC'));
    expect(g.drained()).toBe(true);
    expect(translate(r, 0x10, 0x1000_0000).ok).toBe(false);
    expect(r.smmu.stats().commands.byOpcode['TLBI_NH_VA']).toBe(1);
  });

  it('forwards stage-1 faults to the guest with the vSID, keeps stage-2 faults in Xen', () => {
    const { r, g, x, domid } = setup();
    g.reset();
    g.attachS1(0x10, 3);
    const f1 = translate(r, 0x10, 0x5000_0000);
    expect([f1.ok, f1.type, f1.s2]).toEqual([false, EVT.F_TRANSLATION, 0]);
    x.pump();
    const evs = g.events();
    expect(evs.map((e) => [e.type, e.sid, e.inputLo])).toEqual([[EVT.F_TRANSLATION, 0x10, 0x5000_0000]]);
    g.map(0x10, 0x2000_0000, 0x8000_0000, 0x1000); // an IPA the domain does not own
    const f2 = translate(r, 0x10, 0x2000_0000);
    expect([f2.ok, f2.s2]).toEqual([false, 1]);
    x.pump();
    expect(g.events()).toEqual([]);
    expect(x.domain(domid).stats).toMatchObject({ eventsForwarded: 1, s2Faults: 1 });
  });

  it('rejects a bad guest STE with C_BAD_STE and leaves the physical STE invalid', () => {
    const { r, g } = setup();
    g.reset();
    g.writeSte(0x10, [0x0f, 0, 0, 0, 7]); // guest asks for nested with a VMID
    g.submit(g.cmd('CFGI_STE', { sid: 0x10 }), g.cmd('SYNC'));
    expect(g.events()).toEqual([]); // recorded by the transaction, once
    expect(ste(r, 0x10)[0]! & 1).toBe(0);
    expect(translate(r, 0x10, 0x1000).type).toBe(EVT.C_BAD_STE);
    r.xen.pump();
    expect(g.events().map((e) => [e.type, e.sid])).toEqual([[EVT.C_BAD_STE, 0x10]]);
  });

  it('keeps answering after hostile writes and reports a command error to the guest', () => {
    const { g, x } = setup();
    g.reset();
    g.submit(g.cmd('TLBI_S12_VMALL', { vmid: 1 }));
    expect(g.r(R.CMDQ_CONS) >>> 24).toBe(1);
    expect(g.r(R.GERROR) & 1).toBe(1);
    for (let off = 0; off < 0x20000; off += 0x44) g.w(off, 0xffff_ffff);
    expect(x.stats().xenBugs).toBe(0);
    expect(g.r(R.IDR0) & 2).toBe(2);
  });
});

describe('p2m', () => {
  it('builds the domain stage-2 STE from its tables: VMID, VTCR, S2TTB, S2R, S2PTW', () => {
    const r = xenRig();
    const info = r.xen.createDomain(domCfg('p', [], 'none'));
    const dom = r.xen.domain(info.domid);
    const s = dom.p2m.s2Ste(dom.vmid, r.xen.phys);
    expect(steConfigOf(s)).toBe(STE_CFG.S2);
    expect(s[4]! & 0xffff).toBe(dom.vmid);
    expect(s[5]! & 63).toBe(64 - 40); // S2T0SZ for a 40-bit IPA space
    expect((s[5]! >>> 19) & 1).toBe(1); // S2AA64
    expect((s[5]! >>> 22) & 1).toBe(1); // S2PTW
    expect((s[5]! >>> 26) & 1).toBe(1); // S2R
    expect(s[6]! + s[7]! * 2 ** 32).toBe(dom.p2m.table.root);
    expect(dom.p2m.lookup(GUEST_RAM0_BASE - 1)).toBe(-1);
    expect(dom.p2m.table.translate(GUEST_RAM0_BASE + 0x5000)).toBe(dom.p2m.lookup(GUEST_RAM0_BASE + 0x5000));
  });

  it('unmaps guest RAM from stage 2 and invalidates the VMID: DMA there faults at stage 2', () => {
    const r = xenRig();
    const info = r.xen.createDomain(domCfg('b', [{ sid: 0x12 }], 'none'));
    const ipa = GUEST_RAM0_BASE + 0x10_0000;
    expect(translate(r, 0x12, ipa).ok).toBe(true); // cached in the IOTLB now
    const ops = (): number => r.smmu.stats().commands.byOpcode['TLBI_S2_IPA'] ?? 0;
    const before = ops();
    expect(r.xen.unmapGuestRam(info.domid, ipa, 0x2000)).toBe(0x2000);
    expect(ops()).toBe(before + 2);
    const t = translate(r, 0x12, ipa);
    expect([t.ok, t.s2]).toEqual([false, 1]);
    expect(translate(r, 0x12, ipa + 0x2000).ok).toBe(true);
    expect(r.xen.domain(info.domid).p2m.mapped.length).toBe(5); // split around the hole
    r.xen.destroyDomain(info.domid);
  });
});

describe('virtual StreamIDs end to end', () => {
  it('lets the guest name its device by vSID only: CFGI_STE, DMA faults and C_BAD_STE all use it', () => {
    const r = xenRig({ vsidMode: 'lowest-free' });
    const info = r.xen.createDomain(domCfg('v', [{ sid: 0x3a }]));
    expect(info.devices).toEqual([{ name: 'dma0', sid: 0x3a, vsid: 0 }]);
    const g = guestOf(r, info.domid);
    g.reset();
    g.attachS1(0, 9); // the guest's STE 0 describes physical stream 0x3a
    expect(steConfigOf(ste(r, 0x3a))).toBe(STE_CFG.NESTED);
    expect(translate(r, 0x3a, 0x6000_0000).ok).toBe(false);
    r.xen.pump();
    expect(g.events().map((e) => [e.type, e.sid])).toEqual([[EVT.F_TRANSLATION, 0]]);
    // Guest V = 0: the physical STE is invalid, so DMA records C_BAD_STE, forwarded with the vSID.
    g.writeSte(0, [0, 0]);
    g.submit(g.cmd('CFGI_STE', { sid: 0 }), g.cmd('SYNC'));
    expect(g.events()).toEqual([]);
    expect(translate(r, 0x3a, 0x6000_0000).type).toBe(EVT.C_BAD_STE);
    r.xen.pump();
    expect(g.events().map((e) => [e.type, e.sid])).toEqual([[EVT.C_BAD_STE, 0]]);
  });
});

describe('physical event queue overflow', () => {
  it('tells each vSMMU that may have lost a record: OVFLG toggled, interrupt raised, acknowledged by OVACKFLG', () => {
    const r = xenRig({ features: { evtqLog2: 3 } }); // an 8-entry physical event queue
    const flood = r.xen.createDomain(domCfg('flood', [{ sid: 0x20 }], 'none'));
    const other = r.xen.createDomain(domCfg('other', [{ sid: 0x21 }]));
    // A guest whose only device is aborted records nothing, so it lost nothing: not told.
    const quiet = r.xen.createDomain(domCfg('quiet', [{ sid: 0x22 }]));
    const gq = guestOf(r, quiet.domid);
    gq.reset();
    gq.writeSte(0x22, [0x1, 0]);
    gq.submit(gq.cmd('CFGI_STE', { sid: 0x22 }), gq.cmd('SYNC'));
    const g = guestOf(r, other.domid);
    g.reset();
    expect(g.r(R.EVENTQ_PROD) >>> 31).toBe(0);
    // 20 stage-2 faults (DMA outside flood's RAM) before Xen drains anything.
    for (let i = 0; i < 20; i++) translate(r, 0x20, 0x1000 + i * 0x1000);
    r.xen.pump();
    expect(r.xen.driver.stats.eventOverflows).toBeGreaterThan(0);
    expect(r.xen.domain(flood.domid).stats.s2Faults).toBeGreaterThan(0);
    expect(gq.r(R.EVENTQ_PROD) >>> 31).toBe(0);
    expect(r.xen.domain(quiet.domid).vsmmu?.stats.eventOverflows).toBe(0);
    expect(r.xen.stats().overflowNotices).toBe(1);
    const vs = r.xen.domain(other.domid).vsmmu!;
    expect(g.r(R.EVENTQ_PROD) >>> 31).toBe(1);
    expect(vs.irqAsserted).toBe(true);
    expect(g.events()).toEqual([]); // nothing to read; events() acknowledges with OVACKFLG
    expect(vs.irqAsserted).toBe(false);
    // A second loss is signalled again once the first one was acknowledged.
    for (let i = 0; i < 20; i++) translate(r, 0x20, 0x1000 + i * 0x1000);
    r.xen.pump();
    expect(g.r(R.EVENTQ_PROD) >>> 31).toBe(0);
    expect(vs.irqAsserted).toBe(true);
  });
});
