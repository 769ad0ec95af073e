// Xen's profiles in-process: every behaviour where `rfc` and `v3` differ from `hardened`,
// named after the section of reference/xen-vsmmuv3.md it comes from (docs/profiles.md is
// the same list as a table). Each test shows the difference: the profile's answer and
// hardened's answer to the same guest.
import { describe, expect, it } from 'vitest';
import { CERROR } from '../../src/arch/commands.ts';
import { EVT, EVT_WORDS, encodeEvent, eventOf } from '../../src/arch/events.ts';
import { consErr } from '../../src/arch/queue.ts';
import { GERROR, R } from '../../src/arch/registers.ts';
import { encodeL1Std } from '../../src/arch/ste.ts';
import { xenProfile, type XenPanic, type XenProfileName } from '../../src/xen/profile.ts';
import { RFC_ID_REGS } from '../../src/xen/vsmmuv3-rfc.ts';
import { DEFAULT_FEATURES, decodeIdRegs } from '../../src/arch/features.ts';
import { VSmmuV3 } from '../../src/xen/vsmmuv3.ts';
import { CDTAB, FakePhys, FakeRam, GuestDriver, RAM_BASE, RAM_SIZE, STRTAB, cmd, type Rig } from '../support/xen-fakes.ts';
import { domCfg, xenRig } from '../support/xen-rig.ts';

const PSID = 0x42;
const L2 = STRTAB + 0x1000;

/** The physical side of the series: domain-wide flushes and panics recorded. */
class SeriesPhys extends FakePhys {
  flushes = 0;
  panics: Pick<XenPanic, 'bug' | 'section' | 'sid' | 'detail'>[] = [];
  flushDomain(): number {
    this.flushes++;
    return this.sync();
  }
  panic(p: Pick<XenPanic, 'bug' | 'section' | 'sid' | 'detail'>): void {
    this.panics.push(p);
  }
  halted(): boolean {
    return this.panics.length > 0;
  }
}

/** A vSMMU of `profile` over SeriesPhys, the guest reset with a 2-level table (split 8) and device PSID attached. */
function setup(profile: XenProfileName, o: { linear?: boolean; irq?: number } = {}): Rig & { phys: SeriesPhys } {
  const ram = new FakeRam(RAM_BASE, RAM_SIZE);
  const phys = new SeriesPhys();
  const irq: boolean[] = [];
  const v = new VSmmuV3({
    phys: { ...DEFAULT_FEATURES }, ipaBits: 40, vmid: 7, profile: xenProfile(profile), ram, backend: phys, irq: (l) => irq.push(l),
  });
  const drv = new GuestDriver(v, ram);
  drv.reset({ log2: 8, twoLevel: !o.linear, ...(o.irq === undefined ? {} : { irq: o.irq }) });
  const [lo, hi] = encodeL1Std({ span: 9, l2ptr: L2 });
  if (!o.linear) ram.w64(STRTAB, lo, hi);
  v.attachDevice(PSID);
  return { v, ram, phys, irq, drv };
}

/** Writes the guest STE of `sid` in the 2-level table (STE at L2 + sid * 64). */
function ste(r: Rig, sid: number, words: ArrayLike<number>): void {
  r.drv.writeSte(sid, words, L2 + (sid % 256) * 64);
}

function idRegs(r: Rig): number[] {
  return [R.IDR0, R.IDR1, R.IDR2, R.IDR3, R.IDR4, R.IDR5, R.IIDR].map((o) => r.v.read32(o) >>> 0);
}

