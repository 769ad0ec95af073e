// A DMA engine as its driver sees it (the programming model of QEMU's iommu-testdev-like
// test device): told to read or write N bytes at an IOVA, with an optional SubstreamID and
// privileged / instruction attributes, it posts descriptors on the device's queue
// (dma-queue.ts: descriptor + completion rings in SABs, the device's buffer memory) and
// reaps the completions: bytes moved, data read, or the fault. The device itself
// (dma-engine.ts) turns descriptors into SMMU transactions carrying its physical StreamID:
// the SMMU sees pSIDs, the guest knows the device by its vSID.
//
// Nothing here waits or reads a clock: a transfer is a generator that yields the condition
// it needs (a free descriptor slot, a completion); `wait` (sync) or a caller's async wait
// resumes it, and whoever runs the device steps it meanwhile. A transfer larger than one
// transaction (MAX_TX_BYTES) or than the device buffer is split.

import { eventName } from '../arch/events.ts';
import {
  MAX_TX_BYTES, RQ_BUF, RQ_FLAGS, RQ_IOVA_HI, RQ_IOVA_LO, RQ_LEN, RQ_SID, RQ_TAG, TX_BADREQ, TX_EABT, TX_FAULT, TX_OK,
  TXF_INSTR, TXF_PRIV, TXF_SSID_SHIFT, TXF_SSV, TXF_WRITE, type TxCompletion, type TxRequest,
} from '../smmu/ports.ts';
import { VsmmuError } from '../errors.ts';
import { sameBytes } from '../mem/bytes.ts';

/** The device's queue as its driver uses it (DmaQueueClient implements it); never waits. */
export interface DmaPort {
  readonly data: Uint8Array;
  /** Posts descriptors from txs[from]; returns how many it took (0: the ring is full now). */
  post(txs: readonly TxRequest[], from?: number): number;
  /** Up to `max` completions, in order (appended to `out`). */
  reap(max: number, out?: TxCompletion[]): TxCompletion[];
  /** Descriptor slots free now. */
  room(): number;
  /** Completions waiting now. */
  pending(): number;
  /** Optional streaming forms (no objects per record): see DmaQueueClient. */
  postRecords?(n: number, fill: (u32: Uint32Array, o: number, k: number) => void): number;
  reapStatus?(max: number, each: (status: number, bytes: number) => void): number;
}

/** Blocks (stepping whatever must run meanwhile) until `ready()` or `timeoutMs`; false on timeout. */
export type DmaWait = (ready: () => boolean, timeoutMs: number) => boolean;
/** What a transfer yields: the condition it waits for. */
export type DmaYield = () => boolean;

export interface DmaStreamSpec {
  readonly count: number;
  /** Bytes per transfer (at most one transaction). */
  readonly size: number;
  /** Transactions in flight at most. */
  readonly depth: number;
  iovaOf(i: number): number;
  writeOf(i: number): boolean;
  /** Bytes that writes move (the first `size`). */
  readonly src?: Uint8Array;
  readonly attrs?: DmaAttrs;
}

/** One transfer of a batch. */
export interface DmaTransferSpec {
  readonly write: boolean;
  readonly iova: number;
  readonly length: number;
  readonly attrs?: DmaAttrs;
  /** For writes: the bytes (the first `length`). */
  readonly src?: Uint8Array | null;
}

export interface DmaAttrs {
  readonly ssid?: number;
  readonly priv?: boolean;
  readonly instr?: boolean;
}

export type DmaStatus = 'ok' | 'fault' | 'abort' | 'bad-request';

export interface DmaFault {
  readonly type: number;
  /** Event type name (F_TRANSLATION ...); without a type: ABORT, EXTERNAL_ABORT or BAD_REQUEST. */
  readonly name: string;
  readonly s2: number;
  readonly cls: number;
  /** Whether the SMMU recorded it in an event queue. */
  readonly recorded: boolean;
  /** Input address of the faulting page. */
  readonly iova: number;
  readonly ipa: number;
}

export interface DmaResult {
  readonly status: DmaStatus;
  /** Bytes moved (transactions before a failing one moved all of theirs). */
  readonly bytes: number;
  readonly fault?: DmaFault;
  /** For reads: the bytes read (length = bytes). */
  readonly data?: Uint8Array;
}

