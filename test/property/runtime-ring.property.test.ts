// fast-check model of the ring's index protocol: any interleaving of producer and consumer
// steps on one thread behaves as a bounded FIFO queue, including across the int32 wrap.
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { RingConsumer, RingProducer, createRing } from '../../src/runtime/ring.ts';

type Step = { kind: 'produce' | 'consume'; n: number };

const step = fc.record({ kind: fc.constantFrom<'produce' | 'consume'>('produce', 'consume'), n: fc.integer({ min: 1, max: 16 }) });

describe('ring index protocol', () => {
  it('is a bounded FIFO for every interleaving', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(2, 4, 8, 16),
        fc.constantFrom(0, 0x7ffffff0, -20, 0x7fffffff),
        fc.array(step, { maxLength: 200 }),
        (capacity, start, steps: Step[]) => {
          const desc = createRing({ capacity, recordBytes: 8 });
          const h = new Int32Array(desc.sab);
          h[0] = start;
          h[16] = start;
          const p = new RingProducer(desc);
          const c = new RingConsumer(desc);
          const model: number[] = [];
          let next = 0;
          for (const s of steps) {
            if (s.kind === 'produce') {
              const n = Math.min(s.n, capacity);
              const fits = capacity - model.length >= n;
              const got = p.reserve(n, 0);
              if (got !== (fits ? n : 0)) return false;
              if (!got) continue;
              for (let i = 0; i < n; i++) {
                const o = p.offset(i);
                p.u32[o] = next;
                p.u32[o + 1] = ~next >>> 0;
                model.push(next++);
              }
              p.commit(n);
            } else {
              const got = c.acquire(s.n, 0);
              if (got !== Math.min(s.n, model.length)) return false;
              for (let i = 0; i < got; i++) {
                const o = c.offset(i);
                const want = model.shift();
                if (c.u32[o] !== want || c.u32[o + 1] !== ~(want ?? 0) >>> 0) return false;
              }
              if (got > 0) c.release(got);
            }
            if (p.free() !== capacity - model.length || c.available() !== model.length) return false;
          }
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });
});
