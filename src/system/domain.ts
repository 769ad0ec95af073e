// A domain as the embedding program sees it: its guest's memory (read directly from the
// shared physical memory through the p2m), its vCPU's trapped MMIO, its devices' DMA, its
// vSMMU interrupt and its Linux-like driver (both run in the guest's worker).
import type { GuestFault, ProbeInfo, Attachment } from '../guest/driver.ts';
import { DmaDevice, type DmaFault, type DmaResult, type DmaYield } from '../devices/dma-device.ts';
import type { DmaEngine } from '../devices/dma-engine.ts';
import { DmaQueueClient, type DmaQueueDesc } from '../devices/dma-queue.ts';
import { pattern, type GuestDmaRequest, type GuestKernel, type GuestStats, type ProtSpec } from '../guest/kernel.ts';
import { GuestRam, RangeP2m } from '../mem/guest-ram.ts';
import type { PhysMemory } from '../mem/phys.ts';
import { VsmmuError } from '../errors.ts';
import { IrqLines } from '../ports/irq.ts';
import type { GuestAttachment } from '../xen/actor.ts';
import { capMax, type DomainConfig } from '../xen/xlcfg.ts';
import { CAP_PERIOD_MS, SchedWords, type SchedDesc } from '../ports/sched.ts';
import type { ActorLink, Backend, ParkWord } from './backend.ts';
import { Supervised } from './supervise.ts';


export interface DmaRequest {
  /** I/O virtual address (a bigint for addresses above 2^53). */
  readonly iova: number | bigint;
  /** Bytes to read, or to write when `data` is absent. */
  readonly length?: number;
  /** A write (device to memory) instead of a read. */
  readonly write?: boolean;
  /** Bytes to write (implies write). */
  readonly data?: Uint8Array;
  readonly ssid?: number;
  readonly priv?: boolean;
  readonly instr?: boolean;
}

export type DmaOutcome =
  | { readonly ok: true; readonly bytes: number; readonly data?: Uint8Array }
  | { readonly ok: false; readonly bytes: number; readonly fault: DmaFault | { readonly name: 'BAD_REQUEST' } };

/** The API's channel of a device: its queue and the engine that runs on this thread. */
export interface ApiChannel {
  readonly name: string;
  readonly queue: DmaQueueDesc;
  readonly engine: DmaEngine;
}

/** The API's side of an open channel: the device driving the queue, the engine, its park word. */
interface ApiDriver {
  readonly dev: DmaDevice;
  readonly engine: DmaEngine;
  readonly park: ParkWord;
}

/** A bound on one DMA from the API (the SMMU answers in microseconds; this catches a dead one). */
const API_DMA_TIMEOUT_MS = 5000;

export class Device {
  readonly name: string;
  /** The physical StreamID the device emits. */
  readonly sid: number;
  /** The StreamID its guest knows (device tree `iommus`). */
  readonly vsid: number;
  readonly #domain: Domain;
  readonly #backend: Backend;
  readonly #openApi: (() => Promise<ApiChannel>) | null;
  #channel: Promise<ApiDriver | null> | null = null;
  #busy: Promise<unknown> = Promise.resolve();

  /** @internal a Domain makes its devices */
  constructor(domain: Domain, backend: Backend, name: string, sid: number, vsid: number, openApi?: () => Promise<ApiChannel>) {
    this.#domain = domain;
    this.#backend = backend;
    this.name = name;
    this.sid = sid;
    this.vsid = vsid;
    this.#openApi = openApi ?? null;
  }

