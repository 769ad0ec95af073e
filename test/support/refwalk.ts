// A deliberately naive reference of the VMSAv8-64 walk (stage 1, stage 2, nested), written
// straight from FACTS §6.3/§7 with bigint and no shared code with src/arch/walk.ts (types
// only). It implements the same documented choices (see walk.ts header) so that the property
// test can compare the two bit for bit, faults included.

import type { S1Params, S2Params } from '../../src/arch/walk.ts';

export interface RefMem {
  /** 64-bit little-endian word at pa, or null when pa is outside memory. */
  read(pa: bigint): bigint | null;
}

export type RefResult =
  | { ok: true; pa: bigint; ipa: bigint; size: number; perm: number; s1perm: number; s2perm: number }
  | { ok: false; type: number; s2: number; cls: number; level: number; ipa: bigint; fetchAddr: bigint; ttrnw: number };

const F_WALK_EABT = 0x0b;
const F_TRANSLATION = 0x10;
const F_ADDR_SIZE = 0x11;
const F_ACCESS = 0x12;
const F_PERMISSION = 0x13;
const CD = 0;
const TT = 1;
const IN = 2;

const WRITE = 1;
const INSTR = 2;
const PRIV = 4;

class Fault {
  readonly type: number;
  readonly s2: number;
  readonly cls: number;
  readonly level: number;
  readonly ipa: bigint;
  readonly fetchAddr: bigint;
  constructor(type: number, s2: number, cls: number, level: number, ipa: bigint, fetchAddr: bigint) {
    this.type = type;
    this.s2 = s2;
    this.cls = cls;
    this.level = level;
    this.ipa = ipa;
    this.fetchAddr = fetchAddr;
  }
}

const bit = (v: bigint, n: number): number => Number((v >> BigInt(n)) & 1n);
const bits = (v: bigint, hi: number, lo: number): bigint => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
const swap64 = (v: bigint): bigint => {
  let r = 0n;
  for (let i = 0; i < 8; i++) r |= ((v >> BigInt(8 * i)) & 0xffn) << BigInt(8 * (7 - i));
  return r;
};

/** Bits resolved by one level for granule log2 size g. */
const strideOf = (g: number): number => g - 3;
/** Address bit where level `l` starts, written out per granule. */
function shiftOf(g: number, l: number): number {
  const table: Record<number, number[]> = { 12: [39, 30, 21, 12], 14: [47, 36, 25, 14], 16: [55, 42, 29, 16] };
  return table[g]![l]!;
}

/** Stage-2 start level table of FACTS §7.5 (S2SL0 → level, allowed S2T0SZ range). */
function refS2Start(g: number, sl0: number, t0sz: number, oas: number): number | null {
  const rows: Record<number, Array<[number, number, number] | null>> = {
    // [level, min t0sz, max t0sz] per SL0
    12: [[2, 30, 39], [1, 21, 33], [0, 16, 24], null],
    14: [[3, 35, 39], [2, 24, 38], [1, 16, 27], [0, 16, 16]],
    16: [[3, 31, 39], [2, 18, 34], [1, 12, 21], null],
  };
  const row = rows[g]?.[sl0];
  if (!row) return null;
  const [level, lo, hi] = row;
  const minByOas = Math.max(g === 16 ? 12 : 16, 64 - (g === 16 ? oas : Math.min(oas, 48)));
  if (t0sz < lo || t0sz > hi || t0sz < minByOas) return null;
  return level;
}

function s1Start(g: number, vaBits: number): number {
  let levels = 1;
  while (g + levels * strideOf(g) < vaBits) levels++;
  return 4 - levels;
}

function blockOk(g: number, level: number, lpa: boolean): boolean {
  if (g === 12) return level === 1 || level === 2;
  if (g === 14) return level === 2;
  return level === 2 || (level === 1 && lpa);
}

