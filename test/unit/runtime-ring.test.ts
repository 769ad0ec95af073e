// SPSC ring, single thread: geometry, full/empty edges, counter wrap, close.
import { describe, expect, it } from 'vitest';
import { RingConsumer, RingProducer, RingSetConsumer, createRing, createRingSet } from '../../src/runtime/ring.ts';
import { VsmmuError } from '../../src/errors.ts';
import { createDoorbell } from '../../src/ports/doorbell.ts';

// Header word indices, as documented in ring.ts.
const HEAD = 0;
const TAIL = 16;

function pair(capacity: number, recordBytes: number, start = 0) {
  const desc = createRing({ capacity, recordBytes });
  const h = new Int32Array(desc.sab);
  h[HEAD] = start;
  h[TAIL] = start;
  return { desc, p: new RingProducer(desc), c: new RingConsumer(desc) };
}

describe('ring geometry', () => {
  it('refuses capacities that are not powers of two and record sizes not multiples of 4', () => {
    for (const capacity of [0, 1, 3, 100, 2 ** 25]) {
      expect(() => createRing({ capacity, recordBytes: 32 })).toThrow(VsmmuError);
    }
    for (const recordBytes of [0, 2, 6, 33]) {
      expect(() => createRing({ capacity: 8, recordBytes })).toThrow(/multiple of 4/);
    }
    const d = createRing({ capacity: 8, recordBytes: 12 });
    const p = new RingProducer(d);
    expect(p.capacity).toBe(8);
    expect(p.recordWords).toBe(3);
    expect(p.u32.length).toBe(24);
  });

  it('refuses batches outside [1, capacity]', () => {
    const { p } = pair(8, 8);
    expect(() => p.reserve(0)).toThrow(/batch/);
    expect(() => p.reserve(9)).toThrow(/batch/);
    const { c } = pair(8, 8);
    expect(() => c.acquire(0)).toThrow(expect.objectContaining({ code: 'EVSMMU_RING_BATCH' }));
  });
});

describe('full and empty', () => {
  it('empty: acquire times out with 0; full: reserve times out with 0', () => {
    const { p, c } = pair(4, 8);
    expect(c.acquire(4, 0)).toBe(0);
    expect(p.reserve(4, 0)).toBe(4);
    for (let i = 0; i < 4; i++) p.u32[p.offset(i)] = 100 + i;
    p.commit(4);
    expect(p.free()).toBe(0);
    expect(p.reserve(1, 0)).toBe(0);
    expect(c.acquire(2, 0)).toBe(2);
    expect([c.u32[c.offset(0)], c.u32[c.offset(1)]]).toEqual([100, 101]);
    c.release(2);
    expect(p.reserve(3, 0)).toBe(0); // only 2 free
    expect(p.reserve(2, 0)).toBe(2);
    expect(c.acquire(10, 0)).toBe(2); // the two still unread
  });

  it('consume() reads in place and releases once; 0 on timeout', () => {
    const { p, c } = pair(8, 8);
    for (let k = 0; k < 5; k++) expect(p.push([k, ~k])).toBe(true);
    const seen: number[] = [];
    expect(c.consume(3, (u, o) => seen.push(u[o] ?? -1))).toBe(3);
    expect(c.consume(8, (u, o) => seen.push(u[o] ?? -1))).toBe(2);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(c.consume(8, () => {}, 0)).toBe(0);
  });

  it('keeps order across the int32 wrap of its counters', () => {
    const { p, c } = pair(8, 4, 0x7ffffff9);
    let next = 0;
    for (let round = 0; round < 10; round++) {
      const n = p.reserve(5);
      for (let i = 0; i < n; i++) p.u32[p.offset(i)] = round * 5 + i;
      p.commit(n);
      const m = c.acquire(8, 0);
      expect(m).toBe(5);
      for (let i = 0; i < m; i++) expect(c.u32[c.offset(i)]).toBe(next++);
      c.release(m);
    }
    expect(new Int32Array(c.u32.buffer)[TAIL]).toBeLessThan(0); // the counter did wrap
  });
});

