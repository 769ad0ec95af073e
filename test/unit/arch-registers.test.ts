import { describe, expect, it } from 'vitest';
import {
  definedMask, fieldMask, getField, getField32, R, reg, regAt, regContaining, REGISTERS, setField, setField32,
} from '../../src/arch/registers.ts';

// Offsets, widths and access written from FACTS §1.1/§1.2, independently of the table.
const EXPECTED: readonly [string, number, 32 | 64, string][] = [
  ['IDR0', 0x000, 32, 'RO'], ['IDR1', 0x004, 32, 'RO'], ['IDR2', 0x008, 32, 'RO'], ['IDR3', 0x00c, 32, 'RO'],
  ['IDR4', 0x010, 32, 'RO'], ['IDR5', 0x014, 32, 'RO'], ['IIDR', 0x018, 32, 'RO'], ['AIDR', 0x01c, 32, 'RO'],
  ['CR0', 0x020, 32, 'RW'], ['CR0ACK', 0x024, 32, 'RO'], ['CR1', 0x028, 32, 'RW'], ['CR2', 0x02c, 32, 'RW'],
  ['S2PII', 0x030, 64, 'RW'], ['STATUSR', 0x040, 32, 'RO'], ['GBPA', 0x044, 32, 'RW'], ['AGBPA', 0x048, 32, 'RW'],
  ['IRQ_CTRL', 0x050, 32, 'RW'], ['IRQ_CTRLACK', 0x054, 32, 'RO'], ['GERROR', 0x060, 32, 'RO'],
  ['GERRORN', 0x064, 32, 'RW'], ['GERROR_IRQ_CFG0', 0x068, 64, 'RW'], ['GERROR_IRQ_CFG1', 0x070, 32, 'RW'],
  ['GERROR_IRQ_CFG2', 0x074, 32, 'RW'], ['STRTAB_BASE', 0x080, 64, 'RW'], ['STRTAB_BASE_CFG', 0x088, 32, 'RW'],
  ['CMDQ_BASE', 0x090, 64, 'RW'], ['CMDQ_PROD', 0x098, 32, 'RW'], ['CMDQ_CONS', 0x09c, 32, 'RW'],
  ['EVENTQ_BASE', 0x0a0, 64, 'RW'], ['EVENTQ_IRQ_CFG0', 0x0b0, 64, 'RW'], ['EVENTQ_IRQ_CFG1', 0x0b8, 32, 'RW'],
  ['EVENTQ_IRQ_CFG2', 0x0bc, 32, 'RW'], ['PRIQ_BASE', 0x0c0, 64, 'RW'], ['PRIQ_IRQ_CFG0', 0x0d0, 64, 'RW'],
  ['PRIQ_IRQ_CFG1', 0x0d8, 32, 'RW'], ['PRIQ_IRQ_CFG2', 0x0dc, 32, 'RW'],
  ['EVENTQ_PROD', 0x100a8, 32, 'RW'], ['EVENTQ_CONS', 0x100ac, 32, 'RW'],
  ['PRIQ_PROD', 0x100c8, 32, 'RW'], ['PRIQ_CONS', 0x100cc, 32, 'RW'],
];

