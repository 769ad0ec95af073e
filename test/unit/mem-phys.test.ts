import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MEMORY_SIZE,
  MAX_MEMORY_SIZE,
  PhysMemory,
} from '../../src/mem/phys.ts';
import { GiB, KiB, MiB } from '../../src/mem/size.ts';
import { VsmmuError } from '../../src/errors.ts';
import { thrown } from '../support/errors.ts';

// 64-bit patterns whose transit through a double must not change a bit: every NaN class
// (quiet/signalling, either sign, payload in either half, V8's hole NaN), infinities,
// zeros, subnormals, and ordinary doubles. [lo, hi].
const SPECIAL: readonly (readonly [number, number])[] = [
  [0x00000000, 0x7ff80000], // canonical quiet NaN
  [0x00000000, 0xfff80000], // negative quiet NaN
  [0x00000001, 0x7ff00000], // signalling NaN, payload in lo only
  [0x00000000, 0x7ff00001], // signalling NaN, payload in hi only
  [0xffffffff, 0x7ff7ffff], // largest signalling payload
  [0x00000001, 0xfff00000], // negative signalling NaN
  [0xdeadbeef, 0x7ffabcde], // quiet NaN with payload
  [0xfff7ffff, 0xfff7ffff], // V8 hole NaN
  [0xffffffff, 0xffffffff], // all ones (negative quiet NaN)
  [0x00000000, 0x7ff00000], // +Infinity
  [0x00000000, 0xfff00000], // -Infinity
  [0x00000000, 0x80000000], // -0
  [0x00000001, 0x00000000], // smallest subnormal
  [0xffffffff, 0x000fffff], // largest subnormal
  [0x89abcdef, 0x01234567], // ordinary
  [0x00000000, 0x00000000],
];

function roundTrips(m: PhysMemory, iterations: number): number {
  let bad = 0;
  for (let it = 0; it < iterations; it++) {
    const [lo, hi] = SPECIAL[it % SPECIAL.length]!;
    const pa = (it % 64) * 8;
    m.store64(pa, lo, hi);
    const l = m.load64(pa);
    if (l !== lo || m.hi !== hi) bad++;
    if (m.u32[pa / 4] !== lo || m.u32[pa / 4 + 1] !== hi) bad++;
    // And from raw words written by someone else (u32 view) through load64.
    m.u32[pa / 4 + 16] = hi;
    m.u32[pa / 4 + 17] = lo;
    if (m.load64(pa + 64) !== hi || m.hi !== lo) bad++;
  }
  return bad;
}

describe('PhysMemory 64-bit port keeps every bit pattern', () => {
  it('in the interpreter (first calls) and after optimisation (hot loop)', () => {
    const m = PhysMemory.create('64K');
    expect(roundTrips(m, SPECIAL.length)).toBe(0); // cold
    expect(roundTrips(m, 300_000)).toBe(0); // optimised tiers
    expect(roundTrips(PhysMemory.create('64K'), SPECIAL.length * 4)).toBe(0);
  });

  it('through read64/write64 too', () => {
    const m = PhysMemory.create('64K');
    for (const [lo, hi] of SPECIAL) {
      const v = (BigInt(hi) << 32n) | BigInt(lo);
      m.write64(0x100, v);
      expect(m.read64(0x100)).toBe(v);
      expect([m.read32(0x100), m.read32(0x104)]).toEqual([lo, hi]);
    }
  });
});

describe('PhysMemory create/attach', () => {
  it('defaults to 512 MiB and accepts size strings', () => {
    expect(DEFAULT_MEMORY_SIZE).toBe(512 * MiB);
    const m = PhysMemory.create();
    expect(m.size).toBe(512 * MiB);
    expect(m.sab).toBeInstanceOf(SharedArrayBuffer);
    expect(m.sab.byteLength).toBe(512 * MiB);
    expect(PhysMemory.create('1M').size).toBe(MiB);
    expect(PhysMemory.create(128 * KiB).size).toBe(128 * KiB);
    expect(m.u8.length).toBe(m.size);
    expect(m.u32.length).toBe(m.size / 4);
  });

  it.each([
    [0, /multiple of 64K between 64K and 16G/],
    [4096, /multiple of 64K/],
    ['100K', /invalid memory size 100K \(102400 bytes\)/],
    ['17G', /between 64K and 16G/],
    ['1.3K', /not a whole number/],
    ['12X', /unknown suffix/],
  ] as const)('rejects size %s', (size, msg) => {
    const e = thrown(() => PhysMemory.create(size));
    expect(e.code).toBe('EVSMMU_BADSIZE');
    expect(e.message).toMatch(msg);
  });

  it('attach maps the same bytes', () => {
    const a = PhysMemory.create('64K');
    const b = PhysMemory.attach(a.sab);
    expect(b.size).toBe(a.size);
    a.write32(0x40, 0xcafef00d);
    expect(b.read32(0x40)).toBe(0xcafef00d);
    b.store64(0x48, 1, 2);
    expect(a.load64(0x48)).toBe(1);
    expect(a.hi).toBe(2);
  });

  it('attach refuses what cannot be physical memory', () => {
    expect(thrown(() => PhysMemory.attach(new ArrayBuffer(65536) as unknown as SharedArrayBuffer)).code).toBe('EVSMMU_BADMEM');
    expect(thrown(() => PhysMemory.attach({} as SharedArrayBuffer)).code).toBe('EVSMMU_BADMEM');
    const growable = new SharedArrayBuffer(65536, { maxByteLength: 131072 });
    expect(thrown(() => PhysMemory.attach(growable)).message).toMatch(/growable/);
    expect(thrown(() => PhysMemory.attach(new SharedArrayBuffer(1000))).code).toBe('EVSMMU_BADSIZE');
  });

  it('MAX_MEMORY_SIZE is 16 GiB', () => {
    expect(MAX_MEMORY_SIZE).toBe(16 * GiB);
  });
});