  /**
   * The API channel, opened at the first DMA from the API: its SMMU port (and the 1 MiB
   * device buffer behind it) costs nothing for the devices only their guest drives.
   */
  #api(): Promise<ApiDriver | null> {
    const open = this.#openApi;
    this.#channel ??= open === null ? Promise.resolve(null) : open().then((api) => {
      const bell = api.engine.doorbells[1]!;
      return { engine: api.engine, dev: new DmaDevice(new DmaQueueClient(api.queue), this.sid, { name: this.name }), park: { sab: bell.sab as SharedArrayBuffer, index: bell.index } };
    });
    return this.#channel;
  }

  /**
   * One DMA by this device through the SMMU: { ok: true, data? } or { ok: false, fault }.
   * It goes through the device's own descriptor queue (a SAB ring), not through the guest.
   */
  async dma(req: DmaRequest): Promise<DmaOutcome> {
    const r = guestRequest(req);
    return this.#serial(async () => outcome(await this.#transfer(r)));
  }

  /**
   * Several DMAs, in order, each with its own outcome: posted together on the device's
   * queue when they fit (one SMMU round trip for the batch), else one after the other.
   */
  async dmaBatch(reqs: readonly DmaRequest[]): Promise<DmaOutcome[]> {
    const rs = reqs.map(guestRequest);
    return this.#serial(async () => {
      this.#domain.checkAlive();
      const api = await this.#api();
      if (!api) return (await this.#domain.call('dmaBatch', this.name, rs)).map(outcome);
      const specs = rs.map((r) => ({
        write: r.op === 'write', iova: r.iova, length: r.length ?? r.data?.length ?? 0,
        ...(r.op === 'write' ? { src: r.data ?? pattern(r.length ?? 0, r.fill) } : {}),
        attrs: { ...(r.ssid !== undefined ? { ssid: r.ssid } : {}), ...(r.priv ? { priv: true } : {}), ...(r.instr ? { instr: true } : {}) },
      }));
      return (await this.#drive(api, api.dev.batchSteps(specs))).map(outcome);
    });
  }

  /** One transfer at a time per channel (the queue is single-producer). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn, fn);
    this.#busy = run.catch(() => {});
    return run;
  }

  async #transfer(r: GuestDmaRequest): Promise<DmaResult> {
    this.#domain.checkAlive();
    const api = await this.#api();
    if (!api) return this.#domain.call('dma', this.name, r);
    const data = r.op === 'write' ? (r.data ?? pattern(r.length ?? 0, r.fill)) : null;
    return this.#drive(api, api.dev.transfer(r.op === 'write', r.iova, r.length ?? data?.length ?? 0, {
      ...(r.ssid !== undefined ? { ssid: r.ssid } : {}), ...(r.priv ? { priv: true } : {}), ...(r.instr ? { instr: true } : {}),
    }, data));
  }

  /** Runs a transfer generator: steps the engine (on this thread) and waits where it yields. */
  async #drive<T>({ engine, park }: ApiDriver, g: Generator<DmaYield, T, void>): Promise<T> {
    for (;;) {
      const step = g.next();
      if (step.done) return step.value;
      const wanted: DmaYield = step.value;
      if (wanted()) continue;
      if (!(await this.#backend.wait(wanted, API_DMA_TIMEOUT_MS, park, engine))) {
        this.#domain.checkAlive();
        throw new VsmmuError('EVSMMU_TIMEOUT', `device "${this.name}": the SMMU did not complete a DMA within ${API_DMA_TIMEOUT_MS} ms`);
      }
    }
  }
}

function guestRequest(req: DmaRequest): GuestDmaRequest {
  const iova = typeof req.iova === 'bigint' ? Number(req.iova) : req.iova;
  if (!Number.isSafeInteger(iova) || iova < 0) {
    throw new VsmmuError('EVSMMU_BADDMA', `dma: iova must be a whole number >= 0 below 2^53, got ${String(req.iova)}`);
  }
  const write = req.write === true || req.data !== undefined;
  const length = req.length ?? req.data?.length;
  if (length === undefined || !Number.isInteger(length) || length < 0) {
    throw new VsmmuError('EVSMMU_BADDMA', `dma: give length (bytes to ${write ? 'write' : 'read'})${write ? ' or data' : ''}`);
  }
  return {
    op: write ? 'write' : 'read', iova, length,
    ...(req.data !== undefined ? { data: req.data } : {}),
    ...(req.ssid !== undefined ? { ssid: req.ssid } : {}),
    ...(req.priv ? { priv: true } : {}),
    ...(req.instr ? { instr: true } : {}),
  };
}

function outcome(r: DmaResult): DmaOutcome {
  if (r.status === 'ok') return r.data !== undefined ? { ok: true, bytes: r.bytes, data: r.data } : { ok: true, bytes: r.bytes };
  return { ok: false, bytes: r.bytes, fault: r.fault ?? { name: 'BAD_REQUEST' } };
}

/** A domain's CPU cap and what its scheduler accounted (`xl sched-credit -d D`). */
export interface DomainSchedule {
  /** % of one physical CPU the vCPU may use (0: no cap). */
  readonly cap: number;
  /** Periods in which the budget ran out and the vCPU parked until the next one. */
  readonly parks: number;
  /** Wall time parked for budget, ms. */
  readonly parkedMs: number;
  /** CPU time charged to the domain while capped, ms: its vCPU thread's and Xen's trap service. */
  readonly chargedMs: number;
  /** The part of `chargedMs` that was Xen handling the domain's traps. */
  readonly xenMs: number;
  /** The budget period: the vCPU may run `cap`% of each (credit2's 10 ms). */
  readonly periodMs: number;
  /** Whether the cap acts: on threads; in sim mode it is recorded, not enforced. */
  readonly enforced: boolean;
}

