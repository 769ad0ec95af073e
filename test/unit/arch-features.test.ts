import { describe, expect, it } from 'vitest';
import { decodeIdRegs, DEFAULT_FEATURES, encodeIdRegs, oasBitsOf, oasEncoding } from '../../src/arch/features.ts';

describe('features / ID registers', () => {
  it('DEFAULT_FEATURES encodes to hand-computed ID registers (FACTS §1.3-§1.7)', () => {
    const r = encodeIdRegs(DEFAULT_FEATURES);
    // S2P|S1P, TTF=2, COHACC, ASID16, MSI, SEV, VMID16, CD2L, TTENDIAN=2, STALL_MODEL=1,
    // TERM_MODEL=1, ST_LEVEL=1
    expect(r.idr0 >>> 0).toBe(0x0d4c701b);
    // SIDSIZE 16, SSIDSIZE 8, PRIQS 8, EVENTQS 10, CMDQS 10
    expect(r.idr1 >>> 0).toBe(0x014a4210);
    expect(r.idr2).toBe(0);
    expect(r.idr3).toBe(0x400); // RIL
    expect(r.idr5).toBe(0x75); // OAS 48, GRAN4K/16K/64K
    expect(r.aidr).toBe(2);
    expect(r.iidr).toBe(0x43b);
  });

  it('decodes what it encodes', () => {
    expect(decodeIdRegs(encodeIdRegs(DEFAULT_FEATURES))).toEqual(DEFAULT_FEATURES);
    const f = { ...DEFAULT_FEATURES, s1: false, hyp: true, oas: 44, stallModel: 0, httu: 3, vax: 1, stallMax: 0x80 };
    expect(decodeIdRegs(encodeIdRegs(f))).toEqual(f);
  });

  it('decodes a QEMU-like IDR set', () => {
    // QEMU: S1P, TTF=2, COHACC, ASID16, VMID16, TTENDIAN 2, STALL_MODEL 1, TERM_MODEL 1, ST_LEVEL 1
    const f = decodeIdRegs({ idr0: 0x0d44101a, idr1: 0x0273_0010, idr2: 0, idr3: 0x1404, idr4: 0, idr5: 0x74, iidr: 0, aidr: 1 });
    expect(f.s1).toBe(true);
    expect(f.s2).toBe(false);
    expect(f.msi).toBe(false);
    expect(f.sidBits).toBe(16);
    expect(f.cmdqLog2).toBe(19);
    expect(f.evtqLog2).toBe(19);
    expect(f.oas).toBe(44);
    expect(f.ril).toBe(true);
    expect(f.had).toBe(true);
    expect(f.bbml).toBe(2);
  });

  it('address size encodings', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(oasBitsOf)).toEqual([32, 36, 40, 42, 44, 48, 52, 56]);
    expect(oasEncoding(48)).toBe(5);
    expect(oasEncoding(52)).toBe(6);
    expect(oasEncoding(32)).toBe(0);
  });
});
