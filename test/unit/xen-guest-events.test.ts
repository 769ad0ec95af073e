// What a guest's stage-1-only vSMMU reports, checked against the spec sections that define
// it: the real SMMU core and the real Xen in-process (xen-rig), a test guest that programs
// its vSMMU through Xen's trap dispatcher, DMA through the SMMU's translator.
import { describe, expect, it } from 'vitest';
import { CLASS, EVT } from '../../src/arch/events.ts';
import { encodeL1Std } from '../../src/arch/ste.ts';
import { R } from '../../src/arch/registers.ts';
import { XL_OK, XlateOut } from '../../src/smmu/translate.ts';
import { GUEST_VSMMUV3_BASE } from '../../src/xen/layout.ts';
import { G, TestGuest } from '../support/xen-guest.ts';
import { domCfg, xenRig, type XenRig } from '../support/xen-rig.ts';

const SID = 0x10;
/** An IPA inside the domain's IPA space but not its RAM (RAM is 8 MiB at 1 GiB). */
const HOLE = 0x8000_0000;

function setup(): { r: XenRig; g: TestGuest; domid: number } {
  const r = xenRig();
  const info = r.xen.createDomain(domCfg('g', [{ sid: SID }]));
  const out = { lo: 0, hi: 0 };
  const domid = info.domid;
  const g = new TestGuest(
    {
      read32: (off) => (r.xen.mmio(domid, false, 4, GUEST_VSMMUV3_BASE + off, 0, 0, out) ? out.lo : 0xdead),
      write32: (off, v) => {
        r.xen.mmio(domid, true, 4, GUEST_VSMMUV3_BASE + off, v, 0, out);
        while (r.xen.pump());
      },
    },
    r.xen.domain(domid).ram,
  );
  return { r, g, domid };
}

/** One DMA read of `iova` by the device, then Xen consumes the physical event queue. */
function dma(r: XenRig, iova: number, write = false): boolean {
  const out = new XlateOut();
  const ok = r.smmu.translator.translate(SID, false, 0, Math.floor(iova / 2 ** 32), iova >>> 0, write ? 1 : 0, out) === XL_OK;
  r.smmu.step();
  while (r.xen.pump());
  return ok;
}

/** Re-points the guest's stream table (SMMUEN off, new base/format/CR2, SMMUEN on). */
function restrtab(g: TestGuest, base: number, cfg: number, cr2: number): void {
  g.w(R.CR0, 0xc);
  g.w(R.CR2, cr2);
  g.w(R.STRTAB_BASE, base % 2 ** 32);
  g.w(R.STRTAB_BASE + 4, Math.floor(base / 2 ** 32));
  g.w(R.STRTAB_BASE_CFG, cfg);
  g.w(R.CR0, 0xd);
}

function zero(g: TestGuest, ipa: number, bytes: number): void {
  for (let a = ipa; a < ipa + bytes; a += 8) g.mem.store64(a, 0, 0);
}

const TWO_LEVEL_12 = (1 << 16) | (8 << 6) | 12; // 2-level, SPLIT 8, 4096 StreamIDs

