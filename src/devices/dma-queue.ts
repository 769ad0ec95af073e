// A DMA engine's own programming interface, as a real DMA engine or NIC exposes it: a
// descriptor ring (driver -> device), a completion ring (device -> driver) and the device's
// buffer memory. The driver writes a transfer's bytes into the buffer, posts a descriptor
// naming the IOVA, length, attributes and buffer offset, and reaps the completion; it never
// calls the device. Records use the transaction-port record layout of src/smmu/ports.ts
// (one codec for every end of a DMA path): a descriptor is a request record whose StreamID
// word the device ignores (it stamps its own), a completion is the port's completion record.
//
// SAB layout (allocated by createDmaQueue):
//   sub   ring of 32-byte descriptors: the driver produces, the device consumes
//   cpl   ring of 32-byte completions: the device produces, the driver consumes
//   data  the device's buffer memory: the SAB of the device's SMMU port (the device DMAs
//         from/into it at a descriptor's offset); the driver writes/reads it around a transfer
// This module never waits: a full or empty ring is reported; how to wait for it is the
// caller's port (DmaWait).

import { createRing, RingConsumer, RingProducer, type RingDesc } from '../ports/ring.ts';
import type { DoorbellDesc } from '../ports/doorbell.ts';
import {
  CP_BYTES, CP_STATUS, decodeCompletion, encodeRequest, TX_RECORD_BYTES, type TxCompletion, type TxRequest,
} from '../smmu/ports.ts';

export interface DmaQueueDesc {
  readonly sub: RingDesc;
  readonly cpl: RingDesc;
  readonly data: SharedArrayBuffer;
}

/** A queue over the device buffer `data`; `deviceBell`: the device runner's doorbell (rung by a post). */
export function createDmaQueue(data: SharedArrayBuffer, capacity = 256, deviceBell?: DoorbellDesc): DmaQueueDesc {
  return {
    sub: createRing({ capacity, recordBytes: TX_RECORD_BYTES }, deviceBell),
    cpl: createRing({ capacity, recordBytes: TX_RECORD_BYTES }),
    data,
  };
}

/** Driver side of a DMA queue: posts descriptors, reaps completions; never waits. */
export class DmaQueueClient {
  readonly data: Uint8Array;
  readonly #sub: RingProducer;
  readonly #cpl: RingConsumer;

  constructor(desc: DmaQueueDesc) {
    this.data = new Uint8Array(desc.data);
    this.#sub = new RingProducer(desc.sub);
    this.#cpl = new RingConsumer(desc.cpl);
  }

  /** Descriptors the ring takes now. */
  room(): number {
    return this.#sub.free();
  }

  /** Completions waiting. */
  pending(): number {
    return this.#cpl.available();
  }

  /** Posts up to txs.length descriptors from txs[from]; returns how many it posted. */
  post(txs: readonly TxRequest[], from = 0): number {
    const n = Math.min(txs.length - from, this.#sub.free(), this.#sub.capacity);
    if (n <= 0 || this.#sub.tryReserve(n) !== n) return 0;
    for (let k = 0; k < n; k++) encodeRequest(this.#sub.u32, this.#sub.offset(k), txs[from + k] as TxRequest);
    this.#sub.commit(n);
    return n;
  }

  /**
   * Streaming form of post: up to `n` descriptors written in place by `fill(u32, offset, k)`
   * (request-record words, RQ_* offsets); returns how many were posted.
   */
  postRecords(n: number, fill: (u32: Uint32Array, o: number, k: number) => void): number {
    const m = Math.min(n, this.#sub.free());
    if (m <= 0 || this.#sub.tryReserve(m) !== m) return 0;
    for (let k = 0; k < m; k++) fill(this.#sub.u32, this.#sub.offset(k), k);
    this.#sub.commit(m);
    return m;
  }

  /** Streaming form of reap: `each(status, bytes)` per completion, in order; returns how many. */
  reapStatus(max: number, each: (status: number, bytes: number) => void): number {
    const n = this.#cpl.tryAcquire(max);
    const u = this.#cpl.u32;
    for (let k = 0; k < n; k++) {
      const o = this.#cpl.offset(k);
      each(u[o + CP_STATUS] ?? 0, u[o + CP_BYTES] ?? 0);
    }
    if (n > 0) this.#cpl.release(n);
    return n;
  }

  /** Reaps up to `max` completions, in order. */
  reap(max: number, out: TxCompletion[] = []): TxCompletion[] {
    const n = this.#cpl.tryAcquire(max);
    for (let k = 0; k < n; k++) out.push(decodeCompletion(this.#cpl.u32, this.#cpl.offset(k)));
    if (n > 0) this.#cpl.release(n);
    return out;
  }
}
