// The Xen actor: the Xen core (xen.ts) on its own thread. Its data plane is the trap server
// (one channel per guest vCPU: MMIO traps into the domain's vSMMU window) and the physical
// SMMU's register page; its control plane (this class's methods, over comlink) creates and
// destroys domains, passes devices through, and reports stats.
//
// As a step machine (step/hasWork/nextDeadline, run by the runtime's service loop): a step
// serves pending traps, takes the physical SMMU's interrupts, and runs continuations
// (vSMMU command queues left over by the per-trap budget, guest STE installs and CMD_SYNCs
// waiting for the physical queue, the physical event queue). Everything that can give Xen
// work rings one doorbell: the trap server parks on the physical SMMU's interrupt bank's
// doorbell, and Xen's driver signals its physical CMD_SYNCs with the wired CMD_SYNC
// interrupt, so a physical event or a completed SYNC wakes Xen at once (no polling).
// Control-plane calls (domain creation, passthrough) may wait for the hardware through the
// runner's injected `pollRegister`; guest traps never do.

import { decodeIdRegs } from '../arch/features.ts';
import { R } from '../arch/registers.ts';
import { PageAllocator } from '../mem/alloc.ts';
import { PhysMemory } from '../mem/phys.ts';
import { VsmmuError } from '../errors.ts';
import { IrqLines, createIrqLines, type IrqDesc } from '../ports/irq.ts';
import { CTL_UPD, controlWord, type RegisterPage as PortRegisterPage } from '../ports/regpage.ts';
import {
  TRAP_ABORT, TRAP_OK, TrapServer, createTrapChannel, createTrapServer, type TrapChannelDesc, type TrapRequest,
  type TrapServerDesc, type TrapStatus,
} from '../ports/trap.ts';
import type { DoorbellDesc } from '../ports/doorbell.ts';
import { RegisterPage, SmmuRegisterPort, type RegisterPageDesc } from '../smmu/regpage.ts';
import type { DomainInfo } from './domain.ts';
import { GUEST_VSMMU_SPI } from './layout.ts';
import type { VsidMode } from './vsid.ts';
import type { XenPanic, XenProfileName } from './profile.ts';
import { Xen, type XenAccounting, type XenMeter, type XenStats } from './xen.ts';
import type { DomainConfig, DomainDevice } from './xlcfg.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';

/** workerData of workers/xen.ts. */
export interface XenWorkerData {
  /** Physical memory (PhysMemory.sab). */
  readonly memory: SharedArrayBuffer;
  /** The physical SMMU's register page. */
  readonly regs: RegisterPageDesc;
  /** The physical SMMU's interrupt lines (acknowledged as events are consumed), if any. */
  readonly smmuIrq?: IrqDesc;
  /** The physical range Xen owns: its structures and every guest's RAM come from it. */
  readonly heapBase: number;
  readonly heapSize: number;
  readonly cmdline?: string;
  readonly budget?: number;
  readonly vsidMode?: VsidMode;
  readonly timeoutMs?: number;
  readonly ipaBits?: number;
  /** Xen's policy profile (plain data: its name; default 'hardened'). */
  readonly profile?: XenProfileName;
  /**
   * Where Xen leaves its panic for the program (createPanicBox): word 0 the byte length of
   * the JSON XenPanic that follows at byte 4 (0 while Xen runs). Written once, by Xen.
   */
  readonly panicBox?: SharedArrayBuffer;
  /** Where Xen lists the domains it crashed, for the toolstack to reap (createCrashBox). */
  readonly crashBox?: SharedArrayBuffer;
}

/** Size of a panic box: the flag word and the panic record as JSON. */
export const PANIC_BOX_BYTES = 4096;

/** A panic box for XenWorkerData.panicBox. */
export function createPanicBox(): SharedArrayBuffer {
  return new SharedArrayBuffer(PANIC_BOX_BYTES);
}

