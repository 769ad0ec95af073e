// The vSMMUv3 trap emulation in-process, against fake guest RAM and a recording physical side.
import { describe, expect, it } from 'vitest';
import { CERROR, OP } from '../../src/arch/commands.ts';
import { EVT, encodeEvent, eventOf, EVT_WORDS } from '../../src/arch/events.ts';
import { DEFAULT_FEATURES, decodeIdRegs } from '../../src/arch/features.ts';
import { R } from '../../src/arch/registers.ts';
import { encodeL1Std } from '../../src/arch/ste.ts';
import { isGuestEvent } from '../../src/xen/vsmmuv3.ts';
import { composePhysicalSte, GUEST_STE_ALLOWED } from '../../src/xen/vsmmuv3-ste.ts';
import { CDTAB, CMDQ, EVTQ, MSI_SLOT, RAM_BASE, STRTAB, cmd, rig } from '../support/xen-fakes.ts';

const PSID = 0x42;

function physEvent(type: number, sid: number, extra: Partial<ReturnType<typeof eventOf>> = {}): Uint32Array {
  const w = new Uint32Array(EVT_WORDS);
  encodeEvent(eventOf({ type, sid, ...extra }), w);
  return w;
}

describe('vSMMUv3 ID registers', () => {
  it('advertise stage 1 only, derived from the physical SMMU', () => {
    const { v } = rig({ physFeatures: { ssidBits: 5, ril: false, asid16: false } });
    const f = decodeIdRegs({
      idr0: v.read32(R.IDR0), idr1: v.read32(R.IDR1), idr2: v.read32(R.IDR2), idr3: v.read32(R.IDR3),
      idr4: v.read32(R.IDR4), idr5: v.read32(R.IDR5), iidr: v.read32(R.IIDR), aidr: v.read32(R.AIDR),
    });
    expect(f.s1).toBe(true);
    expect(f.s2).toBe(false);
    expect(f.vmid16).toBe(false);
    expect(f.ats || f.pri || f.hyp || f.btm).toBe(false);
    expect(f.httu).toBe(0);
    expect(f.stallModel).toBe(1);
    expect(f.msi && f.sev).toBe(true);
    expect(f.ssidBits).toBe(5);
    expect(f.ril).toBe(false);
    expect(f.asid16).toBe(false);
    expect(f.sidBits).toBe(16);
    expect(f.oas).toBe(40); // the domain's IPA size, below the physical 48
    expect(f.priqLog2).toBe(0);
    expect(f.cmdqLog2).toBe(DEFAULT_FEATURES.cmdqLog2);
  });

  it('are read-only: writes are ignored', () => {
    const { v } = rig();
    const before = v.read32(R.IDR0);
    v.write32(R.IDR0, 0);
    expect(v.read32(R.IDR0)).toBe(before);
  });
});