describe('the guest stream-table lookup as the guest sees it', () => {
  it('7.3.3 C_BAD_STREAMID: a StreamID reaching a Span-0 L1 descriptor records C_BAD_STREAMID (vSID), not C_BAD_STE', () => {
    const { r, g } = setup();
    g.reset();
    zero(g, G.STRTAB, 4096);
    restrtab(g, G.STRTAB, TWO_LEVEL_12, 0x6); // L1[0].Span = 0
    g.events();
    expect(dma(r, 0x1000)).toBe(false);
    const evs = g.events();
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({ type: EVT.C_BAD_STREAMID, sid: SID, rnw: 0, inputLo: 0 });
  });

  it('7.3.3 C_BAD_STREAMID: a StreamID beyond the guest LOG2SIZE records C_BAD_STREAMID', () => {
    const { r, g } = setup();
    g.reset();
    restrtab(g, G.STRTAB, 4, 0x6); // linear, 16 StreamIDs: 0x10 is out of range
    g.events();
    expect(dma(r, 0x1000)).toBe(false);
    expect(g.events().map((e) => [e.type, e.sid])).toEqual([[EVT.C_BAD_STREAMID, SID]]);
  });

  it('7.3.3 C_BAD_STREAMID: with CR2.RECINVSID = 0 the guest receives no record at all', () => {
    const { r, g, domid } = setup();
    g.reset();
    zero(g, G.STRTAB, 4096);
    restrtab(g, G.STRTAB, TWO_LEVEL_12, 0x4); // PTM only
    g.submit(g.cmd('CFGI_STE', { sid: SID, leaf: 0 }), g.cmd('SYNC'));
    expect(dma(r, 0x1000)).toBe(false);
    expect(dma(r, 0x2000)).toBe(false);
    expect(g.events()).toEqual([]);
    expect(g.r(R.EVENTQ_PROD) >>> 31).toBe(0); // no overflow either
    expect(r.xen.domain(domid).stats.eventsKept).toBeGreaterThanOrEqual(2);
  });

  it('7.3.4 F_STE_FETCH: an L2 table outside guest RAM records F_STE_FETCH with the IPA of the STE', () => {
    const { r, g } = setup();
    g.reset();
    zero(g, G.STRTAB, 4096);
    const [lo, hi] = encodeL1Std({ span: 9, l2ptr: HOLE });
    g.mem.store64(G.STRTAB, lo, hi);
    restrtab(g, G.STRTAB, TWO_LEVEL_12, 0x6);
    g.events();
    expect(dma(r, 0x1000, true)).toBe(false);
    const evs = g.events();
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({ type: EVT.F_STE_FETCH, sid: SID, fetchAddr: HOLE + SID * 64, rnw: 0, inputLo: 0 });
  });

  it('7.3.4 F_STE_FETCH: a linear stream table outside guest RAM, whatever RECINVSID says', () => {
    const { r, g } = setup();
    g.reset();
    restrtab(g, HOLE, 8, 0x4);
    g.events();
    expect(dma(r, 0x1000)).toBe(false);
    expect(g.events().map((e) => [e.type, e.sid, e.fetchAddr])).toEqual([[EVT.F_STE_FETCH, SID, HOLE + SID * 64]]);
  });

  it('7.3.5 C_BAD_STE: a refused guest STE is recorded once per transaction, never by its CFGI_STE', () => {
    const { r, g } = setup();
    g.reset();
    g.events();
    g.writeSte(SID, [0x0b | (G.CDS + SID * 64), 0, 0xd6 | (1 << 19)]); // MEV is Xen's
    g.submit(g.cmd('CFGI_STE', { sid: SID }), g.cmd('SYNC'));
    expect(g.events()).toEqual([]);
    expect(dma(r, 0x1000)).toBe(false);
    expect(g.events().map((e) => [e.type, e.sid])).toEqual([[EVT.C_BAD_STE, SID]]);
    // The same for a failed stream-table lookup (F_STE_FETCH): nothing at CFGI_STE, one at DMA.
    restrtab(g, HOLE, 8, 0x4);
    g.submit(g.cmd('CFGI_STE', { sid: SID }), g.cmd('SYNC'));
    expect(g.events()).toEqual([]);
    expect(dma(r, 0x1000)).toBe(false);
    expect(g.events().map((e) => [e.type, e.sid])).toEqual([[EVT.F_STE_FETCH, SID]]);
  });

  it('7.3.5 C_BAD_STE: a guest STE with V = 0 still records C_BAD_STE', () => {
    const { r, g } = setup();
    g.reset();
    g.events();
    expect(dma(r, 0x1000)).toBe(false);
    expect(g.events().map((e) => [e.type, e.sid])).toEqual([[EVT.C_BAD_STE, SID]]);
  });
});

describe('stage-2 faults on the guest\'s own structures, as a stage-1-only SMMU reports them', () => {
  it('7.3.10 F_CD_FETCH: a CD outside guest RAM (stage-2 fault, CLASS CD) reaches the guest with the CD\'s IPA', () => {
    const { r, g, domid } = setup();
    g.reset();
    g.writeSte(SID, [(HOLE | 0xb) >>> 0, 0, 0xd6]); // S1 STE, S1ContextPtr in the hole
    g.submit(g.cmd('CFGI_STE', { sid: SID, leaf: 1 }), g.cmd('SYNC'));
    g.events();
    expect(dma(r, 0x1000)).toBe(false);
    const evs = g.events();
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({ type: EVT.F_CD_FETCH, sid: SID, fetchAddr: HOLE, s2: 0, inputLo: 0 });
    expect(r.xen.domain(domid).stats.eventsForwarded).toBe(1);
  });

  it('7.3.12 F_WALK_EABT: a stage-1 table outside guest RAM (stage-2 fault, CLASS TT) reaches the guest with the descriptor\'s IPA', () => {
    const { r, g } = setup();
    g.reset();
    g.attachS1(SID, 1);
    // The CD's TTB0 points into the hole: the level-0 descriptor of the IOVA is at HOLE + 8 * index.
    const cdAt = G.CDS + SID * 64;
    g.mem.store64(cdAt + 8, HOLE, 0); // CD dw1: TTB0
    g.submit(g.cmd('CFGI_CD', { sid: SID, ssid: 0, leaf: 1 }), g.cmd('SYNC'));
    g.events();
    const iova = 0x81_2345_6000; // level-0 index 1 (bits [47:39])
    expect(dma(r, iova, true)).toBe(false);
    const evs = g.events();
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({
      type: EVT.F_WALK_EABT, sid: SID, s2: 0, cls: CLASS.TT, rnw: 0, fetchAddr: HOLE + 8,
      inputLo: iova % 2 ** 32, inputHi: Math.floor(iova / 2 ** 32),
    });
  });

  it('a stage-2 fault on the final IPA (CLASS IN) stays with Xen', () => {
    const { r, g, domid } = setup();
    g.reset();
    g.attachS1(SID, 1);
    g.map(SID, 0x2000_0000, HOLE, 0x1000);
    g.events();
    expect(dma(r, 0x2000_0000)).toBe(false);
    expect(g.events()).toEqual([]);
    expect(r.xen.domain(domid).stats.s2Faults).toBe(1);
  });
});

describe('Xen statistics', () => {
  it('xenBugs of a destroyed domain stay counted for the life of the system', () => {
    const { r, domid } = setup();
    const v = r.xen.domain(domid).vsmmu;
    expect(v).not.toBeNull();
    if (v) v.stats.xenBugs += 2; // as if two internal failures had been caught in its vSMMU
    expect(r.xen.stats().xenBugs).toBe(2);
    r.xen.destroyDomain(domid);
    expect(r.xen.stats().xenBugs).toBe(2);
  });
});
