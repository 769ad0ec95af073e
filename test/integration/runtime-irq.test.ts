// IRQ lines across threads: a blocking sink in a worker, sources here and in a worker.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { IrqLines, createIrqLines } from '../../src/runtime/irq.ts';

const roles = new URL('../support/runtime-roles.ts', import.meta.url);

describe('IRQ lines across threads', () => {
  it('a blocked sink wakes on a raise from another thread, and on close', async () => {
    const desc = createIrqLines({ lines: 8, level: 1 << 4 });
    const irq = new IrqLines(desc);
    const w = new Worker(roles, { workerData: { role: 'irq-sink', irq: desc, mask: (1 << 2) | (1 << 4), timeoutMs: 10_000 } });
    const msgs: Record<string, unknown>[] = [];
    const r = await new Promise<Record<string, unknown>>((resolve, reject) => {
      w.on('message', (m: Record<string, unknown>) => {
        msgs.push(m);
        if (m['phase'] === 'armed') {
          irq.raise(7); // not in the mask: must not end the wait
          irq.raise(2);
        }
        if (m['phase'] === 'taken') irq.close(); // the sink now waits on line 5, never raised
        if (m['ok']) resolve(m);
      });
      w.once('error', reject);
    });
    expect(msgs[0]).toEqual({ phase: 'armed', got: 0 });
    expect(msgs[1]).toEqual({ phase: 'taken', got2: 1 << 2, taken: 1 << 2 });
    expect(r['closed']).toBe('EVSMMU_IRQ_CLOSED');
    expect(irq.pending()).toBe(1 << 7);
    expect(irq.stats(2)).toEqual({ raised: 1, delivered: 1 });
  });

  it('async sink here, edge raises from a worker: counters add up', async () => {
    const desc = createIrqLines({ lines: 4 });
    const irq = new IrqLines(desc);
    const lines = Array.from({ length: 300 }, (_, k) => k % 3);
    const w = new Worker(roles, { workerData: { role: 'irq-source', irq: desc, lines } });
    w.once('exit', () => irq.close()); // after its last raise
    let takes = 0;
    for (;;) {
      try {
        const got = await irq.waitAsync(0b111, 10_000);
        expect(got).not.toBe(0); // 0 would be a 10 s stall
        expect(irq.take(got)).toBe(got);
        takes++;
      } catch (e) {
        expect(e).toMatchObject({ code: 'EVSMMU_IRQ_CLOSED' });
        break;
      }
    }
    let raised = 0;
    let delivered = 0;
    for (let l = 0; l < 3; l++) {
      raised += irq.stats(l).raised;
      delivered += irq.stats(l).delivered;
      expect(irq.stats(l).raised).toBe(100);
      expect(irq.stats(l).delivered).toBeGreaterThanOrEqual(1);
    }
    expect(raised).toBe(300);
    expect(delivered).toBeLessThanOrEqual(raised);
    expect(takes).toBeGreaterThan(0);
    expect(irq.pending()).toBe(0);
  });
});

describe('async waits keep their thread alive', () => {
  it('a worker whose only activity is waitAsync does not exit before the wake-up', async () => {
    const desc = createIrqLines({ lines: 1 });
    const irq = new IrqLines(desc);
    const park = new Int32Array(desc.sab); // word 16 = the sink's park word (irq.ts layout)
    const w = new Worker(roles, { workerData: { role: 'async-waiter', irq: desc } });
    let exitedEarly = false;
    let result: Record<string, unknown> | undefined;
    const exited = new Promise<void>((r) =>
      w.once('exit', () => {
        if (!result) exitedEarly = true;
        r();
      }),
    );
    w.on('message', (m: Record<string, unknown>) => {
      if (m['ok']) result = m;
    });
    // Handshake on shared memory: the sink has parked (spin over, waitAsync pending).
    while (Atomics.load(park, 16) !== 1) await new Promise((r) => setImmediate(r));
    // Give a thread with an empty event loop ample time to end (it must not).
    await new Promise((r) => setTimeout(r, 100));
    expect(exitedEarly).toBe(false);
    irq.raise(0);
    await exited;
    expect(exitedEarly).toBe(false);
    expect(result).toEqual({ ok: true, got: 1 });
  });
});
