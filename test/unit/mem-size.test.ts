import { describe, expect, it } from 'vitest';
import { formatSize, GiB, KiB, MiB, parseSize, TiB } from '../../src/mem/size.ts';
import { thrown } from '../support/errors.ts';

describe('parseSize', () => {
  it.each([
    [4096, 4096],
    [0, 0],
    ['4096', 4096],
    [' 4096 ', 4096],
    ['64K', 64 * KiB],
    ['64k', 64 * KiB],
    ['64KB', 64 * KiB],
    ['64KiB', 64 * KiB],
    ['512M', 512 * MiB],
    ['512 MiB', 512 * MiB],
    ['1G', GiB],
    ['2GiB', 2 * GiB],
    ['2gib', 2 * GiB],
    ['1T', TiB],
    ['100B', 100],
    ['1.5G', 1.5 * GiB],
    ['0.5K', 512],
    ['1.25K', 1280],
    ['0x10000', 0x10000],
    ['0X4000_0000'.replace('_', ''), 0x40000000],
  ] as const)('%s -> %d', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each([
    [-1, 'negative'],
    ['-1', 'negative'],
    ['-4K', 'negative'],
    [1.5, 'not a whole number of bytes'],
    ['1.5', 'not a whole number of bytes'],
    ['1.3K', 'not a whole number of bytes'],
    [Number.NaN, 'not a finite number'],
    [Number.POSITIVE_INFINITY, 'not a finite number'],
    ['12X', 'unknown suffix'],
    ['12 PB', 'unknown suffix'],
    ['12iB', 'unknown suffix'],
    ['', 'not a size'],
    ['K', 'not a size'],
    ['lots', 'not a size'],
    ['0x', 'unknown suffix'],
    ['9999999999T', 'too large'],
    [2 ** 53, 'too large'],
  ] as const)('rejects %s (%s)', (input, why) => {
    const e = thrown(() => parseSize(input));
    expect(e.code).toBe('EVSMMU_BADSIZE');
    expect(e.message).toContain(why);
    // Says what is accepted.
    expect(e.message).toMatch(/expected .*"512M".*"2GiB"/);
  });

  it('rejects values that are not numbers or strings', () => {
    expect(thrown(() => parseSize(null as unknown as number)).code).toBe('EVSMMU_BADSIZE');
    expect(thrown(() => parseSize(4096n as unknown as number)).message).toContain('not a number or string');
  });

  it('enforces multipleOf, min and max, naming what is sized', () => {
    expect(parseSize('128K', { multipleOf: 64 * KiB })).toBe(128 * KiB);
    const e = thrown(() => parseSize('100K', { multipleOf: 64 * KiB, what: 'memory size' }));
    expect(e.code).toBe('EVSMMU_BADSIZE');
    expect(e.message).toMatch(/invalid memory size "100K": not a multiple of 64K \(65536 bytes\)/);
    expect(thrown(() => parseSize(1, { min: 2 })).message).toContain('below the minimum 2');
    expect(thrown(() => parseSize('2G', { max: GiB })).message).toContain('above the maximum 1G');
    expect(parseSize('1G', { min: GiB, max: GiB })).toBe(GiB);
  });

  it('carries the input in details', () => {
    expect(thrown(() => parseSize('7Q')).details).toEqual({ input: '7Q' });
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0'],
    [1536, '1536'],
    [64 * KiB, '64K'],
    [512 * MiB, '512M'],
    [3 * GiB, '3G'],
    [2 * TiB, '2T'],
  ])('%d -> %s', (bytes, s) => {
    expect(formatSize(bytes)).toBe(s);
    expect(parseSize(s)).toBe(bytes);
  });
});