describe('§2.2 rfc: constant ID registers', () => {
  it('rfc shows IDR0 0x0D00100A, IDR1 0x02730010, IDR3 0, IDR5 0x75 and no IIDR; hardened derives them', () => {
    const c = RFC_ID_REGS;
    expect(idRegs(setup('rfc'))).toEqual([c.idr0, c.idr1, 0, 0, 0, c.idr5, 0]);
    expect(setup('hardened').v.read32(R.IDR0) >>> 0).not.toBe(c.idr0);
  });

  it('§6.5 v3: the series\' constants with ASID16, OAS, granules and TTENDIAN from the hardware and its IIDR', () => {
    const [idr0, idr1, idr2, idr3, idr4, idr5, iidr] = idRegs(setup('v3'));
    const f = decodeIdRegs({ idr0: idr0!, idr1: idr1!, idr2: idr2!, idr3: idr3!, idr4: idr4!, idr5: idr5!, iidr: iidr!, aidr: 0 });
    expect([f.s1, f.s2, f.msi, f.sev, f.stLevel2, f.sidBits, f.ssidBits, f.cmdqLog2, f.stallModel]).toEqual([true, false, false, false, true, 16, 0, 19, 1]);
    expect([f.ttendian, f.oas, f.asid16, iidr]).toEqual([DEFAULT_FEATURES.ttendian, 40, DEFAULT_FEATURES.asid16, DEFAULT_FEATURES.iidr]);
    expect(idr1).toBe(RFC_ID_REGS.idr1);
  });
});

describe('§2.2 rfc: CR0 only stored', () => {
  it('rfc takes STRTAB_BASE while SMMUEN is set; hardened and v3 (§6.5) ignore the write', () => {
    for (const [p, ignored] of [['rfc', false], ['v3', true], ['hardened', true]] as const) {
      const r = setup(p);
      r.v.write32(R.STRTAB_BASE, 0x1000);
      expect(r.v.read32(R.STRTAB_BASE) === 0x1000, p).toBe(!ignored);
    }
  });
});

describe('§3.1 rfc: the command queue drained to empty inside the PROD trap', () => {
  it('rfc consumes 200 commands in one trap; hardened stops at its budget', () => {
    for (const p of ['rfc', 'hardened'] as const) {
      const r = setup(p);
      for (let i = 0; i < 200; i++) r.drv.push(cmd('PREFETCH_CONFIG', { sid: PSID }));
      const n = r.drv.publish(64);
      expect(n, p).toBe(p === 'rfc' ? 200 : 64);
    }
  });

  it('rfc skips an illegal command and advances CONS, without CERROR or GERROR.CMDQ_ERR; hardened stops with CERROR_ILL', () => {
    for (const p of ['rfc', 'v3', 'hardened'] as const) {
      const r = setup(p);
      const bad = new Uint32Array([0xff, 0, 0, 0]);
      r.drv.issue(bad, cmd('PREFETCH_CONFIG', { sid: PSID }));
      const gerr = (r.v.read32(R.GERROR) ^ r.v.read32(R.GERRORN)) & GERROR.CMDQ_ERR;
      if (p === 'hardened') {
        expect(consErr(r.drv.cons())).toBe(CERROR.ILL);
        expect(gerr).not.toBe(0);
        expect(r.drv.cons() & 0xfffff).toBe(0);
      } else {
        expect(consErr(r.drv.cons()), p).toBe(CERROR.NONE);
        expect(gerr, p).toBe(0);
        expect(r.drv.cons(), p).toBe(2);
        expect(r.v.stats.skipped, p).toBe(1);
      }
    }
  });

  it('rfc: a command it cannot read stops the queue without advancing CONS, retried only on the next PROD write', () => {
    /** `profile` with CMDQ_BASE beyond guest RAM (every read fails), after PROD = 1. */
    const unreadable = (profile: XenProfileName): Rig => {
      const r = setup(profile);
      r.v.write32(R.CR0, 0x5);
      r.drv.w64(R.CMDQ_BASE, 0x80_0000_0000 + 8);
      r.v.write32(R.CR0, 0xd);
      r.v.write32(R.CMDQ_PROD, 1);
      r.v.run();
      return r;
    };
    const r = unreadable('rfc');
    expect(r.drv.cons()).toBe(0);
    expect(consErr(r.drv.cons())).toBe(CERROR.NONE);
    expect(r.v.hasWork()).toBe(false); // nothing later, until the guest writes PROD again
    expect(consErr(unreadable('hardened').drv.cons())).toBe(CERROR.ABT);
  });

  it('rfc: commands published while CMDQEN = 0 are not processed when CMDQEN comes on', () => {
    /** `profile` after a command published with CMDQEN off, then CMDQEN on. */
    const publishedOff = (profile: XenProfileName): Rig => {
      const r = setup(profile);
      r.v.write32(R.CR0, 0x5); // CMDQEN off
      r.drv.issue(cmd('PREFETCH_CONFIG', { sid: PSID }));
      r.v.write32(R.CR0, 0xd);
      r.v.run();
      return r;
    };
    expect(publishedOff('rfc').drv.cons()).toBe(0);
    expect(publishedOff('hardened').drv.cons()).toBe(1);
  });
});

