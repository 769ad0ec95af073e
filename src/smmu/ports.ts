// Transaction ports: how a DMA-capable device reaches the SMMU. Each port has
//   - a request ring (device -> SMMU) whose consumer parks on the SMMU's doorbell, so a
//     commit wakes the SMMU thread,
//   - a completion ring (SMMU -> device) whose consumer park word is also the request
//     ring's space doorbell: the device parks on that one word for completions and for
//     request slots alike,
//   - a device-side data SAB: a transaction's bytes are copied from it (DMA write) or into
//     it (DMA read) at the transaction's buffer offset.
//
// Request record, 32 bytes = 8 u32 (written by the device):
//   w0 tag (echoed in the completion)        w1 StreamID
//   w2 flags: [0] write, [1] instruction, [2] privileged (the ACC_* bits), [3] SSV,
//             [31:12] SubstreamID
//   w3 IOVA[31:0]   w4 IOVA[63:32]   w5 length in bytes (1..MAX_TX_BYTES)
//   w6 byte offset of the buffer in the port's data SAB    w7 0
// Completion record, 32 bytes = 8 u32 (written by the SMMU):
//   w0 tag   w1 status (TX_*)   w2 bytes moved (the length, or 0: a transaction moves all
//   of its bytes or none)
//   w3 fault: [7:0] event type (0: aborted without a type: STE abort config, GBPA.ABORT),
//      [8] S2, [10:9] CLASS, [11] recorded in the event queue
//   w4, w5 input address of the faulting page (lo, hi)
//   w6, w7 IPA (stage-2 faults) or FetchAddr (fetch aborts), lo/hi
//
// The record layout is defined once below (RQ_*/CP_* word offsets, encodeRequest /
// decodeCompletion for the device, writeCompletion / writeFaultCompletion for the SMMU).
// Nothing here waits: a blocking device side for tests and benchmarks is SmmuPortClient
// (src/runtime/port-client.ts); DMA engines (src/devices) use the codec on their own rings.
//
// Every page of a transaction is translated before any byte moves: a transaction that
// faults on its last page never touched memory (no partial DMA), and one whose output
// lies outside physical memory completes with TX_EABT, also without moving a byte.

import { createRing, RingConsumer, RingProducer, ringDoorbell, type RingDesc } from '../ports/ring.ts';
import { Buffer } from 'node:buffer';
import { VsmmuError } from '../errors.ts';

export const TX_RECORD_BYTES = 32;
export const TX_OK = 0;
export const TX_FAULT = 1;
export const TX_EABT = 2;
export const TX_BADREQ = 3;
/** Largest transaction (bytes); bounds the per-transaction page list. */
export const MAX_TX_BYTES = 1 << 20;

export const TXF_WRITE = 1;
export const TXF_INSTR = 2;
export const TXF_PRIV = 4;
export const TXF_SSV = 8;
/** Request flags: the ACC_* bits of a transaction, [2:0]. */
export const TXF_ACC = 7;
/** Request flags: SubstreamID, [31:12]. */
export const TXF_SSID_SHIFT = 12;

// ---- the record codec: one layout for both ends of a port ------------------------------
// Word offsets as module constants (the SMMU's transaction loop reads them per record; V8
// folds them), and the functions that write and read whole records.

/** Request record words. */
export const RQ_TAG = 0;
export const RQ_SID = 1;
export const RQ_FLAGS = 2;
export const RQ_IOVA_LO = 3;
export const RQ_IOVA_HI = 4;
export const RQ_LEN = 5;
export const RQ_BUF = 6;
/** Completion record words. */
export const CP_TAG = 0;
export const CP_STATUS = 1;
export const CP_BYTES = 2;
export const CP_FAULT = 3;
export const CP_ADDR_LO = 4;
export const CP_ADDR_HI = 5;
export const CP_AUX_LO = 6;
export const CP_AUX_HI = 7;
/** Completion fault word: [7:0] type, [8] S2, [10:9] CLASS, [11] recorded. */
const CPF_S2_SHIFT = 8;
const CPF_CLASS_SHIFT = 9;
const CPF_RECORDED = 1 << 11;