/** Output/table address held by a descriptor, naive: [47:g] plus [51:48] from [15:12] for 64K LPA. */
function descAddr(d: bigint, g: number, lpa: boolean): bigint {
  let a = bits(d, 47, g) << BigInt(g);
  if (g === 16 && lpa) a |= bits(d, 15, 12) << 48n;
  return a;
}

function alignTtb(ttb: bigint, entriesLog2: number): bigint {
  const align = BigInt(Math.max(6, entriesLog2 + 3));
  return (ttb >> align) << align;
}

interface Acc {
  write: boolean;
  instr: boolean;
  priv: boolean;
}

function permBitsS1(ap1: number, ap2: number, uxn: number, pxn: number, wxn: boolean, pan: boolean): number {
  // Ask the naive question for each of the six access kinds.
  let p = 0;
  const kinds: Acc[] = [
    { write: false, instr: false, priv: false }, { write: true, instr: false, priv: false },
    { write: false, instr: true, priv: false }, { write: false, instr: false, priv: true },
    { write: true, instr: false, priv: true }, { write: false, instr: true, priv: true },
  ];
  kinds.forEach((k, i) => { if (s1Allows(k, ap1, ap2, uxn, pxn, wxn, pan)) p |= 1 << i; });
  return p;
}

function s1Allows(a: Acc, ap1: number, ap2: number, uxn: number, pxn: number, wxn: boolean, pan: boolean): boolean {
  const el0Readable = ap1 === 1;
  const el0Writable = ap1 === 1 && ap2 === 0;
  const el1Writable = ap2 === 0;
  if (a.instr) {
    if (a.priv) return pxn === 0 && !el0Writable && !(wxn && el1Writable);
    return uxn === 0 && !(wxn && el0Writable);
  }
  if (a.priv) {
    if (pan && ap1 === 1) return false;
    return a.write ? el1Writable : true;
  }
  return a.write ? el0Writable : el0Readable;
}

function permBitsS2(s2ap: number, xn: number, xnx: boolean): number {
  const r = (s2ap & 1) !== 0;
  const w = (s2ap & 2) !== 0;
  let ux = (xn & 2) === 0;
  let px = ux;
  if (xnx) {
    ux = xn === 0 || xn === 1;
    px = xn === 0 || xn === 3;
  }
  return (r ? 1 : 0) | (w ? 2 : 0) | (ux ? 4 : 0) | (r ? 8 : 0) | (w ? 16 : 0) | (px ? 32 : 0);
}

function needBit(a: Acc): number {
  const k = a.write ? 1 : a.instr ? 2 : 0;
  return 1 << (k + (a.priv ? 3 : 0));
}

class Ref {
  readonly mem: RefMem;
  readonly acc: Acc;
  constructor(mem: RefMem, acc: Acc) {
    this.mem = mem;
    this.acc = acc;
  }

