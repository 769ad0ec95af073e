// Hand-built descriptors, checked bit by bit against FACTS §6.3/§7 (independent of the
// reference walker and of PageTable).

import { beforeEach, describe, expect, it } from 'vitest';
import { cdOf } from '../../src/arch/cd.ts';
import { CLASS, EVT } from '../../src/arch/events.ts';
import { DEFAULT_FEATURES } from '../../src/arch/features.ts';
import { steOf } from '../../src/arch/ste.ts';
import { ACC_INSTR, ACC_PRIV, ACC_WRITE } from '../../src/arch/types.ts';
import {
  PERM_ALL, PERM_PR, PERM_PW, PERM_PX, PERM_UR, PERM_UW, PERM_UX, permAllows, s1Cfg, s1CfgFromCd, s2Cfg,
  s2CfgFromSte, Walker, WalkResult, type S1Params, type S2Params,
} from '../../src/arch/walk.ts';
import { PhysMemory } from '../../src/mem/phys.ts';

const mem = PhysMemory.create(4 << 20);
const res = new WalkResult();
let w = new Walker({ oas: 48 });

const put = (pa: number, lo: number, hi = 0): void => void mem.store64(pa, lo >>> 0, hi >>> 0);
const TABLE = 3;
const PAGE = 0x403; // page/table type + AF
const BLOCK = 0x401;

function p1(p: Partial<S1Params> = {}): S1Params {
  return {
    gran0: 12, gran1: 0, tsz0: 16, tsz1: 16, ttb0: 0x1000, ttb1: 0, epd0: false, epd1: true,
    tbi0: false, tbi1: false, had0: false, had1: false, ips: 48, affd: false, ha: false, hd: false,
    wxn: false, uwxn: false, pan: false, endi: false, lpa: false, vax: false, ...p,
  };
}
function p2(p: Partial<S2Params> = {}): S2Params {
  return {
    gran: 12, t0sz: 24, sl0: 1, ttb: 0x20000, ps: 48, affd: false, ha: false, hd: false, ptw: false,
    fwb: false, endi: false, lpa: false, xnx: false, oas: 48, ...p,
  };
}

// VA with index 1 at L0, 2 at L1, 3 at L2, 4 at L3 (4K granule), page offset 0xabc.
const VA_HI = 0x80; // bit 39
const VA_LO = ((2 << 30) | (3 << 21) | (4 << 12) | 0xabc) >>> 0;

/** 4K, 4 levels: L0 0x1000 -> L1 0x2000 -> L2 0x3000 -> L3 0x4000 -> page 0x10_0000. */
function build4k(leafLo = PAGE | 0x40, leafHi = 0): void {
  put(0x1000 + 1 * 8, 0x2000 | TABLE);
  put(0x2000 + 2 * 8, 0x3000 | TABLE);
  put(0x3000 + 3 * 8, 0x4000 | TABLE);
  put(0x4000 + 4 * 8, 0x100000 | leafLo, leafHi);
}

function fault(): Record<string, number> {
  const f = res.fault;
  return { type: f.type, s2: f.s2, cls: f.cls, level: f.level };
}

beforeEach(() => {
  mem.fill(0, mem.size, 0);
  w = new Walker({ oas: 48 });
});

