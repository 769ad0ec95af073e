// MMIO trap channel: one request/response slot per vCPU. The vCPU posts (address, size,
// value, read/write) and, as a trapped access stops a real vCPU, does nothing else until
// the handler answers ok (+ value for reads) or abort. One TrapServer serves many channels
// (vCPUs of different guests); every channel's request rings the server's doorbell, which
// may be shared with other ports of the same actor (Xen: the physical SMMU's IRQ lines).
// Sequence numbers pair answers with requests: the vCPU takes only RESP_SEQ === its own
// REQ_SEQ, never an answer left from an earlier request or an earlier server.
//
// This module never waits: the vCPU side posts and later checks `answered()`; the blocking
// access of a vCPU thread is src/runtime/trap.ts.
import { VsmmuError } from '../errors.ts';
import { wake, type DoorbellDesc } from './doorbell.ts';

export const TRAP_OK = 0;
export const TRAP_ABORT = 1;
export type TrapStatus = typeof TRAP_OK | typeof TRAP_ABORT;

// Channel SAB layout (Int32 word indices; each writer on its own 64-byte line):
//   line 0  vCPU writes:    REQ_SEQ (published last, Atomics.store), OP (bit 0 = write,
//                           bits 15:8 = size in bytes), ADDR_LO, ADDR_HI, WVAL_LO, WVAL_HI
//   line 1  handler writes: RESP_SEQ (= the REQ_SEQ answered, published last), STATUS,
//                           RVAL_LO, RVAL_HI
//   line 2  VCPU_PARK:      the vCPU's park word; the handler wakes it after answering
//   line 3  CLOSED:         set by either side (guest gone / server stopping), then wake
//   line 4  MAGIC, SERVER_ID (the serving TrapServer's id)   written at allocation
//   line 5  XEN_US:         the handler's service time for this channel's requests, us
//                           (wrapping 32-bit), added after each one while CHARGE is set
//   line 6  CHARGE:         set by the vCPU side while its domain is capped: Xen's handling
//                           of its traps is charged to it, as in Xen (src/runtime/credit.ts)
const REQ_SEQ = 0;
const OP = 1;
const ADDR_LO = 2;
const ADDR_HI = 3;
const WVAL_LO = 4;
const WVAL_HI = 5;
export const TRAP_RESP_SEQ = 16;
const STATUS = 17;
const RVAL_LO = 18;
const RVAL_HI = 19;
export const TRAP_VCPU_PARK = 32;
export const TRAP_CLOSED = 48;
const MAGIC = 64;
const SERVER_ID = 65;
export const TRAP_XEN_US = 80;
export const TRAP_CHARGE = 96;
const CHANNEL_BYTES = 448;
const CHANNEL_MAGIC = 0x54524150; // 'TRAP'

// Server SAB layout (Int32): word 0 PARK (the handler's park word, unless the server was
// created on an actor's doorbell), word 16 CLOSED (own line), word 32 ID (random, written
// at allocation: SAB objects arriving in different messages are different JS objects, so
// identity is by this id).
const SRV_PARK = 0;
const SRV_CLOSED = 16;
const SRV_ID = 32;
const SERVER_BYTES = 192;

export interface TrapServerDesc {
  readonly sab: SharedArrayBuffer;
  /** Where the server parks and every request rings: its own PARK word or a shared doorbell. */
  readonly doorbell: DoorbellDesc;
}
export interface TrapChannelDesc {
  readonly sab: SharedArrayBuffer;
  /** The serving TrapServer's SAB (its id). */
  readonly server: SharedArrayBuffer;
  /** The server's doorbell, rung by every request. */
  readonly doorbell: DoorbellDesc;
}

/** A trap server; `doorbell` (default: its own PARK word) is where it parks. */
export function createTrapServer(doorbell?: DoorbellDesc): TrapServerDesc {
  const sab = new SharedArrayBuffer(SERVER_BYTES);
  new Int32Array(sab)[SRV_ID] = (Math.random() * 0x7fffffff) | 1;
  return { sab, doorbell: doorbell ?? { sab, index: SRV_PARK } };
}

export function createTrapChannel(server: TrapServerDesc): TrapChannelDesc {
  const sab = new SharedArrayBuffer(CHANNEL_BYTES);
  const h = new Int32Array(sab);
  h[MAGIC] = CHANNEL_MAGIC;
  h[SERVER_ID] = new Int32Array(server.sab)[SRV_ID] ?? 0;
  return { sab, server: server.sab, doorbell: server.doorbell };
}