interface DomainParts {
  readonly cfg: DomainConfig;
  /** The domain's scheduler words (its cap), shared with its vCPU's thread. */
  readonly sched: SchedDesc;
  readonly att: GuestAttachment;
  readonly mem: PhysMemory;
  readonly guest: ActorLink<GuestKernel>;
  readonly backend: Backend;
  readonly guestTimeoutMs: number;
  /** The device tree the guest booted from. */
  readonly deviceTree: string;
  /** Opens a device's API channel (queue + engine on this thread) at its first use. */
  readonly openApi?: (device: string) => Promise<ApiChannel>;
  /** Xen destroys the domain (devices to abort, memory freed), the SMMU drops its ports. */
  readonly teardown: () => Promise<void>;
  /** Xen's panic as a coded error (EVSMMU_XEN_PANIC) once it has panicked, else null. */
  readonly xenPanic?: () => VsmmuError | null;
  /** Whether Xen crashed this domain (its crash box lists it). */
  readonly xenCrashed?: () => boolean;
}

export class Domain {
  readonly name: string;
  readonly domid: number;
  readonly vmid: number;
  readonly viommu: string;
  readonly config: DomainConfig;
  /** The guest CPU's view of its RAM (IPA), synchronous. */
  readonly memory: {
    read(ipa: number, length: number): Uint8Array;
    write(ipa: number, bytes: ArrayLike<number>): void;
    read32(ipa: number): number;
    write32(ipa: number, value: number): void;
    read64(ipa: number): bigint;
    write64(ipa: number, value: bigint): void;
  };
  /** Trapped accesses performed by the guest's vCPU, as its kernel would. */
  readonly mmio: {
    read32(gpa: number): Promise<number>;
    write32(gpa: number, value: number): Promise<void>;
    read64(gpa: number): Promise<bigint>;
    write64(gpa: number, value: bigint): Promise<void>;
  };
  /** The guest's vSMMU interrupt (SPI 33, "combined"). */
  readonly irq: {
    /** Whether the interrupt fired since the last wait (or is asserted), waiting up to `timeoutMs`. */
    wait(timeoutMs: number): Promise<boolean>;
    /** Whether the line is asserted now. */
    pending(): boolean;
  };
  /** The guest's Linux-like SMMUv3 driver. */
  readonly driver: {
    probe(): Promise<ProbeInfo>;
    attach(device: string | Device, opts?: { asid?: number; ssidBits?: number; granule?: number }): Promise<Attachment>;
    detach(device: string | Device): Promise<void>;
    map(iova: number, ipa: number, length: number, prot?: ProtSpec, opts?: { device?: string | Device }): Promise<void>;
    unmap(iova: number, length: number, opts?: { device?: string | Device }): Promise<number>;
    faults(): Promise<GuestFault[]>;
  };
  readonly #p2m: RangeP2m;
  readonly #ram: GuestRam;
  readonly #devices: Map<string, Device>;
  readonly #guest: Supervised<GuestKernel>;
  readonly #irq: IrqLines;
  readonly #teardown: () => Promise<void>;
  readonly #dts: string;
  readonly #backend: Backend;
  readonly #xenPanic: () => VsmmuError | null;
  readonly #xenCrashed: () => boolean;
  readonly #attached = new Map<number, number>(); // vSID -> ASID
  readonly #sched: SchedWords;
  readonly #capEnforced: boolean;
  #irqSeen = 0;
  #ended: Promise<void> | null = null;

