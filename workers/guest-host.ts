// The thread side of a guest kernel's ports (what src/guest must not do itself): its vCPU's
// trap channel as a blocking port call, WFI on its IRQ lines, idling, the wall clock (with
// the domain's CPU cap enforced at each read, src/runtime/credit.ts), and
// its DMA engines (hardware that runs on this thread), stepped whenever the kernel waits for
// one and parked on the device's SMMU completion ring otherwise (a short spin while spinning
// pays, DeviceSpin, then the runtime's park: Atomics.wait).
import { DmaEngine } from '../src/devices/dma-engine.ts';
import type { DmaWait } from '../src/devices/dma-device.ts';
import type { GuestHost, GuestWorkerData } from '../src/guest/kernel.ts';
import type { TrapPort } from '../src/guest/vcpu.ts';
import { IrqLines } from '../src/runtime/irq.ts';
import { TRAP_OK, TrapVcpu, type TrapChannelDesc } from '../src/runtime/trap.ts';
import { CreditCap } from '../src/runtime/credit.ts';
import { TrapServiceTime } from '../src/ports/trap.ts';
import { SpinPolicy, WAIT_OK, waitUntil } from '../src/runtime/wait.ts';
import { NO_TRACE, type Tracer } from '../src/trace/tracer.ts';

/** The runtime trap channel as a TrapPort. */
export class ChannelTrapPort implements TrapPort {
  private readonly v: TrapVcpu;
  private readonly timeoutMs: number;

  constructor(desc: TrapChannelDesc, timeoutMs = Infinity) {
    this.v = new TrapVcpu(desc);
    this.timeoutMs = timeoutMs;
  }

  get valueLo(): number {
    return this.v.valueLo;
  }

  get valueHi(): number {
    return this.v.valueHi;
  }

  access(write: boolean, size: number, ipa: number, lo: number, hi: number): boolean {
    const alo = ipa % 4294967296 >>> 0;
    const ahi = Math.floor(ipa / 4294967296) >>> 0;
    return this.v.access(write, size, alo, ahi, lo >>> 0, hi >>> 0, this.timeoutMs) === TRAP_OK;
  }

  close(): void {
    this.v.close();
  }
}

/**
 * Whether a thread waiting for its device's completions should spin (SPIN_MS) before it
 * parks. The SMMU publishes a port's completions chunk by chunk while it serves that port:
 * a waiter that has the SMMU to itself sees the next chunk within microseconds, and spinning
 * keeps it refilling the port while the rest is served. One among several guests waits while
 * the SMMU serves the other ports, on a core it shares with them: there the spins fail and
 * only take the core from the threads with work. So: spin while recent spins caught their
 * completion, park at once after a run of failures, and still spin one wait in PROBE_EVERY
 * to notice a change. (8 guests streaming 4 KiB, alternating runs on the shared 2-core
 * machine: 1.0-1.7 M DMA/s with a spin before every park, 1.2-2.3 M with this.)
 */
export class DeviceSpin {
  #score = 0;
  #skipped = 0;
  worth(): boolean {
    if (this.#score >= 0) return true;
    return ++this.#skipped % DeviceSpin.PROBE_EVERY === 0;
  }
  record(caught: boolean): void {
    this.#score = caught ? Math.min(DeviceSpin.SCORE_MAX, this.#score + 2) : Math.max(-DeviceSpin.SCORE_MAX, this.#score - 1);
  }
  static readonly SCORE_MAX = 16;
  static readonly PROBE_EVERY = 16;
  /** How long one spin lasts: a chunk of 32 4-KiB transactions takes the SMMU ~10 us. */
  static readonly SPIN_MS = 0.03;
}

/** Calls `ready` until it holds (true) or `ms` pass (false). */
function spinFor(ready: () => boolean, ms: number): boolean {
  const t0 = performance.now();
  for (;;) {
    for (let k = 0; k < 16; k++) if (ready()) return true;
    if (performance.now() - t0 > ms) return false;
  }
}

/** The ports of a guest kernel on this thread; `data.hardware`'s engines run here. */
export function threadGuestHost(data: Pick<GuestWorkerData, 'irq' | 'hardware' | 'sched'> & Partial<Pick<GuestWorkerData, 'trap'>>, tracer: Tracer = NO_TRACE): GuestHost {
  const engines = new Map((data.hardware ?? []).map((h) => [h.name, new DmaEngine(h, tracer, h.name)]));
  const spin = new SpinPolicy();
  const irq = data.irq ? new IrqLines(data.irq.desc) : null;
  // The domain's CPU cap (src/runtime/credit.ts): every read of the guest's clock is a point
  // where the vCPU may be parked for its budget.
  const cap = data.sched ? new CreditCap(data.sched, data.trap ? new TrapServiceTime(data.trap) : null) : null;
  const clock = cap
    ? (): number => {
        cap.tick();
        return performance.now();
      }
    : (): number => performance.now();
  return {
    clock,
    tracer,
    trapPort: (desc, timeoutMs) => new ChannelTrapPort(desc, timeoutMs),
    ...(irq ? { irqWait: { wait: (mask: number, t: number) => irq.wait(mask, t), waitAsync: (mask: number, t: number) => irq.waitAsync(mask, t) } } : {}),
    sleepUntil: (due) => {
      const sleeper = new Int32Array(new SharedArrayBuffer(4));
      let now = clock();
      if (due - now > 1) Atomics.wait(sleeper, 0, 0, due - now - 0.5);
      while ((now = clock()) < due) { /* short spin to the due time */ }
    },
    pause: (ms) => new Promise((r) => setTimeout(r, ms)),
    waitDevice: (name: string): DmaWait => {
      const engine = engines.get(name);
      if (!engine) return (ready) => ready();
      const bell = engine.doorbells[1] as { sab: SharedArrayBuffer; index: number };
      const park = new Int32Array(bell.sab);
      const devSpin = new DeviceSpin();
      return (ready, timeoutMs) => {
        const progressed = (): boolean => {
          if (engine.hasWork()) while (engine.step() > 0);
          return ready();
        };
        if (progressed()) return true;
        // Spin first only while spinning pays for this device (see DeviceSpin).
        if (devSpin.worth()) {
          const caught = spinFor(progressed, DeviceSpin.SPIN_MS);
          devSpin.record(caught);
          if (caught) return true;
        }
        // The thread parks until the device completes: a slice.
        const t0 = tracer.enabled ? tracer.stamp() : 0;
        const ok = waitUntil(progressed, park, bell.index, timeoutMs, spin, 0) === WAIT_OK;
        if (tracer.enabled && t0 !== 0) tracer.slice('waits', `wait for ${name}`, t0, { woken: ok ? 'ready' : 'timeout' });
        return ok;
      };
    },
  };
}