describe('register map', () => {
  it('has every FACTS register at its offset with its width and access', () => {
    for (const [name, offset, width, access] of EXPECTED) {
      const r = regAt(offset);
      expect(r?.name, name).toBe(name);
      expect(r?.width, name).toBe(width);
      expect(r?.access, name).toBe(access);
      expect((R as Record<string, number>)[name]).toBe(offset);
    }
  });

  it('has no overlapping registers and aligned offsets', () => {
    const spans = REGISTERS.map((r) => [r.offset, r.offset + r.width / 8] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    for (const r of REGISTERS) expect(r.offset % (r.width / 8)).toBe(0);
  });

  it('fields of every register fit its width and do not overlap', () => {
    for (const r of REGISTERS) {
      let seen = 0n;
      for (const f of r.fields) {
        expect(f.msb).toBeLessThan(r.width);
        expect(f.lsb).toBeLessThanOrEqual(f.msb);
        const m = ((1n << BigInt(f.msb - f.lsb + 1)) - 1n) << BigInt(f.lsb);
        expect(seen & m, `${r.name}.${f.name}`).toBe(0n);
        seen |= m;
      }
    }
  });

  it('resolves high halves of 64-bit registers', () => {
    expect(regContaining(0x84)).toEqual({ reg: reg('STRTAB_BASE'), high: true });
    expect(regContaining(0x80)?.high).toBe(false);
    expect(regContaining(0x8c)).toBeUndefined(); // reserved after STRTAB_BASE_CFG
    expect(regContaining(0x24)?.reg.name).toBe('CR0ACK'); // a 32-bit neighbour is not a high half
    expect(regAt(0x0a8)).toBeUndefined(); // optional page-0 alias: left to the SMMU model
  });

  it('field positions of §1.8-§1.17', () => {
    expect(getField32('CMDQ_CONS', 'ERR', 0x7f0fffff)).toBe(0x7f);
    expect(getField32('CMDQ_CONS', 'RD', 0x7f0fffff)).toBe(0xfffff);
    expect(getField32('EVENTQ_PROD', 'OVFLG', 0x80000000)).toBe(1);
    expect(getField32('EVENTQ_CONS', 'OVACKFLG', 0x80000000)).toBe(1);
    expect(getField32('STRTAB_BASE_CFG', 'FMT', 0x10000 | (8 << 6) | 16)).toBe(1);
    expect(getField32('STRTAB_BASE_CFG', 'SPLIT', 0x10000 | (8 << 6) | 16)).toBe(8);
    expect(getField32('GBPA', 'UPDATE', 0x80100000)).toBe(1);
    expect(getField32('GBPA', 'ABORT', 0x80100000)).toBe(1);
    expect(getField32('GBPA', 'SHCFG', 0x1000)).toBe(1);
    expect(getField32('CR1', 'TABLE_SH', 0xd75)).toBe(3); // Linux's CR1
    expect(getField32('CR1', 'QUEUE_IC', 0xd75)).toBe(1);
    expect(definedMask('CR0')).toBe(0x5df);
    expect(definedMask('GERROR')).toBe(0x7fd);
    expect(definedMask('IRQ_CTRL')).toBe(0x7);
    expect(definedMask('CR2')).toBe(0xf);
  });

  it('64-bit fields straddling bit 32', () => {
    // STRTAB_BASE: ADDR [55:6], RA [62]
    const lo = 0x12345640, hi = 0x40000089;
    expect(getField('STRTAB_BASE', 'ADDR', lo, hi) * 64).toBe(0x8912345640);
    expect(getField('STRTAB_BASE', 'RA', lo, hi)).toBe(1);
    expect(setField('STRTAB_BASE', 'ADDR', 0, 0x40000000, 0x8912345640 / 64)).toEqual([0x12345640, 0x40000089]);
    // CMDQ_BASE LOG2SIZE [4:0], ADDR [55:5]
    expect(getField('CMDQ_BASE', 'LOG2SIZE', 0x8000000a, 0)).toBe(10);
    expect(getField('CMDQ_BASE', 'ADDR', 0x8000000a, 0) * 32).toBe(0x80000000);
    expect(fieldMask('CMDQ_BASE', 'ADDR')).toBe(0xffffffe0);
    expect(fieldMask('CMDQ_BASE', 'ADDR', true)).toBe(0x00ffffff);
    expect(fieldMask('CMDQ_BASE', 'RA', true)).toBe(0x40000000);
    expect(fieldMask('CMDQ_BASE', 'RA')).toBe(0);
    expect(() => fieldMask('CMDQ_BASE', 'WA')).toThrow(); // CMDQ has RA, not WA: a caller bug
  });

  it('sets 32-bit fields', () => {
    expect(setField32('CR0', 'CMDQEN', 0x1, 1)).toBe(0x9);
    expect(setField32('CMDQ_CONS', 'ERR', 0x12, 1)).toBe(0x01000012);
  });
});

describe('field masks (one vocabulary)', () => {
  it('names every bit the SMMU, Xen and the guest use from the register tables', async () => {
    const { CR0, CR2, GBPA, GERROR, IRQ_CTRL, fieldMasks } = await import('../../src/arch/registers.ts');
    expect(CR0).toMatchObject({ SMMUEN: 1, PRIQEN: 2, EVENTQEN: 4, CMDQEN: 8, ATSCHK: 16, VMW: 0x1c0 });
    expect(CR2).toEqual({ E2H: 1, RECINVSID: 2, PTM: 4, REC_CFG_ATS: 8 });
    expect(GBPA.ABORT).toBe(0x0010_0000);
    expect(GBPA.UPDATE).toBe(0x8000_0000);
    expect(GERROR).toMatchObject({ CMDQ_ERR: 1, EVENTQ_ABT_ERR: 4, MSI_GERROR_ABT_ERR: 0x80, SFM_ERR: 0x100 });
    expect(IRQ_CTRL).toEqual({ GERROR_IRQEN: 1, PRIQ_IRQEN: 2, EVENTQ_IRQEN: 4 });
    expect(fieldMasks('EVENTQ_PROD')).toEqual({ WR: 0xfffff, OVFLG: 0x8000_0000 });
  });
});