describe('§3.2 rfc: opcodes', () => {
  it('rfc replaces TLBI_NH_ASID, TLBI_NH_VA and TLBI_NSNH_ALL by a flush of the domain, CONS waiting for it; hardened forwards them with the VMID', () => {
    const r = setup('rfc');
    r.phys.autoComplete = false;
    r.drv.issue(cmd('TLBI_NH_VA', { asid: 3, addr: 0x1000 }), cmd('TLBI_NH_ASID', { asid: 3 }), cmd('TLBI_NSNH_ALL'), cmd('SYNC'));
    expect(r.phys.flushes).toBe(1);
    expect(r.drv.cons()).toBe(0); // the flush's SYNC is not complete yet
    for (let i = 0; i < 3; i++) {
      r.phys.completeAll();
      r.v.run();
    }
    expect(r.phys.flushes).toBe(3);
    expect(r.drv.cons()).toBe(4);
    expect(r.phys.forwarded).toEqual([]);
    const h = setup('hardened');
    h.drv.issue(cmd('TLBI_NH_VA', { asid: 3, addr: 0x1000 }), cmd('SYNC'));
    expect(h.phys.forwarded.length).toBe(1);
  });

  it('rfc ignores CFGI_ALL, CFGI_CD, CFGI_CD_ALL, PREFETCH_CFG and CMD_SYNC, and skips TLBI_NH_ALL; hardened acts on them', () => {
    const r = setup('rfc');
    ste(r, PSID, r.drv.s1Ste());
    r.drv.issue(cmd('CFGI_STE_RANGE', { range: 31 }), cmd('CFGI_CD', { sid: PSID }), cmd('CFGI_CD_ALL', { sid: PSID }),
      cmd('PREFETCH_CONFIG', { sid: PSID }), cmd('SYNC'), cmd('TLBI_NH_ALL'));
    expect(r.drv.cons()).toBe(6);
    expect(r.v.stats.ignored).toBe(5);
    expect(r.v.stats.skipped).toBe(1);
    expect(r.phys.forwarded).toEqual([]);
    expect(r.phys.installs.filter((i) => i.cfg.kind === 'nested')).toEqual([]); // CFGI_ALL did not read the STE
    const h = setup('hardened', { linear: true });
    h.drv.writeSte(PSID, h.drv.s1Ste());
    h.drv.issue(cmd('CFGI_STE_RANGE', { range: 31 }), cmd('CFGI_CD', { sid: PSID }), cmd('TLBI_NH_ALL'), cmd('SYNC'));
    expect(h.phys.forwarded.length).toBe(2);
    expect(h.phys.lastInstall(PSID)?.kind).toBe('nested');
  });
});

