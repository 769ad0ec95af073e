// IRQ lines on one thread: level vs edge, counters, waits with timeout, close.
import { describe, expect, it } from 'vitest';
import { IrqLines, createIrqLines } from '../../src/runtime/irq.ts';

const EDGE = 0;
const LEVEL = 1;

function bank() {
  return new IrqLines(createIrqLines({ lines: 4, level: 1 << LEVEL }));
}

describe('IRQ lines', () => {
  it('refuses banks outside 1..32 lines and lines outside the bank', () => {
    expect(() => createIrqLines({ lines: 0 })).toThrow(/lines/);
    expect(() => createIrqLines({ lines: 33 })).toThrow(/lines/);
    const b = bank();
    expect(() => b.raise(4)).toThrow(expect.objectContaining({ code: 'EVSMMU_IRQ_LINE' }));
    expect(new IrqLines(createIrqLines({ lines: 32 })).all).toBe(-1);
  });

  it('edge: latched until taken, raises coalesce, counters show it', () => {
    const b = bank();
    expect(b.isLevel(EDGE)).toBe(false);
    b.raise(EDGE);
    b.raise(EDGE);
    b.lower(EDGE); // nothing to lower on an edge line
    expect(b.pending()).toBe(1 << EDGE);
    expect(b.take()).toBe(1 << EDGE);
    expect(b.pending()).toBe(0);
    expect(b.take()).toBe(0);
    expect(b.stats(EDGE)).toEqual({ raised: 2, delivered: 1 });
  });

  it('level: pending while asserted, taking does not clear it, lower does', () => {
    const b = bank();
    expect(b.isLevel(LEVEL)).toBe(true);
    b.set(LEVEL, true);
    b.set(LEVEL, true); // still one assertion
    expect(b.take()).toBe(1 << LEVEL);
    expect(b.take()).toBe(1 << LEVEL); // delivered again while held
    b.lower(LEVEL);
    expect(b.take()).toBe(0);
    b.raise(LEVEL);
    expect(b.stats(LEVEL)).toEqual({ raised: 2, delivered: 2 });
  });

  it('take(mask) takes only the lines in the mask', () => {
    const b = bank();
    b.raise(0);
    b.raise(2);
    b.raise(3);
    expect(b.take(1 << 2)).toBe(1 << 2);
    expect(b.pending()).toBe((1 << 0) | (1 << 3));
    expect(b.stats(0).delivered).toBe(0);
  });

  it('wait returns the pending lines of the mask without taking them, 0 on timeout', async () => {
    const b = bank();
    b.raise(3);
    expect(b.wait(1 << 0, 0)).toBe(0);
    const t0 = performance.now();
    expect(b.wait(1 << 0, 30)).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(b.wait((1 << 0) | (1 << 3), 1_000)).toBe(1 << 3);
    expect(b.pending()).toBe(1 << 3);
    expect(await b.waitAsync(1 << 1, 20)).toBe(0);
    const w = b.waitAsync(1 << 1, 5_000);
    setImmediate(() => b.raise(1));
    expect(await w).toBe(1 << 1);
  });

  it('close wakes waiters with EVSMMU_IRQ_CLOSED unless a line of the mask is pending', async () => {
    const b = bank();
    const w = b.waitAsync(1 << 0, 5_000);
    b.close();
    await expect(w).rejects.toMatchObject({ code: 'EVSMMU_IRQ_CLOSED' });
    b.raise(2);
    expect(b.wait(1 << 2, 0)).toBe(1 << 2);
    expect(() => b.wait(1 << 0, 1_000)).toThrow(expect.objectContaining({ code: 'EVSMMU_IRQ_CLOSED' }));
  });
});