describe('stage 1, 4K granule', () => {
  it('walks 4 levels to a page: PA, size, permissions, reads', () => {
    build4k();
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(res.pa).toBe(0x100abc);
    expect(res.size).toBe(12);
    expect(res.s1level).toBe(3);
    expect(w.reads).toBe(4);
    // AP = 01 (RW at both levels), XN clear, no WXN: everything but privileged execute
    // (an EL0-writable page is never privileged-executable).
    expect(res.perm).toBe(PERM_ALL & ~PERM_PX);
    expect(res.nG).toBe(0);
  });

  it('2 MiB block at level 2 and 1 GiB block at level 1', () => {
    build4k();
    put(0x3000 + 3 * 8, 0x4000_0000 | (1 << 20) | BLOCK | 0x40 | 0x800); // OA bits below 2M ignored
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(res.pa).toBe(0x4000_0000 + (4 << 12) + 0xabc);
    expect(res.size).toBe(21);
    expect(res.nG).toBe(1);
    put(0x2000 + 2 * 8, 0x8000_0000 | BLOCK);
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, ACC_PRIV, res)).toBe(true);
    expect(res.pa).toBe(0x8000_0000 + (3 << 21) + (4 << 12) + 0xabc);
    expect(res.size).toBe(30);
  });

  it('block at level 0 and 01 at level 3 are translation faults at that level', () => {
    put(0x1000 + 1 * 8, BLOCK);
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 0, cls: CLASS.IN, level: 0 });
    build4k(BLOCK | 0x40);
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 0, cls: CLASS.IN, level: 3 });
  });

  it('invalid descriptor at each level', () => {
    for (const [level, pa] of [[0, 0x1008], [1, 0x2010], [2, 0x3018], [3, 0x4020]] as const) {
      build4k();
      put(pa, 0x2000 | 2); // bit 0 clear
      expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, 0, res)).toBe(false);
      expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 0, cls: CLASS.IN, level });
    }
  });

  it('access flag: F_ACCESS unless AFFD; HA (not implemented) uses the page as if AF were set', () => {
    build4k(TABLE | 0x40);
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_ACCESS, s2: 0, cls: CLASS.IN, level: 3 });
    expect(w.translate(s1Cfg(p1({ affd: true })), null, mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(w.translate(s1Cfg(p1({ ha: true })), null, mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(mem.read64(0x4020) & 0x400n).toBe(0n); // not written back
  });

  it('address size: table and output addresses above the effective IPS', () => {
    build4k();
    put(0x2000 + 2 * 8, 0x3000 | TABLE, 0x100); // table at 2^40 + 0x3000
    expect(w.translate(s1Cfg(p1({ ips: 40 })), null, mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_ADDR_SIZE, s2: 0, cls: CLASS.IN, level: 1 });
    build4k(PAGE | 0x40, 0x10); // output 2^36 + 0x100000
    expect(w.translate(s1Cfg(p1({ ips: 36 })), null, mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_ADDR_SIZE, s2: 0, cls: CLASS.IN, level: 3 });
    expect(w.translate(s1Cfg(p1({ ips: 40 })), null, mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(res.pa).toBe(2 ** 36 + 0x100abc);
    // Descriptor bits [51:48] are not address bits with 4K (RES0, ignored).
    build4k(PAGE | 0x40, 0x000f_0000);
    expect(w.translate(s1Cfg(p1({ ips: 48 })), null, mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(res.pa).toBe(0x100abc);
  });

  it('TTB above the output size is an address-size fault at level 0; TTB low bits are ignored', () => {
    build4k();
    expect(w.translate(s1Cfg(p1({ ttb0: 2 ** 40, ips: 40 })), null, mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_ADDR_SIZE, s2: 0, cls: CLASS.IN, level: 0 });
    expect(w.translate(s1Cfg(p1({ ttb0: 0x1ff0 })), null, mem, VA_HI, VA_LO, 0, res)).toBe(true);
  });

  it('external abort on a descriptor read reports FetchAddr and CLASS TT', () => {
    build4k();
    put(0x3000 + 3 * 8, 0x1_0000_0000 / 2 | TABLE); // 2 GiB: outside the 4 MiB memory
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, ACC_WRITE, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_WALK_EABT, s2: 0, cls: CLASS.TT, level: 3 });
    expect(res.fault.fetchAddr).toBe(0x8000_0000 + 4 * 8);
    expect(res.fault.rnw).toBe(0);
  });

  it('input range: TxSZ, TBI, VA[55] selects TTB1, EPD', () => {
    build4k();
    const c = s1Cfg(p1());
    // bit 48 set: outside a 48-bit TTB0 range
    expect(w.translate(c, null, mem, VA_HI | 0x10000, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 0, cls: CLASS.IN, level: 0 });
    // top byte set: fault without TBI0, ignored with it
    expect(w.translate(c, null, mem, VA_HI | 0x5a000000, VA_LO, 0, res)).toBe(false);
    expect(w.translate(s1Cfg(p1({ tbi0: true })), null, mem, VA_HI | 0x5a000000, VA_LO, 0, res)).toBe(true);
    expect(res.pa).toBe(0x100abc);
    // TTB1: VA = 0xffff_xxxx...: EPD1 faults; enabled with TG1 = 4K encoding works
    const hi1 = (0xffff0000 | VA_HI) >>> 0;
    expect(w.translate(c, null, mem, hi1, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 0, cls: CLASS.IN, level: 0 });
    const c1 = s1Cfg(p1({ gran1: 12, epd1: false, ttb1: 0x1000, epd0: true }));
    expect(w.translate(c1, null, mem, hi1, VA_LO, 0, res)).toBe(true);
    expect(res.pa).toBe(0x100abc);
    expect(w.translate(c1, null, mem, VA_HI, VA_LO, 0, res)).toBe(false); // EPD0
    // bits above the range not all equal to VA[55]
    expect(w.translate(c1, null, mem, (0xfeff0000 | VA_HI) >>> 0, VA_LO, 0, res)).toBe(false);
  });

  it('small TxSZ range: 4K with T0SZ 39 starts at level 2 with a 16-entry... 8-bit table', () => {
    // T0SZ = 39: 25-bit VA, start level 2 indexes VA[24:21] (16 entries).
    put(0x1000 + 5 * 8, 0x4000 | TABLE);
    put(0x4000 + 7 * 8, 0x200000 | PAGE | 0x40);
    const c = s1Cfg(p1({ tsz0: 39 }));
    expect(c.start0).toBe(2);
    expect(w.translate(c, null, mem, 0, (5 << 21) | (7 << 12) | 1, 0, res)).toBe(true);
    expect(res.pa).toBe(0x200001);
    expect(w.translate(c, null, mem, 0, 1 << 25, 0, res)).toBe(false);
  });

  it('big-endian descriptors (ENDI)', () => {
    const be = (pa: number, lo: number): void => {
      const v = BigInt(lo >>> 0);
      let r = 0n;
      for (let i = 0; i < 8; i++) r |= ((v >> BigInt(8 * i)) & 0xffn) << BigInt(8 * (7 - i));
      mem.write64(pa, r);
    };
    be(0x1000 + 1 * 8, 0x2000 | TABLE);
    be(0x2000 + 2 * 8, 0x3000 | TABLE);
    be(0x3000 + 3 * 8, 0x4000 | TABLE);
    be(0x4000 + 4 * 8, 0x100000 | PAGE | 0x40);
    expect(w.translate(s1Cfg(p1({ endi: true })), null, mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(res.pa).toBe(0x100abc);
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, 0, res)).toBe(false);
  });
});

describe('stage-1 permissions', () => {
  const cases: Array<[string, number, number, number, Partial<S1Params>, number]> = [
    // name, leaf lo bits (AP etc), leaf hi, table hi (L2 table descriptor), params, expected perm
    ['AP 00: privileged RW only', 0, 0, 0, {}, PERM_PR | PERM_PW | PERM_PX | PERM_UX],
    ['AP 01: RW both, no privileged exec', 0x40, 0, 0, {}, PERM_ALL & ~PERM_PX],
    ['AP 10: privileged RO', 0x80, 0, 0, {}, PERM_PR | PERM_PX | PERM_UX],
    ['AP 11: RO both', 0xc0, 0, 0, {}, PERM_UR | PERM_PR | PERM_UX | PERM_PX],
    ['UXN|PXN', 0xc0, 3 << 21, 0, {}, PERM_UR | PERM_PR],
    ['APTable 01 removes unprivileged access', 0x40, 0, 1 << 29, {}, PERM_PR | PERM_PW | PERM_PX | PERM_UX],
    ['APTable 10 removes write', 0x40, 0, 2 << 29, {}, PERM_UR | PERM_PR | PERM_UX | PERM_PX],
    ['APTable ignored with HAD', 0x40, 0, 3 << 29, { had0: true }, PERM_ALL & ~PERM_PX],
    ['XNTable, PXNTable', 0, 0, 3 << 27, {}, PERM_PR | PERM_PW],
    ['WXN: writable is not executable', 0, 0, 0, { wxn: true }, PERM_PR | PERM_PW | PERM_UX],
    ['PAN: privileged data access to EL0-accessible page', 0xc0, 0, 0, { pan: true }, PERM_UR | PERM_UX | PERM_PX],
  ];
  for (const [name, lo, hi, thi, p, perm] of cases) {
    it(name, () => {
      build4k(PAGE | lo, hi);
      put(0x3000 + 3 * 8, 0x4000 | TABLE, thi);
      const ok = w.translate(s1Cfg(p1(p)), null, mem, VA_HI, VA_LO, ACC_PRIV, res);
      if (perm & PERM_PR) {
        expect(ok).toBe(true);
        expect(res.perm).toBe(perm);
      }
      for (const acc of [0, ACC_WRITE, ACC_INSTR, ACC_PRIV, ACC_PRIV | ACC_WRITE, ACC_PRIV | ACC_INSTR]) {
        const allowed = permAllows(perm, acc);
        expect(w.translate(s1Cfg(p1(p)), null, mem, VA_HI, VA_LO, acc, res), `acc ${acc}`).toBe(allowed);
        if (!allowed) expect(fault()).toEqual({ type: EVT.F_PERMISSION, s2: 0, cls: CLASS.IN, level: 3 });
      }
    });
  }

  it('fault record carries RnW, InD, PnU and the input address', () => {
    build4k(PAGE | 0xc0, 3 << 21);
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, ACC_INSTR | ACC_PRIV, res)).toBe(false);
    expect(res.fault).toMatchObject({ type: EVT.F_PERMISSION, rnw: 1, ind: 1, pnu: 1, inputHi: VA_HI, inputLo: VA_LO, ttrnw: 0 });
    expect(w.translate(s1Cfg(p1()), null, mem, VA_HI, VA_LO, ACC_WRITE | ACC_INSTR, res)).toBe(false);
    expect(res.fault).toMatchObject({ rnw: 0, ind: 0, pnu: 0 }); // InD is 0 for writes
  });
});

