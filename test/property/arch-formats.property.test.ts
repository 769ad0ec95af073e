import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileLayout, fieldGet, fieldSet, type Layout } from '../../src/arch/bits.ts';
import { CD_LAYOUT, cdLocation, decodeCd, decodeL1Cd, encodeCd, encodeL1Cd, validateCd } from '../../src/arch/cd.ts';
import { CMD_LAYOUTS, cmdOf, commandError, decodeCommand, encodeCommand, type CommandName } from '../../src/arch/commands.ts';
import { canonicalEvent, decodeEvent, encodeEvent, eventOf, EVT, isFetchEvent, isStallEvent } from '../../src/arch/events.ts';
import { decodeIdRegs, encodeIdRegs, ID_FIELDS, OAS_BITS, type IdRegs, type SmmuFeatures } from '../../src/arch/features.ts';
import { qCount, qEmpty, qFull, qInc } from '../../src/arch/queue.ts';
import { decodeL1Std, decodeSte, encodeL1Std, encodeSte, STE_LAYOUT, steLocation, validateSte } from '../../src/arch/ste.ts';
import type { WordReader } from '../../src/arch/types.ts';

const RUNS = { numRuns: 300 };
const u32 = fc.integer({ min: 0, max: 0x7fffffff }).chain((a) => fc.boolean().map((b) => (b ? (a | 0x80000000) >>> 0 : a)));
const words = (n: number): fc.Arbitrary<number[]> => fc.array(u32, { minLength: n, maxLength: n });
const bits = (width: number): fc.Arbitrary<number> =>
  fc.bigInt({ min: 0n, max: (1n << BigInt(width)) - 1n }).map(Number);

/** Random value of every field of a layout (in range) plus random uncovered bits. */
function layoutArb(layout: Layout, nwords: number): fc.Arbitrary<Record<string, unknown>> {
  const cl = compileLayout(layout, nwords);
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of cl.fields) rec[f.name] = bits(f.width).map((v) => v * f.scale);
  rec['other'] = words(nwords).map((w) => w.map((x, i) => (x & (cl.otherMask[i] ?? 0)) >>> 0));
  return fc.record(rec);
}

const idRegsArb: fc.Arbitrary<IdRegs> = fc.record({
  idr0: u32, idr1: u32, idr2: u32, idr3: u32, idr4: u32, idr5: u32, iidr: u32, aidr: u32,
});
const featuresArb: fc.Arbitrary<SmmuFeatures> = idRegsArb.map(decodeIdRegs);

class RandomMem implements WordReader {
  hi = 0;
  private readonly seed: number[];
  private readonly limit: number;
  constructor(seed: number[], limit: number) {
    this.seed = seed;
    this.limit = limit;
  }
  load64(pa: number): number {
    if (!(pa >= 0 && pa < this.limit)) return -1;
    const i = Math.floor(pa / 8) % this.seed.length;
    this.hi = this.seed[(i + 1) % this.seed.length] ?? 0;
    return this.seed[i] ?? 0;
  }
}