/** Device side: writes request `t` at u32[o..o+7]. */
export function encodeRequest(u32: Uint32Array, o: number, t: TxRequest): void {
  const iova = BigInt(t.iova);
  const flags = (t.write ? TXF_WRITE : 0) | (t.instr ? TXF_INSTR : 0) | (t.priv ? TXF_PRIV : 0) |
    (t.ssid !== undefined ? TXF_SSV | ((t.ssid & 0xfffff) << TXF_SSID_SHIFT) : 0);
  u32[o + RQ_TAG] = t.tag >>> 0;
  u32[o + RQ_SID] = t.sid >>> 0;
  u32[o + RQ_FLAGS] = flags >>> 0;
  u32[o + RQ_IOVA_LO] = Number(iova & 0xffffffffn);
  u32[o + RQ_IOVA_HI] = Number((iova >> 32n) & 0xffffffffn);
  u32[o + RQ_LEN] = t.length >>> 0;
  u32[o + RQ_BUF] = (t.offset ?? 0) >>> 0;
  u32[o + 7] = 0;
}

/** SMMU side: a completion without a fault (TX_OK, TX_EABT, TX_BADREQ) after its tag. */
export function writeCompletion(cq: Uint32Array, co: number, status: number, bytes: number): void {
  cq[co + CP_STATUS] = status;
  cq[co + CP_BYTES] = bytes;
  cq[co + CP_FAULT] = 0;
  cq[co + CP_ADDR_LO] = 0;
  cq[co + CP_ADDR_HI] = 0;
  cq[co + CP_AUX_LO] = 0;
  cq[co + CP_AUX_HI] = 0;
}

/**
 * SMMU side: a TX_FAULT completion after its tag: the event type (0 = aborted without one),
 * S2, CLASS, whether it was recorded, the faulting page's input address and the IPA or
 * FetchAddr (`aux`).
 */
export function writeFaultCompletion(
  cq: Uint32Array, co: number, type: number, s2: number, cls: number, recorded: boolean, hi: number, lo: number, aux: number,
): void {
  cq[co + CP_STATUS] = TX_FAULT;
  cq[co + CP_BYTES] = 0;
  cq[co + CP_FAULT] = (type & 0xff) | (s2 << CPF_S2_SHIFT) | ((cls & 3) << CPF_CLASS_SHIFT) | (recorded ? CPF_RECORDED : 0);
  cq[co + CP_ADDR_LO] = lo;
  cq[co + CP_ADDR_HI] = hi;
  cq[co + CP_AUX_LO] = aux % 4294967296;
  cq[co + CP_AUX_HI] = Math.floor(aux / 4294967296);
}

/** Device side: the completion at u32[o..o+7]. */
export function decodeCompletion(u32: Uint32Array, o: number): TxCompletion {
  const f = u32[o + CP_FAULT] ?? 0;
  return {
    tag: u32[o + CP_TAG] ?? 0,
    status: u32[o + CP_STATUS] ?? 0,
    bytes: u32[o + CP_BYTES] ?? 0,
    faultType: f & 0xff,
    s2: (f >>> CPF_S2_SHIFT) & 1,
    cls: (f >>> CPF_CLASS_SHIFT) & 3,
    recorded: (f & CPF_RECORDED) !== 0,
    addr: (BigInt(u32[o + CP_ADDR_HI] ?? 0) << 32n) | BigInt(u32[o + CP_ADDR_LO] ?? 0),
    ipa: (u32[o + CP_AUX_HI] ?? 0) * 4294967296 + (u32[o + CP_AUX_LO] ?? 0),
  };
}

export interface PortDesc {
  readonly id: number;
  readonly requests: RingDesc;
  readonly completions: RingDesc;
  readonly data: SharedArrayBuffer;
}