  s2(c: S2Params, ipa: bigint, cls: number): { pa: bigint; size: number; perm: number } {
    const g = c.gran;
    const start = g === 0 ? null : refS2Start(g, c.sl0, c.t0sz, c.oas);
    const ias = 64 - c.t0sz;
    if (start === null || ipa >= 1n << BigInt(ias)) throw new Fault(F_TRANSLATION, 1, cls, 0, ipa, 0n);
    const topBits = ias - shiftOf(g, start);
    const base = alignTtb(BigInt(c.ttb), topBits);
    if (base >= 1n << BigInt(c.ps)) throw new Fault(F_ADDR_SIZE, 1, cls, 0, ipa, 0n);
    let table = base;
    for (let level = start; level <= 3; level++) {
      const sh = shiftOf(g, level);
      const n = level === start ? topBits : strideOf(g);
      const idx = (ipa >> BigInt(sh)) & ((1n << BigInt(n)) - 1n);
      const da = table + idx * 8n;
      let d = this.mem.read(da);
      if (d === null) throw new Fault(F_WALK_EABT, 1, cls, level, ipa, da);
      if (c.endi) d = swap64(d);
      if (bit(d, 0) === 0) throw new Fault(F_TRANSLATION, 1, cls, level, ipa, 0n);
      const isTable = bit(d, 1) === 1 && level < 3;
      if (isTable) {
        const next = descAddr(d, g, c.lpa);
        if (next >= 1n << BigInt(c.ps)) throw new Fault(F_ADDR_SIZE, 1, cls, level, ipa, 0n);
        table = next;
        continue;
      }
      if (level === 3 && bit(d, 1) === 0) throw new Fault(F_TRANSLATION, 1, cls, level, ipa, 0n);
      if (level < 3 && !blockOk(g, level, c.lpa)) throw new Fault(F_TRANSLATION, 1, cls, level, ipa, 0n);
      const full = descAddr(d, g, c.lpa);
      if (full >= 1n << BigInt(c.ps)) throw new Fault(F_ADDR_SIZE, 1, cls, level, ipa, 0n);
      if (bit(d, 10) === 0 && !c.affd && !c.ha) throw new Fault(F_ACCESS, 1, cls, level, ipa, 0n);
      const perm = permBitsS2(Number(bits(d, 7, 6)), Number(bits(d, 54, 53)), c.xnx);
      if (cls === IN) {
        if ((perm & needBit(this.acc)) === 0) throw new Fault(F_PERMISSION, 1, cls, level, ipa, 0n);
      } else {
        const memattr = Number(bits(d, 5, 2));
        const device = c.fwb ? (memattr & 4) === 0 : (memattr >> 2) === 0;
        if ((perm & 1) === 0 || (c.ptw && device)) throw new Fault(F_PERMISSION, 1, cls, level, ipa, 0n);
      }
      const blockBase = (full >> BigInt(sh)) << BigInt(sh);
      return { pa: blockBase + (ipa & ((1n << BigInt(sh)) - 1n)), size: sh, perm };
    }
    throw new Error('unreachable');
  }

  s1(c: S1Params, s2: S2Params | null, va: bigint): { ipa: bigint; size: number; perm: number } {
    const hiRange = bit(va, 55);
    const g = hiRange ? c.gran1 : c.gran0;
    const epd = hiRange ? c.epd1 : c.epd0;
    const tbi = hiRange ? c.tbi1 : c.tbi0;
    const minT = g === 16 && c.vax ? 12 : 16;
    const tsz = Math.min(39, Math.max(minT, hiRange ? c.tsz1 : c.tsz0));
    const vaBits = 64 - tsz;
    if (epd || g === 0) throw new Fault(F_TRANSLATION, 0, IN, 0, 0n, 0n);
    for (let i = vaBits; i <= (tbi ? 55 : 63); i++) {
      if (bit(va, i) !== hiRange) throw new Fault(F_TRANSLATION, 0, IN, 0, 0n, 0n);
    }
    const ps = g === 16 ? c.ips : Math.min(c.ips, 48);
    const start = s1Start(g, vaBits);
    const topBits = vaBits - shiftOf(g, start);
    const base = alignTtb(BigInt(hiRange ? c.ttb1 : c.ttb0), topBits);
    if (base >= 1n << BigInt(ps)) throw new Fault(F_ADDR_SIZE, 0, IN, 0, 0n, 0n);
    const had = hiRange ? c.had1 : c.had0;
    let table = base;
    let noUnpriv = 0;
    let noWrite = 0;
    let xnTable = 0;
    let pxnTable = 0;
    for (let level = start; level <= 3; level++) {
      const sh = shiftOf(g, level);
      const n = level === start ? topBits : strideOf(g);
      const idx = (va >> BigInt(sh)) & ((1n << BigInt(n)) - 1n);
      let da = table + idx * 8n;
      if (s2) da = this.s2(s2, da, TT).pa;
      let d = this.mem.read(da);
      if (d === null) throw new Fault(F_WALK_EABT, 0, TT, level, 0n, da);
      if (c.endi) d = swap64(d);
      if (bit(d, 0) === 0) throw new Fault(F_TRANSLATION, 0, IN, level, 0n, 0n);
      if (bit(d, 1) === 1 && level < 3) {
        const next = descAddr(d, g, c.lpa);
        if (next >= 1n << BigInt(ps)) throw new Fault(F_ADDR_SIZE, 0, IN, level, 0n, 0n);
        if (!had) {
          noUnpriv |= bit(d, 61);
          noWrite |= bit(d, 62);
          xnTable |= bit(d, 60);
          pxnTable |= bit(d, 59);
        }
        table = next;
        continue;
      }
      if (level === 3 && bit(d, 1) === 0) throw new Fault(F_TRANSLATION, 0, IN, level, 0n, 0n);
      if (level < 3 && !blockOk(g, level, c.lpa)) throw new Fault(F_TRANSLATION, 0, IN, level, 0n, 0n);
      const full = descAddr(d, g, c.lpa);
      if (full >= 1n << BigInt(ps)) throw new Fault(F_ADDR_SIZE, 0, IN, level, 0n, 0n);
      if (bit(d, 10) === 0 && !c.affd && !c.ha) throw new Fault(F_ACCESS, 0, IN, level, 0n, 0n);
      const ap1 = noUnpriv ? 0 : bit(d, 6);
      const ap2 = noWrite ? 1 : bit(d, 7);
      const perm = permBitsS1(ap1, ap2, bit(d, 54) | xnTable, bit(d, 53) | pxnTable, c.wxn, c.pan);
      if ((perm & needBit(this.acc)) === 0) throw new Fault(F_PERMISSION, 0, IN, level, 0n, 0n);
      const blockBase = (full >> BigInt(sh)) << BigInt(sh);
      return { ipa: blockBase + (va & ((1n << BigInt(sh)) - 1n)), size: sh, perm };
    }
    throw new Error('unreachable');
  }
}