export interface DmaDeviceStats {
  transfers: number;
  transactions: number;
  bytes: number;
  faults: number;
  aborts: number;
}

const STATUS: Readonly<Record<number, DmaStatus>> = { [TX_OK]: 'ok', [TX_FAULT]: 'fault', [TX_EABT]: 'abort', [TX_BADREQ]: 'bad-request' };

export interface DmaDeviceOptions {
  readonly name?: string;
  readonly timeoutMs?: number;
  readonly maxTransaction?: number;
  /** How a synchronous caller waits (default: no waiting; for ports that complete at once). */
  readonly wait?: DmaWait;
  /** Clock for stream latencies (ms; default: none, latencies read 0). */
  readonly clock?: () => number;
}

export class DmaDevice {
  readonly psid: number;
  readonly name: string;
  readonly stats: DmaDeviceStats = { transfers: 0, transactions: 0, bytes: 0, faults: 0, aborts: 0 };
  private readonly port: DmaPort;
  private readonly chunk: number;
  private readonly timeoutMs: number;
  private readonly waitFor: DmaWait;
  private readonly clock: () => number;
  private tag = 0;
  /**
   * Slots of the device buffer that hold a stream's write source, kept from one stream to
   * the next with the same slot layout and the same source bytes (a driver streaming one
   * buffer does not rewrite it for every burst); any other transfer through the buffer
   * forgets them. Refilling the slots each burst cost a quarter of 4 KiB stream bandwidth
   * when the SMMU's core reads them from the core that wrote them.
   */
  private held: { readonly bytes: Uint8Array; readonly size: number; readonly depth: number; readonly slots: Uint8Array } | null = null;

  constructor(port: DmaPort, psid: number, opts: DmaDeviceOptions = {}) {
    this.port = port;
    this.psid = psid;
    this.name = opts.name ?? `dma${psid}`;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.waitFor = opts.wait ?? ((ready) => ready());
    this.clock = opts.clock ?? (() => 0);
    this.chunk = Math.max(1, Math.min(opts.maxTransaction ?? MAX_TX_BYTES, MAX_TX_BYTES, port.data.length));
  }

  /** DMA write: `bytes` to [iova, iova + bytes.length). */
  write(iova: number, bytes: Uint8Array, attrs: DmaAttrs = {}): DmaResult {
    return this.run(this.transfer(true, iova, bytes.length, attrs, bytes));
  }

  /** DMA read of `length` bytes at `iova`. */
  read(iova: number, length: number, attrs: DmaAttrs = {}): DmaResult {
    return this.run(this.transfer(false, iova, length, attrs, null));
  }

  /** A transfer as a generator: yields what it waits for, returns the result (for async callers). */
  transfer(write: boolean, iova: number, length: number, attrs: DmaAttrs, src: Uint8Array | null): Generator<DmaYield, DmaResult, void> {
    if (!(Number.isSafeInteger(iova) && iova >= 0 && Number.isSafeInteger(length) && length > 0)) {
      throw new VsmmuError('EVSMMU_INVAL', `DMA of ${length} bytes at IOVA ${iova}: expected a non-negative IOVA and a positive length`, { iova, length });
    }
    if (attrs.ssid !== undefined && !(Number.isInteger(attrs.ssid) && attrs.ssid >= 0 && attrs.ssid < 1 << 20)) {
      throw new VsmmuError('EVSMMU_INVAL', `SubstreamID ${attrs.ssid} is not a 20-bit value`, { ssid: attrs.ssid });
    }
    return this.transferSteps(write, iova, length, attrs, src);
  }

  /** Drives a transfer with this device's synchronous wait. */
  run<T>(g: Generator<DmaYield, T, void>): T {
    for (;;) {
      const r = g.next();
      if (r.done) return r.value;
      if (!this.waitFor(r.value, this.timeoutMs)) throw new VsmmuError('EVSMMU_TIMEOUT', `DMA device ${this.name}: no progress in ${this.timeoutMs} ms`);
    }
  }