describe('vSMMUv3 register file', () => {
  it('acknowledges only implemented CR0 bits', () => {
    const { v } = rig();
    v.write32(R.CR0, 0xffff_ffff);
    expect(v.read32(R.CR0)).toBe(0xd);
    expect(v.read32(R.CR0ACK)).toBe(0xd);
    v.write32(R.CR0, 0);
    expect(v.read32(R.CR0ACK)).toBe(0);
  });

  it('is RAZ/WI outside the implemented registers', () => {
    const { v } = rig();
    for (const off of [0x048, 0x0a8, 0x0ac, 0x0c0, 0x0c8, 0x0d0, 0x100, 0x8000, 0xfd0, 0x100c8, 0x1fffc, 0x20000, 0x3fffc]) {
      v.write32(off, 0xffff_ffff);
      expect(v.read32(off), off.toString(16)).toBe(0);
    }
  });

  it('aborts 1- and 2-byte and unaligned accesses, splits 64-bit ones', () => {
    const { v } = rig();
    const out = { lo: 0, hi: 0 };
    expect(v.access(false, 1, R.CR0, 0, 0, out)).toBe(false);
    expect(v.access(true, 2, R.CR0, 0, 0, out)).toBe(false);
    expect(v.access(false, 4, R.CR0 + 2, 0, 0, out)).toBe(false);
    expect(v.access(false, 8, R.STRTAB_BASE + 4, 0, 0, out)).toBe(false);
    expect(v.access(true, 8, R.STRTAB_BASE, 0x1234_5040, 0x4000_0001, out)).toBe(true);
    expect(v.access(false, 8, R.STRTAB_BASE, 0, 0, out)).toBe(true);
    expect([out.lo, out.hi]).toEqual([0x1234_5040, 0x4000_0001]);
    expect(v.stats.aborts).toBe(4);
  });

  it('masks RES0 bits of the base registers', () => {
    const { v } = rig();
    v.write32(R.STRTAB_BASE, 0xffff_ffff);
    v.write32(R.STRTAB_BASE + 4, 0xffff_ffff);
    expect(v.read32(R.STRTAB_BASE)).toBe(0xffff_ffc0);
    expect(v.read32(R.STRTAB_BASE + 4)).toBe(0x400f_ffff);
    v.write32(R.STRTAB_BASE_CFG, 0xffff_ffff);
    expect(v.read32(R.STRTAB_BASE_CFG)).toBe(0x0003_07ff);
    v.write32(R.IRQ_CTRL, 0xff);
    expect(v.read32(R.IRQ_CTRL)).toBe(0x5);
    expect(v.read32(R.IRQ_CTRLACK)).toBe(0x5);
  });

  it('ignores table and queue base writes while enabled', () => {
    const { v, drv } = rig();
    drv.reset();
    const st = v.read32(R.STRTAB_BASE);
    const cq = v.read32(R.CMDQ_BASE);
    const eq = v.read32(R.EVENTQ_BASE);
    v.write32(R.STRTAB_BASE, 0x1000);
    v.write32(R.STRTAB_BASE_CFG, 3);
    v.write32(R.CMDQ_BASE, 0x2000);
    v.write32(R.CMDQ_CONS, 5);
    v.write32(R.EVENTQ_BASE, 0x3000);
    v.write32(R.CR1, 0);
    expect(v.read32(R.STRTAB_BASE)).toBe(st);
    expect(v.read32(R.STRTAB_BASE_CFG)).toBe(8);
    expect(v.read32(R.CMDQ_BASE)).toBe(cq);
    expect(v.read32(R.CMDQ_CONS)).toBe(0);
    expect(v.read32(R.EVENTQ_BASE)).toBe(eq);
    expect(v.read32(R.CR1)).toBe(0xd75);
    expect(v.stats.ignoredWrites).toBe(6);
  });

  it('applies GBPA only with Update, which reads back 0', () => {
    const { v } = rig();
    expect(v.read32(R.GBPA)).toBe(0x1000);
    v.write32(R.GBPA, 0x10_0000);
    expect(v.read32(R.GBPA)).toBe(0x1000);
    v.write32(R.GBPA, 0x8010_0000);
    expect(v.read32(R.GBPA)).toBe(0x10_0000);
  });
});