function channelWords(sab: SharedArrayBuffer): Int32Array {
  const h = new Int32Array(sab);
  if (h[MAGIC] !== CHANNEL_MAGIC) throw new VsmmuError('EVSMMU_TRAP_CONFIG', 'not a trap channel SAB');
  return h;
}

function checkSize(size: number): void {
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) {
    throw new VsmmuError('EVSMMU_TRAP_SIZE', `trap access size ${size} is not 1, 2, 4 or 8`);
  }
}

/** The vCPU side. After an ok read, the value is in `valueLo`/`valueHi`. */
export class TrapVcpu {
  valueLo = 0;
  valueHi = 0;
  protected readonly h: Int32Array;
  private readonly bell: Int32Array;
  private readonly bellIdx: number;
  private seq: number;

  constructor(desc: TrapChannelDesc) {
    this.h = channelWords(desc.sab);
    this.bell = new Int32Array(desc.doorbell.sab);
    this.bellIdx = desc.doorbell.index;
    this.seq = Atomics.load(this.h, REQ_SEQ);
  }

  /** Posts an access and rings the server; its sequence number. Throws EVSMMU_TRAP_CLOSED. */
  post(write: boolean, size: number, addrLo: number, addrHi: number, valLo: number, valHi: number): number {
    checkSize(size);
    const h = this.h;
    if (Atomics.load(h, TRAP_CLOSED) !== 0) throw trapClosedError();
    h[OP] = (write ? 1 : 0) | (size << 8);
    h[ADDR_LO] = addrLo;
    h[ADDR_HI] = addrHi;
    h[WVAL_LO] = valLo;
    h[WVAL_HI] = valHi;
    const seq = (this.seq = (this.seq + 1) | 0);
    Atomics.store(h, REQ_SEQ, seq); // publishes the fields above
    wake(this.bell, this.bellIdx);
    return seq;
  }

  /** Whether the last posted access has its answer (then `take()` it). */
  answered(): boolean {
    return Atomics.load(this.h, TRAP_RESP_SEQ) === this.seq;
  }

  get closed(): boolean {
    return Atomics.load(this.h, TRAP_CLOSED) !== 0;
  }

  /** The guest is gone: the server skips this channel from now on. */
  close(): void {
    Atomics.store(this.h, TRAP_CLOSED, 1);
    wake(this.bell, this.bellIdx);
  }

  /** Reads the answer of the last access: its status, value in valueLo/valueHi. */
  take(): TrapStatus {
    const h = this.h;
    this.valueLo = (h[RVAL_LO] ?? 0) >>> 0;
    this.valueHi = (h[RVAL_HI] ?? 0) >>> 0;
    return h[STATUS] === TRAP_OK ? TRAP_OK : TRAP_ABORT;
  }
}

/**
 * The vCPU side's view of the time the handler spent on its requests (a capped domain is
 * charged for it, src/runtime/credit.ts): asking for it, and reading it.
 */
export class TrapServiceTime {
  private readonly h: Int32Array;

  constructor(desc: TrapChannelDesc) {
    this.h = channelWords(desc.sab);
  }

  /** Whether the handler adds its time to this channel (it costs it two clock reads a trap). */
  request(on: boolean): void {
    Atomics.store(this.h, TRAP_CHARGE, on ? 1 : 0);
  }

  /** The handler's time on this channel so far, us, wrapping at 2^32 (take differences). */
  us(): number {
    return Atomics.load(this.h, TRAP_XEN_US) >>> 0;
  }
}

/** One trapped access as the handler sees it; reused between calls (do not keep it). */
export interface TrapRequest {
  /** Slot returned by TrapServer.attach. */
  channel: number;
  write: boolean;
  size: number;
  addrLo: number;
  addrHi: number;
  /** Write data on entry; for a read the handler sets the value to return. */
  valueLo: number;
  valueHi: number;
}

/** Answers one access: TRAP_OK (reads: value in req.valueLo/Hi) or TRAP_ABORT. */
export type TrapHandler = (req: TrapRequest) => TrapStatus;

/** The handler side: serves every attached channel; `poll` never waits. */
export class TrapServer {
  protected readonly srv: Int32Array;
  /** The server's doorbell word (where a runner parks it). */
  readonly bell: Int32Array;
  readonly bellIdx: number;
  private readonly chans: (Int32Array | null)[] = [];
  private readonly served: number[] = [];
  /** Fractions of a microsecond of service not yet published, per slot. */
  private readonly carry: number[] = [];
  /** The slot poll starts at, moved on by one each poll: no vCPU is always served first. */
  private next = 0;
  private readonly req: TrapRequest = { channel: 0, write: false, size: 0, addrLo: 0, addrHi: 0, valueLo: 0, valueHi: 0 };

