import { describe, expect, it } from 'vitest';
import { GuestRam, RangeP2m } from '../../src/mem/guest-ram.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { thrown } from '../support/errors.ts';

const RAM = 0x4000_0000; // guest RAM bank 0, as Xen lays out an Arm guest

// Two IPA pages that are adjacent in IPA but scattered (and reversed) in PA, then a
// contiguous bank: [RAM, RAM+4K) -> 0x5000, [RAM+4K, RAM+8K) -> 0x2000,
// [RAM+8K, RAM+24K) -> 0x8000.
function setup(): { mem: PhysMemory; p2m: RangeP2m; ram: GuestRam } {
  const mem = PhysMemory.create('64K');
  const p2m = new RangeP2m([
    { ipa: RAM + 0x2000, pa: 0x8000, size: 0x4000 },
    { ipa: RAM, pa: 0x5000, size: 0x1000 },
    { ipa: RAM + 0x1000, pa: 0x2000, size: 0x1000 },
  ]);
  return { mem, p2m, ram: new GuestRam(mem, p2m.lookup) };
}

describe('RangeP2m', () => {
  it('translates inside ranges and refuses holes', () => {
    const { p2m } = setup();
    expect(p2m.ranges.map((r) => r.ipa)).toEqual([RAM, RAM + 0x1000, RAM + 0x2000]);
    expect(p2m.totalSize).toBe(0x6000);
    const f = p2m.lookup;
    expect(f(RAM)).toBe(0x5000);
    expect(f(RAM + 0xfff)).toBe(0x5fff);
    expect(f(RAM + 0x1000)).toBe(0x2000);
    expect(f(RAM + 0x2008)).toBe(0x8008);
    expect(f(RAM + 0x5fff)).toBe(0xbfff);
    for (const ipa of [RAM - 1, RAM + 0x6000, 0, -1, Number.NaN, 2 ** 52]) expect(f(ipa)).toBe(-1);
    // The last-hit shortcut must not answer for a different range.
    expect(f(RAM + 0x2000)).toBe(0x8000);
    expect(f(RAM)).toBe(0x5000);
    expect(f(RAM - 8)).toBe(-1);
  });

  it('works with one range, many ranges, and none', () => {
    expect(new RangeP2m([]).lookup(RAM)).toBe(-1);
    const one = new RangeP2m([{ ipa: RAM, pa: 0, size: 0x10000 }]);
    expect(one.lookup(RAM + 0x1234)).toBe(0x1234);
    const many = new RangeP2m(
      Array.from({ length: 100 }, (_, k) => ({ ipa: RAM + k * 0x2000, pa: (99 - k) * 0x1000, size: 0x1000 })),
    );
    for (let k = 0; k < 100; k++) {
      expect(many.lookup(RAM + k * 0x2000 + 8)).toBe((99 - k) * 0x1000 + 8);
      expect(many.lookup(RAM + k * 0x2000 + 0x1000)).toBe(-1);
    }
  });

  it('refuses overlapping, empty and misaligned ranges', () => {
    const e = thrown(() => new RangeP2m([
      { ipa: RAM, pa: 0, size: 0x2000 },
      { ipa: RAM + 0x1000, pa: 0x8000, size: 0x1000 },
    ]));
    expect(e.code).toBe('EVSMMU_BADRANGE');
    expect(e.message).toBe('p2m ranges overlap in IPA: [0x40000000, 0x40002000) and [0x40001000, 0x40002000)');
    expect(thrown(() => new RangeP2m([{ ipa: RAM, pa: 0, size: 0 }])).code).toBe('EVSMMU_BADRANGE');
    expect(thrown(() => new RangeP2m([{ ipa: RAM + 8, pa: 0, size: 0x1000 }])).message).toMatch(/multiples of the granule 4096/);
    expect(thrown(() => new RangeP2m([{ ipa: RAM, pa: 0x1000, size: 0x1000 }], 0x10000)).code).toBe('EVSMMU_BADRANGE');
    expect(thrown(() => new RangeP2m([{ ipa: -4096, pa: 0, size: 0x1000 }])).code).toBe('EVSMMU_BADRANGE');
  });
});

