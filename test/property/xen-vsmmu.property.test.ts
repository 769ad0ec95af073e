// Hostile guest, property-based: random MMIO writes (any offset, size, value), random guest
// memory contents (stream table, CDs, queues) and random commands against a vSMMU in front of
// the real SMMU core. Xen and the SMMU must keep answering, never count an internal bug, and
// never install a physical STE that escapes Xen's stage 2 (no bypass, no stage-1-only, no
// foreign VMID or S2TTB), nor forward a command the physical SMMU finds illegal.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { R } from '../../src/arch/registers.ts';
import { STE_CFG, steConfigOf } from '../../src/arch/ste.ts';
import { XlateOut } from '../../src/smmu/translate.ts';
import { GUEST_VSMMUV3_BASE } from '../../src/xen/layout.ts';
import { GUEST_STE_ALLOWED } from '../../src/xen/vsmmuv3-ste.ts';
import { G } from '../support/xen-guest.ts';
import { domCfg, xenRig } from '../support/xen-rig.ts';

const SIDS = [0x10, 0x11];
const REG_OFFS = [
  R.CR0, R.CR1, R.CR2, R.GBPA, R.IRQ_CTRL, R.GERRORN, R.STRTAB_BASE, R.STRTAB_BASE + 4, R.STRTAB_BASE_CFG,
  R.CMDQ_BASE, R.CMDQ_BASE + 4, R.CMDQ_PROD, R.CMDQ_CONS, R.EVENTQ_BASE, R.EVENTQ_BASE + 4, R.EVENTQ_PROD,
  R.EVENTQ_CONS, R.GERROR_IRQ_CFG0, R.EVENTQ_IRQ_CFG0, R.EVENTQ_IRQ_CFG1,
];
const REGIONS = [G.STRTAB, G.CMDQ, G.EVTQ, G.CDS, G.HEAP];

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const action = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('reg' as const), off: fc.constantFrom(...REG_OFFS), v: u32 }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mmio' as const), off: fc.integer({ min: 0, max: 0x3ffff }), size: fc.constantFrom(1, 2, 4, 8), v: u32 }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('mem' as const), region: fc.constantFrom(...REGIONS), at: fc.integer({ min: 0, max: 0x3fff }), lo: u32, hi: u32 }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('cmd' as const), op: fc.oneof(fc.constantFrom(0x01, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x13, 0x30, 0x46), fc.integer({ min: 0, max: 255 })), w: fc.array(u32, { minLength: 4, maxLength: 4 }), sid: fc.constantFrom(0x10, 0x11, 0x12, 0xffff_ffff) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('ste' as const), sid: fc.constantFrom(...SIDS), cfg: fc.constantFrom(0, 4, 5, 5, 5, 6, 7), w: fc.array(u32, { minLength: 3, maxLength: 3 }), junk: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('dma' as const), sid: fc.constantFrom(...SIDS), iova: fc.integer({ min: 0, max: 2 ** 40 }) }) },
);

