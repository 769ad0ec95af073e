// MMIO trap channel: one request/response slot per vCPU. The vCPU posts (address, size,
// value, read/write) and blocks, as a trapped access stops a real vCPU, until the handler
// answers ok (+ value for reads) or abort. One TrapServer serves many channels (vCPUs of
// different guests) and sleeps on one park word that every channel's request wakes.
// Sequence numbers pair answers with requests: the vCPU takes only RESP_SEQ === its own
// REQ_SEQ, never an answer left from an earlier request or an earlier server. A timeout
// closes the channel (see TrapVcpu.timedOut).
import { VsmmuError } from '../errors.ts';
import { SpinPolicy, WAIT_OK, WAIT_TIMEOUT, waitUntil, waitUntilAsync, waitWhile, waitWhileAsync, wake } from './wait.ts';

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
const REQ_SEQ = 0;
const OP = 1;
const ADDR_LO = 2;
const ADDR_HI = 3;
const WVAL_LO = 4;
const WVAL_HI = 5;
const RESP_SEQ = 16;
const STATUS = 17;
const RVAL_LO = 18;
const RVAL_HI = 19;
const VCPU_PARK = 32;
const CLOSED = 48;
const MAGIC = 64;
const SERVER_ID = 65;
const CHANNEL_BYTES = 320;
const CHANNEL_MAGIC = 0x54524150; // 'TRAP'

// Server SAB layout (Int32): word 0 PARK (the handler's park word; every request wakes
// it), word 16 CLOSED (own line), word 32 ID (random, written at allocation: SAB objects
// arriving in different messages are different JS objects, so identity is by this id).
const SRV_PARK = 0;
const SRV_CLOSED = 16;
const SRV_ID = 32;
const SERVER_BYTES = 192;

export interface TrapServerDesc {
  readonly sab: SharedArrayBuffer;
}
export interface TrapChannelDesc {
  readonly sab: SharedArrayBuffer;
  /** The serving TrapServer's SAB (its park word is this channel's doorbell). */
  readonly server: SharedArrayBuffer;
}

export function createTrapServer(): TrapServerDesc {
  const sab = new SharedArrayBuffer(SERVER_BYTES);
  new Int32Array(sab)[SRV_ID] = (Math.random() * 0x7fffffff) | 1;
  return { sab };
}