describe('§3.3 rfc: CFGI_STE', () => {
  it('rfc takes the table as 2-level once STRTAB_BASE_CFG is written: a linear table is misread; hardened and v3 (§6.5) read it', () => {
    const r = setup('rfc', { linear: true });
    r.drv.writeSte(PSID, r.drv.s1Ste());
    r.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }), cmd('SYNC'));
    expect(r.phys.lastInstall(PSID)?.kind).not.toBe('nested');
    const v3 = setup('v3', { linear: true });
    const vsid = v3.v.vsids.vsidOf(PSID); // §3.4: v3's guest names the device by its vSID
    v3.drv.writeSte(vsid, v3.drv.s1Ste());
    v3.drv.issue(cmd('CFGI_STE', { sid: vsid, leaf: 1 }), cmd('SYNC'));
    expect(v3.phys.lastInstall(PSID)?.kind).toBe('nested');
    const h = setup('hardened', { linear: true });
    h.drv.writeSte(PSID, h.drv.s1Ste());
    h.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }), cmd('SYNC'));
    expect(h.phys.lastInstall(PSID)?.kind).toBe('nested');
  });

  it('rfc indexes L1 with the fixed split of 8, whatever SPLIT the guest wrote', () => {
    const r = setup('rfc');
    // The guest says SPLIT = 6 (64 STEs per L2): its L1 index of 0x42 is 1; the series reads L1[0].
    r.drv.w(R.CR0, 0);
    r.drv.w(R.STRTAB_BASE_CFG, (1 << 16) | (6 << 6) | 8);
    r.drv.w(R.CR0, 0xd);
    ste(r, 0x42 % 64, r.drv.s1Ste());
    r.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
    expect(r.phys.lastInstall(PSID)?.kind).toBe('nested'); // L1[0]'s L2, index 0x42 % 64
  });

  it('rfc reads STE dword 0 only: bits hardened refuses in dword 1 are not looked at', () => {
    const r = setup('rfc');
    ste(r, PSID, r.drv.s1Ste(CDTAB, { w2: 1 << 12 })); // dword1 bit 12: not in the allow-list
    r.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
    expect(r.phys.lastInstall(PSID)?.kind).toBe('nested');
    expect(r.phys.lastInstall(PSID)?.words[2]).toBe(0xd6); // Xen's own dword 1
    const h = setup('hardened', { linear: true });
    h.drv.writeSte(PSID, h.drv.s1Ste(CDTAB, { w2: 1 << 12 }));
    h.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
    expect(h.phys.lastInstall(PSID)?.kind).toBe('invalid');
  });

  it('rfc answers S1CDMax != 0 and Config = S2 with C_BAD_STE at once; hardened records it when the device next transacts', () => {
    for (const words of [setup('rfc').drv.s1Ste(CDTAB, { w1: 1 << 27 }), [0xd, 0]]) {
      const r = setup('rfc');
      ste(r, PSID, words);
      r.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
      expect(r.drv.events().map((e) => [e.type, e.sid])).toEqual([[EVT.C_BAD_STE, PSID]]);
      expect(r.drv.cons()).toBe(1);
    }
    const h = setup('hardened', { linear: true });
    h.drv.writeSte(PSID, [0xd, 0]);
    h.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
    expect(h.drv.events()).toEqual([]);
    expect(h.phys.lastInstall(PSID)?.kind).toBe('invalid');
  });

  it('rfc: Config = nested or reserved is the guest-triggerable BUG(): Xen panics; hardened installs an invalid STE', () => {
    for (const config of [7, 1, 2, 3]) {
      const r = setup('rfc');
      ste(r, PSID, [1 | (config << 1), 0]);
      r.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }), cmd('PREFETCH_CONFIG', { sid: PSID }));
      expect(r.phys.panics.map((p) => [p.bug, p.section, p.sid])).toEqual([['BUG()', '§3.3', PSID]]);
      expect(r.v.hasWork()).toBe(false); // nothing runs after the panic
    }
    const h = setup('hardened', { linear: true });
    h.drv.writeSte(PSID, [0xf, 0]);
    h.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
    expect(h.phys.lastInstall(PSID)?.kind).toBe('invalid'); // C_BAD_STE comes with the device's next transaction
    expect(h.phys.panics).toEqual([]);
  });

  it('rfc: V = 0 leaves the physical STE as it is; hardened installs an invalid STE', () => {
    const r = setup('rfc');
    const before = r.phys.installs.length;
    ste(r, PSID, [0, 0]);
    r.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
    expect(r.phys.installs.length).toBe(before);
    const h = setup('hardened', { linear: true });
    h.drv.writeSte(PSID, [0, 0]);
    h.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
    expect(h.phys.lastInstall(PSID)?.kind).toBe('invalid');
  });

  it('rfc: the guest SMMU disabled does not change the physical STE; hardened follows GBPA', () => {
    const r = setup('rfc');
    ste(r, PSID, r.drv.s1Ste());
    r.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
    r.v.write32(R.CR0, 0xc);
    expect(r.phys.lastInstall(PSID)?.kind).toBe('nested');
    const h = setup('hardened', { linear: true });
    h.drv.writeSte(PSID, h.drv.s1Ste());
    h.drv.issue(cmd('CFGI_STE', { sid: PSID, leaf: 1 }));
    h.v.write32(R.CR0, 0xc);
    expect(h.phys.lastInstall(PSID)?.kind).toBe('s2');
  });
});