describe('PhysMemory load64/store64 (WordReader/WordWriter)', () => {
  const m = PhysMemory.create('64K');
  const size = m.size;

  it('is little-endian', () => {
    expect(m.store64(8, 0x44332211, 0x88776655)).toBe(true);
    expect(Array.from(m.readBytes(8, 8))).toEqual([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
    m.writeBytes(16, [1, 2, 3, 4, 5, 6, 7, 0xf8]);
    expect(m.load64(16)).toBe(0x04030201);
    expect(m.hi).toBe(0xf8070605);
  });

  it('returns unsigned halves and takes values modulo 2^32', () => {
    m.store64(24, -1, 2 ** 32 + 5);
    expect(m.load64(24)).toBe(0xffffffff);
    expect(m.hi).toBe(5);
  });

  it('serves the last word and nothing beyond', () => {
    expect(m.store64(size - 8, 7, 9)).toBe(true);
    expect(m.load64(size - 8)).toBe(7);
    expect(m.hi).toBe(9);
  });

  it.each([
    ['at the end', size],
    ['past the end', size + 8],
    ['far away', 2 ** 52],
    ['negative', -8],
    ['misaligned', 4],
    ['misaligned by one', 9],
    ['fractional', 8.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('refuses %s (%s) with -1/false', (_what, pa) => {
    expect(m.load64(pa)).toBe(-1);
    expect(m.store64(pa, 1, 1)).toBe(false);
  });
});

describe('PhysMemory API-edge accessors', () => {
  const m = PhysMemory.create('64K');

  it('8/16/32-bit accesses are little-endian and mask values', () => {
    m.write32(0x100, 0x12345678);
    expect([m.read8(0x100), m.read8(0x103)]).toEqual([0x78, 0x12]);
    expect(m.read16(0x100)).toBe(0x5678);
    expect(m.read16(0x102)).toBe(0x1234);
    m.write8(0x104, 0x1ff);
    expect(m.read8(0x104)).toBe(0xff);
    m.write16(0x106, -1);
    expect(m.read16(0x106)).toBe(0xffff);
    m.write32(0x108, 2 ** 32 + 1);
    expect(m.read32(0x108)).toBe(1);
    m.write32(0x10c, -2);
    expect(m.read32(0x10c)).toBe(0xfffffffe);
  });

  it('read64/write64 use bigint, unsigned, modulo 2^64', () => {
    m.write64(0x200, 0x0123456789abcdefn);
    expect(m.read64(0x200)).toBe(0x0123456789abcdefn);
    expect(m.load64(0x200)).toBe(0x89abcdef);
    expect(m.hi).toBe(0x01234567);
    m.write64(0x208, -1n);
    expect(m.read64(0x208)).toBe(0xffffffffffffffffn);
    m.write64(0x210, (1n << 64n) + 3n);
    expect(m.read64(0x210)).toBe(3n);
    const e = thrown(() => m.write64(0x218, 5 as unknown as bigint));
    expect(e.code).toBe('EVSMMU_BADVALUE');
  });

  it('readBytes returns a private copy', () => {
    m.fill(0x300, 16, 0xab);
    const c = m.readBytes(0x300, 16);
    expect(c.buffer).toBeInstanceOf(ArrayBuffer);
    expect(Array.from(c)).toEqual(new Array<number>(16).fill(0xab));
    c[0] = 1;
    expect(m.read8(0x300)).toBe(0xab);
    m.write8(0x301, 2);
    expect(c[1]).toBe(0xab);
    expect(m.readBytes(m.size, 0).length).toBe(0);
  });

  it('writeBytes accepts typed arrays and arrays; fill masks the byte; view is live', () => {
    m.writeBytes(0x400, new Uint8Array([9, 8, 7]));
    m.writeBytes(0x403, [6, 0x105]);
    expect(Array.from(m.readBytes(0x400, 5))).toEqual([9, 8, 7, 6, 5]);
    m.fill(0x400, 3, 0x1cd);
    expect(Array.from(m.readBytes(0x400, 4))).toEqual([0xcd, 0xcd, 0xcd, 6]);
    const v = m.view(0x400, 4);
    v[0] = 0x11;
    expect(m.read8(0x400)).toBe(0x11);
    expect(v.length).toBe(4);
  });

  it('contains() answers range questions without throwing', () => {
    expect(m.contains(0)).toBe(true);
    expect(m.contains(m.size - 4, 4)).toBe(true);
    expect(m.contains(m.size - 4, 5)).toBe(false);
    expect(m.contains(-1)).toBe(false);
    expect(m.contains(1.5)).toBe(false);
    expect(m.contains(m.size, 0)).toBe(true);
  });

  type Access = readonly [string, (pa: number) => unknown, number];
  const accesses: readonly Access[] = [
    ['read8', (pa) => m.read8(pa), 1],
    ['read16', (pa) => m.read16(pa), 2],
    ['read32', (pa) => m.read32(pa), 4],
    ['read64', (pa) => m.read64(pa), 8],
    ['write8', (pa) => m.write8(pa, 1), 1],
    ['write16', (pa) => m.write16(pa, 1), 2],
    ['write32', (pa) => m.write32(pa, 1), 4],
    ['write64', (pa) => m.write64(pa, 1n), 8],
    ['readBytes', (pa) => m.readBytes(pa, 16), 16],
    ['writeBytes', (pa) => m.writeBytes(pa, new Uint8Array(16)), 16],
    ['fill', (pa) => m.fill(pa, 16, 0), 16],
    ['view', (pa) => m.view(pa, 16), 16],
  ];

  it.each(accesses)('%s refuses addresses outside memory with EVSMMU_MEM_RANGE', (op, f, n) => {
    for (const pa of [m.size, m.size - n + 1, -n, -1, 2 ** 52, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const e = thrown(() => f(pa));
      expect(e).toBeInstanceOf(VsmmuError);
      expect(e.code).toBe('EVSMMU_MEM_RANGE');
      expect(e.message).toContain(op);
      expect(e.message).toContain(`${n} bytes`);
      expect(e.message).toContain('[0x0, 0x10000) (64K)');
      expect(e.details).toEqual({ pa, length: n, size: m.size });
    }
    // The last in-range access works.
    f(m.size - n);
  });

  it('names the address in hex', () => {
    expect(thrown(() => m.read32(0x10000)).message).toBe(
      'read32 of 4 bytes at 0x10000 is outside physical memory [0x0, 0x10000) (64K)',
    );
  });

  it.each([
    ['read16', 1, () => m.read16(1)],
    ['write16', 1, () => m.write16(0x11, 0)],
    ['read32', 2, () => m.read32(2)],
    ['write32', 3, () => m.write32(0x13, 0)],
    ['read64', 4, () => m.read64(4)],
    ['write64', 4, () => m.write64(0x1c, 0n)],
  ] as const)('%s requires natural alignment (EVSMMU_MEM_ALIGN)', (op, _off, f) => {
    const e = thrown(f);
    expect(e.code).toBe('EVSMMU_MEM_ALIGN');
    expect(e.message).toMatch(new RegExp(`^${op} at 0x[0-9a-f]+ is not \\d-byte aligned$`));
  });

  it('refuses bad lengths with EVSMMU_MEM_RANGE', () => {
    for (const len of [-1, 1.5, Number.NaN]) {
      expect(thrown(() => m.readBytes(0, len)).code).toBe('EVSMMU_MEM_RANGE');
      expect(thrown(() => m.fill(0, len, 0)).message).toMatch(/length .* is not a non-negative integer/);
    }
  });
});

describe('PhysMemory above 4 GiB', () => {
  it('addresses beyond 2^32 work on every path', () => {
    const m = PhysMemory.create('4160M'); // 4 GiB + 64 MiB, committed lazily
    const pa = 2 ** 32 + 0x1000;
    m.write32(pa, 0xa5a5a5a5);
    expect(m.read32(pa)).toBe(0xa5a5a5a5);
    expect(m.read32(pa - 2 ** 32)).toBe(0); // no wrap
    expect(m.store64(pa + 8, 3, 4)).toBe(true);
    expect(m.load64(pa + 8)).toBe(3);
    expect(m.read64(pa + 8)).toBe((4n << 32n) | 3n);
    m.write8(m.size - 1, 7);
    expect(m.readBytes(m.size - 2, 2)).toEqual(new Uint8Array([0, 7]));
    expect(m.load64(m.size)).toBe(-1);
    expect(thrown(() => m.read8(m.size)).message).toContain('(4160M)');
  });
});

describe('PhysMemory fill(…, 0) clears exactly the range, at any alignment', () => {
  it('leaves the bytes on either side and clears every byte inside', () => {
    const m = PhysMemory.create(64 * KiB);
    for (const [pa, len] of [[0, 1], [1, 7], [3, 8], [7, 9], [8, 16], [5, 4096], [4093, 11], [8190, 4100], [0, 64 * KiB]] as const) {
      m.fill(0, 64 * KiB, 0xff);
      m.fill(pa, len, 0);
      const b = m.readBytes(0, 64 * KiB);
      for (let i = 0; i < b.length; i++) {
        if ((b[i] === 0) !== (i >= pa && i < pa + len)) throw new Error(`fill(${pa}, ${len}, 0): byte ${i} is ${b[i]}`);
      }
    }
  });
});
