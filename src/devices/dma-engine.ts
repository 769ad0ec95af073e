// The DMA engine: a DMA master (hardware) as a step machine. It owns its SMMU transaction
// port (src/smmu/ports.ts records over src/ports rings) and serves one descriptor queue
// (dma-queue.ts): each step moves descriptors to the port as transactions carrying the
// device's own StreamID (software cannot choose it), and the port's completions back to the
// queue, in order. It never waits: when a ring is full or empty it reports no work, and its
// runner parks on `doorbells` (a post to the queue; a completion or freed request slots from
// the SMMU) until one rings.

import { RingConsumer, RingProducer } from '../ports/ring.ts';
import type { DoorbellDesc } from '../ports/doorbell.ts';
import { CP_BYTES, CP_STATUS, RQ_SID, TX_FAULT, TX_OK, TX_RECORD_BYTES, type PortDesc } from '../smmu/ports.ts';
import type { DmaQueueDesc } from './dma-queue.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';

const WORDS = TX_RECORD_BYTES >> 2;
/** Records moved per direction and step (bounds a step). */
const STEP_BATCH = 64;

export interface DmaEngineStats {
  descriptors: number;
  completions: number;
  bytes: number;
  faults: number;
  aborts: number;
}

/** What a DMA engine is built from: its SMMU port, its queue, the StreamID it emits. */
export interface DmaEngineDesc {
  readonly port: PortDesc;
  readonly queue: DmaQueueDesc;
  readonly psid: number;
}

export class DmaEngine {
  readonly psid: number;
  readonly stats: DmaEngineStats = { descriptors: 0, completions: 0, bytes: 0, faults: 0, aborts: 0 };
  /** Where the runner parks: the queue's descriptor ring, and the port's completion ring
   *  (also rung when the SMMU frees request slots: see src/smmu/ports.ts). */
  readonly doorbells: readonly DoorbellDesc[];
  readonly #sub: RingConsumer;
  readonly #cpl: RingProducer;
  readonly #req: RingProducer;
  readonly #done: RingConsumer;
  #inflight = 0;
  readonly #tr: Tracer;
  readonly #track: string;

  /** `tracer`: its batches as instants on track `dma <name>` (docs/tracing.md). */
  constructor(o: DmaEngineDesc, tracer: Tracer = NO_TRACE, name = `sid ${o.psid}`) {
    this.#tr = tracer;
    this.#track = `dma ${name}`;
    this.psid = o.psid >>> 0;
    this.#sub = new RingConsumer(o.queue.sub);
    this.#cpl = new RingProducer(o.queue.cpl);
    this.#req = new RingProducer(o.port.requests);
    this.#done = new RingConsumer(o.port.completions);
    this.doorbells = [
      { sab: o.queue.sub.doorbell, index: o.queue.sub.doorbellIndex },
      { sab: o.port.completions.doorbell, index: o.port.completions.doorbellIndex },
    ];
  }

  /** Transactions issued to the SMMU and not completed yet. */
  get inflight(): number {
    return this.#inflight;
  }

  hasWork(): boolean {
    return this.#sub.available() > 0 || this.#done.available() > 0;
  }

  /** One bounded step; returns the records moved (0: nothing to do now). */
  step(): number {
    let moved = 0;
    // Completions first: they free the queue's completion slots the descriptors need.
    const c = Math.min(this.#done.tryAcquire(STEP_BATCH), this.#cpl.free());
    if (c > 0 && this.#cpl.tryReserve(c) === c) {
      for (let k = 0; k < c; k++) {
        const from = this.#done.offset(k);
        const to = this.#cpl.offset(k);
        const src = this.#done.u32;
        const dst = this.#cpl.u32;
        for (let w = 0; w < WORDS; w++) dst[to + w] = src[from + w] ?? 0;
        const st = src[from + CP_STATUS] ?? 0;
        if (st === TX_OK) this.stats.bytes += src[from + CP_BYTES] ?? 0;
        else if (st === TX_FAULT) this.stats.faults++;
        else this.stats.aborts++;
      }
      this.#cpl.commit(c);
      this.#done.release(c);
      this.#inflight -= c;
      this.stats.completions += c;
      moved += c;
      if (this.#tr.enabled) this.#tr.instant(this.#track, 'completions', { n: c, inflight: this.#inflight });
    }
    // Descriptors: only as many as both the port and the queue's completion ring can take
    // back, so a completion always has a slot.
    const room = Math.min(this.#req.free(), this.#cpl.capacity - this.#inflight - this.#cplUsed());
    const d = Math.min(this.#sub.tryAcquire(STEP_BATCH), room);
    if (d > 0 && this.#req.tryReserve(d) === d) {
      for (let k = 0; k < d; k++) {
        const from = this.#sub.offset(k);
        const to = this.#req.offset(k);
        const src = this.#sub.u32;
        const dst = this.#req.u32;
        for (let w = 0; w < WORDS; w++) dst[to + w] = src[from + w] ?? 0;
        dst[to + RQ_SID] = this.psid;
      }
      this.#req.commit(d);
      this.#sub.release(d);
      this.#inflight += d;
      this.stats.descriptors += d;
      moved += d;
      if (this.#tr.enabled) this.#tr.instant(this.#track, 'requests', { n: d, inflight: this.#inflight });
    }
    return moved;
  }

  /** Completions posted to the queue and not yet reaped by the driver. */
  #cplUsed(): number {
    return this.#cpl.capacity - this.#cpl.free();
  }
}