describe('§3.3 rfc: BUG_ON(s1_live) and the RFC write order (Xen and its SMMU driver)', () => {
  function cfgiTwice(profile: XenProfileName): { panic: XenPanic | null; stage: string | undefined } {
    const x = xenRig({ profile });
    x.xen.createDomain(domCfg('g', [{ sid: PSID }]));
    const dom = x.xen.domainByName('g')!;
    const v = dom.vsmmu!;
    const cfg = { kind: 'nested' as const, words: new Uint32Array(16) };
    cfg.words[0] = (CDTAB | 0xb) >>> 0;
    cfg.words[2] = 0xd6;
    // As the vSMMU asks twice for stage 1 (two CFGI_STEs of an S1 STE).
    const be = (v as unknown as { be: { setStreamConfig(p: number, c: typeof cfg): unknown } }).be;
    be.setStreamConfig(PSID, cfg);
    x.xen.driver.finishSteWrites();
    be.setStreamConfig(PSID, cfg);
    x.xen.driver.finishSteWrites();
    return { panic: x.xen.panicked, stage: x.xen.driver.stream(PSID)?.stage };
  }

  it('rfc: stage 1 attached over a live stage-1 STE panics; hardened rewrites it', () => {
    const r = cfgiTwice('rfc');
    expect(r.panic).toMatchObject({ bug: 'BUG_ON(s1_live)', section: '§3.3', domain: 'g' });
    const h = cfgiTwice('hardened');
    expect(h.panic).toBeNull();
    expect(h.stage).toBe('nested');
  });

  it('rfc: a panicked Xen aborts every trap and refuses new domains with EVSMMU_XEN_PANIC', () => {
    const x = xenRig({ profile: 'rfc' });
    x.xen.createDomain(domCfg('g', [{ sid: PSID }]));
    const v = x.xen.domainByName('g')!.vsmmu!;
    const be = (v as unknown as { be: { panic(p: object): void } }).be;
    be.panic({ bug: 'BUG()', section: '§3.3', sid: PSID, detail: 'test' });
    const out = { lo: 0, hi: 0 };
    expect(x.xen.mmio(1, false, 4, 0x0404_0000, 0, 0, out)).toBe(false);
    expect(() => x.xen.createDomain(domCfg('h', [{ sid: 0x50 }]))).toThrow(expect.objectContaining({ code: 'EVSMMU_XEN_PANIC' }));
    expect(x.xen.stats().panic).toMatchObject({ bug: 'BUG()', domain: 'g' });
  });

  it('rfc writes a live STE to abort first, then dwords 1..7, then dword 0; without MEV', () => {
    const x = xenRig({ profile: 'rfc' });
    x.xen.createDomain(domCfg('g', [{ sid: PSID }]));
    const before = x.xen.driver.stats.viaAbort;
    const be = (x.xen.domainByName('g')!.vsmmu! as unknown as { be: { setStreamConfig(p: number, c: object): unknown } }).be;
    const words = new Uint32Array(16);
    words[0] = (CDTAB | 0xb) >>> 0;
    be.setStreamConfig(PSID, { kind: 'nested', words });
    x.xen.driver.finishSteWrites();
    expect(x.xen.driver.stats.viaAbort).toBe(before + 1); // the stage-2 STE was live
    const pste = x.xen.driver.readSte(PSID);
    expect((pste[0]! >>> 1) & 7).toBe(7);
    expect(pste[2]! & (1 << 19)).toBe(0); // no MEV
  });
});

