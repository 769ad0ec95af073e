// The one service loop: steps an actor while it has work, parks on its doorbell otherwise,
// wakes for a deadline, and leaves the event loop turns for control-plane calls.
import { describe, expect, it } from 'vitest';
import { Doorbell, createDoorbell } from '../../src/ports/doorbell.ts';
import { ServiceLoop, serveStepped, type Steppable } from '../../src/runtime/service.ts';

/** An actor whose work is a counter in shared memory (what a ring's TAIL would be). */
class Counter implements Steppable {
  readonly work = new Int32Array(new SharedArrayBuffer(4));
  done = 0;
  deadline = Infinity;
  onStep: (() => void) | null = null;
  step(now: number): number {
    const n = Atomics.exchange(this.work, 0, 0);
    this.done += n;
    if (now >= this.deadline) {
      this.deadline = Infinity;
      this.onStep?.();
      return 1;
    }
    if (n > 0) this.onStep?.();
    return n;
  }
  hasWork(): boolean {
    return Atomics.load(this.work, 0) !== 0;
  }
  nextDeadline(): number {
    return this.deadline;
  }
  stepped(): Promise<void> {
    return new Promise((r) => (this.onStep = r));
  }
}

describe('service loop', () => {
  it('steps when the doorbell rings after publishing work, and stops on request', async () => {
    const desc = createDoorbell();
    const bell = new Doorbell(desc);
    const a = new Counter();
    const loop = new ServiceLoop(a, { doorbell: desc });
    const ended = loop.start();
    for (let i = 1; i <= 3; i++) {
      const seen = a.stepped();
      Atomics.add(a.work, 0, 10);
      bell.ring();
      await seen;
      expect(a.done).toBe(10 * i);
    }
    await loop.stop();
    await ended;
  });

  it('an adaptive linger shrinks while requests come one at a time and no other follows', async () => {
    // A clock of our own that moves 0.001 ms a read: empty steps after a request count the
    // linger (0.2 ms = ~200 reads); sparse requests halve it each time, down to 0.01 ms.
    let clock = 0;
    const idleAfter = (adaptiveLinger: boolean) => async (): Promise<number[]> => {
      const desc = createDoorbell();
      const bell = new Doorbell(desc);
      let empty = 0;
      const a = new Counter();
      const actor: Steppable = {
        step: (n) => {
          const got = a.step(n);
          if (got === 0) empty++;
          return got;
        },
        hasWork: () => a.hasWork(),
        nextDeadline: () => Infinity,
      };
      const loop = new ServiceLoop(actor, { doorbell: desc, adaptiveLinger, now: () => (clock += 0.001) });
      void loop.start();
      const out: number[] = [];
      for (let i = 0; i < 8; i++) {
        const seen = a.stepped();
        empty = 0;
        Atomics.add(a.work, 0, 1);
        bell.ring();
        await seen;
        await new Promise<void>((r) => setImmediate(r)); // the slice ends and the loop parks
        await new Promise<void>((r) => setTimeout(r, 1));
        out.push(empty);
      }
      await loop.stop();
      return out;
    };
    const fixed = await idleAfter(false)();
    const adaptive = await idleAfter(true)();
    expect(Math.min(...fixed.slice(1))).toBeGreaterThan(100);
    expect(Math.max(...adaptive.slice(-3))).toBeLessThan(20);
  });

  it('steps at the deadline the actor asked for, with no doorbell', async () => {
    const a = new Counter();
    const loop = new ServiceLoop(a, { doorbell: createDoorbell() });
    const seen = a.stepped();
    a.deadline = performance.now() + 2;
    void loop.start();
    await seen;
    expect(a.deadline).toBe(Infinity);
    await loop.stop();
  });

  it('gives the event loop turns while the actor always has work (control calls get through)', async () => {
    let steps = 0;
    const busy: Steppable = { step: () => ++steps, hasWork: () => true, nextDeadline: () => Infinity };
    const loop = new ServiceLoop(busy, { doorbell: createDoorbell(), sliceMs: 1 });
    void loop.start();
    await new Promise<void>((r) => setTimeout(r, 0));
    await new Promise<void>((r) => setImmediate(r));
    expect(steps).toBeGreaterThan(0);
    await loop.stop();
  });

  it('serveStepped stops the loop before the control object is disposed', async () => {
    const order: string[] = [];
    const a = new Counter();
    const control = { async [Symbol.asyncDispose]() { order.push('disposed'); } };
    const served = serveStepped(control, { ...a, step: (n: number) => a.step(n), hasWork: () => a.hasWork(), nextDeadline: () => a.nextDeadline() }, { doorbell: createDoorbell() });
    await served[Symbol.asyncDispose]();
    order.push('after');
    expect(order).toEqual(['disposed', 'after']);
  });
});
