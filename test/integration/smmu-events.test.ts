// The SMMU on its own thread; the test thread is the driver (registers + memory) and the
// device (a transaction port). Every event type the model raises, field by field, plus
// command-queue errors, CMD_SYNC completion signals and event-queue overflow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmdOf } from '../../src/arch/commands.ts';
import { CLASS, EVT, type EventRecord } from '../../src/arch/events.ts';
import { PROT_READ } from '../../src/arch/pgtable.ts';
import { CR0, GERROR, R } from '../../src/arch/registers.ts';
import { encodeL1Std, steOf } from '../../src/arch/ste.ts';
import { TX_FAULT, TX_OK, type TxRequest } from '../../src/smmu/ports.ts';
import { SMMU_IRQ } from '../../src/smmu/smmu.ts';
import { leafSlot } from '../support/smmu-driver.ts';
import { startThreadedSmmu, type ThreadedSmmu } from '../support/smmu-thread.ts';
import { cdSlot, guestS2, nestedSte, RW, s1Cd, s1Ste, s1Table, s2Ste, s2Table } from '../support/smmu-world.ts';

let t: ThreadedSmmu;
beforeAll(async () => {
  t = await startThreadedSmmu();
});
afterAll(async () => {
  await t?.close();
});

const drv = () => t.w.drv;
let tag = 0;
function run(tx: Omit<TxRequest, 'tag'>) {
  return t.dev.run({ ...tx, tag: ++tag });
}

/** Runs a faulting transaction; returns the one event it recorded. */
function faultEvent(tx: Omit<TxRequest, 'tag'>, type: number): EventRecord {
  const c = run(tx);
  expect(c.status).toBe(TX_FAULT);
  expect(c.faultType).toBe(type);
  expect(c.recorded).toBe(true);
  const ev = drv().readEvents();
  expect(ev).toHaveLength(1);
  return ev[0]!;
}

const BASE = { stag: 0, stall: 0, reason: 0, ttrnw: 0 };

/** A stage-1 stream `sid` with ASID `asid` mapping 4K at `va` -> `pa` with `prot`. */
function s1Stream(sid: number, asid: number, va: number, pa: number, prot = RW, cd = {}) {
  const pt = s1Table(t.w);
  pt.map(va, pa, 0x1000, prot);
  const at = cdSlot(t.w);
  drv().writeCd(at, s1Cd(pt, asid, cd));
  drv().writeSte(sid, s1Ste(at));
  return { pt, cd: at };
}

