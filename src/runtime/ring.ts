// Blocking forms of the SAB rings (src/ports/ring.ts) for code that runs on its own thread:
// a producer waiting for space, a consumer waiting for records, a set consumer waiting for
// any ring, each with the runtime's one wait strategy (wait.ts). Layout and protocol are
// the port's; this adds only the waits.
import {
  RING_CLOSED, RING_HEAD, RING_TAIL, RingConsumer as PortConsumer, RingProducer as PortProducer,
  RingSetConsumer as PortSetConsumer, type RingDesc, type RingSetDesc,
} from '../ports/ring.ts';
import { SpinPolicy, WAIT_OK, waitUntil, waitUntilAsync, waitWhile, waitWhileAsync } from './wait.ts';

export { createRing, createRingSet, type RingDesc, type RingOptions, type RingSetDesc } from '../ports/ring.ts';

export class RingProducer extends PortProducer {
  /** This side's adaptive spin budget. */
  private readonly spin = new SpinPolicy();

  /**
   * Waits until `n` slots are free (n <= capacity). Returns n, or 0 on timeout; throws
   * EVSMMU_RING_CLOSED if the ring is closed. Then write records at `offset(0..n-1)` and commit(n).
   */
  reserve(n: number, timeoutMs = Infinity): number {
    for (;;) {
      if (this.tryReserve(n) === n) return n;
      if (waitWhile(this.h, RING_HEAD, this.head, this.spaceBell, this.spaceBellIdx, RING_CLOSED, timeoutMs, this.spin) !== WAIT_OK) return 0;
    }
  }

  async reserveAsync(n: number, timeoutMs = Infinity): Promise<number> {
    for (;;) {
      if (this.tryReserve(n) === n) return n;
      if ((await waitWhileAsync(this.h, RING_HEAD, this.head, this.spaceBell, this.spaceBellIdx, RING_CLOSED, timeoutMs, this.spin)) !== WAIT_OK) return 0;
    }
  }

  /** Copies one record in and publishes it (convenience; batches are cheaper). */
  push(record: ArrayLike<number>, timeoutMs = Infinity): boolean {
    if (this.reserve(1, timeoutMs) === 0) return false;
    this.write(record);
    return true;
  }
}

export class RingConsumer extends PortConsumer {
  private readonly spin = new SpinPolicy();

  /**
   * Waits for at least one record; returns how many (up to `max`) are ready to read at
   * `offset(0..n-1)`, 0 on timeout, -1 if the ring is closed and drained. Then release(n).
   */
  acquire(max: number, timeoutMs = Infinity): number {
    for (;;) {
      const n = this.tryAcquire(max);
      if (n !== 0) return n;
      if (waitWhile(this.h, RING_TAIL, this.tail, this.bell, this.bellIdx, RING_CLOSED, timeoutMs, this.spin) !== WAIT_OK) return 0;
    }
  }

  async acquireAsync(max: number, timeoutMs = Infinity): Promise<number> {
    for (;;) {
      const n = this.tryAcquire(max);
      if (n !== 0) return n;
      if ((await waitWhileAsync(this.h, RING_TAIL, this.tail, this.bell, this.bellIdx, RING_CLOSED, timeoutMs, this.spin)) !== WAIT_OK) return 0;
    }
  }

  /**
   * Reads up to `max` records in place: `fn(u32, offset)` per record, then one release.
   * Returns the count, 0 on timeout, -1 when closed and drained.
   */
  consume(max: number, fn: (u32: Uint32Array, offset: number) => void, timeoutMs = Infinity): number {
    return this.each(this.acquire(max, timeoutMs), fn);
  }
}

/** The consumer of a RingSet: services all rings, sleeping on the shared doorbell. */
export class RingSetConsumer extends PortSetConsumer<RingConsumer> {
  private readonly spin = new SpinPolicy();
  private readonly anyReady = (): boolean => this.ready() !== -1 || this.allClosed();

  constructor(desc: RingSetDesc) {
    super(desc, (d: RingDesc) => new RingConsumer(d));
  }

  /** Waits for any ring to have records; its index, -1 on timeout, -2 when all closed and drained. */
  waitAny(timeoutMs = Infinity): number {
    const i = this.ready();
    if (i >= 0) return i;
    if (waitUntil(this.anyReady, this.bell, this.bellIdx, timeoutMs, this.spin) !== WAIT_OK) return -1;
    const j = this.ready();
    return j >= 0 ? j : -2;
  }

  async waitAnyAsync(timeoutMs = Infinity): Promise<number> {
    const i = this.ready();
    if (i >= 0) return i;
    if ((await waitUntilAsync(this.anyReady, this.bell, this.bellIdx, timeoutMs, this.spin)) !== WAIT_OK) return -1;
    const j = this.ready();
    return j >= 0 ? j : -2;
  }
}