describe('§3.2 rfc: each device its own VMID, every one flushed on a guest TLBI', () => {
  it('rfc gives two devices two VMIDs of their own; hardened shares the domain VMID', () => {
    for (const p of ['rfc', 'hardened'] as const) {
      const x = xenRig({ profile: p });
      const info = x.xen.createDomain(domCfg('g', [{ sid: 0x10 }, { sid: 0x11 }]));
      const vm = [x.xen.driver.stream(0x10)!.vmid, x.xen.driver.stream(0x11)!.vmid];
      if (p === 'hardened') expect(vm).toEqual([info.vmid, info.vmid]);
      else {
        expect(new Set([info.vmid, ...vm]).size).toBe(3);
        const be = (x.xen.domainByName('g')!.vsmmu! as unknown as { be: { flushDomain(): number } }).be;
        const cmds = x.xen.driver.stats.commands;
        const syncs = x.xen.driver.stats.syncs;
        be.flushDomain();
        expect(x.xen.driver.stats.commands - cmds).toBe(6); // 3 x (TLBI_S12_VMALL + SYNC)
        expect(x.xen.driver.stats.syncs - syncs).toBe(3);
      }
      x.xen.destroyDomain(info.domid);
      expect(x.xen.stats().vmidsInUse).toBe(0);
    }
  });
});

describe('§3.4 v3: the vSID -> pSID layer', () => {
  it('v3 gives the lowest free vSID; rfc and hardened use vSID == pSID', () => {
    for (const [p, vsid] of [['v3', 0], ['rfc', PSID], ['hardened', PSID]] as const) {
      const x = xenRig({ profile: p });
      const info = x.xen.createDomain(domCfg('g', [{ sid: PSID }]));
      expect(info.devices[0]?.vsid, p).toBe(vsid);
    }
  });
});

describe('§4.1 rfc: events', () => {
  function phys(type: number, extra: Parameters<typeof eventOf>[0] extends infer T ? Partial<T> : never = {}): Uint32Array {
    const w = new Uint32Array(EVT_WORDS);
    encodeEvent(eventOf({ type, sid: PSID, ...extra }), w);
    return w;
  }

  it('rfc forwards only stage-1 F_TRANSLATION..F_PERMISSION, verbatim; hardened also forwards C_BAD_CD and rewrites stage-2 walks', () => {
    const r = setup('rfc');
    const f = phys(EVT.F_PERMISSION, { inputLo: 0x1234_5000, rnw: 1, cls: 2 });
    expect(r.v.forwardEvent(f, PSID)).toBe(true);
    expect(r.v.forwardEvent(phys(EVT.C_BAD_CD), PSID)).toBe(false);
    expect(r.v.forwardEvent(phys(EVT.F_TRANSLATION, { s2: 1, cls: 1 }), PSID)).toBe(false);
    expect(r.ram.words(r.v.reg('EVENTQ_BASE') & ~0x1f, 8)).toEqual([...f]);
    const h = setup('hardened');
    expect(h.v.forwardEvent(phys(EVT.C_BAD_CD), PSID)).toBe(true);
  });

  it('rfc: a full event queue toggles GERROR.EVTQ_ABT_ERR and drops the record; hardened sets EVENTQ_PROD.OVFLG', () => {
    for (const p of ['rfc', 'hardened'] as const) {
      const r = setup(p);
      const n = 2 ** r.drv.evtqLog2;
      for (let i = 0; i <= n; i++) r.v.forwardEvent(phys(EVT.F_TRANSLATION), PSID);
      const abt = (r.v.read32(R.GERROR) ^ r.v.read32(R.GERRORN)) & GERROR.EVENTQ_ABT_ERR;
      const ovf = r.v.read32(R.EVENTQ_PROD) >>> 31;
      expect([abt !== 0, ovf], p).toEqual(p === 'rfc' ? [true, 0] : [false, 1]);
    }
  });
});

describe('§4.3 rfc: the interrupt ignores IRQ_CTRL', () => {
  it('rfc asserts the SPI for an event with IRQ_CTRL = 0; hardened does not', () => {
    for (const p of ['rfc', 'hardened'] as const) {
      const r = setup(p, { irq: 0 });
      const w = new Uint32Array(EVT_WORDS);
      encodeEvent(eventOf({ type: EVT.F_TRANSLATION, sid: PSID }), w);
      r.v.forwardEvent(w, PSID);
      expect(r.v.irqAsserted, p).toBe(p === 'rfc');
    }
  });
});

describe('§6.2 rfc: no fault budget', () => {
  it('the rfc and v3 profiles have none; hardened silences a flooding device', () => {
    expect([xenProfile('hardened').faultBudget, xenProfile('rfc').faultBudget, xenProfile('v3').faultBudget]).toEqual([true, false, false]);
  });
});