function accOf(acc: number): Acc {
  return { write: (acc & WRITE) !== 0, instr: (acc & INSTR) !== 0 && (acc & WRITE) === 0, priv: (acc & PRIV) !== 0 };
}

function faultResult(e: unknown): RefResult {
  if (!(e instanceof Fault)) throw e;
  return { ok: false, type: e.type, s2: e.s2, cls: e.cls, level: e.level, ipa: e.ipa, fetchAddr: e.fetchAddr, ttrnw: e.type === F_PERMISSION && e.cls === TT ? 1 : 0 };
}

/** Reference translation of the 64-bit input `ia` (SMMU OAS `oas` bits = IAS). */
export function refTranslate(s1: S1Params | null, s2: S2Params | null, mem: RefMem, ia: bigint, acc: number, oas: number): RefResult {
  const r = new Ref(mem, accOf(acc));
  try {
    let ipa: bigint;
    let size = 64;
    let s1perm = 63;
    if (s1) {
      const o = r.s1(s1, s2, ia);
      ipa = o.ipa;
      size = o.size;
      s1perm = o.perm;
    } else {
      if (ia >= 1n << BigInt(oas)) throw new Fault(F_ADDR_SIZE, 0, IN, 0, 0n, 0n);
      ipa = ia;
    }
    if (!s2) return { ok: true, pa: ipa, ipa, size, perm: s1perm, s1perm, s2perm: 63 };
    const o = r.s2(s2, ipa, IN);
    return { ok: true, pa: o.pa, ipa, size: Math.min(size, o.size), perm: s1perm & o.perm, s1perm, s2perm: o.perm };
  } catch (e) {
    return faultResult(e);
  }
}

/** Reference stage-2 translation of a CD fetch address (CLASS CD faults). */
export function refIpaToPa(s2: S2Params, mem: RefMem, ipa: bigint, acc: number, oas: number): RefResult {
  const r = new Ref(mem, accOf(acc));
  try {
    const o = r.s2(s2, ipa, CD);
    return { ok: true, pa: o.pa, ipa, size: o.size, perm: o.perm, s1perm: 63, s2perm: o.perm };
  } catch (e) {
    return faultResult(e);
  }
}