export interface AttachPortOptions {
  /** Records per ring (power of two, default 256). */
  readonly capacity?: number;
  /** Bytes of the device-side data SAB (default 1 MiB). */
  readonly dataBytes?: number;
  readonly name?: string;
  /**
   * The StreamID the interconnect gives the device behind this port. When set, every
   * transaction from the port carries it whatever its record says: software on the device
   * side (a guest) cannot choose its StreamID. Absent: the record's StreamID is used (a
   * port standing for a bus of several masters, or a test driver).
   */
  readonly sid?: number;
}

export interface PortStats {
  readonly id: number;
  readonly name: string;
  transactions: number;
  bytes: number;
  faults: number;
  aborts: number;
  badRequests: number;
  batches: number;
}

/** SMMU side of a port. */
export class PortServer {
  readonly desc: PortDesc;
  readonly req: RingConsumer;
  readonly cpl: RingProducer;
  readonly data: Uint8Array;
  /** data.length as a plain field (read per transaction). */
  readonly dataBytes: number;
  /** The data SAB as words (its length is rounded down to whole words). */
  readonly data32: Uint32Array;
  /**
   * The data SAB as a Buffer: the SMMU moves a transaction's bytes with Buffer.copy (one
   * native memmove; TypedArray.set between SharedArrayBuffers copies through V8's relaxed
   * atomic loop, at half the speed for 4 KiB on Node 24).
   */
  readonly bytes: Buffer;
  readonly stats: PortStats;
  /** The port's fixed StreamID, or -1 when records carry it. */
  readonly sid: number;

  constructor(id: number, opts: AttachPortOptions, doorbell: { sab: SharedArrayBuffer; index: number }, buffers?: (bytes: number) => SharedArrayBuffer) {
    const capacity = opts.capacity ?? 256;
    const sid = opts.sid ?? -1;
    if (!Number.isInteger(sid) || sid < -1 || sid > 0xffff_ffff) throw new VsmmuError('EVSMMU_PORT_CONFIG', `port StreamID ${sid}`);
    this.sid = sid;
    const dataBytes = opts.dataBytes ?? 1 << 20;
    if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > 1 << 30) {
      throw new VsmmuError('EVSMMU_PORT_CONFIG', `port data size ${dataBytes}`);
    }
    // Data SAB layout: bytes [0, dataBytes) are the device's DMA buffer; the device writes
    // it before a DMA write and reads it after a DMA read completes; the SMMU copies.
    const data = buffers ? buffers(dataBytes) : new SharedArrayBuffer(dataBytes);
    // The device parks on one word for both things it waits for: completions, and request
    // slots (a full request ring frees only when the SMMU releases it, which may come after
    // the completions it woke the device for). So the completion ring's park word is also
    // the request ring's space doorbell: every release rings it.
    const completions = createRing({ capacity, recordBytes: TX_RECORD_BYTES });
    const requests = createRing({ capacity, recordBytes: TX_RECORD_BYTES }, doorbell, ringDoorbell(completions));
    this.desc = { id, requests, completions, data };
    this.req = new RingConsumer(requests);
    this.cpl = new RingProducer(completions);
    this.data = new Uint8Array(data);
    this.dataBytes = dataBytes;
    this.data32 = new Uint32Array(data, 0, dataBytes >> 2);
    this.bytes = Buffer.from(data);
    this.stats = { id, name: opts.name ?? `port${id}`, transactions: 0, bytes: 0, faults: 0, aborts: 0, badRequests: 0, batches: 0 };
  }
}

export interface TxRequest {
  readonly tag: number;
  readonly sid: number;
  readonly iova: number | bigint;
  readonly length: number;
  readonly write?: boolean;
  readonly instr?: boolean;
  readonly priv?: boolean;
  readonly ssid?: number;
  /** Offset of the buffer in the data SAB (default 0). */
  readonly offset?: number;
}

export interface TxCompletion {
  readonly tag: number;
  readonly status: number;
  readonly bytes: number;
  readonly faultType: number;
  readonly s2: number;
  readonly cls: number;
  readonly recorded: boolean;
  readonly addr: bigint;
  readonly ipa: number;
}