describe('vSMMUv3 stream configuration', () => {
  it('gives attached devices stage 2 only while the guest SMMU is off, abort with GBPA.ABORT', () => {
    const { v, phys } = rig();
    v.attachDevice(PSID);
    expect(phys.lastInstall(PSID)?.kind).toBe('s2');
    v.write32(R.GBPA, 0x8010_0000);
    expect(phys.lastInstall(PSID)?.kind).toBe('abort');
  });

  it('reads the guest STE on CFGI_STE and installs a nested STE', () => {
    const { v, drv, phys } = rig();
    expect(v.attachDevice(PSID)).toBe(PSID); // identity vSIDs by default
    drv.reset();
    expect(phys.lastInstall(PSID)?.kind).toBe('invalid'); // guest STE still zero
    drv.writeSte(PSID, drv.s1Ste());
    drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }), cmd('SYNC'));
    const cfg = phys.lastInstall(PSID);
    expect(cfg?.kind).toBe('nested');
    expect(cfg?.words[0]).toBe((CDTAB | 0xb) >>> 0);
    expect(drv.cons()).toBe(2);
    expect(drv.events()).toEqual([]);
  });

  it('follows the guest SMMUEN: off gives stage 2 only (or abort per GBPA), on re-reads the STEs', () => {
    const { v, drv, phys } = rig();
    v.attachDevice(PSID);
    drv.reset();
    drv.writeSte(PSID, drv.s1Ste());
    drv.issue(cmd('CFGI_STE', { sid: PSID }));
    expect(phys.lastInstall(PSID)?.kind).toBe('nested');
    drv.w(R.CR0, 0xc);
    expect(phys.lastInstall(PSID)?.kind).toBe('s2');
    drv.w(R.GBPA, 0x8010_0000);
    expect(phys.lastInstall(PSID)?.kind).toBe('abort');
    drv.writeSte(PSID, [0x9, 0]); // bypass, written while the SMMU is off
    drv.w(R.CR0, 0xd);
    expect(phys.lastInstall(PSID)?.kind).toBe('s2');
    expect(drv.events()).toEqual([]);
  });

  it('reads the guest STE once: later changes need another CFGI_STE', () => {
    const { v, drv, phys } = rig();
    v.attachDevice(PSID);
    drv.reset();
    drv.writeSte(PSID, drv.s1Ste());
    drv.issue(cmd('CFGI_STE', { sid: PSID }));
    const n = phys.installs.length;
    drv.writeSte(PSID, drv.s1Ste(CDTAB + 0x1000));
    expect(phys.installs.length).toBe(n);
    drv.issue(cmd('CFGI_STE', { sid: PSID }));
    expect(phys.lastInstall(PSID)?.words[0]).toBe((CDTAB + 0x1000) | 0xb);
  });

  it('turns a guest bypass into stage 2 only and abort into abort', () => {
    const { v, drv, phys } = rig();
    v.attachDevice(PSID);
    drv.reset();
    drv.writeSte(PSID, [0x9, 0]);
    drv.issue(cmd('CFGI_STE', { sid: PSID }));
    expect(phys.lastInstall(PSID)?.kind).toBe('s2');
    drv.writeSte(PSID, [0x1, 0]);
    drv.issue(cmd('CFGI_STE', { sid: PSID }));
    expect(phys.lastInstall(PSID)?.kind).toBe('abort');
    drv.writeSte(PSID, [0x3, 0]); // reserved Config 0b001 behaves as abort
    drv.issue(cmd('CFGI_STE', { sid: PSID }));
    expect(phys.lastInstall(PSID)?.kind).toBe('abort');
    drv.writeSte(PSID, [0x0, 0xffff_ffff, 0xffff_ffff]); // V = 0: nothing else matters, no event
    drv.issue(cmd('CFGI_STE', { sid: PSID }));
    expect(phys.lastInstall(PSID)?.kind).toBe('invalid');
    expect(drv.events()).toEqual([]);
  });

  it('rejects every bit outside the allow-list: a V=0 physical STE, C_BAD_STE (vSID) once, at the transaction', () => {
    const { v, drv, phys } = rig();
    v.attachDevice(PSID);
    drv.reset();
    let cases = 0;
    for (let w = 0; w < 16; w++) {
      for (let b = 0; b < 32; b++) {
        if (((GUEST_STE_ALLOWED[w] ?? 0) >>> b) & 1) continue;
        const ste = drv.s1Ste();
        ste[w] = ((ste[w] ?? 0) | (1 << b)) >>> 0;
        drv.writeSte(PSID, ste);
        drv.issue(cmd('CFGI_STE', { sid: PSID }));
        expect(drv.events(), `word ${w} bit ${b}: nothing at CFGI_STE`).toEqual([]);
        expect(phys.lastInstall(PSID)?.kind).toBe('invalid');
        v.forwardEvent(physEvent(EVT.C_BAD_STE, PSID), PSID); // the device's transaction
        expect(drv.events().map((e) => [e.type, e.sid]), `word ${w} bit ${b}`).toEqual([[EVT.C_BAD_STE, PSID]]);
        cases++;
      }
    }
    expect(cases).toBe(13 * 32 + 7 + 21); // dw1..dw7 whole, 7 bits of dw0 hi, 21 of dw1 lo
    expect(v.stats.steRejected.DISALLOWED_BITS).toBe(cases);
  });

  it('rejects Config S2/nested, reserved S1Fmt, too large S1CDMax, S1STALLD, EATS 2/3 and an out-of-range CD pointer', () => {
    const { v, drv, phys } = rig({ physFeatures: { ssidBits: 4 } });
    v.attachDevice(PSID);
    drv.reset();
    const bad: Array<[string, number[]]> = [
      ['CONFIG', [0xd, 0]],
      ['CONFIG', [0xf, 0]],
      ['S1FMT', drv.s1Ste(CDTAB, { w0: 0x30 })],
      ['S1CDMAX', drv.s1Ste(CDTAB, { w1: 5 << 27 })],
      ['S1STALLD', drv.s1Ste(CDTAB, { w2: 1 << 27 })],
      ['EATS', drv.s1Ste(CDTAB, { w2: 2 << 28 })],
      ['EATS', drv.s1Ste(CDTAB, { w2: 3 << 28 })],
      ['S1CTXPTR', drv.s1Ste(0x100_0000_0000)],
    ];
    for (const [reason, ste] of bad) {
      drv.writeSte(PSID, ste);
      drv.issue(cmd('CFGI_STE', { sid: PSID }));
      expect(drv.events(), reason).toEqual([]);
      expect(phys.lastInstall(PSID)?.kind).toBe('invalid');
      v.forwardEvent(physEvent(EVT.C_BAD_STE, PSID), PSID);
      expect(drv.events().map((e) => e.type), reason).toEqual([EVT.C_BAD_STE]);
    }
    expect(v.stats.steRejected).toMatchObject({ CONFIG: 2, S1FMT: 1, S1CDMAX: 1, S1STALLD: 1, EATS: 2, S1CTXPTR: 1 });
    // Accepted: S1CDMax within SSIDSIZE, EATS = 1 (ignored without ATS).
    drv.writeSte(PSID, drv.s1Ste(CDTAB, { w1: 4 << 27, w2: 1 << 28 }));
    drv.issue(cmd('CFGI_STE', { sid: PSID }));
    expect(phys.lastInstall(PSID)?.kind).toBe('nested');
  });

  it('walks a 2-level guest stream table and reports bad spans and unmapped L2 tables', () => {
    const { v, drv, phys, ram } = rig();
    const sid = 0x1234;
    v.attachDevice(sid);
    drv.reset({ log2: 16, twoLevel: true });
    const l2 = RAM_BASE + 0x8_0000;
    const [lo, hi] = encodeL1Std({ span: 9, l2ptr: l2 });
    ram.w64(STRTAB + (sid >>> 8) * 8, lo, hi);
    drv.writeSte(sid, drv.s1Ste(), l2 + (sid & 0xff) * 64);
    drv.issue(cmd('CFGI_STE', { sid }));
    expect(phys.lastInstall(sid)?.kind).toBe('nested');
    ram.w64(STRTAB + (sid >>> 8) * 8, 0, 0); // span 0
    drv.issue(cmd('CFGI_STE', { sid }));
    expect(drv.events()).toEqual([]); // recorded by the transaction, not by CFGI_STE
    v.forwardEvent(physEvent(EVT.C_BAD_STE, sid), sid);
    expect(drv.events().map((e) => [e.type, e.sid])).toEqual([[EVT.C_BAD_STREAMID, sid]]);
    const [lo2, hi2] = encodeL1Std({ span: 9, l2ptr: 0x10_0000_0000 }); // not guest RAM
    ram.w64(STRTAB + (sid >>> 8) * 8, lo2, hi2);
    drv.issue(cmd('CFGI_STE', { sid }));
    expect(drv.events()).toEqual([]);
    v.forwardEvent(physEvent(EVT.C_BAD_STE, sid), sid);
    const ev = drv.events();
    expect(ev.map((e) => [e.type, e.sid])).toEqual([[EVT.F_STE_FETCH, sid]]);
    expect(ev[0]?.fetchAddr).toBe(0x10_0000_0000 + (sid & 0xff) * 64);
    expect(phys.lastInstall(sid)?.kind).toBe('invalid');
  });

  it('CFGI_STE_RANGE and CFGI_ALL re-read only the guest devices in range, without a 2^32 loop', () => {
    const { v, drv, phys } = rig({ vsidMode: 'lowest-free' });
    for (const p of [0x100, 0x200, 0x300]) v.attachDevice(p); // vSIDs 0, 1, 2
    drv.reset();
    for (const s of [0, 1, 2]) drv.writeSte(s, drv.s1Ste());
    const n = phys.installs.length;
    drv.issue(cmd('CFGI_STE_RANGE', { sid: 2, range: 0 })); // SIDs 2..3
    expect(phys.installs.slice(n).map((i) => i.psid)).toEqual([0x300]);
    drv.issue(cmd('CFGI_STE_RANGE', { sid: 0xffff_ffff, range: 31 })); // CFGI_ALL
    expect(phys.installs.slice(n + 1).map((i) => [i.psid, i.cfg.kind])).toEqual([
      [0x100, 'nested'], [0x200, 'nested'], [0x300, 'nested'],
    ]);
  });

  it('composes the physical nested STE from the guest S1 fields over the domain S2, MEV forced', () => {
    const s2 = new Uint32Array(16);
    s2[0] = 0xd; // V, Config S2
    s2[4] = 7; // VMID
    s2[5] = 0x0025_0018; // VTCR-ish bits
    s2[6] = 0x8000_0000;
    s2[7] = 0x12;
    const g = new Uint32Array(16);
    g[0] = (CDTAB | 0xb | 0x10) >>> 0; // S1Fmt = 1
    g[1] = (3 << 27) >>> 0;
    g[2] = (0xd6 | (1 << 28)) >>> 0; // EATS = 1 is not copied
    const out = new Uint32Array(16);
    composePhysicalSte('nested', g, s2, out);
    expect(out[0]).toBe((CDTAB | 0xf | 0x10) >>> 0);
    expect(out[1]).toBe((3 << 27) >>> 0);
    expect(out[2]).toBe((0xd6 | (1 << 19)) >>> 0);
    expect([...out.slice(4, 8)]).toEqual([7, 0x0025_0018, 0x8000_0000, 0x12]);
    composePhysicalSte('s2', g, s2, out);
    expect([...out]).toEqual([...s2]);
    composePhysicalSte('abort', g, s2, out);
    expect(out[0]).toBe(1);
    expect(out.slice(1).every((x) => x === 0)).toBe(true);
    composePhysicalSte('invalid', g, s2, out);
    expect(out.every((x) => x === 0)).toBe(true);
  });
});

