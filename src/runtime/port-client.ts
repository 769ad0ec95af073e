// A blocking device side of an SMMU transaction port, for tests, benchmarks and embedding
// programs that drive the SMMU from a thread of their own: it waits for ring space and for
// completions (so it lives in src/runtime), and speaks the port's record codec
// (src/smmu/ports.ts), which the SMMU and the DMA engines use too.

import { VsmmuError } from '../errors.ts';
import { decodeCompletion, encodeRequest, type PortDesc, type TxCompletion, type TxRequest } from '../smmu/ports.ts';
import { RingConsumer, RingProducer } from './ring.ts';

/** Device side of a port: submits transactions, reads completions, owns the data buffer. */
export class SmmuPortClient {
  readonly id: number;
  readonly data: Uint8Array;
  readonly requests: RingProducer;
  readonly completions: RingConsumer;

  constructor(desc: PortDesc) {
    this.id = desc.id;
    this.data = new Uint8Array(desc.data);
    this.requests = new RingProducer(desc.requests);
    this.completions = new RingConsumer(desc.completions);
  }

  /** Writes request i of a reserved batch (see RingProducer.reserve/commit). */
  static encode(u32: Uint32Array, o: number, t: TxRequest): void {
    encodeRequest(u32, o, t);
  }

  static decode(u32: Uint32Array, o: number): TxCompletion {
    return decodeCompletion(u32, o);
  }

  /** Submits transactions as one batch (waits for ring space up to timeoutMs). */
  submit(txs: readonly TxRequest[], timeoutMs = 5000): void {
    let i = 0;
    while (i < txs.length) {
      const want = Math.min(txs.length - i, this.requests.capacity);
      if (this.requests.reserve(want, timeoutMs) === 0) throw new VsmmuError('EVSMMU_TIMEOUT', 'port request ring stayed full');
      for (let k = 0; k < want; k++) SmmuPortClient.encode(this.requests.u32, this.requests.offset(k), txs[i + k] as TxRequest);
      this.requests.commit(want);
      i += want;
    }
  }

  /** Waits for `n` completions (in order) or throws EVSMMU_TIMEOUT. */
  collect(n: number, timeoutMs = 5000): TxCompletion[] {
    const out: TxCompletion[] = [];
    const deadline = performance.now() + timeoutMs;
    while (out.length < n) {
      const left = deadline - performance.now();
      const got = left > 0 ? this.completions.acquire(n - out.length, left) : 0;
      if (got <= 0) throw new VsmmuError('EVSMMU_TIMEOUT', `port ${this.id}: ${out.length}/${n} completions`);
      for (let k = 0; k < got; k++) out.push(SmmuPortClient.decode(this.completions.u32, this.completions.offset(k)));
      this.completions.release(got);
    }
    return out;
  }

  /** One transaction, synchronously. */
  run(t: TxRequest, timeoutMs = 5000): TxCompletion {
    this.submit([t], timeoutMs);
    return this.collect(1, timeoutMs)[0] as TxCompletion;
  }
}
