import { describe, expect, it } from 'vitest';
import { ConfigCache } from '../../src/smmu/config-cache.ts';

describe('ConfigCache', () => {
  it('caches STEs and CDs until the matching CFGI', () => {
    const c = new ConfigCache<string, string>(8, 8);
    c.putSte(5, 'ste5');
    c.putCd(5, 0, 'cd5.0');
    c.putCd(5, 3, 'cd5.3');
    c.putCd(6, 0, 'cd6.0');
    expect(c.getSte(5)).toBe('ste5');
    c.invalidateCd(5, 3);
    expect(c.getCd(5, 3)).toBeUndefined();
    expect(c.getCd(5, 0)).toBe('cd5.0');
    c.invalidateCdAll(5);
    expect(c.getCd(5, 0)).toBeUndefined();
    expect(c.getSte(5)).toBe('ste5');
    expect(c.getCd(6, 0)).toBe('cd6.0');
    expect(c.steCounters).toMatchObject({ lookups: 2, hits: 2, misses: 0, insertions: 1 });
    expect(c.cdCounters).toMatchObject({ lookups: 4, hits: 2, misses: 2, insertions: 3, invalidated: 2 });
  });

  it('CFGI_STE drops the STE and every CD cached through that StreamID (IHI 0070 4.3.1)', () => {
    const c = new ConfigCache<string, string>(8, 8);
    c.putSte(1, 'a');
    c.putCd(1, 7, 'a7');
    c.putSte(2, 'b');
    c.putCd(2, 7, 'b7');
    let removals = 0;
    c.onRemove = () => void removals++;
    c.invalidateSte(1);
    expect(removals).toBeGreaterThan(0);
    expect(c.getSte(1)).toBeUndefined();
    expect(c.getCd(1, 7)).toBeUndefined();
    expect(c.getSte(2)).toBe('b');
    expect(c.getCd(2, 7)).toBe('b7');
  });

  it('CFGI_STE_RANGE covers an aligned range, including near 2^32, without looping over it', () => {
    const c = new ConfigCache<string, string>(8, 8);
    c.putSte(0xffff_fff0, 'hi');
    c.putSte(0x10, 'lo');
    c.putCd(0xffff_fff1, 2, 'hicd');
    c.invalidateSidRange(0, 0xffff_ffff);
    expect(c.steEntries + c.cdEntries).toBe(0);
    expect(c.steCounters.invalidated).toBe(2);
  });

  it('is bounded with LRU replacement', () => {
    const c = new ConfigCache<number, number>(3, 2);
    c.putSte(1, 1);
    c.putSte(2, 2);
    c.putSte(3, 3);
    c.getSte(1); // 2 is now the oldest
    c.putSte(4, 4);
    expect(c.getSte(2)).toBeUndefined();
    expect(c.getSte(1)).toBe(1);
    expect(c.steCounters.evictions).toBe(1);
    c.putCd(1, 1, 1);
    c.putCd(1, 2, 2);
    c.putCd(1, 3, 3);
    expect(c.cdEntries).toBe(2);
    expect(c.getCd(1, 1)).toBeUndefined();
  });
});