  /**
   * A stream of `count` transfers of `size` bytes (one transaction each) with up to `depth`
   * in flight, as a DMA engine's queue keeps them: transfer i goes to `iovaOf(i)`, as a write
   * (from `src`) when `writeOf(i)`. Completions come back in order; `onDone(i, ok, ms)` gets
   * each one with the time since its submission. Read data is not copied out, and a write
   * from a buffer slot that still holds `src` (no read landed in it since, in this stream or
   * the last with the same size, depth and source bytes) is not filled again: the engine
   * sends what its buffer holds (throughput mode). Returns the totals.
   */
  stream(s: DmaStreamSpec, onDone?: (i: number, ok: boolean, ms: number) => void): { ok: number; faults: number; bytes: number } {
    return this.run(this.streamSteps(s, onDone));
  }

  *streamSteps(s: DmaStreamSpec, onDone?: (i: number, ok: boolean, ms: number) => void): Generator<DmaYield, { ok: number; faults: number; bytes: number }, void> {
    if (this.port.postRecords && this.port.reapStatus) return yield* this.streamRecords(s, onDone);
    const data = this.port.data;
    const size = Math.min(s.size, this.chunk);
    const depth = Math.max(1, Math.min(s.depth, Math.floor(data.length / size), 256));
    const sentAt = new Float64Array(depth);
    const src = s.src ? s.src.subarray(0, size) : null;
    const holdsSrc = this.heldSlots(src, size, depth);
    const attrs = s.attrs ?? {};
    let sent = 0;
    let done = 0;
    let ok = 0;
    let faults = 0;
    let bytes = 0;
    const batch: TxRequest[] = [];
    const got: TxCompletion[] = [];
    const port = this.port;
    const progress = (): boolean => port.pending() > 0 || (sent < s.count && sent - done < depth && port.room() > 0);
    while (done < s.count) {
      batch.length = 0;
      const room = port.room();
      for (; sent < s.count && sent - done < depth && batch.length < room; sent++) {
        const slot = sent % depth;
        const write = s.writeOf(sent);
        if (write && src && holdsSrc[slot] === 0) data.set(src, slot * size);
        holdsSrc[slot] = write && src ? 1 : 0;
        sentAt[slot] = this.clock();
        batch.push({
          tag: sent, sid: this.psid, iova: s.iovaOf(sent), length: size, write, offset: slot * size,
          ...(attrs.instr ? { instr: true } : {}), ...(attrs.priv ? { priv: true } : {}),
          ...(attrs.ssid !== undefined ? { ssid: attrs.ssid } : {}),
        });
      }
      if (batch.length > 0 && port.post(batch) !== batch.length) throw new VsmmuError('EVSMMU_INTERNAL', `DMA device ${this.name}: descriptor ring refused a batch it had room for`);
      got.length = 0;
      port.reap(sent - done, got);
      if (got.length === 0 && batch.length === 0) {
        yield progress;
        continue;
      }
      const now = this.clock();
      for (const c of got) {
        const good = c.status === TX_OK;
        this.stats.transactions++;
        if (good) {
          ok++;
          bytes += c.bytes;
          this.stats.bytes += c.bytes;
        } else {
          faults++;
          if (c.status === TX_FAULT) this.stats.faults++;
          else this.stats.aborts++;
        }
        onDone?.(done, good, now - (sentAt[done % depth] ?? 0));
        done++;
      }
    }
    this.stats.transfers += s.count;
    return { ok, faults, bytes };
  }

