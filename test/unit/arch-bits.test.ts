import { describe, expect, it } from 'vitest';
import { fieldGet, fieldSet, get32, get64, hiOf, join64, loOf, set32, set64 } from '../../src/arch/bits.ts';

describe('bits', () => {
  it('extracts fields below, above and across bit 32', () => {
    expect(get64(0xf0000000, 0x0000000f, 35, 28)).toBe(0xff);
    expect(get64(0x12345678, 0x9abcdef0, 7, 4)).toBe(0x7);
    expect(get64(0x12345678, 0x9abcdef0, 63, 60)).toBe(0x9);
    expect(get64(0xffffffff, 0xffffffff, 63, 0 + 11)).toBe(2 ** 53 - 1); // 53 bits, exact
    expect(get64(0x80000000, 0, 31, 31)).toBe(1);
  });

  it('inserts fields across bit 32 without touching neighbours', () => {
    expect(set64(0xffffffff, 0xffffffff, 35, 28, 0)).toEqual([0x0fffffff, 0xfffffff0]);
    expect(set64(0, 0, 55, 6, 2 ** 50 - 1)).toEqual([0xffffffc0, 0x00ffffff]);
    expect(set64(0, 0, 3, 0, 0x1f)).toEqual([0xf, 0]); // truncated to the field
  });

  it('32-bit helpers', () => {
    expect(get32(0x7f000000, 30, 24)).toBe(0x7f);
    expect(set32(0xffffffff, 30, 24, 0)).toBe(0x80ffffff);
    expect(set32(0, 31, 31, 1)).toBe(0x80000000);
  });

  it('word-array fields agree with a bigint reference', () => {
    const words = [0x89abcdef, 0x01234567, 0xdeadbeef, 0xcafef00d];
    const big = words.reduce((acc, w, i) => acc | (BigInt(w) << BigInt(32 * i)), 0n);
    for (const [lsb, width] of [[0, 8], [28, 12], [60, 8], [64, 32], [70, 53], [4, 52], [127, 1]] as const) {
      const want = Number((big >> BigInt(lsb)) & ((1n << BigInt(width)) - 1n));
      expect(fieldGet(words, 0, lsb, width)).toBe(want);
    }
    const out = [0, 0, 0, 0];
    fieldSet(out, 0, 70, 53, 2 ** 53 - 1);
    const got = out.reduce((acc, w, i) => acc | (BigInt(w) << BigInt(32 * i)), 0n);
    expect(got).toBe(((1n << 53n) - 1n) << 70n);
  });

  it('join/split 64-bit numbers', () => {
    expect(join64(0x89abcdef, 0x001fffff)).toBe(0x1fffff89abcdef);
    expect(loOf(0x1fffff89abcdef)).toBe(0x89abcdef);
    expect(hiOf(0x1fffff89abcdef)).toBe(0x1fffff);
  });
});
