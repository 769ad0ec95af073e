// Everything at once with more threads than cores: 6 vCPUs of 3 guests on one handler,
// 2 ring producers into a RingSet, all checked; bounded by the test timeout. Spinning
// waiters must back off here or the run takes minutes instead of seconds.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { TrapServer, createTrapChannel, createTrapServer } from '../../src/runtime/trap.ts';
import { RingSetConsumer, createRingSet } from '../../src/runtime/ring.ts';
import type { RingConsumer } from '../../src/runtime/ring.ts';
import { checkRecord } from '../support/prng.ts';

const roles = new URL('../support/runtime-roles.ts', import.meta.url);

function run<T>(data: Record<string, unknown>, onReady?: () => void): Promise<T> {
  const worker = new Worker(roles, { workerData: data });
  return new Promise<T>((resolve, reject) => {
    worker.on('message', (m: { ready?: boolean }) => (m.ready ? onReady?.() : resolve(m as T)));
    worker.once('error', reject);
  });
}

describe('runtime under oversubscription', () => {
  it('traps and rings stay correct with 9 threads on 2 cores', { timeout: 30_000 }, async () => {
    const sd = createTrapServer();
    const channels = Array.from({ length: 6 }, () => createTrapChannel(sd));
    let ready!: () => void;
    const up = new Promise<void>((r) => (ready = r));
    const server = run<{ served: number }>({ role: 'trap-server', server: sd, channels }, () => ready());
    await up;
    const count = 600;
    const vcpus = channels.map((channel, i) =>
      run<{ errors: string[]; aborts: number }>({ role: 'trap-vcpu', channel, seed: 500 + i, count, tag: (i % 3) << 29 }),
    );
    const per = 30_000;
    const set = createRingSet(2, { capacity: 64, recordBytes: 32 });
    const producers = set.rings.map((ring, i) => run({ role: 'ring-producer', ring, seed: 900 + i, total: per, maxBatch: 64, producer: i }));
    const cons = new RingSetConsumer(set);
    const next = [0, 0];
    let bad = '';
    for (;;) {
      const i = await cons.waitAnyAsync(20_000);
      if (i < 0) {
        expect(i).toBe(-2);
        break;
      }
      const r = cons.rings[i] as RingConsumer;
      const n = r.acquire(64, 0);
      for (let k = 0; k < n && !bad; k++) bad = checkRecord(r.u32, r.offset(k), r.recordWords, (next[i] ?? 0) + k, i);
      r.release(n);
      next[i] = (next[i] ?? 0) + n;
      if (bad) break;
    }
    expect(bad).toBe('');
    expect(next).toEqual([per, per]);
    for (const v of await Promise.all(vcpus)) expect(v.errors).toEqual([]);
    await Promise.all(producers);
    new TrapServer(sd).close();
    expect((await server).served).toBe(6 * (2 * count + Math.ceil(count / 16)));
  });
});