  /**
   * Several transfers in order, as one pipeline when they fit (each one transaction, all
   * their bytes in the device buffer at once, no more than the ring holds): descriptors go
   * out together and completions come back in order, so the batch costs one round trip to
   * the SMMU instead of one per transfer. Otherwise one after the other.
   */
  *batchSteps(reqs: readonly DmaTransferSpec[]): Generator<DmaYield, DmaResult[], void> {
    this.held = null;
    const port = this.port;
    let total = 0;
    let fits = reqs.length <= port.room();
    for (const r of reqs) {
      this.transfer(r.write, r.iova, r.length, r.attrs ?? {}, r.src ?? null); // validates; the generator is dropped
      total += r.length;
      if (r.length > this.chunk) fits = false;
    }
    if (!fits || total > port.data.length) {
      const out: DmaResult[] = [];
      for (const r of reqs) out.push(yield* this.transferSteps(r.write, r.iova, r.length, r.attrs ?? {}, r.src ?? null));
      return out;
    }
    const data = port.data;
    const txs: TxRequest[] = [];
    let off = 0;
    for (const r of reqs) {
      const a = r.attrs ?? {};
      if (r.write && r.src) data.set(r.src.subarray(0, r.length), off);
      txs.push({
        tag: (this.tag = (this.tag + 1) >>> 0), sid: this.psid, iova: r.iova, length: r.length, write: r.write, offset: off,
        ...(a.instr ? { instr: true } : {}), ...(a.priv ? { priv: true } : {}), ...(a.ssid !== undefined ? { ssid: a.ssid } : {}),
      });
      off += r.length;
    }
    const hasRoom = (): boolean => port.room() > 0;
    const hasCompletion = (): boolean => port.pending() > 0;
    for (let posted = 0; posted < txs.length; ) {
      const n = port.post(txs, posted);
      posted += n;
      if (n === 0) yield hasRoom;
    }
    const got: TxCompletion[] = [];
    while (got.length < txs.length) if (port.reap(txs.length - got.length, got).length < txs.length) yield hasCompletion;
    return got.map((c, i) => {
      const r = reqs[i] as DmaTransferSpec;
      const t = txs[i] as TxRequest;
      this.stats.transfers++;
      this.stats.transactions++;
      if (c.status === TX_OK) {
        this.stats.bytes += r.length;
        const out = r.write ? undefined : data.slice(t.offset ?? 0, (t.offset ?? 0) + r.length);
        return { status: 'ok', bytes: r.length, ...(out ? { data: out } : {}) };
      }
      const status = STATUS[c.status] ?? 'abort';
      if (status === 'fault') this.stats.faults++;
      else this.stats.aborts++;
      return { status, bytes: 0, fault: faultOf(c, status), ...(r.write ? {} : { data: new Uint8Array(0) }) };
    });
  }

  /** The slots known to hold `src` for a stream of this layout (all clear for a new one). */
  private heldSlots(src: Uint8Array | null, size: number, depth: number): Uint8Array {
    const h = this.held;
    if (src && h && h.size === size && h.depth === depth && sameBytes(h.bytes, src)) return h.slots;
    const slots = new Uint8Array(depth);
    this.held = src ? { bytes: src.slice(), size, depth, slots } : null;
    return slots;
  }