describe('vSMMUv3 command queue', () => {
  it('forwards CFGI_CD with the pSID and skips vSIDs without a device', () => {
    const { v, drv, phys } = rig({ vsidMode: 'lowest-free' });
    v.attachDevice(PSID); // vSID 0
    drv.reset();
    drv.issue(cmd('CFGI_CD', { sid: 0, ssid: 3, leaf: 1 }), cmd('CFGI_CD_ALL', { sid: 0 }), cmd('CFGI_CD', { sid: 9 }));
    expect(phys.forwarded.map((c) => [c[0]! & 0xff, c[1]])).toEqual([[OP.CFGI_CD, PSID], [OP.CFGI_CD_ALL, PSID]]);
    expect(phys.forwarded[0]![0]! >>> 12).toBe(3);
    expect(drv.cons()).toBe(3);
  });

  it('forces the domain VMID into TLBI_NH_* and turns TLBI_NSNH_ALL into NH_ALL for it', () => {
    const { drv, phys } = rig({ vmid: 7 });
    drv.reset();
    drv.issue(
      cmd('TLBI_NH_VA', { vmid: 3, asid: 5, addr: 0x1234_5000, leaf: 1 }),
      cmd('TLBI_NH_ASID', { vmid: 0xffff, asid: 5 }),
      cmd('TLBI_NH_VAA', { addr: 0x8000 }),
      cmd('TLBI_NH_ALL', { vmid: 1 }),
      cmd('TLBI_NSNH_ALL'),
    );
    expect(phys.forwarded.map((c) => [c[0]! & 0xff, c[1]! & 0xffff])).toEqual([
      [OP.TLBI_NH_VA, 7], [OP.TLBI_NH_ASID, 7], [OP.TLBI_NH_VAA, 7], [OP.TLBI_NH_ALL, 7], [OP.TLBI_NH_ALL, 7],
    ]);
    expect(phys.forwarded[0]![1]! >>> 16).toBe(5); // ASID kept
    expect(phys.forwarded[0]![2]).toBe(0x1234_5001); // address + leaf kept
  });

  it('answers unsupported and malformed commands with CERROR_ILL and stops until acknowledged', () => {
    for (const bad of [
      cmd('TLBI_S12_VMALL', { vmid: 7 }), cmd('TLBI_S2_IPA'), cmd('TLBI_EL2_ALL'), cmd('ATC_INV'),
      cmd('PRI_RESP'), cmd('RESUME'), cmd('SYNC', { cs: 3 }), new Uint32Array([0xff, 0, 0, 0]),
      new Uint32Array([OP.CFGI_STE | (1 << 10), 0, 0, 0]), // SSec
      new Uint32Array([OP.TLBI_NH_ALL, 0, 0x10, 0]), // RES0 bit in dw1
    ]) {
      const { drv, phys, v } = rig();
      drv.reset();
      drv.issue(cmd('TLBI_NH_ALL'), bad, cmd('TLBI_NH_ALL'));
      const cons = drv.cons();
      expect(cons & 0xfffff, (bad[0]! & 0xff).toString(16)).toBe(1);
      expect(cons >>> 24).toBe(CERROR.ILL);
      expect(drv.r(R.GERROR) & 1).toBe(1);
      expect(phys.forwarded.length).toBe(1);
      expect(v.hasWork()).toBe(false);
      // Linux's recovery: replace the bad slot with a SYNC, acknowledge GERRORN.
      drv.ram.w64(CMDQ + 16, cmd('SYNC')[0]!, 0);
      drv.ram.w64(CMDQ + 24, 0, 0);
      drv.w(R.GERRORN, drv.r(R.GERROR));
      expect(v.hasWork()).toBe(true);
      v.run();
      expect(drv.cons() & 0xfffff).toBe(3);
      expect(phys.forwarded.length).toBe(2);
    }
  });

  it('reports CERROR_ABT when the queue is not guest RAM, leaving CONS at the entry', () => {
    const { drv, v } = rig();
    drv.reset();
    drv.w(R.CR0, 0x5);
    drv.w64(R.CMDQ_BASE, 0x1_0000_0000 + 8);
    drv.w(R.CR0, 0xd);
    drv.w(R.CMDQ_PROD, 1);
    v.run();
    expect(drv.cons()).toBe(CERROR.ABT << 24);
    expect(drv.r(R.GERROR) & 1).toBe(1);
    expect(v.stats.cerrorAbt).toBe(1);
  });

  it('processes at most the budget per run and continues later', () => {
    const { drv, v, phys } = rig({ budget: 10 });
    drv.reset();
    for (let i = 0; i < 100; i++) drv.push(cmd('TLBI_NH_ASID', { asid: i }));
    expect(drv.publish()).toBe(10);
    expect(drv.cons()).toBe(10);
    expect(v.hasWork()).toBe(true);
    let runs = 1;
    while (v.hasWork()) {
      v.run();
      runs++;
    }
    expect(runs).toBe(10);
    expect(drv.cons()).toBe(100);
    expect(phys.forwarded.map((c) => c[1]! >>> 16)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(v.stats.budgetStops).toBe(9);
  });

  it('bounds the queue by the advertised size and handles wrap', () => {
    const { drv, v } = rig({ cmdqLog2: 4 });
    drv.cmdqLog2 = 8; // the guest asks for more than IDR1.CMDQS
    drv.reset();
    drv.cmdqLog2 = 4;
    for (let i = 0; i < 40; i++) {
      drv.issue(cmd('PREFETCH_CONFIG', { sid: i }));
      expect(v.hasWork()).toBe(false);
    }
    expect(drv.cons()).toBe(40 & 31);
  });

  it('completes CMD_SYNC only after the physical SYNC, then writes the MSI into guest RAM', () => {
    const { drv, phys, v, ram } = rig();
    drv.reset();
    phys.autoComplete = false;
    ram.w64(MSI_SLOT, 0xdead_beef, 0);
    drv.issue(cmd('TLBI_NH_ASID', { asid: 1 }), cmd('SYNC', { cs: 1, msiAddress: MSI_SLOT, msiData: 0x1234 }));
    expect(phys.syncs.length).toBe(1);
    expect(drv.cons()).toBe(1);
    expect(v.hasWork()).toBe(true);
    expect(v.waitingForHardware()).toBe(true);
    v.run();
    expect(drv.cons()).toBe(1);
    expect(ram.words(MSI_SLOT, 1)).toEqual([0xdead_beef]);
    phys.completeAll();
    v.run();
    expect(drv.cons()).toBe(2);
    expect(ram.words(MSI_SLOT, 1)).toEqual([0x1234]);
    // A SYNC with nothing forwarded completes at once, without a physical SYNC.
    drv.issue(cmd('SYNC', { cs: 2 }));
    expect(drv.cons()).toBe(3);
    expect(phys.syncs.length).toBe(1);
    // An MSI address outside guest RAM: GERROR.MSI_CMDQ_ABT_ERR, the SYNC still completes.
    drv.issue(cmd('SYNC', { cs: 1, msiAddress: 0x1000 }));
    expect(drv.cons()).toBe(4);
    expect(drv.r(R.GERROR) & 0x10).toBe(0x10);
  });

  it('does nothing while CMDQEN is clear, and runs what is pending once enabled', () => {
    const { drv, v, phys } = rig();
    drv.reset();
    drv.w(R.CR0, 0x5);
    drv.issue(cmd('TLBI_NH_ALL'));
    expect(phys.forwarded.length).toBe(0);
    drv.w(R.CR0, 0xd);
    v.run();
    expect(phys.forwarded.length).toBe(1);
  });
});

describe('vSMMUv3 event queue', () => {
  it('forwards stage-1 events of the guest devices with the vSID', () => {
    const { v, drv } = rig({ vsidMode: 'lowest-free' });
    v.attachDevice(PSID);
    drv.reset();
    const rec = physEvent(EVT.F_TRANSLATION, PSID, { inputLo: 0x5000, rnw: 1, cls: 2 });
    expect(v.forwardEvent(rec, PSID)).toBe(true);
    expect(v.forwardEvent(physEvent(EVT.F_PERMISSION, PSID, { s2: 1 }), PSID)).toBe(false); // stage 2: Xen's
    expect(v.forwardEvent(physEvent(EVT.F_WALK_EABT, PSID), PSID)).toBe(false);
    expect(v.forwardEvent(physEvent(EVT.C_BAD_STREAMID, PSID), PSID)).toBe(false);
    expect(v.forwardEvent(rec, 0x99)).toBe(false); // not this guest's device
    const evs = drv.events();
    expect(evs.length).toBe(1);
    expect(evs[0]).toMatchObject({ type: EVT.F_TRANSLATION, sid: 0, inputLo: 0x5000, rnw: 1, cls: 2 });
  });

  it('classifies forwardable events', () => {
    for (const t of [0x04, 0x06, 0x08, 0x0a, 0x10, 0x11, 0x12, 0x13]) expect(isGuestEvent(physEvent(t, 1))).toBe(true);
    for (const t of [0x01, 0x02, 0x03, 0x05, 0x07, 0x09, 0x0b, 0x20, 0x21, 0x24, 0x25]) expect(isGuestEvent(physEvent(t, 1))).toBe(false);
  });

  it('drops events while EVENTQEN is clear', () => {
    const { v, drv } = rig();
    v.attachDevice(PSID);
    drv.reset();
    drv.w(R.CR0, 0x9);
    expect(v.forwardEvent(physEvent(EVT.F_ACCESS, PSID), PSID)).toBe(false);
    expect(drv.r(R.EVENTQ_PROD)).toBe(0);
    expect(v.stats.eventsDropped).toBe(1);
  });

  it('signals overflow with OVFLG once, acknowledged through OVACKFLG', () => {
    const { v, drv } = rig();
    v.attachDevice(PSID);
    drv.evtqLog2 = 2;
    drv.reset();
    for (let i = 0; i < 6; i++) v.forwardEvent(physEvent(EVT.F_TRANSLATION, PSID, { inputLo: i << 12 }), PSID);
    const prod = drv.r(R.EVENTQ_PROD);
    expect(prod).toBe((0x8000_0000 | 4) >>> 0);
    expect(v.stats.eventOverflows).toBe(2);
    const evs = drv.events(); // consumes and acknowledges
    expect(evs.map((e) => e.inputLo >>> 12)).toEqual([0, 1, 2, 3]);
    expect(drv.r(R.EVENTQ_CONS)).toBe((0x8000_0000 | 4) >>> 0);
    v.forwardEvent(physEvent(EVT.F_TRANSLATION, PSID), PSID);
    expect(drv.r(R.EVENTQ_PROD)).toBe((0x8000_0000 | 5) >>> 0);
  });

  it('raises GERROR.EVENTQ_ABT_ERR when the queue is not guest RAM', () => {
    const { v, drv } = rig();
    v.attachDevice(PSID);
    drv.reset();
    drv.w(R.CR0, 0x9);
    drv.w64(R.EVENTQ_BASE, 0x2_0000_0000 + 6);
    drv.w(R.CR0, 0xd);
    expect(v.forwardEvent(physEvent(EVT.F_TRANSLATION, PSID), PSID)).toBe(false);
    expect(drv.r(R.GERROR) & 4).toBe(4);
    expect(v.stats.evtqAborts).toBe(1);
  });

  it('drives the combined SPI by IRQ_CTRL: events and GERROR, level semantics', () => {
    const { v, drv, irq } = rig();
    v.attachDevice(PSID);
    drv.reset({ irq: 0 });
    v.forwardEvent(physEvent(EVT.F_TRANSLATION, PSID), PSID);
    expect(v.irqAsserted).toBe(false); // EVENTQ_IRQEN clear
    drv.w(R.IRQ_CTRL, 0x4);
    expect(v.irqAsserted).toBe(true); // asserted once enabled while pending
    drv.events();
    expect(v.irqAsserted).toBe(false);
    drv.w(R.IRQ_CTRL, 0x5);
    drv.issue(new Uint32Array([0xff, 0, 0, 0]));
    expect(v.irqAsserted).toBe(true);
    drv.w(R.GERRORN, drv.r(R.GERROR));
    expect(v.irqAsserted).toBe(false);
    expect(irq).toEqual([true, false, true, false]);
  });

  it('writes event MSIs into guest RAM instead of the wired line when programmed', () => {
    const { v, drv, ram } = rig();
    v.attachDevice(PSID);
    drv.reset();
    drv.w64(R.EVENTQ_IRQ_CFG0, MSI_SLOT);
    drv.w(R.EVENTQ_IRQ_CFG1, 0xabcd);
    v.forwardEvent(physEvent(EVT.F_TRANSLATION, PSID), PSID);
    expect(ram.words(MSI_SLOT, 1)).toEqual([0xabcd]);
    expect(v.irqAsserted).toBe(false);
  });
});

describe('vSMMUv3 robustness', () => {
  it('never throws on garbage register writes and keeps answering', () => {
    const { v, drv } = rig();
    v.attachDevice(PSID);
    let seed = 12345;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 5000; i++) {
      const off = (rnd() % 0x20000) & ~3;
      v.write32(off, rnd());
      v.run();
    }
    expect(v.stats.xenBugs).toBe(0);
    expect(typeof drv.r(R.CMDQ_CONS)).toBe('number');
  });

  it('counts a failing physical side as a Xen bug instead of throwing', () => {
    const { v, drv, phys } = rig();
    v.attachDevice(PSID);
    drv.reset();
    phys.setStreamConfig = () => {
      throw new Error('driver bug');
    };
    drv.writeSte(PSID, drv.s1Ste());
    expect(() => drv.issue(cmd('CFGI_STE', { sid: PSID }))).not.toThrow();
    expect(v.stats.xenBugs).toBe(1);
    expect(EVTQ).toBeGreaterThan(0);
  });
});