export function createTrapChannel(server: TrapServerDesc): TrapChannelDesc {
  const sab = new SharedArrayBuffer(CHANNEL_BYTES);
  const h = new Int32Array(sab);
  h[MAGIC] = CHANNEL_MAGIC;
  h[SERVER_ID] = new Int32Array(server.sab)[SRV_ID] ?? 0;
  return { sab, server: server.sab };
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
  private readonly h: Int32Array;
  private readonly srv: Int32Array;
  private seq: number;
  private readonly spin = new SpinPolicy();

  constructor(desc: TrapChannelDesc) {
    this.h = channelWords(desc.sab);
    this.srv = new Int32Array(desc.server);
    this.seq = Atomics.load(this.h, REQ_SEQ);
  }

  /** Blocking access (worker threads). Throws EVSMMU_TRAP_CLOSED / EVSMMU_TRAP_TIMEOUT. */
  access(write: boolean, size: number, addrLo: number, addrHi: number, valLo: number, valHi: number, timeoutMs = Infinity): TrapStatus {
    const seq = this.post(write, size, addrLo, addrHi, valLo, valHi);
    const h = this.h;
    for (let r = Atomics.load(h, RESP_SEQ); r !== seq; r = Atomics.load(h, RESP_SEQ)) {
      if (Atomics.load(h, CLOSED) !== 0) throw closedError();
      if (waitWhile(h, RESP_SEQ, r, h, VCPU_PARK, CLOSED, timeoutMs, this.spin) === WAIT_TIMEOUT) throw this.timedOut(addrLo, addrHi);
    }
    return this.take();
  }

  /** Non-blocking access for the main thread. */
  async accessAsync(write: boolean, size: number, addrLo: number, addrHi: number, valLo: number, valHi: number, timeoutMs = Infinity): Promise<TrapStatus> {
    const seq = this.post(write, size, addrLo, addrHi, valLo, valHi);
    const h = this.h;
    for (let r = Atomics.load(h, RESP_SEQ); r !== seq; r = Atomics.load(h, RESP_SEQ)) {
      if (Atomics.load(h, CLOSED) !== 0) throw closedError();
      if ((await waitWhileAsync(h, RESP_SEQ, r, h, VCPU_PARK, CLOSED, timeoutMs, this.spin)) === WAIT_TIMEOUT) throw this.timedOut(addrLo, addrHi);
    }
    return this.take();
  }

  read(addrLo: number, addrHi: number, size: number, timeoutMs = Infinity): TrapStatus {
    return this.access(false, size, addrLo, addrHi, 0, 0, timeoutMs);
  }

  write(addrLo: number, addrHi: number, size: number, valLo: number, valHi: number, timeoutMs = Infinity): TrapStatus {
    return this.access(true, size, addrLo, addrHi, valLo, valHi, timeoutMs);
  }

  /** The guest is gone: the server skips this channel from now on. */
  close(): void {
    Atomics.store(this.h, CLOSED, 1);
    wake(this.srv, SRV_PARK);
  }

  private post(write: boolean, size: number, addrLo: number, addrHi: number, valLo: number, valHi: number): number {
    checkSize(size);
    const h = this.h;
    if (Atomics.load(h, CLOSED) !== 0) throw closedError();
    h[OP] = (write ? 1 : 0) | (size << 8);
    h[ADDR_LO] = addrLo;
    h[ADDR_HI] = addrHi;
    h[WVAL_LO] = valLo;
    h[WVAL_HI] = valHi;
    const seq = (this.seq = (this.seq + 1) | 0);
    Atomics.store(h, REQ_SEQ, seq); // publishes the fields above
    wake(this.srv, SRV_PARK);
    return seq;
  }

  // A request the handler has not answered may still be read by it later: rewriting the
  // slot under it would tear, so a timeout retires the channel (the guest is stuck anyway).
  private timedOut(addrLo: number, addrHi: number): VsmmuError {
    this.close();
    return timeoutError(addrLo, addrHi);
  }

  private take(): TrapStatus {
    const h = this.h;
    this.valueLo = (h[RVAL_LO] ?? 0) >>> 0;
    this.valueHi = (h[RVAL_HI] ?? 0) >>> 0;
    return h[STATUS] === TRAP_OK ? TRAP_OK : TRAP_ABORT;
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

/** The handler side: serves every attached channel, sleeping on one park word. */
export class TrapServer {
  private readonly srv: Int32Array;
  private readonly chans: (Int32Array | null)[] = [];
  private readonly served: number[] = [];
  private readonly spin = new SpinPolicy();
  private readonly req: TrapRequest = { channel: 0, write: false, size: 0, addrLo: 0, addrHi: 0, valueLo: 0, valueHi: 0 };
  private readonly anyPending = (): boolean => this.pendingSlot() >= 0 || this.closed;

  constructor(desc: TrapServerDesc) {
    this.srv = new Int32Array(desc.sab);
  }

  /** Adds a channel; returns its slot (TrapRequest.channel). */
  attach(ch: TrapChannelDesc): number {
    const h = channelWords(ch.sab);
    if (h[SERVER_ID] !== this.srv[SRV_ID]) throw new VsmmuError('EVSMMU_TRAP_CONFIG', 'trap channel belongs to another server');
    this.chans.push(h);
    this.served.push(Atomics.load(h, RESP_SEQ));
    return this.chans.length - 1;
  }

  detach(slot: number): void {
    this.chans[slot] = null;
  }

  get closed(): boolean {
    return Atomics.load(this.srv, SRV_CLOSED) !== 0;
  }

  /** Stops serving: every vCPU blocked on an attached channel wakes with EVSMMU_TRAP_CLOSED. */
  close(): void {
    Atomics.store(this.srv, SRV_CLOSED, 1);
    wake(this.srv, SRV_PARK);
    for (const h of this.chans) {
      if (!h) continue;
      Atomics.store(h, CLOSED, 1);
      wake(h, VCPU_PARK);
    }
  }

  /** Serves every pending request without blocking; returns how many. */
  poll(handler: TrapHandler): number {
    let n = 0;
    for (let slot = 0; slot < this.chans.length; slot++) {
      const h = this.chans[slot];
      if (!h) continue;
      const seq = Atomics.load(h, REQ_SEQ);
      if (seq === this.served[slot]) continue;
      if (Atomics.load(h, CLOSED) !== 0) {
        this.chans[slot] = null;
        continue;
      }
      this.answer(slot, h, seq, handler);
      n++;
    }
    return n;
  }

  /** Waits for requests and serves them: the count, 0 on timeout, -1 once closed. */
  serve(handler: TrapHandler, timeoutMs = Infinity): number {
    for (;;) {
      const n = this.poll(handler);
      if (n > 0) return n;
      if (this.closed) return -1;
      if (waitUntil(this.anyPending, this.srv, SRV_PARK, timeoutMs, this.spin) !== WAIT_OK) return 0;
    }
  }

  async serveAsync(handler: TrapHandler, timeoutMs = Infinity): Promise<number> {
    for (;;) {
      const n = this.poll(handler);
      if (n > 0) return n;
      if (this.closed) return -1;
      if ((await waitUntilAsync(this.anyPending, this.srv, SRV_PARK, timeoutMs, this.spin)) !== WAIT_OK) return 0;
    }
  }

  private pendingSlot(): number {
    for (let slot = 0; slot < this.chans.length; slot++) {
      const h = this.chans[slot];
      if (h && Atomics.load(h, REQ_SEQ) !== this.served[slot]) return slot;
    }
    return -1;
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
      Atomics.store(h, RESP_SEQ, seq);
      wake(h, VCPU_PARK);
    }
  }
}

function closedError(): VsmmuError {
  return new VsmmuError('EVSMMU_TRAP_CLOSED', 'trap channel is closed');
}

function timeoutError(addrLo: number, addrHi: number): VsmmuError {
  return new VsmmuError('EVSMMU_TRAP_TIMEOUT', 'trap not answered in time', { addrLo: addrLo >>> 0, addrHi: addrHi >>> 0 });
}