describe('round trips', () => {
  it('STE: encode(decode(w)) == w for any 16 words', () => {
    fc.assert(fc.property(words(16), (w) => {
      const out = new Uint32Array(16);
      encodeSte(decodeSte(w), out);
      expect([...out]).toEqual(w);
    }), RUNS);
  });
  it('STE: decode(encode(x)) == x for any in-range fields', () => {
    fc.assert(fc.property(layoutArb(STE_LAYOUT, 16), (x) => {
      const out = new Uint32Array(16);
      encodeSte(x as never, out);
      expect(decodeSte(out)).toEqual(x);
    }), RUNS);
  });
  it('CD: encode(decode(w)) == w and decode(encode(x)) == x', () => {
    fc.assert(fc.property(words(16), layoutArb(CD_LAYOUT, 16), (w, x) => {
      const out = new Uint32Array(16);
      encodeCd(decodeCd(w), out);
      expect([...out]).toEqual(w);
      encodeCd(x as never, out);
      expect(decodeCd(out)).toEqual(x);
    }), RUNS);
  });
  it('commands: encode(decode(w)) == w for any 16 bytes', () => {
    fc.assert(fc.property(words(4), (w) => {
      const out = new Uint32Array(4);
      encodeCommand(decodeCommand(w), out);
      expect([...out]).toEqual(w);
    }), { numRuns: 1000 });
  });
  it('commands: decode(encode(x)) == x for every command', () => {
    const names = Object.keys(CMD_LAYOUTS) as CommandName[];
    const arb = fc.constantFrom(...names).chain((name) => {
      const { op: _op, ...fields } = CMD_LAYOUTS[name] as Layout;
      return layoutArb({ ...fields }, 4).map((rest) => {
        const other = (rest['other'] as number[]).map((v, i) => (i === 0 ? v & ~0xff : v) >>> 0);
        return { ...cmdOf(name), ...rest, other };
      });
    });
    fc.assert(fc.property(arb, (x) => {
      const out = new Uint32Array(4);
      encodeCommand(x as never, out);
      expect(decodeCommand(out)).toEqual(x);
    }), { numRuns: 1000 });
  });
  it('events: decode(encode(x)) == x for records consistent with their type', () => {
    const types = [...Object.values(EVT), 0xe0, 0x33];
    const arb = fc.record({
      type: fc.constantFrom(...types), sid: u32, ssv: bits(1), ssid: bits(20), stag: bits(16), stall: bits(1),
      pnu: bits(1), ind: bits(1), rnw: bits(1), s2: bits(1), cls: bits(2), ttrnw: bits(1), reason: u32,
      inputLo: u32, inputHi: u32, ipa: bits(44).map((v) => v * 4096), fetchAddr: bits(53).map((v) => v * 8),
    }).map((e) => ({
      ...e,
      stag: isStallEvent(e.type) ? e.stag : 0,
      stall: isStallEvent(e.type) ? e.stall : 0,
      reason: isStallEvent(e.type) ? 0 : e.reason,
      ipa: isFetchEvent(e.type) ? 0 : e.ipa,
      fetchAddr: isFetchEvent(e.type) ? e.fetchAddr : 0,
    })).map((e) => canonicalEvent(e)); // only the fields each type defines (spec 7.3: the rest is RES0)
    fc.assert(fc.property(arb, (e) => {
      const out = new Uint32Array(8);
      encodeEvent(eventOf(e), out);
      expect(decodeEvent(out)).toEqual(e);
    }), RUNS);
  });
  it('ID registers: decode(encode(f)) == f and encode(decode(r)) == r on defined bits', () => {
    const rec: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [name, , msb, lsb, kind] of ID_FIELDS) {
      rec[name] = kind === 'bool' ? fc.boolean() : kind === 'oas' ? fc.constantFrom(...OAS_BITS) : bits(msb - lsb + 1);
    }
    fc.assert(fc.property(fc.record(rec), idRegsArb, (f, r) => {
      expect(decodeIdRegs(encodeIdRegs(f as unknown as SmmuFeatures))).toEqual(f);
      const defined: IdRegs = { idr0: 0, idr1: 0, idr2: 0, idr3: 0, idr4: 0, idr5: 0, iidr: 0, aidr: 0 };
      for (const [name, reg, msb, lsb] of ID_FIELDS) {
        const w = name === 'stLevel2' ? 1 : msb - lsb + 1; // ST_LEVEL 2/3 are reserved
        const m = ((0xffffffff >>> (32 - w)) << lsb) >>> 0;
        defined[reg] = (defined[reg] | (r[reg] & m)) >>> 0;
      }
      expect(encodeIdRegs(decodeIdRegs(defined))).toEqual(defined);
    }), RUNS);
  });
  it('L1STD / L1CD: encode(decode(lo, hi)) keeps every defined bit', () => {
    fc.assert(fc.property(u32, u32, (lo, hi) => {
      expect(encodeL1Std(decodeL1Std(lo, hi))).toEqual([(lo & ~0x20) >>> 0, hi & 0x00ffffff]);
      expect(encodeL1Cd(decodeL1Cd(lo, hi))).toEqual([(lo & ~0xffe) >>> 0, hi & 0x00ffffff]);
    }), RUNS);
  });
  it('bit fields agree with a bigint reference', () => {
    fc.assert(fc.property(words(4), fc.integer({ min: 0, max: 127 }), fc.integer({ min: 1, max: 53 }), bits(53),
      (w, lsb, width, v) => {
        fc.pre(lsb + width <= 128);
        const big = w.reduce((a, x, i) => a | (BigInt(x) << BigInt(32 * i)), 0n);
        const mask = (1n << BigInt(width)) - 1n;
        expect(fieldGet(w, 0, lsb, width)).toBe(Number((big >> BigInt(lsb)) & mask));
        const out = [...w];
        fieldSet(out, 0, lsb, width, v);
        const got = out.reduce((a, x, i) => a | (BigInt(x) << BigInt(32 * i)), 0n);
        const want = (big & ~(mask << BigInt(lsb))) | ((BigInt(v) & mask) << BigInt(lsb));
        expect(got).toBe(want);
      }), RUNS);
  });
  it('queues: count, full and empty agree with the increments made', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 19 }), u32, fc.integer({ min: 0, max: 2 ** 19 }), (log2, cons, n0) => {
      const n = n0 % ((1 << log2) + 1);
      const prod = qInc(cons, log2, n);
      expect(qCount(prod, cons, log2)).toBe(n);
      expect(qFull(prod, cons, log2)).toBe(n === 1 << log2);
      expect(qEmpty(prod, cons, log2)).toBe(n === 0);
    }), RUNS);
  });
});

