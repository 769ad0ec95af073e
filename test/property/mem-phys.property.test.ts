// PhysMemory.fill with 0 skips 4 KiB chunks that already read as zero (to spare the host
// page faults on fresh memory): whatever the contents, the result must be the plain fill.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysMemory } from '../../src/mem/phys.ts';

const SIZE = 64 * 1024;
const m = PhysMemory.create(SIZE);

describe('PhysMemory.fill(…, 0)', () => {
  it('leaves exactly [pa, pa + len) zero and every other byte as it was', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(SIZE - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 40 }),
        fc.nat(SIZE - 1),
        fc.nat(3 * 4096 + 7),
        (dirty, pa, n) => {
          const len = Math.min(n, SIZE - pa);
          m.u8.fill(0);
          for (const [at, v] of dirty) m.u8[at] = v;
          const want = m.u8.slice();
          want.fill(0, pa, pa + len);
          m.fill(pa, len, 0);
          expect(m.u8.findIndex((b, i) => b !== want[i])).toBe(-1);
        },
      ),
      { numRuns: 300 },
    );
  });
});