describe('close', () => {
  it('consumer drains what was committed, then gets -1; producer gets EVSMMU_RING_CLOSED', () => {
    const { p, c } = pair(8, 4);
    p.push([7]);
    p.close();
    expect(c.closed).toBe(true);
    expect(c.acquire(8, 0)).toBe(1);
    c.release(1);
    expect(c.acquire(8)).toBe(-1); // no hang: closed and drained
    expect(() => p.reserve(1)).toThrow(expect.objectContaining({ code: 'EVSMMU_RING_CLOSED' }));
  });

  it('async acquire resolves -1 when the ring is closed while it waits', async () => {
    const { p, c } = pair(8, 4);
    const w = c.acquireAsync(8);
    p.close();
    expect(await w).toBe(-1);
  });

  it('async acquire wakes on data committed later', async () => {
    const { p, c } = pair(8, 4);
    const w = c.acquireAsync(8, 5_000);
    setImmediate(() => p.push([42]));
    expect(await w).toBe(1);
    expect(c.u32[c.offset(0)]).toBe(42);
  });
});

describe('space doorbell', () => {
  it('a release rings the producer\'s space doorbell, and a producer waiting for space parks on it', async () => {
    const bell = createDoorbell();
    const word = new Int32Array(bell.sab);
    const desc = createRing({ capacity: 2, recordBytes: 4 }, undefined, bell);
    const p = new RingProducer(desc);
    const c = new RingConsumer(desc);
    expect(p.push([1])).toBe(true);
    expect(p.push([2])).toBe(true);
    Atomics.store(word, bell.index, 1); // a thread parked on the doorbell
    expect(c.acquire(1, 0)).toBe(1);
    c.release(1);
    expect(Atomics.load(word, bell.index)).toBe(0); // woken by the release
    expect(p.push([3])).toBe(true);
    const w = p.reserveAsync(1, 5_000); // full: parks on the doorbell
    setImmediate(() => c.release(c.acquire(1, 0)));
    expect(await w).toBe(1);
  });
});

describe('quiet publication', () => {
  it('publish and retire move the counters without ringing; ringConsumer / ringProducer wake a sleeper', () => {
    const cbell = createDoorbell();
    const sbell = createDoorbell();
    const cw = new Int32Array(cbell.sab);
    const sw = new Int32Array(sbell.sab);
    const desc = createRing({ capacity: 4, recordBytes: 4 }, cbell, sbell);
    const p = new RingProducer(desc);
    const c = new RingConsumer(desc);
    Atomics.store(cw, cbell.index, 1); // the consumer parked
    expect(p.tryReserve(2)).toBe(2);
    p.u32[p.offset(0)] = 7;
    p.u32[p.offset(1)] = 8;
    p.publish(2);
    expect(c.available()).toBe(2); // visible to a poller
    expect(Atomics.load(cw, cbell.index)).toBe(1); // a sleeper is not woken
    p.ringConsumer();
    expect(Atomics.load(cw, cbell.index)).toBe(0);
    Atomics.store(sw, sbell.index, 1); // the producer parked for space
    expect(c.tryAcquire(2)).toBe(2);
    expect([c.u32[c.offset(0)], c.u32[c.offset(1)]]).toEqual([7, 8]);
    c.retire(2);
    expect(p.free()).toBe(4);
    expect(Atomics.load(sw, sbell.index)).toBe(1);
    c.ringProducer();
    expect(Atomics.load(sw, sbell.index)).toBe(0);
  });
});

describe('RingSet', () => {
  it('services several producers round-robin, each in FIFO order', () => {
    const set = createRingSet(3, { capacity: 4, recordBytes: 8 });
    const prods = set.rings.map((r) => new RingProducer(r));
    const cons = new RingSetConsumer(set);
    expect(cons.waitAny(0)).toBe(-1);
    prods.forEach((p, i) => {
      p.push([i, 0]);
      p.push([i, 1]);
    });
    const got: string[] = [];
    for (let k = 0; k < 6; k++) {
      const i = cons.waitAny(0);
      expect(i).toBeGreaterThanOrEqual(0);
      const r = cons.rings[i];
      if (!r) throw new Error('no ring');
      r.consume(1, (u, o) => got.push(`${u[o]}.${u[o + 1]}`));
    }
    expect(got).toEqual(['0.0', '1.0', '2.0', '0.1', '1.1', '2.1']);
    prods.forEach((p) => p.close());
    expect(cons.waitAny(0)).toBe(-2);
  });
});