describe('16K and 64K granules', () => {
  it('16K: 4 levels from T0SZ 16 (L0 has 2 entries); no L1 block', () => {
    // VA[47] = 1, L1 idx 3 (VA[46:36]), L2 idx 5 (VA[35:25]), L3 idx 7 (VA[24:14])
    const hi = 0x8000 | (3 << 4); // bit 47 and bits 37:36 -> L1 index 3
    const lo = ((5 << 25) | (7 << 14) | 0x123) >>> 0;
    put(0x4000 + 8, 0x8000 | TABLE);
    put(0x8000 + 3 * 8, 0xc000 | TABLE);
    put(0xc000 + 5 * 8, 0x10000 | TABLE);
    put(0x10000 + 7 * 8, 0x200000 | PAGE | 0x40);
    const c = s1Cfg(p1({ gran0: 14, ttb0: 0x4000 }));
    expect(c.start0).toBe(0);
    expect(w.translate(c, null, mem, hi, lo, 0, res)).toBe(true);
    expect(res.pa).toBe(0x200123);
    expect(res.size).toBe(14);
    put(0x8000 + 3 * 8, 0x200000 | BLOCK);
    expect(w.translate(c, null, mem, hi, lo, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 0, cls: CLASS.IN, level: 1 });
    put(0xc000 + 5 * 8, 0x4000000 | BLOCK | 0x40); // 32 MiB block
    put(0x8000 + 3 * 8, 0xc000 | TABLE);
    expect(w.translate(c, null, mem, hi, lo, 0, res)).toBe(true);
    expect(res.pa).toBe(0x4000000 + (7 << 14) + 0x123);
    expect(res.size).toBe(25);
  });

  it('64K: 3 levels from L1; L1 block and OA[51:48] only with 52-bit PAs', () => {
    // L1 idx VA[47:42] = 2, L2 idx VA[41:29] = 3, L3 idx VA[28:16] = 4
    const hi = 2 << 10;
    const lo = ((3 << 29) | (4 << 16) | 0x1234) >>> 0;
    put(0x10000 + 2 * 8, 0x20000 | TABLE);
    put(0x20000 + 3 * 8, 0x30000 | TABLE);
    put(0x30000 + 4 * 8, 0x100000 | PAGE | 0x40 | (0x5 << 12)); // bits [15:12] = OA[51:48] with LPA
    const c = s1Cfg(p1({ gran0: 16, ttb0: 0x10000 }));
    expect(c.start0).toBe(1);
    expect(w.translate(c, null, mem, hi, lo, 0, res)).toBe(true);
    expect(res.pa).toBe(0x101234);
    const c52 = s1Cfg(p1({ gran0: 16, ttb0: 0x10000, ips: 52, lpa: true }));
    expect(w.translate(c52, null, mem, hi, lo, 0, res)).toBe(true);
    expect(res.pa).toBe(5 * 2 ** 48 + 0x101234);
    // 4 TiB block at L1
    put(0x10000 + 2 * 8, BLOCK | 0x40);
    expect(w.translate(c, null, mem, hi, lo, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 0, cls: CLASS.IN, level: 1 });
    expect(w.translate(c52, null, mem, hi, lo, 0, res)).toBe(true);
    expect(res.size).toBe(42);
    expect(res.pa).toBe(3 * 2 ** 29 + 4 * 2 ** 16 + 0x1234); // block at OA 0: offset VA[41:0]
  });
});