describe('guest-controlled inputs never throw', () => {
  it('random STEs, CDs, commands and events decode and validate to values', () => {
    fc.assert(fc.property(words(16), words(16), words(4), words(8), featuresArb, (s, c, k, e, f) => {
      const ste = decodeSte(s);
      const sc = validateSte(ste, f);
      expect(typeof sc.ok).toBe('boolean');
      const cc = validateCd(decodeCd(c), ste, f);
      expect(typeof cc.ok).toBe('boolean');
      const cmd = decodeCommand(k);
      expect([0, 1]).toContain(commandError(cmd, f));
      expect(typeof decodeEvent(e).type).toBe('number');
    }), { numRuns: 1000 });
  });
  it('stream and CD table lookups over random memory return addresses or codes', () => {
    fc.assert(fc.property(words(16), u32, u32, u32, bits(52), featuresArb, fc.integer({ min: 0, max: 2 ** 40 }),
      fc.boolean(), (mem, cfg, sid, ssid, base, f, limit, nested) => {
        const m = new RandomMem(mem, limit);
        const a = steLocation(base, cfg, sid, m, f);
        expect(Number.isInteger(a)).toBe(true);
        expect(a >= 0 || a === -1 || a === -2).toBe(true);
        const out = { fetchAddr: 0, ipa: 0 };
        const ste = decodeSte(mem);
        const xlate = nested ? (ipa: number): number => (ipa % 3 === 0 ? -1 : ipa) : null;
        const r = cdLocation(ste, ssid, m, xlate, out, f);
        expect(Number.isInteger(r)).toBe(true);
        expect(r >= 0 || r === -1 || r === -2 || r === -3).toBe(true);
      }), { numRuns: 1000 });
  });
});

describe('compiled layout decoders', () => {
  // The decoders are generated per layout (bits.ts decoderOf); this checks them field by
  // field against the plain bit-field reader on random words.
  const layouts: [string, Layout, number][] = [
    ['STE', STE_LAYOUT, 16],
    ['CD', CD_LAYOUT, 16],
    ...Object.entries(CMD_LAYOUTS).map(([n, l]): [string, Layout, number] => [n, l, 4]),
  ];
  it.each(layouts)('%s: every field equals fieldGet, other keeps the rest', (_name, layout, n) => {
    const cl = compileLayout(layout, n);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: n + 3, maxLength: n + 3 }), fc.nat(3), (w, off) => {
        const d = cl.decode(w, off);
        for (const f of cl.fields) expect(d[f.name]).toBe(fieldGet(w, off, f.lsb, f.width) * f.scale);
        expect(d['other']).toEqual(cl.otherMask.map((m, i) => ((w[off + i] ?? 0) & m) >>> 0));
      }),
      { numRuns: 50 },
    );
  });
});