/** The panic written into `box`, or null while Xen runs. */
export function readPanicBox(box: SharedArrayBuffer): XenPanic | null {
  const n = Atomics.load(new Int32Array(box, 0, 1), 0);
  if (n <= 0) return null;
  return JSON.parse(new TextDecoder().decode(new Uint8Array(box, 4, n).slice())) as XenPanic;
}

function writePanicBox(box: SharedArrayBuffer, p: XenPanic): void {
  const bytes = new TextEncoder().encode(JSON.stringify(p)).subarray(0, PANIC_BOX_BYTES - 4);
  new Uint8Array(box, 4).set(bytes);
  Atomics.store(new Int32Array(box, 0, 1), 0, bytes.length); // after the record: readers see it whole
}

/**
 * A crash box for XenWorkerData.crashBox: word 0 counts the domains Xen crashed; words
 * 1..CRASH_BOX_SLOTS hold their domids in order (a domid is never reused while a system
 * lives, and more crashes than slots are counted but not listed). Written by Xen only;
 * the count is stored after the slot, and notified, so a reader sees whole entries.
 */
export const CRASH_BOX_SLOTS = 255;

export function createCrashBox(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (1 + CRASH_BOX_SLOTS));
}

/** The domids listed in a crash box. */
export function readCrashBox(box: SharedArrayBuffer): number[] {
  const w = new Int32Array(box);
  const n = Math.min(Atomics.load(w, 0), CRASH_BOX_SLOTS);
  return Array.from(w.subarray(1, 1 + n));
}

function writeCrashBox(box: SharedArrayBuffer, domid: number): void {
  const w = new Int32Array(box);
  const n = Atomics.load(w, 0);
  if (n < CRASH_BOX_SLOTS) w[1 + n] = domid;
  Atomics.store(w, 0, n + 1);
  Atomics.notify(w, 0);
}

/** What a guest worker needs to run a domain Xen created. */
export interface GuestAttachment {
  readonly domain: DomainInfo;
  /** The vCPU's MMIO trap channel (TrapVcpu on the guest side; addresses are IPAs). */
  readonly trap: TrapChannelDesc;
  /** The guest's interrupt lines: line 0 = its vSMMU's combined SPI (level). */
  readonly irq: IrqDesc;
  /** INTID of line 0 in the guest's device tree. */
  readonly spi: number;
}

/** What the runner injects: how a control-plane call waits for a register (threads: sleep
 *  on the page's update counter; one thread: step the SMMU). */
export interface XenHost {
  pollRegister(page: PortRegisterPage, read32: (off: number) => number, off: number, done: (v: number) => boolean, timeoutMs: number): number | undefined;
  /** Xen's trace points (docs/tracing.md). */
  readonly tracer?: Tracer;
  /** The runner's clock (ms): times each trap of a capped domain (absent: none is charged). */
  readonly clock?: () => number;
}