describe('stage 2', () => {
  it('start level from S2SL0 and concatenated first-level tables (4K, L1, S2T0SZ 24: 2 pages)', () => {
    const c = s2Cfg(p2());
    expect(c.start).toBe(1);
    expect(c.concat).toBe(2);
    // IPA bit 39 selects the second concatenated page: index 512 + 1
    put(0x20000 + (512 + 1) * 8, 0x30000 | TABLE);
    put(0x30000 + 2 * 8, 0x40000 | TABLE);
    put(0x40000 + 3 * 8, 0x300000 | PAGE | 0xc0);
    const ipaHi = 0x80;
    const ipaLo = ((1 << 30) | (2 << 21) | (3 << 12) | 0x10) >>> 0;
    expect(w.translate(null, c, mem, ipaHi, ipaLo, ACC_WRITE, res)).toBe(true);
    expect(res.pa).toBe(0x300010);
    expect(res.s2perm).toBe(PERM_UR | PERM_UW | PERM_PR | PERM_PW | PERM_UX | PERM_PX);
  });

  it('S2AP, XN and their faults (S2 = 1, CLASS IN, IPA)', () => {
    put(0x20000 + 1 * 8, 0x30000 | TABLE);
    put(0x30000 + 2 * 8, 0x40000 | TABLE);
    put(0x40000 + 3 * 8, 0x300000 | PAGE | 0x40, 1 << 22); // read-only, XN
    const ipaLo = ((1 << 30) | (2 << 21) | (3 << 12) | 0x10) >>> 0;
    const c = s2Cfg(p2());
    expect(w.translate(null, c, mem, 0, ipaLo, 0, res)).toBe(true);
    expect(w.translate(null, c, mem, 0, ipaLo, ACC_WRITE, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_PERMISSION, s2: 1, cls: CLASS.IN, level: 3 });
    expect(res.fault.ipa).toBe(ipaLo);
    expect(w.translate(null, c, mem, 0, ipaLo, ACC_INSTR, res)).toBe(false);
    // With IDR3.XNX, XN[1:0] = 10... here XN[1] = 1, XN[0] = 0: neither level may execute.
    expect(w.translate(null, s2Cfg(p2({ xnx: true })), mem, 0, ipaLo, ACC_INSTR | ACC_PRIV, res)).toBe(false);
    put(0x40000 + 3 * 8, 0x300000 | PAGE | 0x40, 3 << 21); // XN[1:0] = 11: EL0 never
    expect(w.translate(null, s2Cfg(p2({ xnx: true })), mem, 0, ipaLo, ACC_INSTR | ACC_PRIV, res)).toBe(true);
    expect(w.translate(null, s2Cfg(p2({ xnx: true })), mem, 0, ipaLo, ACC_INSTR, res)).toBe(false);
  });

  it('input range (IPA >= 2^(64 - S2T0SZ)) and stage-1 bypass above IAS', () => {
    const c = s2Cfg(p2({ t0sz: 25 }));
    expect(w.translate(null, c, mem, 0x80, 0, 0, res)).toBe(false); // 2^39
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 1, cls: CLASS.IN, level: 0 });
    expect(res.fault.ipa).toBe(2 ** 39);
    expect(w.translate(null, c, mem, 0x10000, 0, 0, res)).toBe(false); // 2^48 >= IAS 48
    expect(fault()).toEqual({ type: EVT.F_ADDR_SIZE, s2: 0, cls: CLASS.IN, level: 0 });
  });

  it('an inconsistent S2SL0/S2T0SZ faults every walk', () => {
    const c = s2Cfg(p2({ t0sz: 24, sl0: 0 })); // 4K L2 start cannot resolve 40 bits
    expect(c.start).toBe(-1);
    expect(w.translate(null, c, mem, 0, 0x1000, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 1, cls: CLASS.IN, level: 0 });
  });
});