describe('GuestRam', () => {
  it('reads and writes through the p2m, little-endian', () => {
    const { mem, ram } = setup();
    ram.write32(RAM + 0x10, 0xdeadbeef);
    expect(mem.read32(0x5010)).toBe(0xdeadbeef);
    expect(ram.read32(RAM + 0x10)).toBe(0xdeadbeef);
    expect(ram.read16(RAM + 0x12)).toBe(0xdead);
    expect(ram.read8(RAM + 0x10)).toBe(0xef);
    ram.write8(RAM + 0x1000, 0x1aa);
    expect(mem.read8(0x2000)).toBe(0xaa);
    ram.write16(RAM + 0x2002, 0x10203);
    expect(mem.read16(0x8002)).toBe(0x0203);
    ram.write64(RAM + 0x2008, 0x1122334455667788n);
    expect(mem.read64(0x8008)).toBe(0x1122334455667788n);
    expect(ram.read64(RAM + 0x2008)).toBe(0x1122334455667788n);
    ram.write(RAM + 0x20, 4, 0x01020304);
    ram.write(RAM + 0x24, 2, 0x0506);
    ram.write(RAM + 0x26, 1, 0x07);
    expect([ram.read(RAM + 0x20, 4), ram.read(RAM + 0x24, 2), ram.read(RAM + 0x26, 1)]).toEqual([0x01020304, 0x0506, 7]);
  });

  it('load64/store64 are the walker port: -1/false off guest RAM', () => {
    const { mem, ram } = setup();
    expect(ram.store64(RAM + 0x1ff8, 0x89abcdef, 0x01234567)).toBe(true);
    expect(mem.load64(0x2ff8)).toBe(0x89abcdef);
    expect(ram.load64(RAM + 0x1ff8)).toBe(0x89abcdef);
    expect(ram.hi).toBe(0x01234567);
    // A NaN pattern survives the view too.
    ram.store64(RAM + 0x2000, 1, 0x7ff00000);
    expect([ram.load64(RAM + 0x2000), ram.hi]).toEqual([1, 0x7ff00000]);
    for (const ipa of [RAM - 8, RAM + 0x6000, 0, -8, RAM + 4, Number.NaN]) {
      expect(ram.load64(ipa)).toBe(-1);
      expect(ram.store64(ipa, 0, 0)).toBe(false);
    }
  });

  it('load64 reports -1 when the p2m points outside physical memory', () => {
    const mem = PhysMemory.create('64K');
    const ram = new GuestRam(mem, new RangeP2m([{ ipa: RAM, pa: 0xf000, size: 0x2000 }]).lookup);
    expect(ram.load64(RAM + 0xff8)).toBe(0);
    expect(ram.load64(RAM + 0x1000)).toBe(-1);
    expect(ram.store64(RAM + 0x1000, 1, 1)).toBe(false);
    expect(thrown(() => ram.read32(RAM + 0x1000)).code).toBe('EVSMMU_MEM_RANGE');
  });

  it('splits byte accesses that cross pages', () => {
    const { mem, ram } = setup();
    const data = Uint8Array.from({ length: 0x2100 }, (_, i) => (i * 7 + 3) & 0xff);
    ram.writeBytes(RAM + 0xf80, data); // 0x80 bytes in page 0, 4K in page 1, the rest in the bank
    expect(mem.readBytes(0x5f80, 0x80)).toEqual(data.subarray(0, 0x80));
    expect(mem.readBytes(0x2000, 0x1000)).toEqual(data.subarray(0x80, 0x1080));
    expect(mem.readBytes(0x8000, 0x1080)).toEqual(data.subarray(0x1080));
    expect(ram.readBytes(RAM + 0xf80, data.length)).toEqual(data);
    expect(ram.readBytes(RAM + 0xfff, 2)).toEqual(new Uint8Array([data[0x7f]!, data[0x80]!]));
    ram.fill(RAM + 0xffe, 4, 0x1ee);
    expect([mem.read16(0x5ffe), mem.read16(0x2000)]).toEqual([0xeeee, 0xeeee]);
    ram.writeBytes(RAM + 0x1ffe, [1, 2, 3]);
    expect([mem.read8(0x2ffe), mem.read8(0x2fff), mem.read8(0x8000)]).toEqual([1, 2, 3]);
    expect(ram.readBytes(RAM, 0).length).toBe(0);
    // Zero-length accesses touch no page: accepted even where there is no RAM.
    expect(ram.readBytes(0x1000, 0).length).toBe(0);
    ram.writeBytes(RAM - 100, []);
    ram.fill(RAM + 0x6000, 0, 1);
  });

  it('refuses IPAs it does not own with EVSMMU_GUEST_RANGE, writing nothing', () => {
    const { mem, ram } = setup();
    const e = thrown(() => ram.read32(RAM + 0x6000));
    expect(e.code).toBe('EVSMMU_GUEST_RANGE');
    expect(e.message).toBe("read32 of 4 bytes at IPA 0x40006000 is outside the guest's RAM");
    expect(e.details).toEqual({ ipa: RAM + 0x6000, length: 4, unmapped: RAM + 0x6000 });
    const before = mem.readBytes(0, mem.size);
    const w = thrown(() => ram.writeBytes(RAM + 0x5ff0, new Uint8Array(0x20).fill(9)));
    expect(w.code).toBe('EVSMMU_GUEST_RANGE');
    expect(w.message).toBe("writeBytes of 32 bytes at IPA 0x40005ff0 is outside the guest's RAM (IPA 0x40006000 is not mapped)");
    expect(thrown(() => ram.fill(RAM - 1, 2, 0)).code).toBe('EVSMMU_GUEST_RANGE');
    expect(Buffer.compare(mem.readBytes(0, mem.size), before)).toBe(0); // nothing partially written
    expect(thrown(() => ram.readBytes(RAM + 0x5fff, 2)).code).toBe('EVSMMU_GUEST_RANGE');
    for (const f of [
      () => ram.read8(-1), () => ram.read8(1.5), () => ram.write8(Number.NaN, 0), () => ram.read64(0),
      () => ram.write64(RAM + 0x6000, 0n), () => ram.write16(0x1000, 0), () => ram.readBytes(RAM, -1),
      () => ram.readBytes(RAM, 0.5), () => ram.read(2 ** 60, 4),
    ]) {
      expect(thrown(f).code).toBe('EVSMMU_GUEST_RANGE');
    }
  });

  it('requires natural alignment (EVSMMU_MEM_ALIGN)', () => {
    const { ram } = setup();
    expect(thrown(() => ram.read32(RAM + 0xffe)).message).toBe('read32 at IPA 0x40000ffe is not 4-byte aligned');
    expect(thrown(() => ram.write16(RAM + 1, 0)).code).toBe('EVSMMU_MEM_ALIGN');
    expect(thrown(() => ram.read64(RAM + 4)).code).toBe('EVSMMU_MEM_ALIGN');
  });

  it('translate and owns', () => {
    const { ram } = setup();
    expect(ram.translate(RAM + 0x1004)).toBe(0x2004);
    expect(ram.translate(RAM - 1)).toBe(-1);
    expect(ram.translate(1.5)).toBe(-1);
    expect(ram.owns(RAM, 0x6000)).toBe(true);
    expect(ram.owns(RAM, 0x6001)).toBe(false);
    expect(ram.owns(RAM + 0x5fff)).toBe(true);
    expect(ram.owns(RAM - 1, 2)).toBe(false);
    expect(ram.owns(RAM, -1)).toBe(false);
  });

  it('uses the granule to split: 64K pages with a custom p2m', () => {
    const mem = PhysMemory.create('256K');
    // IPA page k (64K) -> PA page (3 - k); the lookup is only consistent within 64K pages.
    const ram = new GuestRam(mem, (ipa) => (ipa >= 0 && ipa < 0x40000 ? (3 - Math.floor(ipa / 0x10000)) * 0x10000 + (ipa % 0x10000) : -1), 0x10000);
    ram.writeBytes(0xfffe, [1, 2, 3, 4]);
    expect(Array.from(mem.readBytes(0x3fffe, 2))).toEqual([1, 2]);
    expect(Array.from(mem.readBytes(0x20000, 2))).toEqual([3, 4]);
    expect(thrown(() => new GuestRam(mem, () => -1, 8192)).code).toBe('EVSMMU_BADSIZE');
  });
});