export class XenActor {
  readonly xen: Xen;
  readonly trapServer: TrapServerDesc;
  #server: TrapServer;
  #slots = new Map<number, number>(); // trap slot -> domid
  #slotOf = new Map<number, number>(); // domid -> trap slot
  #irqs = new Map<number, IrqLines>();
  #smmuIrq: IrqLines | null;
  /** Where Xen's runner parks it (traps, the SMMU's interrupts). */
  readonly doorbell: DoorbellDesc;
  /** The SMMU's register-update counter, and its value when the last step began. */
  readonly #upd: Int32Array;
  readonly #updIdx: number;
  #updSeen = 0;
  #out = { lo: 0, hi: 0 };
  readonly #tr: Tracer;
  /** The runner's clock, to charge a capped domain for Xen's handling of its traps. */
  readonly #clock: (() => number) | null;
  #handler = (req: TrapRequest): TrapStatus => {
    // Xen's handling of a trap runs on the trapping vCPU in Xen and is charged to it: a
    // capped domain's vCPU asks for that time (TrapServer.wantsCharge) and pays it.
    const clock = this.#clock;
    if (clock === null || !this.#server.wantsCharge(req.channel)) return this.#serve(req);
    const t0 = clock();
    const status = this.#serve(req);
    this.#server.charge(req.channel, clock() - t0);
    return status;
  };
  #serve(req: TrapRequest): TrapStatus {
    const domid = this.#slots.get(req.channel) ?? -1;
    const addr = req.addrHi * 4294967296 + req.addrLo;
    const out = this.#out;
    if (!this.xen.mmio(domid, req.write, req.size, addr, req.valueLo, req.valueHi, out)) return TRAP_ABORT;
    req.valueLo = out.lo;
    req.valueHi = out.hi;
    return TRAP_OK;
  }

  constructor(data: XenWorkerData, host: XenHost) {
    const mem = PhysMemory.attach(data.memory);
    const raw = new RegisterPage(data.regs);
    const features = decodeIdRegs({
      idr0: raw.load(R.IDR0), idr1: raw.load(R.IDR1), idr2: raw.load(R.IDR2), idr3: raw.load(R.IDR3),
      idr4: raw.load(R.IDR4), idr5: raw.load(R.IDR5), iidr: raw.load(R.IIDR), aidr: raw.load(R.AIDR),
    });
    const port = new SmmuRegisterPort(data.regs, features);
    const read32 = (o: number): number => port.read32(o);
    this.xen = new Xen({
      mem,
      alloc: new PageAllocator(data.heapBase, data.heapSize),
      mmio: { read32, write32: (o, v) => port.write32(o, v), poll32: (o, d, t) => host.pollRegister(raw, read32, o, d, t ?? 2000) },
      ...(data.cmdline === undefined ? {} : { cmdline: data.cmdline }),
      ...(data.budget === undefined ? {} : { budget: data.budget }),
      ...(data.vsidMode === undefined ? {} : { vsidMode: data.vsidMode }),
      ...(data.timeoutMs === undefined ? {} : { timeoutMs: data.timeoutMs }),
      ...(data.ipaBits === undefined ? {} : { ipaBits: data.ipaBits }),
      ...(host.tracer ? { tracer: host.tracer } : {}),
      ...(data.profile === undefined ? {} : { profile: data.profile }),
      ...(host.clock ? { meter: this.#meter(host.clock) } : {}),
    });
    this.#tr = host.tracer ?? NO_TRACE;
    this.#clock = host.clock ?? null;
    const box = data.panicBox;
    if (box !== undefined) this.xen.onPanic = (p) => writePanicBox(box, p);
    const crashes = data.crashBox;
    if (crashes !== undefined) this.xen.onDomainCrash = (domid) => writeCrashBox(crashes, domid);
    this.xen.boot();
    // One doorbell for everything that gives Xen work: the SMMU's interrupt bank's.
    this.#smmuIrq = data.smmuIrq ? new IrqLines(data.smmuIrq) : null;
    this.trapServer = createTrapServer(data.smmuIrq?.doorbell);
    this.doorbell = this.trapServer.doorbell;
    const upd = controlWord(data.regs, CTL_UPD);
    this.#upd = new Int32Array(upd.sab);
    this.#updIdx = upd.index;
    this.#server = new TrapServer(this.trapServer);
  }

  /** Xen's work for a capped domain outside its traps, charged on its trap channel too. */
  #meter(clock: () => number): XenMeter {
    const slot = (domid: number): number => this.#slotOf.get(domid) ?? -1;
    return {
      wants: (domid) => this.#server.wantsCharge(slot(domid)),
      now: clock,
      charge: (domid, ms) => this.#server.charge(slot(domid), ms),
    };
  }

  // ---- step machine -----------------------------------------------------------------------

  /** Serves pending traps, takes the SMMU's interrupts, runs continuations; the work done. */
  step(now: number): number {
    this.#updSeen = Atomics.load(this.#upd, this.#updIdx);
    let n = this.#server.poll(this.#handler);
    if (this.xen.panicked !== null) {
      // The hypervisor is dead: every vCPU stopped on a trap learns it (EVSMMU_TRAP_CLOSED),
      // none is served again.
      if (!this.#server.closed) this.#server.close();
      return n;
    }
    const irqs = this.#smmuIrq === null ? 0 : this.#smmuIrq.take();
    if (irqs !== 0) n++;
    if (irqs !== 0 && this.#tr.enabled) this.#tr.instant('irq', 'SMMU interrupt', { lines: irqs });
    if (this.xen.pump()) n++;
    if (this.xen.checkSyncTimeouts(now)) n++;
    return n;
  }

  /** Whether a step would find work: a trap, an interrupt, or a continuation that can run. */
  hasWork(): boolean {
    if (this.xen.panicked !== null) return !this.#server.closed;
    return this.#server.hasPending() || (this.#smmuIrq !== null && this.#smmuIrq.pending() !== 0) || this.xen.hasWork();
  }

  /** While a vSMMU waits for a physical SYNC: the SMMU's update counter (it moves when CONS
   *  does), so that a runner kept busy by a guest polling CONS lets the SMMU run. */
  awaitingPeer(): { word: Int32Array; index: number; value: number } | null {
    return this.xen.waitingForHardware() ? { word: this.#upd, index: this.#updIdx, value: this.#updSeen } : null;
  }

  /** Xen needs no timer (the SMMU's interrupts ring its doorbell) but the physical SYNC
   *  timeout: while a guest's CMD_SYNC waits for one, the time it would expire. */
  nextDeadline(): number {
    return this.xen.nextSyncDeadline();
  }

  // ---- control API ------------------------------------------------------------------------

  /**
   * Creates a domain and what its guest worker needs: a trap channel for its vCPU and its
   * interrupt lines (the vSMMU's SPI as a level line).
   */
  createDomain(cfg: DomainConfig): GuestAttachment {
    const info = this.xen.createDomain(cfg);
    const dom = this.xen.domain(info.domid);
    const irq = createIrqLines({ lines: 1, level: 1 });
    const lines = new IrqLines(irq);
    this.#irqs.set(info.domid, lines);
    dom.onIrq = (level) => lines.set(0, level);
    const trap = createTrapChannel(this.trapServer);
    const slot = this.#server.attach(trap);
    this.#slots.set(slot, info.domid);
    this.#slotOf.set(info.domid, slot);
    return { domain: info, trap, irq, spi: GUEST_VSMMU_SPI };
  }

  /** Destroys a domain (also what to call when its guest worker died). */
  destroyDomain(domid: number): void {
    for (const [slot, d] of this.#slots) {
      if (d !== domid) continue;
      this.#server.detach(slot);
      this.#slots.delete(slot);
      this.#slotOf.delete(domid);
    }
    this.#irqs.get(domid)?.close();
    this.#irqs.delete(domid);
    this.xen.destroyDomain(domid);
  }

  assignDevice(domid: number, dev: DomainDevice): number {
    return this.xen.assignDevice(domid, dev);
  }

  deassignDevice(domid: number, sid: number): void {
    this.xen.deassignDevice(domid, sid);
  }

  unmapGuestRam(domid: number, ipa: number, size: number): number {
    return this.xen.unmapGuestRam(domid, ipa, size);
  }

  domains(): DomainInfo[] {
    return this.xen.listDomains();
  }

  domain(domid: number): DomainInfo {
    return this.xen.domain(domid).info();
  }

  stats(): XenStats {
    return this.xen.stats();
  }

  /** What Xen holds for domains, with the interrupt lines and trap slots of this actor. */
  accounting(): XenAccounting & { readonly irqLines: number; readonly trapSlots: number } {
    return { ...this.xen.accounting(), irqLines: this.#irqs.size, trapSlots: this.#slots.size };
  }

  /** The domain's vSMMU register, by name (diagnostics and tests). */
  vsmmuRegister(domid: number, name: string): number {
    const v = this.xen.domain(domid).vsmmu;
    if (!v) throw new VsmmuError('EVSMMU_NOVIOMMU', `domain ${domid} has no vSMMU`, { domid });
    return v.reg(name as Parameters<typeof v.reg>[0]);
  }

  /** Called after the runner stopped stepping Xen. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#server.close();
    for (const l of this.#irqs.values()) l.close();
  }
}