describe('SMMU events on a real thread', () => {
  it('C_BAD_STREAMID with CR2.RECINVSID, silent abort without it', () => {
    drv().reset({ sidBits: 8 });
    const e = faultEvent({ sid: 300, iova: 0x1234_5000, length: 4, ssid: 3 }, EVT.C_BAD_STREAMID);
    // Spec 7.3.3: StreamID, SSV and SubstreamID only; RnW and InputAddr are RES0.
    expect(e).toEqual({ ...BASE, type: EVT.C_BAD_STREAMID, sid: 300, ssv: 1, ssid: 3, pnu: 0, ind: 0, rnw: 0, s2: 0, cls: 0, inputLo: 0, inputHi: 0, ipa: 0, fetchAddr: 0 });
    // The record is published before the interrupt is raised: wait for the line.
    expect(t.irq.wait(1 << SMMU_IRQ.EVENTQ, 5000)).toBe(1 << SMMU_IRQ.EVENTQ);
    expect(t.irq.take(1 << SMMU_IRQ.EVENTQ)).toBe(1 << SMMU_IRQ.EVENTQ);
    drv().reset({ sidBits: 8, cr2: 0x4 });
    const c = run({ sid: 300, iova: 0x1000, length: 4 });
    expect(c).toMatchObject({ status: TX_FAULT, faultType: EVT.C_BAD_STREAMID, recorded: false });
    expect(drv().readEvents()).toEqual([]);
  });

  it('2-level stream table: invalid L1STD span is C_BAD_STREAMID, L2 outside memory is F_STE_FETCH', () => {
    drv().reset({ sidBits: 12, twoLevel: true });
    // SID 0x105: L1 entry 1 is still invalid (Span 0).
    expect(faultEvent({ sid: 0x105, iova: 0x1000, length: 4 }, EVT.C_BAD_STREAMID).sid).toBe(0x105);
    const [lo, hi] = encodeL1Std({ span: 9, l2ptr: 0x10_0000_0000 });
    t.mem.store64(drv().strtabBase + 2 * 8, lo, hi);
    const e = faultEvent({ sid: 0x203, iova: 0x2000, length: 4, write: true }, EVT.F_STE_FETCH);
    expect(e).toMatchObject({ sid: 0x203, rnw: 0, fetchAddr: 0x10_0000_0000 + 3 * 64 });
    // A valid L2 table works.
    s1Stream(0x301, 1, 0x5000, 0x40_0000);
    expect(run({ sid: 0x301, iova: 0x5000, length: 8 }).status).toBe(TX_OK);
  });

  it('C_BAD_STE for V = 0 and for an illegal stage-2 configuration; Config abort is silent', () => {
    drv().reset();
    expect(faultEvent({ sid: 1, iova: 0x1000, length: 4 }, EVT.C_BAD_STE)).toMatchObject({ sid: 1, type: EVT.C_BAD_STE });
    const s2 = s2Table(t.w);
    drv().writeSte(2, s2Ste(s2, 1, { s2t0sz: 10 }));
    faultEvent({ sid: 2, iova: 0x1000, length: 4 }, EVT.C_BAD_STE);
    drv().writeSte(3, steOf({ v: 1, config: 0 }));
    expect(run({ sid: 3, iova: 0x1000, length: 4 })).toMatchObject({ status: TX_FAULT, faultType: 0, recorded: false });
    expect(drv().readEvents()).toEqual([]);
  });

  it('SubstreamIDs: C_BAD_SUBSTREAMID, F_STREAM_DISABLED, linear and 2-level CD tables', () => {
    drv().reset();
    const { cd } = s1Stream(1, 1, 0x1000, 0x40_0000);
    // Spec 7.3.9: the SubstreamID is always valid, there is no SSV bit.
    expect(faultEvent({ sid: 1, iova: 0x1000, length: 4, ssid: 1 }, EVT.C_BAD_SUBSTREAMID)).toMatchObject({ ssv: 0, ssid: 1 });
    // A linear table of 4 CDs, S1DSS = 0: no-SSID traffic is F_STREAM_DISABLED.
    const pt = s1Table(t.w);
    pt.map(0x7000, 0x41_0000, 0x1000, RW);
    const table = cdSlot(t.w, 4);
    drv().writeCd(table + 2 * 64, s1Cd(pt, 22));
    drv().writeSte(2, s1Ste(table, { s1cdmax: 2, s1dss: 0 }));
    expect(run({ sid: 2, iova: 0x7000, length: 4, ssid: 2 }).status).toBe(TX_OK);
    expect(faultEvent({ sid: 2, iova: 0x7000, length: 4 }, EVT.F_STREAM_DISABLED)).toMatchObject({ sid: 2, ssv: 0 });
    expect(faultEvent({ sid: 2, iova: 0x7000, length: 4, ssid: 4 }, EVT.C_BAD_SUBSTREAMID).ssid).toBe(4);
    expect(faultEvent({ sid: 2, iova: 0x7000, length: 4, ssid: 1 }, EVT.C_BAD_CD).ssid).toBe(1);
    // S1DSS = 2: no-SSID traffic uses CD 0; SSID 0 is F_STREAM_DISABLED.
    drv().writeCd(table, s1Cd(pt, 20));
    drv().writeSte(3, s1Ste(table, { s1cdmax: 2, s1dss: 2 }));
    expect(run({ sid: 3, iova: 0x7000, length: 4 }).status).toBe(TX_OK);
    faultEvent({ sid: 3, iova: 0x7000, length: 4, ssid: 0 }, EVT.F_STREAM_DISABLED);
    // 2-level CD table (S1Fmt 1: 64 CDs per leaf): SSID 70 -> L1 entry 1, invalid -> C_BAD_SUBSTREAMID.
    const l1 = cdSlot(t.w, 2);
    const leaf = t.w.alloc.alloc(4096, 4096);
    t.mem.fill(leaf, 4096, 0);
    drv().writeCd(leaf + 5 * 64, s1Cd(pt, 33));
    t.mem.store64(l1, (leaf | 1) >>> 0, 0);
    drv().writeSte(4, s1Ste(l1, { s1cdmax: 7, s1fmt: 1, s1dss: 0 }));
    expect(run({ sid: 4, iova: 0x7000, length: 4, ssid: 5 }).status).toBe(TX_OK);
    faultEvent({ sid: 4, iova: 0x7000, length: 4, ssid: 70 }, EVT.C_BAD_SUBSTREAMID);
    void cd;
  });

  it('F_CD_FETCH and C_BAD_CD', () => {
    drv().reset();
    drv().writeSte(1, s1Ste(0x20_0000_0000));
    expect(faultEvent({ sid: 1, iova: 0x1000, length: 4 }, EVT.F_CD_FETCH)).toMatchObject({ sid: 1, fetchAddr: 0x20_0000_0000 });
    const at = cdSlot(t.w);
    drv().writeSte(2, s1Ste(at));
    faultEvent({ sid: 2, iova: 0x1000, length: 4 }, EVT.C_BAD_CD);
  });

  it('stage-1 translation faults: F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION, F_WALK_EABT; CD.R = 0 suppresses', () => {
    drv().reset();
    const { pt } = s1Stream(1, 1, 0x10_0000, 0x40_0000, PROT_READ);
    expect(faultEvent({ sid: 1, iova: 0x10_2010, length: 4, priv: true }, EVT.F_TRANSLATION)).toEqual({
      ...BASE, type: EVT.F_TRANSLATION, sid: 1, ssv: 0, ssid: 0, pnu: 1, ind: 0, rnw: 1, s2: 0, cls: CLASS.IN,
      inputLo: 0x10_2010, inputHi: 0, ipa: 0, fetchAddr: 0,
    });
    expect(run({ sid: 1, iova: 0x10_0000, length: 4 }).status).toBe(TX_OK); // read fills the TLB
    expect(faultEvent({ sid: 1, iova: 0x10_0004, length: 4, write: true }, EVT.F_PERMISSION)).toMatchObject({ s2: 0, cls: CLASS.IN, rnw: 0 });
    expect(faultEvent({ sid: 1, iova: 0x10_0000, length: 4, instr: true }, EVT.F_PERMISSION)).toMatchObject({ ind: 1, rnw: 1 });
    // F_ACCESS: clear AF of a fresh mapping.
    pt.map(0x11_0000, 0x41_0000, 0x1000, RW);
    const slot = leafSlot(t.mem, pt.root, 0x11_0000);
    t.mem.store64(slot, t.mem.load64(slot) & ~0x400, t.mem.hi);
    faultEvent({ sid: 1, iova: 0x11_0000, length: 4 }, EVT.F_ACCESS);
    // F_ADDR_SIZE: IPS = 32 bits, output at 4 GiB.
    const pt2 = s1Table(t.w);
    pt2.map(0x1000, 0x1_0000_0000, 0x1000, RW);
    const cd2 = cdSlot(t.w);
    drv().writeCd(cd2, s1Cd(pt2, 2, { ips: 0 }));
    drv().writeSte(2, s1Ste(cd2));
    expect(faultEvent({ sid: 2, iova: 0x1000, length: 4 }, EVT.F_ADDR_SIZE)).toMatchObject({ s2: 0, cls: CLASS.IN });
    // F_WALK_EABT: TTB0 outside memory; the level-0 descriptor read aborts.
    const cd3 = cdSlot(t.w);
    drv().writeCd(cd3, s1Cd(pt2, 3, { ttb0: 0x10_0000_0000 }));
    drv().writeSte(3, s1Ste(cd3));
    expect(faultEvent({ sid: 3, iova: 0x80_0000_1000, length: 4 }, EVT.F_WALK_EABT)).toMatchObject({
      s2: 0, cls: CLASS.TT, fetchAddr: 0x10_0000_0000 + 1 * 8, inputLo: 0x1000, inputHi: 0x80,
    });
    // CD.R = 0: the translation fault is not recorded.
    const cd4 = cdSlot(t.w);
    drv().writeCd(cd4, s1Cd(pt, 4, { r: 0 }));
    drv().writeSte(4, s1Ste(cd4));
    expect(run({ sid: 4, iova: 0x50_0000, length: 4 })).toMatchObject({ status: TX_FAULT, faultType: EVT.F_TRANSLATION, recorded: false });
    expect(drv().readEvents()).toEqual([]);
  });

  it('stage-2 faults: CLASS IN (S2-only), TT and CD (nested); STE.S2R = 0 suppresses; bypass F_ADDR_SIZE', () => {
    drv().reset();
    const s2 = s2Table(t.w);
    s2.map(0x8000_0000, 0x60_0000, 0x1000, RW);
    drv().writeSte(1, s2Ste(s2, 5));
    expect(faultEvent({ sid: 1, iova: 0x8000_1008, length: 4, write: true }, EVT.F_TRANSLATION)).toMatchObject({
      s2: 1, cls: CLASS.IN, ipa: 0x8000_1000, rnw: 0, inputLo: 0x8000_1008,
    });
    drv().writeSte(2, s2Ste(s2, 5, { s2r: 0 }));
    expect(run({ sid: 2, iova: 0x8000_1000, length: 4 })).toMatchObject({ faultType: EVT.F_TRANSLATION, s2: 1, recorded: false });
    // Nested: the stage-1 table lives at an IPA stage 2 does not map -> S2 fault, CLASS TT.
    const g = guestS2(t.w, 9);
    const gpt = s1Table(t.w, 12, true);
    const cdIpa = cdSlot(t.w, 1, true);
    drv().writeCd(cdIpa, s1Cd(gpt, 1, { ttb0: 0x7000_0000 }), t.w.guest);
    drv().writeSte(3, nestedSte(g.pt, 9, cdIpa));
    expect(faultEvent({ sid: 3, iova: 0x2000, length: 4 }, EVT.F_TRANSLATION)).toMatchObject({ s2: 1, cls: CLASS.TT, ipa: 0x7000_0000 });
    drv().writeSte(4, nestedSte(g.pt, 9, 0x7800_0000));
    expect(faultEvent({ sid: 4, iova: 0x2000, length: 4 }, EVT.F_TRANSLATION)).toMatchObject({ s2: 1, cls: CLASS.CD, ipa: 0x7800_0000 });
    // Nested stage-1 output outside stage 2: CLASS IN with the IPA.
    gpt.map(0x9000, 0x7900_0000 - 0x1000, 0x1000, RW);
    const cd5 = cdSlot(t.w, 1, true);
    drv().writeCd(cd5, s1Cd(gpt, 2), t.w.guest);
    drv().writeSte(5, nestedSte(g.pt, 9, cd5));
    expect(faultEvent({ sid: 5, iova: 0x9010, length: 4 }, EVT.F_TRANSLATION)).toMatchObject({ s2: 1, cls: CLASS.IN, ipa: 0x78ff_f000 });
    // Bypass STE: input above the OAS.
    drv().writeSte(6, steOf({ v: 1, config: 4 }));
    expect(faultEvent({ sid: 6, iova: 0x1_0000_0000_0000n, length: 4 }, EVT.F_ADDR_SIZE)).toMatchObject({ s2: 0, cls: CLASS.IN, inputHi: 0x10000 });
  });

  it('event queue: EVENTQEN = 0 drops, a full queue drops and toggles OVFLG (no GERROR)', () => {
    drv().reset({ evtqLog2: 1 });
    // C_BAD_STE records carry no InputAddr (spec 7.3.5): told apart by StreamID.
    for (let i = 0; i < 5; i++) expect(run({ sid: 9 + i, iova: 0x1000 * i, length: 4 }).faultType).toBe(EVT.C_BAD_STE);
    const prod = drv().port.read32(R.EVENTQ_PROD);
    expect(prod >>> 31).toBe(1); // OVFLG toggled once
    expect(drv().port.read32(R.GERROR) & GERROR.EVENTQ_ABT_ERR).toBe(0);
    const ev = drv().readEvents(); // acknowledges OVFLG
    expect(ev.map((e) => e.sid)).toEqual([9, 10]);
    expect(run({ sid: 20, iova: 0x9000, length: 4 }).recorded).toBe(true);
    expect(drv().readEvents().map((e) => e.sid)).toEqual([20]);
    // EVENTQEN = 0: not delivered.
    drv().port.write32(R.CR0, CR0.CMDQEN | CR0.SMMUEN);
    drv().waitReg(R.CR0ACK, (v) => v === (CR0.CMDQEN | CR0.SMMUEN));
    run({ sid: 9, iova: 0x1000, length: 4 });
    expect(drv().port.read32(R.EVENTQ_PROD) & 0xfffff).toBe(drv().port.read32(R.EVENTQ_CONS) & 0xfffff);
  });

  it('CERROR_ILL and CERROR_ABT stop the queue; GERRORN acknowledges and processing resumes at CONS', () => {
    drv().reset();
    const d = drv();
    const cons0 = d.port.read32(R.CMDQ_CONS) & 0xfffff;
    t.irq.take();
    d.submit([cmdOf('TLBI_NSNH_ALL'), cmdOf('TLBI_EL2_ALL'), cmdOf('SYNC', { cs: 2 })]);
    const cons = d.waitReg(R.CMDQ_CONS, (v) => (v >>> 24) !== 0);
    expect(cons & 0xfffff).toBe(cons0 + 1);
    expect((cons >>> 24) & 0x7f).toBe(1);
    const gerror = d.waitReg(R.GERROR, (v) => (v & 1) !== 0);
    expect(t.irq.wait(1 << SMMU_IRQ.GERROR, 5000)).toBe(1 << SMMU_IRQ.GERROR);
    const slot = d.cmdqBase + (cons0 + 1) * 16;
    t.mem.store64(slot, 0x46 | (2 << 12), 0); // replace with CMD_SYNC (CS = SEV), as Linux
    t.mem.store64(slot + 8, 0, 0);
    d.port.write32(R.GERRORN, gerror);
    d.waitConsPast();
    // CERROR_ABT: a command queue whose next entry lies outside memory.
    d.port.write32(R.CR0, CR0.EVENTQEN | CR0.SMMUEN);
    d.waitReg(R.CR0ACK, (v) => (v & CR0.CMDQEN) === 0);
    d.port.write64Pair(R.CMDQ_BASE, 0x0000_0000 | 4, 0x40 | 0x4000_0000); // 0x40_0000_0000
    d.port.write32(R.CMDQ_PROD, 1);
    d.port.write32(R.CMDQ_CONS, 0);
    d.port.write32(R.CR0, CR0.EVENTQEN | CR0.SMMUEN | CR0.CMDQEN);
    const c2 = d.waitReg(R.CMDQ_CONS, (v) => (v >>> 24) !== 0);
    expect(((c2 >>> 24) & 0x7f)).toBe(2);
    expect(c2 & 0xfffff).toBe(0);
  });

  it('CMD_SYNC completion signals: none (CONS), SIG_IRQ MSI write, SIG_IRQ wired, SIG_SEV', async () => {
    drv().reset();
    const d = drv();
    d.cmdSync([cmdOf('TLBI_NSNH_ALL')], cmdOf('SYNC', { cs: 0 }));
    const msi = t.w.alloc.alloc(4096, 4096);
    t.mem.write32(msi, 0xffffffff);
    d.cmdSync([], cmdOf('SYNC', { cs: 1, msiAddress: msi, msiData: 0 }));
    expect(t.mem.read32(msi)).toBe(0);
    d.cmdSync([], cmdOf('SYNC', { cs: 1, msiAddress: msi + 4, msiData: 0x1234_5678 }));
    expect(t.mem.read32(msi + 4)).toBe(0x1234_5678);
    t.irq.take();
    d.cmdSync([], cmdOf('SYNC', { cs: 1, msiAddress: 0 }));
    expect(t.irq.wait(1 << SMMU_IRQ.CMD_SYNC, 5000)).toBe(1 << SMMU_IRQ.CMD_SYNC);
    expect(t.irq.take(1 << SMMU_IRQ.CMD_SYNC)).toBe(1 << SMMU_IRQ.CMD_SYNC);
    const sev = d.port.sevCount;
    d.submit([cmdOf('SYNC', { cs: 2 })]);
    expect(d.port.waitSev(sev, 5000)).toBe(true);
    d.waitConsPast();
    const stats = await t.actor.api.stats();
    expect(stats.sevs).toBeGreaterThanOrEqual(1);
    expect(stats.msiWrites).toBe(2);
    expect(stats.commands.byOpcode['SYNC']).toBeGreaterThanOrEqual(5);
  });
});
