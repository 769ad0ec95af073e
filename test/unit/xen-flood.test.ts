// A neighbour's fault flood never costs a well-behaved guest a record (issue 15): the real SMMU
// core and Xen in-process, a victim guest faulting once per cycle beside a guest whose device
// floods the SMMU with faulting DMA. Xen drains the physical event queue after every SMMU
// round (as when woken by the SMMU's interrupt); the fault budget silences the flooding
// device (abort STE, no records) and tells only its guest, with its own OVFLG.
import { describe, expect, it } from 'vitest';
import { EVT } from '../../src/arch/events.ts';
import { R } from '../../src/arch/registers.ts';
import { XlateOut } from '../../src/smmu/translate.ts';
import { domCfg, guestOf, xenRig } from '../support/xen-rig.ts';

const VICTIM = 0x10;
const FLOODER = 0x20;


describe('fault-flood containment', () => {
  it('0 lost victim records over 10^5 fault cycles beside a flooding guest; only the flooder is told of loss', () => {
    const CYCLES = 100_000;
    const FLOOD = 300; // faulting DMAs of the flooder per cycle (over its budget), each on its own page
    const ACK_EVERY = 100; // the flooder drains and acknowledges its queue this often
    const r = xenRig();
    const v = r.xen.createDomain(domCfg('victim', [{ sid: VICTIM }]));
    const f = r.xen.createDomain(domCfg('flooder', [{ sid: FLOODER }]));
    const gv = guestOf(r, v.domid);
    const gf = guestOf(r, f.domid);
    for (const [g, sid] of [[gv, VICTIM], [gf, FLOODER]] as const) {
      g.reset();
      g.attachS1(sid, 1);
    }
    const out = new XlateOut();
    const xl = r.smmu.translator;
    let victimRecords = 0;
    let victimOverflows = 0;
    let page = 0;
    for (let c = 0; c < CYCLES; c++) {
      for (let i = 0; i < FLOOD; i++) {
        const iova = 0x4000_0000 + ((page++ % 0x10_0000) * 4096);
        xl.translate(FLOODER, false, 0, 0, iova >>> 0, 0, out);
      }
      const viova = 0x1000_0000 + (c % 4096) * 4096; // unmapped: F_TRANSLATION
      xl.translate(VICTIM, false, 0, 0, viova, 0, out);
      r.smmu.step();
      while (r.xen.pump());
      // The victim reads its events every cycle (its queue holds 64).
      if ((gv.r(R.EVENTQ_PROD) >>> 31) !== 0) victimOverflows++;
      for (const e of gv.events()) {
        expect(e.type).toBe(EVT.F_TRANSLATION);
        victimRecords++;
      }
      if (c % ACK_EVERY === ACK_EVERY - 1) gf.events();
    }
    expect(victimRecords).toBe(CYCLES);
    expect(victimOverflows).toBe(0);
    expect(r.xen.driver.stats.eventOverflows).toBe(0); // the physical queue never overflowed
    const fv = r.xen.domain(f.domid).vsmmu;
    expect(fv?.stats.silenced).toBeGreaterThan(0);
    expect(fv?.stats.eventOverflows).toBeGreaterThan(0); // the flooder, and only it, was told
    expect(r.xen.domain(v.domid).vsmmu?.stats.eventOverflows).toBe(0);
    expect(r.xen.stats().floodDrops).toBeGreaterThan(0);
  }, 120_000);

  it('a silenced device gets its configuration back when its guest acknowledges the overflow', () => {
    const r = xenRig({ faultBudget: 8 });
    const f = r.xen.createDomain(domCfg('flooder', [{ sid: FLOODER }]));
    const g = guestOf(r, f.domid);
    g.reset();
    g.attachS1(FLOODER, 1);
    g.map(FLOODER, 0x1000, 0x4040_0000, 0x1000);
    const out = new XlateOut();
    const xl = r.smmu.translator;
    for (let i = 0; i < 20; i++) xl.translate(FLOODER, false, 0, 0, 0x10_0000 + i * 4096, 0, out);
    r.smmu.step();
    while (r.xen.pump());
    const vs = r.xen.domain(f.domid).vsmmu;
    expect(vs?.isSilenced(FLOODER)).toBe(true);
    expect(g.r(R.EVENTQ_PROD) >>> 31).toBe(1); // its own OVFLG
    expect(xl.translate(FLOODER, false, 0, 0, 0x1000, 0, out)).not.toBe(0); // aborted while silenced
    expect(out.recorded).toBe(false);
    expect(g.events()).toHaveLength(8); // acknowledges OVFLG
    expect(vs?.isSilenced(FLOODER)).toBe(false);
    expect(xl.translate(FLOODER, false, 0, 0, 0x1000, 0, out)).toBe(0); // translating again
  });

  it('a stage-2-only device flooding stage-2 faults is quarantined (abort STE) beside a vSMMU victim that loses nothing', () => {
    const r = xenRig({ faultBudget: 32 });
    const v = r.xen.createDomain(domCfg('victim', [{ sid: VICTIM }]));
    r.xen.createDomain(domCfg('s2only', [{ sid: FLOODER }], 'none'));
    const gv = guestOf(r, v.domid);
    gv.reset();
    gv.attachS1(VICTIM, 1);
    const out = new XlateOut();
    const xl = r.smmu.translator;
    let victimRecords = 0;
    for (let c = 0; c < 200; c++) {
      // IPAs outside the domain's RAM: stage-2 F_TRANSLATION, kept by Xen.
      for (let i = 0; i < 64; i++) xl.translate(FLOODER, false, 0, 0, (0x8000_0000 + (c * 64 + i) * 4096) >>> 0, 0, out);
      xl.translate(VICTIM, false, 0, 0, 0x1000_0000 + c * 4096, 0, out);
      r.smmu.step();
      while (r.xen.pump());
      victimRecords += gv.events().length;
    }
    expect(victimRecords).toBe(200);
    expect(r.xen.stats().quarantined).toBe(1);
    expect(r.xen.driver.stream(FLOODER)?.stage).toBe('quarantined');
    expect(xl.translate(FLOODER, false, 0, 0, 0x4000_0000, 0, out)).not.toBe(0); // aborted
    expect(out.recorded).toBe(false);
  });
});
