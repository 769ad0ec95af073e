// Blocking forms of the MMIO trap channel (src/ports/trap.ts) for threads: a vCPU thread
// stops in `access` until Xen answers, as a trapped access stops a real vCPU; a server
// thread may wait in `serve` for requests. A timeout closes the channel (see timedOut).
import { VsmmuError } from '../errors.ts';
import {
  TRAP_CLOSED, TRAP_RESP_SEQ, TRAP_VCPU_PARK, TrapServer as PortServer, TrapVcpu as PortVcpu, trapClosedError,
  type TrapHandler, type TrapStatus,
} from '../ports/trap.ts';
import { SpinPolicy, WAIT_OK, WAIT_TIMEOUT, waitUntil, waitUntilAsync, waitWhile, waitWhileAsync } from './wait.ts';

export {
  TRAP_ABORT, TRAP_OK, createTrapChannel, createTrapServer, type TrapChannelDesc, type TrapHandler, type TrapRequest,
  type TrapServerDesc, type TrapStatus,
} from '../ports/trap.ts';

/** The vCPU side, blocking. After an ok read, the value is in `valueLo`/`valueHi`. */
export class TrapVcpu extends PortVcpu {
  private readonly spin = new SpinPolicy();

  /** Blocking access (worker threads). Throws EVSMMU_TRAP_CLOSED / EVSMMU_TRAP_TIMEOUT. */
  access(write: boolean, size: number, addrLo: number, addrHi: number, valLo: number, valHi: number, timeoutMs = Infinity): TrapStatus {
    const seq = this.post(write, size, addrLo, addrHi, valLo, valHi);
    const h = this.h;
    for (let r = Atomics.load(h, TRAP_RESP_SEQ); r !== seq; r = Atomics.load(h, TRAP_RESP_SEQ)) {
      if (Atomics.load(h, TRAP_CLOSED) !== 0) throw trapClosedError();
      if (waitWhile(h, TRAP_RESP_SEQ, r, h, TRAP_VCPU_PARK, TRAP_CLOSED, timeoutMs, this.spin) === WAIT_TIMEOUT) throw this.timedOut(addrLo, addrHi);
    }
    return this.take();
  }

  /** Non-blocking access for the main thread. */
  async accessAsync(write: boolean, size: number, addrLo: number, addrHi: number, valLo: number, valHi: number, timeoutMs = Infinity): Promise<TrapStatus> {
    const seq = this.post(write, size, addrLo, addrHi, valLo, valHi);
    const h = this.h;
    for (let r = Atomics.load(h, TRAP_RESP_SEQ); r !== seq; r = Atomics.load(h, TRAP_RESP_SEQ)) {
      if (Atomics.load(h, TRAP_CLOSED) !== 0) throw trapClosedError();
      if ((await waitWhileAsync(h, TRAP_RESP_SEQ, r, h, TRAP_VCPU_PARK, TRAP_CLOSED, timeoutMs, this.spin)) === WAIT_TIMEOUT) throw this.timedOut(addrLo, addrHi);
    }
    return this.take();
  }

  read(addrLo: number, addrHi: number, size: number, timeoutMs = Infinity): TrapStatus {
    return this.access(false, size, addrLo, addrHi, 0, 0, timeoutMs);
  }

  write(addrLo: number, addrHi: number, size: number, valLo: number, valHi: number, timeoutMs = Infinity): TrapStatus {
    return this.access(true, size, addrLo, addrHi, valLo, valHi, timeoutMs);
  }

  // A request the handler has not answered may still be read by it later: rewriting the
  // slot under it would tear, so a timeout retires the channel (the guest is stuck anyway).
  private timedOut(addrLo: number, addrHi: number): VsmmuError {
    this.close();
    return new VsmmuError('EVSMMU_TRAP_TIMEOUT', 'trap not answered in time', { addrLo: addrLo >>> 0, addrHi: addrHi >>> 0 });
  }
}

/** The handler side, with waits: serves every attached channel, sleeping on its doorbell. */
export class TrapServer extends PortServer {
  private readonly spin = new SpinPolicy();
  private readonly anyPending = (): boolean => this.hasPending() || this.closed;

  /** Waits for requests and serves them: the count, 0 on timeout, -1 once closed. */
  serve(handler: TrapHandler, timeoutMs = Infinity): number {
    for (;;) {
      const n = this.poll(handler);
      if (n > 0) return n;
      if (this.closed) return -1;
      if (waitUntil(this.anyPending, this.bell, this.bellIdx, timeoutMs, this.spin) !== WAIT_OK) return 0;
    }
  }

  async serveAsync(handler: TrapHandler, timeoutMs = Infinity): Promise<number> {
    for (;;) {
      const n = this.poll(handler);
      if (n > 0) return n;
      if (this.closed) return -1;
      if ((await waitUntilAsync(this.anyPending, this.bell, this.bellIdx, timeoutMs, this.spin)) !== WAIT_OK) return 0;
    }
  }
}