describe('vSMMU under random guest input', () => {
  it('keeps Xen and the SMMU answering and the physical STEs inside Xen\'s stage 2', () => {
    const seen: number[] = [];
    const property = fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => {
        const r = xenRig();
        const x = r.xen;
        const info = x.createDomain(domCfg('p', SIDS.map((sid) => ({ sid }))));
        const dom = x.domain(info.domid);
        const s2 = dom.p2m.s2Ste(dom.vmid, x.phys);
        const out = { lo: 0, hi: 0 };
        const xo = new XlateOut();
        let prod = 0;
        // Start from a working configuration so random input reaches the deeper paths.
        const reg = (off: number, v: number): boolean => x.mmio(info.domid, true, 4, GUEST_VSMMUV3_BASE + off, v, 0, out);
        reg(R.STRTAB_BASE, G.STRTAB);
        reg(R.STRTAB_BASE_CFG, 8);
        reg(R.CMDQ_BASE, G.CMDQ + 8);
        reg(R.EVENTQ_BASE, G.EVTQ + 6);
        reg(R.IRQ_CTRL, 5);
        reg(R.CR0, 0xd);
        for (const a of actions) {
          switch (a.k) {
            case 'reg':
              reg(a.off, a.v);
              break;
            case 'mmio':
              x.mmio(info.domid, (a.v & 1) === 1, a.size, GUEST_VSMMUV3_BASE + a.off, a.v, a.v ^ 0x5a5a5a5a, out);
              break;
            case 'mem':
              dom.ram.store64(a.region + (a.at & ~7), a.lo, a.hi);
              break;
            case 'cmd': {
              const at = G.CMDQ + (prod & 255) * 16;
              dom.ram.store64(at, ((a.w[0] ?? 0) & ~0xff) | a.op, a.sid === 0xffff_ffff ? (a.w[1] ?? 0) : a.sid);
              dom.ram.store64(at + 8, a.w[2] ?? 0, a.w[3] ?? 0);
              prod = (prod + 1) & 511;
              reg(R.CMDQ_PROD, prod);
              break;
            }
            case 'ste': {
              // A mostly-legal STE: random allowed fields, V = 1, chosen Config.
              const w = a.w.map((v, i) => (a.junk ? v : v & (GUEST_STE_ALLOWED[i] ?? 0)) >>> 0);
              w[0] = ((w[0]! & ~0xf) | 1 | (a.cfg << 1)) >>> 0;
              w[1] = (w[1]! & 0x0000_00ff) >>> 0; // keep the CD pointer inside the IPA space
              if (!a.junk) w[2] = (w[2]! & ~(3 << 28) & ~(1 << 27)) >>> 0; // EATS/S1STALLD legal
              const at = G.STRTAB + a.sid * 64;
              for (let i = 0; i < 8; i++) dom.ram.store64(at + 8 * i, w[2 * i] ?? 0, w[2 * i + 1] ?? 0);
              const c = G.CMDQ + (prod & 255) * 16;
              dom.ram.store64(c, 0x03, a.sid);
              dom.ram.store64(c + 8, 1, 0);
              prod = (prod + 1) & 511;
              reg(R.CMDQ_PROD, prod);
              break;
            }
            case 'dma':
              r.smmu.translator.translate(a.sid, false, 0, Math.floor(a.iova / 2 ** 32), a.iova >>> 0, 0, xo);
              break;
          }
          for (let i = 0; i < 4 && x.pump(); i++);
          r.smmu.step();
        }
        // Still answering: Xen's vSMMU and the SMMU's registers.
        expect(x.mmio(info.domid, false, 4, GUEST_VSMMUV3_BASE + R.IDR0, 0, 0, out)).toBe(true);
        expect(out.lo & 3).toBe(2);
        expect(r.port.read32(R.CR0ACK)).toBe(0xd);
        expect(x.stats().xenBugs).toBe(0);
        // Xen never forwarded anything the hardware finds illegal.
        expect(r.smmu.stats().commands.errors).toEqual({ ill: 0, abt: 0 });
        for (const sid of SIDS) {
          const ste = x.driver.readSte(sid);
          const cfg = steConfigOf(ste);
          if ((ste[0]! & 1) === 0 || cfg < STE_CFG.BYPASS) continue; // invalid or abort
          seen[cfg] = (seen[cfg] ?? 0) + 1;
          expect(cfg === STE_CFG.S2 || cfg === STE_CFG.NESTED).toBe(true);
          for (let i = 3; i < 16; i++) if (i !== 2) expect(ste[i]).toBe(s2[i]); // Xen's S2 words
          expect(ste[2]! & ~0x0800_00ff & ~(1 << 19)).toBe(s2[2]! & ~0x0800_00ff & ~(1 << 19));
        }
        x.destroyDomain(info.domid);
        expect(x.stats().vmidsInUse).toBe(0);
      });
    fc.assert(property, { numRuns: 40 });
    // The runs reached both kinds of installed STE, not only rejections; a seeded run of the
    // same property makes that coverage deterministic rather than left to chance.
    fc.assert(property, { numRuns: 40, seed: 20261123 });
    expect(seen[STE_CFG.NESTED]).toBeGreaterThan(0);
    expect(seen[STE_CFG.S2]).toBeGreaterThan(0);
  });
});
