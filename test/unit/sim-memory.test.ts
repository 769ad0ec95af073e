import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMemory } from '../../src/mem/phys.ts';
import { giveBackMemory, idleMemories, takeMemory } from '../../src/sim/memory.ts';
import { runStress } from '../../src/system/stress.ts';

const SIZE = 1024 * 1024;
const allZero = (m: PhysMemory): boolean => {
  const u = new Uint32Array(m.sab);
  for (let i = 0; i < u.length; i++) if (u[i] !== 0) return false;
  return true;
};

describe('write-tracked physical memory', () => {
  it('scrub() clears exactly the pages written through every accessor, whichever instance wrote them', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(6), fc.nat(SIZE / 8 - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 40 }), (writes) => {
        const m = PhysMemory.tracked(SIZE);
        const other = PhysMemory.attach(m.sab); // another actor's mapping on this thread
        expect(other.isTracked).toBe(true);
        for (const [how, word, v] of writes) {
          const pa = word * 8;
          const w = word % 2 === 0 ? m : other;
          if (how === 0) w.store64(pa, v, v);
          else if (how === 1) w.write8(pa + 3, v);
          else if (how === 2) w.write32(pa + 4, v);
          else if (how === 3) w.writeBytes(pa, [v, v, v]);
          else if (how === 4) w.fill(pa, Math.min(5000, SIZE - pa), v);
          else if (how === 5) w.view(pa, 8)[1] = v;
          else {
            w.u32[pa / 4] = v; // a raw write, declared
            w.markWritten(pa, 4);
          }
        }
        const pages = new Set<number>();
        for (let p = 0; p < SIZE; p += 4096) if (!new Uint8Array(m.sab, p, 4096).every((x) => x === 0)) pages.add(p);
        expect(m.scrub()).toBeGreaterThanOrEqual(pages.size);
        expect(allZero(m)).toBe(true);
        expect(m.scrub()).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('untracked memory has nothing to scrub and is never pooled', () => {
    const m = PhysMemory.create(SIZE);
    m.write8(0, 1);
    expect(m.isTracked).toBe(false);
    expect(m.scrub()).toBe(0);
    giveBackMemory(m);
    expect(takeMemory(SIZE) === m).toBe(false); // (not .not.toBe: it deep-compares two memories)
  });

  it('a memory given back is taken again by the next system of its size, zeroed', () => {
    const a = takeMemory(SIZE);
    a.fill(0, SIZE, 0x5a);
    giveBackMemory(a);
    const b = takeMemory(SIZE);
    expect(b === a).toBe(true);
    expect(allZero(b)).toBe(true);
    expect(takeMemory(SIZE) === a).toBe(false); // one holder at a time
  });

  it('a stress seed run in recycled memory has the digest of a run in new memory', async () => {
    const opts = { mode: 'sim' as const, guests: 2, rounds: 60 };
    const fresh = await runStress({ ...opts, seed: 7 });
    await runStress({ ...opts, seed: 8 }); // leaves its memory, written all over, to the pool
    const again = await runStress({ ...opts, seed: 7 });
    expect(again.ok).toBe(true);
    expect(again.digest).toBe(fresh.digest);
  }, 60_000);

  it('after a stress run, scrubbing leaves all of memory zero (every write path marks its pages)', async () => {
    const size = 168 * 1024 * 1024; // what stress gives one guest
    const before = idleMemories(size);
    await runStress({ mode: 'sim', guests: 1, rounds: 120, seed: 11 });
    expect(idleMemories(size)).toBe(before + 1);
    const mem = takeMemory(size); // the run's memory, scrubbed
    expect(mem.isTracked).toBe(true);
    expect(allZero(mem)).toBe(true);
  }, 60_000);
});