  /** @internal use createSystem() */
  constructor(p: DomainParts) {
    const info = p.att.domain;
    this.config = p.cfg;
    this.name = info.name;
    this.domid = info.domid;
    this.vmid = info.vmid;
    this.viommu = info.viommu;
    this.#teardown = p.teardown;
    this.#dts = p.deviceTree;
    this.#backend = p.backend;
    this.#xenPanic = p.xenPanic ?? (() => null);
    this.#xenCrashed = p.xenCrashed ?? (() => false);
    this.#sched = new SchedWords(p.sched);
    this.#capEnforced = p.backend.mode === 'threads';
    this.#p2m = new RangeP2m(info.ram);
    this.#ram = new GuestRam(p.mem, this.#p2m.lookup);
    const open = p.openApi;
    this.#devices = new Map(info.devices.map((d) => [d.name, new Device(this, p.backend, d.name, d.sid, d.vsid, open && (() => open(d.name)))]));
    this.#irq = new IrqLines(p.att.irq);
    this.#guest = new Supervised(p.guest, `domain "${this.name}"`, p.guestTimeoutMs, () => void this.#end());

    const ram = this.#ram;
    const live = (): GuestRam => {
      this.#check();
      return ram;
    };
    this.memory = {
      read: (ipa, length) => live().readBytes(ipa, length),
      write: (ipa, bytes) => live().writeBytes(ipa, bytes),
      read32: (ipa) => live().read32(ipa),
      write32: (ipa, v) => live().write32(ipa, v),
      read64: (ipa) => live().read64(ipa),
      write64: (ipa, v) => live().write64(ipa, v),
    };
    this.mmio = {
      read32: async (gpa) => (await this.call('mmioRead', gpa, 4))[0],
      write32: async (gpa, v) => this.call('mmioWrite', gpa, 4, v >>> 0, 0),
      read64: async (gpa) => {
        const [lo, hi] = await this.call('mmioRead', gpa, 8);
        return (BigInt(hi) << 32n) | BigInt(lo);
      },
      write64: async (gpa, v) => this.call('mmioWrite', gpa, 8, Number(BigInt.asUintN(32, v)), Number(BigInt.asUintN(32, v >> 32n))),
    };
    this.irq = {
      wait: (t) => this.#waitIrq(t),
      pending: () => (this.#irq.pending() & 1) !== 0,
    };
    this.driver = {
      probe: () => this.call('probe'),
      attach: async (dev, opts = {}) => {
        const d = this.#device(dev);
        const a = await this.call('attach', d.vsid, opts);
        this.#attached.set(d.vsid, a.asid);
        return a;
      },
      detach: async (dev) => {
        const d = this.#device(dev);
        await this.call('detach', d.vsid);
        this.#attached.delete(d.vsid);
      },
      map: (iova, ipa, length, prot = 'rw', opts = {}) => this.call('map', this.#ioDomain(opts.device), iova, ipa, length, prot),
      unmap: (iova, length, opts = {}) => this.call('unmap', this.#ioDomain(opts.device), iova, length),
      faults: () => this.call('faults', 0),
    };
  }

  /** Set once the domain is gone: EVSMMU_DOMAIN_DESTROYED, EVSMMU_DOMAIN_CRASHED or EVSMMU_DOMAIN_HUNG. */
  get dead(): VsmmuError | null {
    return this.#guest.dead;
  }

  get devices(): readonly Device[] {
    return [...this.#devices.values()];
  }

  device(name: string): Device {
    const d = this.#devices.get(name);
    if (!d) {
      throw new VsmmuError('EVSMMU_UNKNOWN_DEVICE', `domain "${this.name}" has no device "${name}" (devices: ${[...this.#devices.keys()].join(', ') || 'none'})`, { domain: this.name, device: name });
    }
    return d;
  }

  /** The guest's device tree (DTS), exactly as its kernel received it at boot: memory, GIC,
   *  its vSMMU and each device with its vSID. */
  deviceTree(): string {
    return this.#dts;
  }

  /** @internal the guest's RAM as p2m ranges (IPA -> PA), for checkers. */
  get ramRanges(): readonly { readonly ipa: number; readonly pa: number; readonly size: number }[] {
    return this.#p2m.ranges;
  }

  /** Where the p2m puts the guest page holding `ipa`. */
  ipaToPa(ipa: number): number {
    this.#check();
    const pa = this.#p2m.lookup(ipa);
    if (pa < 0) throw new VsmmuError('EVSMMU_GUEST_RANGE', `IPA 0x${ipa.toString(16)} is not RAM of domain "${this.name}"`, { ipa });
    return pa;
  }

  /**
   * The domain's CPU cap and what its scheduler accounted, as `xl sched-credit -d D` shows
   * it; with `{ cap }` (% of one physical CPU, 0 for none, at most 100 per vCPU) sets the
   * cap first, as `xl sched-credit -d D -c N` does. It takes effect at once, also while the
   * guest is busy in a call (a shared word its vCPU reads). EVSMMU_INVAL for a bad cap.
   */
  schedule(set?: { readonly cap?: number }): DomainSchedule {
    this.#check();
    if (set !== undefined) {
      if (typeof set !== 'object' || set === null) throw new VsmmuError('EVSMMU_INVAL', 'schedule(set): set must be an object { cap }');
      for (const k of Object.keys(set)) if (k !== 'cap') throw new VsmmuError('EVSMMU_INVAL', `schedule(set): unknown key "${k}" (known: cap)`, { key: k });
      const cap = set.cap;
      if (cap !== undefined) {
        const max = capMax(this.config.vcpus);
        if (typeof cap !== 'number' || !Number.isInteger(cap) || cap < 0 || cap > max) {
          throw new VsmmuError('EVSMMU_INVAL', `domain "${this.name}": cap must be a whole percentage of one physical CPU from 0 (no cap) to ${max} (100 per vCPU), got ${JSON.stringify(cap)}`, { cap, min: 0, max });
        }
        this.#sched.setCap(cap);
      }
    }
    return { ...this.#sched.counters(), periodMs: CAP_PERIOD_MS, enforced: this.#capEnforced };
  }

  /** A zeroed buffer from the guest kernel's allocator (dma_alloc); returns its IPA. */
  alloc(bytes: number, align?: number): Promise<number> {
    return align === undefined ? this.call('alloc', bytes) : this.call('alloc', bytes, align);
  }

  free(ipa: number): Promise<void> {
    return this.call('free', ipa);
  }

  async guestStats(): Promise<GuestStats> {
    return this.call('stats');
  }

  /** Orderly teardown: the guest stops, Xen puts its devices to abort and frees its memory. */
  async destroy(): Promise<void> {
    if (!this.#guest.dead) await this.#guest.close().catch(() => this.#guest.kill());
    await this.#end();
  }

  /** Terminates the guest's worker at once, as a crash would; Xen then destroys the domain. */
  async kill(): Promise<void> {
    await this.#guest.kill();
    await this.#end();
  }

  /** @internal a guarded call into the guest's worker. */
  call: Supervised<GuestKernel>['call'] = (method, ...args) => {
    const panic = this.#xenPanic();
    if (panic) return Promise.reject(panic);
    this.#noteCrash();
    // A call that failed because the hypervisor died reports the panic, not its symptom
    // (an aborted trap, a closed trap channel).
    return this.#guest.call(method, ...args).catch((e: unknown) => {
      this.#checkPanic();
      throw e;
    });
  };

  #checkPanic(): void {
    const p = this.#xenPanic();
    if (p) throw p;
  }

  #end(): Promise<void> {
    this.#ended ??= this.#teardown();
    return this.#ended;
  }

  /**
   * The toolstack's part of Xen's domain_crash(): once Xen lists this domain as crashed, its
   * guest is stopped and the domain destroyed (memory freed after the abort STEs), and every
   * call rejects with EVSMMU_DOMAIN_CRASHED.
   */
  #noteCrash(): void {
    if (this.#guest.dead || !this.#xenCrashed()) return;
    this.#guest.crash(new VsmmuError('EVSMMU_DOMAIN_CRASHED', `domain "${this.name}": Xen crashed it because a physical CMD_SYNC it waited for did not complete within Xen's sync timeout (its devices were fenced); the domain was destroyed`, { domid: this.domid, reason: 'sync-timeout' }));
  }

  /** @internal destroys the domain if Xen crashed it; resolves once it is gone. */
  async reapIfCrashed(): Promise<void> {
    this.#noteCrash();
    if (this.#guest.dead?.code === 'EVSMMU_DOMAIN_CRASHED') await this.#end();
  }

  #check(): void {
    this.#checkPanic();
    this.#noteCrash();
    const dead = this.#guest.dead;
    if (dead) throw dead;
  }

  /** @internal throws the domain's end (destroyed, crashed, hung) once it is gone. */
  checkAlive(): void {
    this.#check();
  }

  #device(dev: string | Device): Device {
    return typeof dev === 'string' ? this.device(dev) : this.device(dev.name);
  }

  /** The vSID standing for an io domain: the device's, or the only domain's. */
  #ioDomain(dev: string | Device | undefined): number {
    if (dev !== undefined) return this.#device(dev).vsid;
    const asids = new Set(this.#attached.values());
    const first = this.#attached.keys().next();
    if (asids.size === 1 && !first.done) return first.value;
    if (asids.size === 0) throw new VsmmuError('EVSMMU_NOTATTACHED', `domain "${this.name}": attach a device (driver.attach) before mapping`);
    throw new VsmmuError('EVSMMU_AMBIGUOUS', `domain "${this.name}" has ${asids.size} io domains (ASIDs ${[...asids].join(', ')}): pass { device } to say which`);
  }

  async #waitIrq(timeoutMs: number): Promise<boolean> {
    this.#check();
    const fired = (): boolean => this.#guest.dead !== null || this.#irq.stats(0).raised !== this.#irqSeen || (this.#irq.pending() & 1) !== 0;
    const got = await this.#backend.wait(fired, timeoutMs);
    this.#check();
    if (got) this.#irqSeen = this.#irq.stats(0).raised;
    return got;
  }
}