describe('nested', () => {
  // Stage 2 identity-maps IPA [0, 1 GiB) with 2 MiB blocks from an L1 start (T0SZ 25).
  function s2identity(attr = 0x7c0 | 0x3c): void {
    put(0x20000, 0x21000 | TABLE);
    for (let i = 0; i < 512; i++) put(0x21000 + i * 8, (i * 0x200000) | BLOCK | attr);
  }
  const c2 = (p: Partial<S2Params> = {}) => s2Cfg(p2({ t0sz: 25, sl0: 1, ...p }));

  it('every stage-1 table address and the output go through stage 2; sizes combine', () => {
    s2identity();
    build4k();
    w.reads = 0;
    expect(w.translate(s1Cfg(p1()), c2(), mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(res.pa).toBe(0x100abc);
    expect(res.size).toBe(12); // min(4K page, 2M block)
    expect(res.s2size).toBe(21);
    expect(w.reads).toBe(4 + 4 * 2 + 2);
  });

  it('stage-2 fault on a stage-1 table read: CLASS TT, IPA of the descriptor', () => {
    s2identity();
    build4k();
    put(0x21000 + 0, 0); // IPA [0, 2M) unmapped at stage 2: all stage-1 tables
    expect(w.translate(s1Cfg(p1()), c2(), mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 1, cls: CLASS.TT, level: 2 });
    expect(res.fault.ipa).toBe(0x1000 + 8);
    // read permission missing at stage 2: F_PERMISSION with TTRnW = 1
    put(0x21000, BLOCK | 0x80);
    expect(w.translate(s1Cfg(p1()), c2(), mem, VA_HI, VA_LO, ACC_WRITE, res)).toBe(false);
    expect(res.fault).toMatchObject({ type: EVT.F_PERMISSION, s2: 1, cls: CLASS.TT, ttrnw: 1, rnw: 0 });
  });

  it('S2PTW: stage-1 tables in stage-2 Device memory are a stage-2 permission fault', () => {
    s2identity(0x7c0 | 0x04); // MemAttr 0001: Device-nGnRE
    build4k();
    expect(w.translate(s1Cfg(p1()), c2(), mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(w.translate(s1Cfg(p1()), c2({ ptw: true }), mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_PERMISSION, s2: 1, cls: CLASS.TT, level: 2 });
    // With S2FWB, MemAttr 0b0110 (bit 2 set) is Normal.
    s2identity(0x7c0 | (0x6 << 2));
    expect(w.translate(s1Cfg(p1()), c2({ ptw: true, fwb: true }), mem, VA_HI, VA_LO, 0, res)).toBe(true);
  });

  it('stage-2 fault on the output IPA: CLASS IN; stage-1 faults take priority', () => {
    s2identity();
    build4k(PAGE | 0x40);
    put(0x4000 + 4 * 8, 0x3000_0000 | PAGE | 0x40); // IPA 768M...
    put(0x21000 + (0x3000_0000 >> 21) * 8, 0);
    expect(w.translate(s1Cfg(p1()), c2(), mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_TRANSLATION, s2: 1, cls: CLASS.IN, level: 2 });
    expect(res.fault.ipa).toBe(0x3000_0abc);
    put(0x4000 + 4 * 8, 0x3000_0000 | PAGE | 0xc0); // read-only at stage 1
    expect(w.translate(s1Cfg(p1()), c2(), mem, VA_HI, VA_LO, ACC_WRITE, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_PERMISSION, s2: 0, cls: CLASS.IN, level: 3 });
  });

  it('stage-1 output above IPS is a stage-1 address-size fault before stage 2', () => {
    s2identity();
    build4k(PAGE | 0x40, 0x1); // IPA 2^32 + ...
    expect(w.translate(s1Cfg(p1({ ips: 32 })), c2(), mem, VA_HI, VA_LO, 0, res)).toBe(false);
    expect(fault()).toEqual({ type: EVT.F_ADDR_SIZE, s2: 0, cls: CLASS.IN, level: 3 });
  });

  it('ipaToPa for CD fetches: CLASS CD faults, read permission and EABT', () => {
    s2identity();
    const c = c2();
    expect(w.ipaToPa(c, mem, 0x12340, 0, 0x5000, ACC_WRITE, res)).toBe(0x12340);
    expect(w.ipaToPa(null, mem, 0x12340, 0, 0x5000, ACC_WRITE, res)).toBe(0x12340);
    expect(w.ipaToPa(c, mem, 2 ** 39, 0, 0x5000, ACC_WRITE, res)).toBe(-1);
    expect(res.fault).toMatchObject({ type: EVT.F_TRANSLATION, s2: 1, cls: CLASS.CD, level: 0, ipa: 2 ** 39, inputLo: 0x5000, rnw: 0 });
    put(0x21000, BLOCK | 0x80); // write-only
    expect(w.ipaToPa(c, mem, 0x12340, 0, 0x5000, 0, res)).toBe(-1);
    expect(res.fault).toMatchObject({ type: EVT.F_PERMISSION, s2: 1, cls: CLASS.CD, ttrnw: 0 });
    put(0x20000, 0x4000_0000 | TABLE); // L2 table outside memory
    expect(w.ipaToPa(c, mem, 0x12340, 0, 0x5000, 0, res)).toBe(-1);
    expect(res.fault).toMatchObject({ type: EVT.F_WALK_EABT, s2: 1, cls: CLASS.CD, level: 2, fetchAddr: 0x4000_0000, ipa: 0x12340 });
  });
});

describe('configuration builders', () => {
  const f = { ...DEFAULT_FEATURES };

  it('s1CfgFromCd: TG0 and TG1 encodings differ; IPS = MIN(IPS, OAS); 52 -> 48 for 4K/16K', () => {
    const cd = cdOf({ t0sz: 16, tg0: 1, t1sz: 25, tg1: 1, epd1: 0, ips: 6, ttb0: 0x10000, ttb1: 0x8000 });
    const c = s1CfgFromCd(cd, f);
    expect(c.gran0).toBe(16); // TG0 1 = 64K
    expect(c.gran1).toBe(14); // TG1 1 = 16K
    expect(c.ips).toBe(48); // OAS 48
    const c52 = s1CfgFromCd(cdOf({ tg0: 1, tg1: 2, ips: 6 }), { ...f, oas: 52 });
    expect(c52.ps0).toBe(52); // 64K keeps 52
    expect(c52.ps1).toBe(48); // 4K: 52 treated as 48
    expect(c52.lpa).toBe(true);
    expect(s1CfgFromCd(cdOf({ tg0: 3 }), f).gran0).toBe(0); // reserved
    expect(s1CfgFromCd(cdOf({ tg0: 2 }), { ...f, gran16k: false }).gran0).toBe(0); // unimplemented
    expect(s1CfgFromCd(cdOf({ had0: 1 }), f).had0).toBe(false); // needs IDR3.HAD
    expect(s1CfgFromCd(cdOf({ had0: 1 }), { ...f, had: true }).had0).toBe(true);
    expect(s1CfgFromCd(cdOf({ ips: 2 }), f).ips).toBe(40);
  });

  it('s1CfgFromCd drives a walk (T0SZ, TTB0, AFFD, EPD1 from the CD)', () => {
    build4k(TABLE | 0x40);
    const c = s1CfgFromCd(cdOf({ t0sz: 16, tg0: 0, epd1: 1, ips: 5, affd: 1, ttb0: 0x1000 }), f);
    expect(w.translate(c, null, mem, VA_HI, VA_LO, 0, res)).toBe(true);
    expect(res.pa).toBe(0x100abc);
  });

  it('s2CfgFromSte: S2TG encoding, S2PS = MIN(S2PS, OAS), start level and concatenation', () => {
    const ste = steOf({ s2t0sz: 24, s2sl0: 1, s2tg: 0, s2ps: 6, s2ttb: 0x20000, s2affd: 1, s2ptw: 1 });
    const c = s2CfgFromSte(ste, f);
    expect(c).toMatchObject({ gran: 12, ps: 48, start: 1, concat: 2, affd: true, ptw: true, base: 0x20000 });
    expect(s2CfgFromSte(steOf({ s2t0sz: 16, s2sl0: 2, s2tg: 1, s2ps: 6 }), { ...f, oas: 52 })).toMatchObject({ gran: 16, ps: 52, start: 1 });
    expect(s2CfgFromSte(steOf({ s2t0sz: 16, s2sl0: 3, s2tg: 2, s2ps: 6 }), { ...f, oas: 52 })).toMatchObject({ gran: 14, ps: 48, start: 0 });
    expect(s2CfgFromSte(steOf({ s2t0sz: 24, s2sl0: 1, s2tg: 3 }), f).start).toBe(-1);
  });
});