  /** streamSteps over the queue's records directly: no objects per transaction. */
  private *streamRecords(s: DmaStreamSpec, onDone?: (i: number, ok: boolean, ms: number) => void): Generator<DmaYield, { ok: number; faults: number; bytes: number }, void> {
    const port = this.port as Required<DmaPort>;
    const data = port.data;
    const size = Math.min(s.size, this.chunk);
    const depth = Math.max(1, Math.min(s.depth, Math.floor(data.length / size), 256));
    const sentAt = new Float64Array(depth);
    const src = s.src ? s.src.subarray(0, size) : null;
    // 1 while a slot holds src (a read into the slot overwrites it).
    const holdsSrc = this.heldSlots(src, size, depth);
    const attrs = s.attrs ?? {};
    const baseFlags = (attrs.instr ? TXF_INSTR : 0) | (attrs.priv ? TXF_PRIV : 0) |
      (attrs.ssid !== undefined ? TXF_SSV | ((attrs.ssid & 0xfffff) << TXF_SSID_SHIFT) : 0);
    const psid = this.psid >>> 0;
    const clock = this.clock;
    // Submission times only for a caller that takes latencies (no clock read per descriptor
    // otherwise; the loop still reads it once a round, as a capped guest needs).
    const stamp = onDone !== undefined;
    const stats = this.stats;
    let sent = 0;
    let done = 0;
    let ok = 0;
    let faults = 0;
    let bytes = 0;
    const fill = (u: Uint32Array, o: number, k: number): void => {
      const i = sent + k;
      const slot = i % depth;
      const write = s.writeOf(i);
      if (write && src && holdsSrc[slot] === 0) data.set(src, slot * size);
      holdsSrc[slot] = write && src ? 1 : 0;
      if (stamp) sentAt[slot] = clock();
      const iova = s.iovaOf(i);
      u[o + RQ_TAG] = i >>> 0;
      u[o + RQ_SID] = psid;
      u[o + RQ_FLAGS] = (baseFlags | (write ? TXF_WRITE : 0)) >>> 0;
      u[o + RQ_IOVA_LO] = iova >>> 0;
      u[o + RQ_IOVA_HI] = Math.floor(iova / 4294967296) >>> 0;
      u[o + RQ_LEN] = size;
      u[o + RQ_BUF] = slot * size;
      u[o + 7] = 0;
    };
    let now = 0;
    const each = (status: number, n: number): void => {
      const good = status === TX_OK;
      stats.transactions++;
      if (good) {
        ok++;
        bytes += n;
        stats.bytes += n;
      } else {
        faults++;
        if (status === TX_FAULT) stats.faults++;
        else stats.aborts++;
      }
      onDone?.(done, good, now - (sentAt[done % depth] ?? 0));
      done++;
    };
    const progress = (): boolean => port.pending() > 0 || (sent < s.count && sent - done < depth && port.room() > 0);
    while (done < s.count) {
      const want = Math.min(s.count - sent, depth - (sent - done));
      const posted = want > 0 ? port.postRecords(want, fill) : 0;
      sent += posted;
      now = clock();
      const got = port.reapStatus(sent - done, each);
      if (posted === 0 && got === 0) yield progress;
    }
    stats.transfers += s.count;
    return { ok, faults, bytes };
  }

  private *transferSteps(write: boolean, iova: number, length: number, attrs: DmaAttrs, src: Uint8Array | null): Generator<DmaYield, DmaResult, void> {
    this.held = null;
    this.stats.transfers++;
    const out = write ? null : new Uint8Array(length);
    const port = this.port;
    const data = port.data;
    const hasRoom = (): boolean => port.room() > 0;
    const hasCompletion = (): boolean => port.pending() > 0;
    const got: TxCompletion[] = [];
    let done = 0;
    while (done < length) {
      const n = Math.min(this.chunk, length - done);
      if (src) data.set(src.subarray(done, done + n), 0);
      const tx: TxRequest = {
        tag: (this.tag = (this.tag + 1) >>> 0), sid: this.psid, iova: iova + done, length: n, write,
        ...(attrs.instr ? { instr: true } : {}), ...(attrs.priv ? { priv: true } : {}),
        ...(attrs.ssid !== undefined ? { ssid: attrs.ssid } : {}), offset: 0,
      };
      const one = [tx];
      while (port.post(one) === 0) yield hasRoom;
      got.length = 0;
      while (port.reap(1, got).length === 0) yield hasCompletion;
      const c = got[0];
      this.stats.transactions++;
      if (!c || c.status !== TX_OK) {
        const status = c ? (STATUS[c.status] ?? 'abort') : 'abort';
        if (status === 'fault') this.stats.faults++;
        else this.stats.aborts++;
        const fault = c ? faultOf(c, status) : undefined;
        return {
          status, bytes: done, ...(fault ? { fault } : {}),
          ...(out ? { data: out.slice(0, done) } : {}),
        };
      }
      if (out) out.set(data.subarray(0, n), done);
      done += n;
      this.stats.bytes += n;
    }
    return { status: 'ok', bytes: done, ...(out ? { data: out } : {}) };
  }
}

/** The fault of a failed completion; without an event type: ABORT (STE abort, GBPA), EXTERNAL_ABORT (output outside memory), BAD_REQUEST. */
function faultOf(c: TxCompletion, status: DmaStatus): DmaFault {
  const untyped = status === 'bad-request' ? 'BAD_REQUEST' : status === 'abort' ? 'EXTERNAL_ABORT' : 'ABORT';
  return {
    type: c.faultType,
    name: c.faultType === 0 ? untyped : eventName(c.faultType),
    s2: c.s2,
    cls: c.cls,
    recorded: c.recorded,
    iova: Number(c.addr),
    ipa: c.ipa,
  };
}