describe('profiles: names', () => {
  it('an unknown profile is EVSMMU_BADOPTIONS listing the known ones', () => {
    expect(() => xenProfile('rfc2')).toThrow(expect.objectContaining({ code: 'EVSMMU_BADOPTIONS' }));
  });
});

describe('docs/profiles.md', () => {
  it('has a row for every reference section the tests name, and every profile field differs where a row says so', async () => {
    const { readFileSync } = await import('node:fs');
    const root = new URL('../../', import.meta.url);
    const doc = readFileSync(new URL('docs/profiles.md', root), 'utf8');
    const rows = doc.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| behaviour') && !l.startsWith('| ---'));
    const tests = ['test/unit/xen-profiles.test.ts', 'test/integration/profiles.test.ts'].map((f) => readFileSync(new URL(f, root), 'utf8')).join('\n');
    const sections = new Set([...tests.matchAll(/describe(?:\.each\([^)]*\))?\('(§\d+\.\d+)/g)].map((m) => m[1]!));
    expect(sections.size).toBeGreaterThanOrEqual(8);
    for (const s of sections) expect(rows.some((r) => r.includes(s)), `no row cites ${s}`).toBe(true);
    // Every policy field on which rfc or v3 differs from hardened is a decision the table covers.
    const h = xenProfile('hardened') as unknown as Record<string, unknown>;
    const differing = (['rfc', 'v3'] as const).flatMap((p) => Object.entries(xenProfile(p)).filter(([k, v]) => k !== 'name' && v !== h[k]).map(([k]) => k));
    expect(new Set(differing).size).toBeGreaterThanOrEqual(16);
    expect(rows.length).toBeGreaterThanOrEqual(new Set(differing).size);
  });
});

describe('§5.1 rfc: SPI 33 reserved for a domain with a partial device tree, vSMMU or not', () => {
  it('rfc refuses a passthrough IRQ 33 in a domain without a vSMMU that has a partial device tree; hardened and v3 route it', async () => {
    const { hostDeviceTree, hostDevices } = await import('../../src/xen/hostdt.ts');
    const { resolvePassthrough } = await import('../../src/xen/passthrough.ts');
    const { parseXlCfg } = await import('../../src/xen/xlcfg.ts');
    const { parseDts } = await import('../../src/dt/dts.ts');
    // A host whose dma0 raises INTID 33 (the vSMMU's SPI in a domU).
    const devices = hostDevices().map((d) => (d.name === 'dma0' ? { ...d, irqs: [33] } : d));
    const host = { tree: hostDeviceTree([], { memory: 2 ** 29 }), devices };
    const partial = parseDts('/dts-v1/;\n/ { passthrough { dma@5000000 { reg = <0 0x5000000 0 0x1000>; iommus = <0x2 0x10>; }; }; };\n');
    const cfg = parseXlCfg('name = "g"\nmemory = 64\ndtdev = [ "/dma0@4001000000" ]\nirqs = [ 33 ]\ndevice_tree = "pt.dts"\n', 'g.cfg');
    for (const p of ['hardened', 'v3'] as const) expect(resolvePassthrough(cfg, host, xenProfile(p), () => partial).devices, p).toHaveLength(1);
    expect(() => resolvePassthrough(cfg, host, xenProfile('rfc'), () => partial)).toThrow(expect.objectContaining({ code: 'EVSMMU_IRQ_VSMMU_SPI' }));
    // Without the partial tree the RFC's libxl reserves nothing either.
    const { deviceTree: _, ...keys } = cfg.passthrough!;
    expect(resolvePassthrough({ ...cfg, passthrough: { ...keys, deviceTree: null } }, host, xenProfile('rfc'), () => partial).devices).toHaveLength(1);
    // With a vSMMU every profile refuses it (the line is the vSMMU's).
    for (const p of ['hardened', 'rfc', 'v3'] as const) {
      expect(() => resolvePassthrough({ ...cfg, viommu: 'smmuv3' }, host, xenProfile(p), () => partial), p).toThrow(expect.objectContaining({ code: 'EVSMMU_IRQ_VSMMU_SPI' }));
    }
  });
});