  constructor(desc: TrapServerDesc) {
    this.srv = new Int32Array(desc.sab);
    this.bell = new Int32Array(desc.doorbell.sab);
    this.bellIdx = desc.doorbell.index;
  }

  /** Adds a channel; returns its slot (TrapRequest.channel). */
  attach(ch: TrapChannelDesc): number {
    const h = channelWords(ch.sab);
    if (h[SERVER_ID] !== this.srv[SRV_ID]) throw new VsmmuError('EVSMMU_TRAP_CONFIG', 'trap channel belongs to another server');
    this.chans.push(h);
    this.served.push(Atomics.load(h, TRAP_RESP_SEQ));
    this.carry.push(0);
    return this.chans.length - 1;
  }

  detach(slot: number): void {
    this.chans[slot] = null;
  }

  get closed(): boolean {
    return Atomics.load(this.srv, SRV_CLOSED) !== 0;
  }

  /** Stops serving: every vCPU waiting on an attached channel sees EVSMMU_TRAP_CLOSED. */
  close(): void {
    Atomics.store(this.srv, SRV_CLOSED, 1);
    wake(this.bell, this.bellIdx);
    for (const h of this.chans) {
      if (!h) continue;
      Atomics.store(h, TRAP_CLOSED, 1);
      wake(h, TRAP_VCPU_PARK);
    }
  }

  /** Serves every pending request without waiting, round-robin from the last start; returns how many. */
  poll(handler: TrapHandler): number {
    let n = 0;
    const len = this.chans.length;
    const first = this.next < len ? this.next : 0;
    this.next = first + 1;
    for (let k = 0; k < len; k++) {
      const slot = (first + k) % len;
      const h = this.chans[slot];
      if (!h) continue;
      const seq = Atomics.load(h, REQ_SEQ);
      if (seq === this.served[slot]) continue;
      if (Atomics.load(h, TRAP_CLOSED) !== 0) {
        this.chans[slot] = null;
        continue;
      }
      this.answer(slot, h, seq, handler);
      n++;
    }
    return n;
  }

  /** Whether the vCPU of channel `slot` wants the service time of its traps (it is capped). */
  wantsCharge(slot: number): boolean {
    const h = this.chans[slot];
    return h !== null && h !== undefined && Atomics.load(h, TRAP_CHARGE) !== 0;
  }

  /** Adds `ms` of the handler's time to channel `slot`'s service time (whole us published). */
  charge(slot: number, ms: number): void {
    const h = this.chans[slot];
    if (!h || !(ms > 0)) return;
    const us = (this.carry[slot] ?? 0) + ms * 1000;
    const whole = Math.floor(us);
    this.carry[slot] = us - whole;
    if (whole > 0) Atomics.add(h, TRAP_XEN_US, whole);
  }

  /** Whether some attached channel has a request not yet served. */
  hasPending(): boolean {
    for (let slot = 0; slot < this.chans.length; slot++) {
      const h = this.chans[slot];
      if (h && Atomics.load(h, REQ_SEQ) !== this.served[slot]) return true;
    }
    return false;
  }

  private answer(slot: number, h: Int32Array, seq: number, handler: TrapHandler): void {
    const req = this.req;
    const op = h[OP] ?? 0;
    req.channel = slot;
    req.write = (op & 1) !== 0;
    req.size = (op >>> 8) & 0xff;
    req.addrLo = (h[ADDR_LO] ?? 0) >>> 0;
    req.addrHi = (h[ADDR_HI] ?? 0) >>> 0;
    req.valueLo = req.write ? (h[WVAL_LO] ?? 0) >>> 0 : 0;
    req.valueHi = req.write ? (h[WVAL_HI] ?? 0) >>> 0 : 0;
    this.served[slot] = seq;
    let status: TrapStatus = TRAP_ABORT;
    try {
      status = handler(req);
    } finally {
      // Answer even if the handler throws, so the vCPU never hangs (it sees an abort).
      h[STATUS] = status;
      h[RVAL_LO] = req.write ? 0 : req.valueLo;
      h[RVAL_HI] = req.write ? 0 : req.valueHi;
      Atomics.store(h, TRAP_RESP_SEQ, seq);
      wake(h, TRAP_VCPU_PARK);
    }
  }
}

export function trapClosedError(): VsmmuError {
  return new VsmmuError('EVSMMU_TRAP_CLOSED', 'trap channel is closed');
}
