// A test DMA device (as QEMU's iommu-testdev): told to read or write N bytes at an IOVA,
// with an optional SubstreamID and privileged / instruction attributes, it issues the
// transactions to the physical SMMU through its transaction port and reports completion
// (bytes moved, data read) or the fault. It carries the physical StreamID: the SMMU sees
// pSIDs, the guest knows the device by its vSID.
//
// The port is src/smmu's SmmuPortClient (request/completion rings + a data SAB); a
// transfer larger than one transaction (MAX_TX_BYTES) or than the data buffer is split.

import { EVT } from '../arch/events.ts';
import {
  MAX_TX_BYTES, TX_BADREQ, TX_EABT, TX_FAULT, TX_OK, type TxCompletion, type TxRequest,
} from '../smmu/ports.ts';
import { VsmmuError } from '../errors.ts';

/** What the device needs of its port (SmmuPortClient implements it). */
export interface DmaPort {
  readonly data: Uint8Array;
  submit(txs: readonly TxRequest[], timeoutMs?: number): void;
  collect(n: number, timeoutMs?: number): TxCompletion[];
}

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

const EVT_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(EVT).map(([k, v]) => [v, k]));
const STATUS: Readonly<Record<number, DmaStatus>> = { [TX_OK]: 'ok', [TX_FAULT]: 'fault', [TX_EABT]: 'abort', [TX_BADREQ]: 'bad-request' };

export class DmaDevice {
  readonly psid: number;
  readonly name: string;
  readonly stats: DmaDeviceStats = { transfers: 0, transactions: 0, bytes: 0, faults: 0, aborts: 0 };
  private readonly port: DmaPort;
  private readonly chunk: number;
  private readonly timeoutMs: number;
  private tag = 0;

  constructor(port: DmaPort, psid: number, opts: { name?: string; timeoutMs?: number; maxTransaction?: number } = {}) {
    this.port = port;
    this.psid = psid;
    this.name = opts.name ?? `dma${psid}`;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.chunk = Math.max(1, Math.min(opts.maxTransaction ?? MAX_TX_BYTES, MAX_TX_BYTES, port.data.length));
  }

  /** DMA write: `bytes` to [iova, iova + bytes.length). */
  write(iova: number, bytes: Uint8Array, attrs: DmaAttrs = {}): DmaResult {
    return this.transfer(true, iova, bytes.length, attrs, bytes);
  }

  /** DMA read of `length` bytes at `iova`. */
  read(iova: number, length: number, attrs: DmaAttrs = {}): DmaResult {
    return this.transfer(false, iova, length, attrs, null);
  }

  /**
   * A stream of `count` transfers of `size` bytes (one transaction each) with up to `depth`
   * in flight, as a DMA engine's queue keeps them: transfer i goes to `iovaOf(i)`, as a write
   * (from `src`) when `writeOf(i)`. Completions come back in order; `onDone(i, ok, ms)` gets
   * each one with the time since its submission. Read data is not copied out (throughput
   * mode). Returns the totals.
   */
  stream(s: DmaStreamSpec, onDone?: (i: number, ok: boolean, ms: number) => void): { ok: number; faults: number; bytes: number } {
    const data = this.port.data;
    const size = Math.min(s.size, this.chunk);
    const depth = Math.max(1, Math.min(s.depth, Math.floor(data.length / size), 256));
    const sentAt = new Float64Array(depth);
    const attrs = s.attrs ?? {};
    let sent = 0;
    let done = 0;
    let ok = 0;
    let faults = 0;
    let bytes = 0;
    const batch: TxRequest[] = [];
    while (done < s.count) {
      batch.length = 0;
      for (; sent < s.count && sent - done < depth; sent++) {
        const slot = sent % depth;
        const write = s.writeOf(sent);
        if (write && s.src) data.set(s.src.subarray(0, size), slot * size);
        sentAt[slot] = performance.now();
        batch.push({
          tag: sent, sid: this.psid, iova: s.iovaOf(sent), length: size, write, offset: slot * size,
          ...(attrs.instr ? { instr: true } : {}), ...(attrs.priv ? { priv: true } : {}),
          ...(attrs.ssid !== undefined ? { ssid: attrs.ssid } : {}),
        });
      }
      if (batch.length > 0) this.port.submit(batch, this.timeoutMs);
      // Keep the queue half full: collect half a queue while more are to be sent.
      const inflight = sent - done;
      const want = sent < s.count ? Math.max(1, inflight - (depth >> 1)) : inflight;
      const now = (): number => performance.now();
      for (const c of this.port.collect(want, this.timeoutMs)) {
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
        onDone?.(done, good, now() - (sentAt[done % depth] ?? 0));
        done++;
      }
    }
    this.stats.transfers += s.count;
    return { ok, faults, bytes };
  }

  private transfer(write: boolean, iova: number, length: number, attrs: DmaAttrs, src: Uint8Array | null): DmaResult {
    if (!(Number.isSafeInteger(iova) && iova >= 0 && Number.isSafeInteger(length) && length > 0)) {
      throw new VsmmuError('EVSMMU_INVAL', `DMA of ${length} bytes at IOVA ${iova}: expected a non-negative IOVA and a positive length`, { iova, length });
    }
    if (attrs.ssid !== undefined && !(Number.isInteger(attrs.ssid) && attrs.ssid >= 0 && attrs.ssid < 1 << 20)) {
      throw new VsmmuError('EVSMMU_INVAL', `SubstreamID ${attrs.ssid} is not a 20-bit value`, { ssid: attrs.ssid });
    }
    this.stats.transfers++;
    const out = write ? null : new Uint8Array(length);
    const data = this.port.data;
    let done = 0;
    while (done < length) {
      const n = Math.min(this.chunk, length - done);
      if (src) data.set(src.subarray(done, done + n), 0);
      const tx: TxRequest = {
        tag: (this.tag = (this.tag + 1) >>> 0), sid: this.psid, iova: iova + done, length: n, write,
        ...(attrs.instr ? { instr: true } : {}), ...(attrs.priv ? { priv: true } : {}),
        ...(attrs.ssid !== undefined ? { ssid: attrs.ssid } : {}), offset: 0,
      };
      this.port.submit([tx], this.timeoutMs);
      const c = this.port.collect(1, this.timeoutMs)[0];
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
    name: c.faultType === 0 ? untyped : (EVT_NAMES.get(c.faultType) ?? `0x${c.faultType.toString(16)}`),
    s2: c.s2,
    cls: c.cls,
    recorded: c.recorded,
    iova: Number(c.addr),
    ipa: c.ipa,
  };
}
