// The Xen actor: the Xen core (xen.ts) on its own thread. Its data plane is the trap server
// (one channel per guest vCPU: MMIO traps into the domain's vSMMU window) and the physical
// SMMU's register page; its control plane (this class's methods, over comlink) creates and
// destroys domains, passes devices through, and reports stats.
//
// Service loop: serve pending traps, run continuations (vSMMU command queues left over by
// the per-trap budget, guest CMD_SYNCs waiting for the physical queue), consume the physical
// event queue; then sleep on the trap server's doorbell. The sleep is bounded (a short one
// while some vSMMU waits for the hardware, a longer one otherwise) because physical events
// and SYNC completions do not ring that doorbell. The loop yields to the event loop at least
// every SLICE_MS so control calls always get through.

import { decodeIdRegs } from '../arch/features.ts';
import { R } from '../arch/registers.ts';
import { PageAllocator } from '../mem/alloc.ts';
import { PhysMemory } from '../mem/phys.ts';
import { VsmmuError } from '../errors.ts';
import { IrqLines, createIrqLines, type IrqDesc } from '../runtime/irq.ts';
import {
  TRAP_ABORT, TRAP_OK, TrapServer, createTrapChannel, createTrapServer, type TrapChannelDesc, type TrapRequest,
  type TrapServerDesc, type TrapStatus,
} from '../runtime/trap.ts';
import { RegisterPage, SmmuRegisterPort, type RegisterPageDesc } from '../smmu/regpage.ts';
import type { DomainInfo } from './domain.ts';
import { GUEST_VSMMU_SPI } from './layout.ts';
import type { VsidMode } from './vsid.ts';
import { Xen, type XenStats } from './xen.ts';
import type { DomainConfig, DomainDevice } from './xlcfg.ts';

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

const SLICE_MS = 2;
const IDLE_WAIT_MS = 5;
const HW_WAIT_MS = 0.2;
const HW_BLOCK_MS = 0.05;
/** After the last trap or piece of work, keep polling this long before parking (a guest's
 *  traps come in bursts; an async park and wake costs tens of microseconds). */
const LINGER_MS = 0.2;

export class XenActor {
  readonly xen: Xen;
  readonly trapServer: TrapServerDesc;
  #server: TrapServer;
  #slots = new Map<number, number>(); // trap slot -> domid
  #irqs = new Map<number, IrqLines>();
  #smmuIrq: IrqLines | null;
  readonly #port: SmmuRegisterPort;
  #stopped = false;
  #loop: Promise<void>;
  #out = { lo: 0, hi: 0 };
  #handler = (req: TrapRequest): TrapStatus => {
    const domid = this.#slots.get(req.channel) ?? -1;
    const addr = req.addrHi * 4294967296 + req.addrLo;
    const out = this.#out;
    if (!this.xen.mmio(domid, req.write, req.size, addr, req.valueLo, req.valueHi, out)) return TRAP_ABORT;
    req.valueLo = out.lo;
    req.valueHi = out.hi;
    return TRAP_OK;
  };

  constructor(data: XenWorkerData) {
    const mem = PhysMemory.attach(data.memory);
    const raw = new RegisterPage(data.regs);
    const features = decodeIdRegs({
      idr0: raw.load(R.IDR0), idr1: raw.load(R.IDR1), idr2: raw.load(R.IDR2), idr3: raw.load(R.IDR3),
      idr4: raw.load(R.IDR4), idr5: raw.load(R.IDR5), iidr: raw.load(R.IIDR), aidr: raw.load(R.AIDR),
    });
    const port = new SmmuRegisterPort(data.regs, features);
    this.#port = port;
    this.xen = new Xen({
      mem,
      alloc: new PageAllocator(data.heapBase, data.heapSize),
      mmio: { read32: (o) => port.read32(o), write32: (o, v) => port.write32(o, v), poll32: (o, d, t) => port.poll32(o, d, t) },
      ...(data.cmdline === undefined ? {} : { cmdline: data.cmdline }),
      ...(data.budget === undefined ? {} : { budget: data.budget }),
      ...(data.vsidMode === undefined ? {} : { vsidMode: data.vsidMode }),
      ...(data.timeoutMs === undefined ? {} : { timeoutMs: data.timeoutMs }),
      ...(data.ipaBits === undefined ? {} : { ipaBits: data.ipaBits }),
    });
    this.xen.boot();
    this.trapServer = createTrapServer();
    this.#server = new TrapServer(this.trapServer);
    this.#smmuIrq = data.smmuIrq ? new IrqLines(data.smmuIrq) : null;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const server = this.#server;
    const xen = this.xen;
    const port = this.#port;
    while (!this.#stopped) {
      const t0 = performance.now();
      let busy = true;
      for (let last = t0, now = t0; (busy || now - last < LINGER_MS) && now - t0 < SLICE_MS; now = performance.now()) {
        const updates = port.updates;
        const n = server.poll(this.#handler);
        this.#smmuIrq?.take();
        const more = xen.pump();
        const hw = xen.waitingForHardware();
        // A physical CMD_SYNC is outstanding: sleep until the SMMU updates a register (CONS
        // moving past it) rather than spin, since the SMMU thread needs the core; bounded so
        // that other guests' traps wait at most HW_BLOCK_MS.
        if (hw) port.waitUpdate(updates, HW_BLOCK_MS);
        busy = n > 0 || more || hw;
        if (busy) last = now;
      }
      if (this.#stopped) break;
      if (busy) {
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      const wait = xen.waitingForHardware() ? HW_WAIT_MS : IDLE_WAIT_MS;
      if ((await server.serveAsync(this.#handler, wait)) < 0) break;
    }
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
    this.#slots.set(this.#server.attach(trap), info.domid);
    return { domain: info, trap, irq, spi: GUEST_VSMMU_SPI };
  }

  /** Destroys a domain (also what to call when its guest worker died). */
  destroyDomain(domid: number): void {
    for (const [slot, d] of this.#slots) {
      if (d !== domid) continue;
      this.#server.detach(slot);
      this.#slots.delete(slot);
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

  /** The domain's vSMMU register, by name (diagnostics and tests). */
  vsmmuRegister(domid: number, name: string): number {
    const v = this.xen.domain(domid).vsmmu;
    if (!v) throw new VsmmuError('EVSMMU_NOVIOMMU', `domain ${domid} has no vSMMU`, { domid });
    return v.reg(name as Parameters<typeof v.reg>[0]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopped = true;
    this.#server.close();
    await this.#loop;
    for (const l of this.#irqs.values()) l.close();
  }
}
