// SPSC ring and RingSet across real threads: seeded producers with random batch sizes,
// a consumer on this (main) thread using the async waits; every record checked for order,
// loss, duplication (sequence numbers), corruption (checksums) and overruns (canaries).
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { RingConsumer, RingProducer, RingSetConsumer, createRing, createRingSet } from '../../src/runtime/ring.ts';
import type { RingDesc } from '../../src/runtime/ring.ts';
import { checkRecord, mulberry32, writeRecord } from '../support/prng.ts';

const roles = new URL('../support/runtime-roles.ts', import.meta.url);

function producer(ring: RingDesc, seed: number, total: number, maxBatch: number, id = 0): Promise<{ produced: number }> {
  const w = new Worker(roles, { workerData: { role: 'ring-producer', ring, seed, total, maxBatch, producer: id } });
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

describe('ring across threads', () => {
  for (const { recordBytes, capacity, maxBatch, seed } of [
    { recordBytes: 32, capacity: 64, maxBatch: 64, seed: 1 },
    { recordBytes: 20, capacity: 16, maxBatch: 16, seed: 2 },
    { recordBytes: 32, capacity: 1024, maxBatch: 7, seed: 3 },
  ]) {
    it(`delivers every record once, in order (record ${recordBytes} B, capacity ${capacity}, batches 1..${maxBatch})`, async () => {
      const total = 60_000;
      const ring = createRing({ capacity, recordBytes });
      const c = new RingConsumer(ring);
      const done = producer(ring, seed, total, maxBatch);
      let seq = 0;
      let bad = '';
      let batches = 0;
      for (;;) {
        const n = await c.acquireAsync(1 + (seq % 37), 10_000);
        if (n === -1) break;
        expect(n).toBeGreaterThan(0); // 0 would be a 10 s stall
        for (let i = 0; i < n && !bad; i++) bad = checkRecord(c.u32, c.offset(i), c.recordWords, seq + i, 0);
        if (bad) break;
        c.release(n);
        seq += n;
        batches++;
      }
      expect(bad).toBe('');
      expect(seq).toBe(total);
      expect((await done).produced).toBe(total);
      expect(batches).toBeGreaterThan(total / capacity); // wrapped many times
    });
  }

  it('blocking consumer in a worker, async producer here (full ring, producer waits for space)', async () => {
    const total = 40_000;
    const ring = createRing({ capacity: 32, recordBytes: 32 });
    const p = new RingProducer(ring);
    const w = new Worker(roles, { workerData: { role: 'ring-consumer', ring, maxBatch: 16 } });
    const result = new Promise<{ ok: boolean; bad: string; consumed: number; closed: boolean }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    const rnd = mulberry32(7);
    const payload = mulberry32(8);
    for (let seq = 0; seq < total; ) {
      const n = Math.min(total - seq, 1 + (rnd() % 32));
      expect(await p.reserveAsync(n, 10_000)).toBe(n);
      for (let i = 0; i < n; i++) writeRecord(p.u32, p.offset(i), p.recordWords, seq + i, 0, payload);
      p.commit(n);
      seq += n;
    }
    p.close();
    const r = await result;
    expect(r.bad).toBe('');
    expect(r.consumed).toBe(total);
    expect(r.closed).toBe(true);
  });

  it('RingSet: three producers, one consumer, per-producer FIFO, nothing lost', async () => {
    const per = 20_000;
    const set = createRingSet(3, { capacity: 32, recordBytes: 32 });
    const cons = new RingSetConsumer(set);
    const done = Promise.all(set.rings.map((r, i) => producer(r, 10 + i, per, 32, i)));
    const next = [0, 0, 0];
    let bad = '';
    for (;;) {
      const i = await cons.waitAnyAsync(10_000);
      if (i === -2) break;
      expect(i).toBeGreaterThanOrEqual(0);
      const r = cons.rings[i] as RingConsumer;
      const n = r.acquire(64, 0);
      for (let k = 0; k < n && !bad; k++) bad = checkRecord(r.u32, r.offset(k), r.recordWords, (next[i] ?? 0) + k, i);
      if (bad) break;
      r.release(n);
      next[i] = (next[i] ?? 0) + n;
    }
    expect(bad).toBe('');
    expect(next).toEqual([per, per, per]);
    await done;
  });
});
