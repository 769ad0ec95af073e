// fast-check model of a DMA device's park protocol on its SMMU port, on one thread with the
// real rings, engine, queue and stream driver: the SMMU and the device's thread are two step
// machines, and fast-check chooses their interleaving (and the SMMU's chunk size). The SMMU
// serves a run of chunks as Smmu.servePorts does, each in two steps, as a thread can be
// descheduled between them: it publishes the completions, then releases the request slots,
// neither ringing the device; it rings the device's park word once the run ends. The
// device runs its stream with the whole ring in flight and
// waits as workers/guest-host.ts does: step the engine, check, announce (park word = 1),
// re-check, sleep until a ringer clears the word. Property: whatever the interleaving, the
// stream completes; no state has the device asleep beside an SMMU with nothing to do (the
// lost wake-up of a request ring freed after the completions that woke the device).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DmaDevice, type DmaYield } from '../../src/devices/dma-device.ts';
import { DmaEngine } from '../../src/devices/dma-engine.ts';
import { createDmaQueue, DmaQueueClient } from '../../src/devices/dma-queue.ts';
import { createDoorbell } from '../../src/ports/doorbell.ts';
import { CP_TAG, PortServer, RQ_TAG, TX_OK, writeCompletion } from '../../src/smmu/ports.ts';

const SIZE = 64;

/**
 * The SMMU's side of one port, as Smmu.servePorts runs it: a run of chunks, each published
 * without a wake-up (completions committed, then request slots released: separate steps, as
 * a thread can be descheduled between them), the device's park word rung once the run ends.
 */
class Smmu {
  private phase: 'idle' | 'retire' | 'chunked' = 'idle';
  private pending = 0;
  private readonly p: PortServer;
  private readonly chunk: number;
  constructor(p: PortServer, chunk: number) {
    this.p = p;
    this.chunk = chunk;
  }
  private work(): number {
    return Math.min(this.p.req.available(), this.p.cpl.free(), this.chunk);
  }
  canAct(): boolean {
    return this.phase !== 'idle' || this.work() > 0;
  }
  step(choice: number): void {
    const p = this.p;
    if (this.phase === 'retire') {
      p.req.retire(this.pending);
      this.phase = 'chunked';
      return;
    }
    const w = this.work();
    // In a run: serve another chunk if there is one (and the choice says so), else end it.
    if (this.phase === 'chunked' && (w === 0 || (choice & 1) === 1)) {
      p.cpl.ringConsumer();
      p.req.ringProducer();
      this.phase = 'idle';
      return;
    }
    if (w === 0) throw new Error('model: SMMU stepped without work');
    const m = 1 + ((choice >> 1) % w);
    if (p.req.tryAcquire(m) !== m || p.cpl.tryReserve(m) !== m) throw new Error('model: SMMU batch not available');
    for (let k = 0; k < m; k++) {
      const co = p.cpl.offset(k);
      p.cpl.u32[co + CP_TAG] = p.req.u32[p.req.offset(k) + RQ_TAG] ?? 0;
      writeCompletion(p.cpl.u32, co, TX_OK, SIZE);
    }
    p.cpl.publish(m);
    this.pending = m;
    this.phase = 'retire';
  }
}

/** The device's thread: its stream generator, the engine stepped while it waits, and the park. */
class DeviceThread {
  state: 'run' | 'asleep' | 'done' = 'run';
  result: { ok: number } | null = null;
  private wanted: DmaYield | null = null;
  private readonly gen: Generator<DmaYield, { ok: number }, void>;
  private readonly park: Int32Array;
  private readonly idx: number;
  private readonly engine: DmaEngine;

  constructor(engine: DmaEngine, dev: DmaDevice, count: number, depth: number) {
    this.engine = engine;
    const bell = engine.doorbells[1] as { sab: SharedArrayBuffer; index: number };
    this.park = new Int32Array(bell.sab);
    this.idx = bell.index;
    this.gen = dev.streamSteps({ count, size: SIZE, depth, iovaOf: (i) => i * SIZE, writeOf: (i) => (i & 1) === 0 });
  }

  /** Asleep until a ringer clears the park word (Atomics.wait(park, 1) returns). */
  runnable(): boolean {
    return this.state === 'run' || (this.state === 'asleep' && Atomics.load(this.park, this.idx) !== 1);
  }

  private progressed(): boolean {
    if (this.engine.hasWork()) while (this.engine.step() > 0);
    return (this.wanted as DmaYield)();
  }

  step(): void {
    if (this.state === 'asleep') this.state = 'run';
    if (this.wanted === null) {
      const r = this.gen.next();
      if (r.done) {
        this.result = r.value;
        this.state = 'done';
      } else {
        this.wanted = r.value;
      }
      return;
    }
    if (this.progressed()) {
      this.wanted = null;
      return;
    }
    Atomics.store(this.park, this.idx, 1);
    if (this.progressed()) {
      Atomics.store(this.park, this.idx, 0);
      this.wanted = null;
      return;
    }
    this.state = 'asleep';
  }
}

/** Runs the pair under `choices` (then alternating); 'deadlock' if both are stuck. */
function run(capacity: number, rings: number, choices: readonly number[], chunk = capacity): 'done' | 'deadlock' | 'bound' {
  const server = new PortServer(1, { capacity, dataBytes: capacity * SIZE }, createDoorbell());
  const queue = createDmaQueue(server.desc.data, capacity);
  const engine = new DmaEngine({ port: server.desc, queue, psid: 7 });
  const count = capacity * rings;
  const dev = new DeviceThread(engine, new DmaDevice(new DmaQueueClient(queue), 7), count, capacity);
  const smmu = new Smmu(server, chunk);
  for (let t = 0; t < 200 * count; t++) {
    if (dev.state === 'done') return dev.result?.ok === count ? 'done' : 'bound';
    const d = dev.runnable();
    const s = smmu.canAct();
    if (!d && !s) return 'deadlock';
    const c = choices[t] ?? t;
    if (d && (!s || (c & 1) === 0)) dev.step();
    else smmu.step(c >> 1);
  }
  return 'bound';
}

describe('DMA port park protocol', () => {
  it('a device with the whole ring in flight is never left asleep (any interleaving)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(2, 4, 8),
        fc.integer({ min: 2, max: 6 }),
        fc.array(fc.nat({ max: 1023 }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 8 }),
        (capacity, rings, choices, chunk) => run(capacity, rings, choices, chunk) === 'done',
      ),
      { numRuns: 300 },
    );
  });

  it('the interleaving that lost the wake-up: completions committed, slots released after the device parked', () => {
    // device posts and moves a full ring; SMMU commits; device reaps, posts the next ring,
    // finds no request slot and parks; SMMU releases: that release must wake the device.
    // (fast-check's shrunk counterexample before the fix.)
    expect(run(2, 2, [0, 0, 818, 0, 0, 0])).toBe('done');
  });
});
