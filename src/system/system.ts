// createSystem(): the physical SMMU, Xen and one guest per domain, sharing one physical
// memory: each on its own worker thread, or (options.sim) all on the calling thread under a
// seeded scheduler (src/sim). The handles here run on the caller's thread and never block
// it: memory views read the SharedArrayBuffer directly, everything a guest's CPU or device
// does goes to that guest's actor through the backend.
import type { SmmuFeatures } from '../arch/features.ts';
import type { GuestKernel, GuestStats, GuestWorkerData } from '../guest/kernel.ts';
import { PhysMemory } from '../mem/phys.ts';
import { giveBackMemory, takeMemory } from '../sim/memory.ts';
import { VsmmuError } from '../errors.ts';
import type { SmmuActor } from '../smmu/actor.ts';
import type { SmmuStats } from '../smmu/smmu.ts';
import { createCrashBox, createPanicBox, readCrashBox, readPanicBox, type XenActor } from '../xen/actor.ts';
import type { XenPanic, XenProfileName } from '../xen/profile.ts';
import { panicError, type XenAccounting, type XenStats } from '../xen/xen.ts';
import type { DomainInfo } from '../xen/domain.ts';
import { domUDts } from '../xen/devicetree.ts';
import { hostTreeDts } from '../xen/hostdt.ts';
import type { DtNode } from '../dt/dts.ts';
import { DmaEngine } from '../devices/dma-engine.ts';
import { createDmaQueue } from '../devices/dma-queue.ts';
import { createSched } from '../ports/sched.ts';
import { Domain, type ApiChannel } from './domain.ts';
import { threadBackend, type ActorLink, type Backend } from './backend.ts';
import { SystemTrace } from './trace.ts';
import { NO_TRACE } from '../trace/tracer.ts';
import { simBackend } from '../sim/backend.ts';
import type { Scheduler } from '../sim/scheduler.ts';
import { normaliseOptions, XEN_HEAP_BASE, type SystemOptions, type ThreadPriority } from './options.ts';

/** Where a sim-mode run stands (System.sim). */
export interface SimState {
  readonly seed: number;
  readonly strategy: string;
  readonly steps: number;
  /** Virtual time, ms. */
  readonly now: number;
  /** 16 hex digits over the schedule and every call and answer so far. */
  readonly digest: string;
}

export interface SystemStats {
  readonly smmu: SmmuStats;
  readonly xen: XenStats;
  /** Xen's view of each live domain: VMID, stage-2 faults kept, its vSMMU's counters. */
  readonly xenDomains: readonly DomainInfo[];
  /** Each guest kernel's counters (driver, trap latency, devices), or how it died. */
  readonly domains: Readonly<Record<string, GuestStats | { readonly dead: string }>>;
}

/** system.accounting(): what Xen holds for domains (leak checks after teardown). */
export type SystemAccounting = XenAccounting & {
  /** Interrupt lines Xen holds for guests (one vSMMU SPI per domain). */
  readonly irqLines: number;
  /** Trap slots Xen serves (one per vCPU of a live domain). */
  readonly trapSlots: number;
};

/** Host physical memory as the hardware sees it. */
export interface HostMemory {
  readonly size: number;
  read(pa: number, length: number): Uint8Array;
  write(pa: number, bytes: ArrayLike<number>): void;
}

/** Longest System.run(): a day. */
const MAX_RUN_MS = 86_400_000;

export class System implements AsyncDisposable {
  readonly host: HostMemory;
  /** Non-fatal findings about the configuration (ignored xl.cfg keys, unknown Xen options). */
  readonly warnings: readonly string[];
  readonly features: SmmuFeatures;
  /** 'threads' (an actor per worker thread) or 'sim' (one thread, a seeded scheduler). */
  readonly mode: 'threads' | 'sim';
  /** Threads: the priority of the SMMU's and Xen's threads in force (options.priority; 'equal'
   *  where they could not be raised: no CAP_SYS_NICE or root, or not Linux). Sim: null. */
  readonly priority: ThreadPriority | null;
  readonly #mem: PhysMemory;
  readonly #smmu: ActorLink<SmmuActor>;
  readonly #xen: ActorLink<XenActor>;
  readonly #backend: Backend;
  readonly #sched: Scheduler | null;
  readonly #domains = new Map<string, Domain>();
  readonly #panicBox: SharedArrayBuffer | null;
  readonly #crashBox: SharedArrayBuffer;
  /** Crashes reaped so far (the crash box's count when last looked at). */
  #reaped = 0;
  readonly #hostTree: DtNode;
  /** Xen's policy profile (options.xen.profile). */
  readonly profile: XenProfileName;
  #closing: Promise<void> | null = null;
  /** A timeline of every actor (docs/tracing.md): start(), stop() -> Chrome Trace Event JSON. */
  readonly trace: SystemTrace;

  /** Threads: the host CPU the SMMU's thread has to itself (options.smmuCpu 'dedicated'), the
   *  guests and Xen running on the others; null where it shares them (the default, fewer than
   *  2 CPUs, no taskset). Sim: null. */
  get smmuCpu(): number | null {
    return this.#backend.smmuCpu;
  }

  /** @internal use createSystem() */
  constructor(backend: Backend, mem: PhysMemory, smmu: ActorLink<SmmuActor>, xen: ActorLink<XenActor>, features: SmmuFeatures, warnings: readonly string[], xenInfo: { profile?: XenProfileName; panicBox?: SharedArrayBuffer; crashBox: SharedArrayBuffer; hostTree: DtNode }) {
    this.mode = backend.mode;
    this.#hostTree = xenInfo.hostTree;
    this.profile = xenInfo.profile ?? 'hardened';
    this.#panicBox = xenInfo.panicBox ?? null;
    this.#crashBox = xenInfo.crashBox;
    if (backend.mode === 'threads') void this.#watchCrashes();
    this.#backend = backend;
    this.#sched = 'scheduler' in backend ? (backend.scheduler as Scheduler) : null;
    this.#mem = mem;
    this.#smmu = smmu;
    this.#xen = xen;
    this.features = features;
    this.priority = backend.priority;
    this.warnings = warnings;
    this.trace = new SystemTrace(backend.trace, () => {
      const s = this.sim;
      return s === null ? { mode: this.mode } : { mode: this.mode, seed: s.seed, strategy: s.strategy };
    });
    this.host = {
      size: mem.size,
      read: (pa, length) => mem.readBytes(pa, length),
      write: (pa, bytes) => mem.writeBytes(pa, bytes),
    };
  }

  /**
   * Sim mode only (null on threads): the run so far as the scheduler saw it: its seed and
   * strategy, steps taken, virtual time in ms, and the digest of its schedule and of every
   * call and answer. Same seed, same options, same program: the same digest.
   */
  get sim(): SimState | null {
    const s = this.#sched;
    return s === null ? null : { seed: s.seed, strategy: s.strategy, steps: s.steps, now: s.now, digest: s.digest.hex() };
  }

  /**
   * Lets the system run for `ms`: in sim mode the scheduler steps the actors for `ms` of
   * virtual time, or until none has work (guests' background work included); on threads it
   * waits `ms`. Resolves to the backend's clock after it (ms).
   */
  async run(ms: number): Promise<number> {
    if (!(typeof ms === 'number' && ms >= 0 && ms <= MAX_RUN_MS)) throw new VsmmuError('EVSMMU_INVAL', `run(ms): ms must be 0..${MAX_RUN_MS}, got ${String(ms)}`);
    await this.#backend.wait(() => this.#sched !== null && !this.#sched.busy(), ms);
    await this.#reap();
    return this.#backend.now();
  }

  /** @internal where the actors run (stress and fuzz checkers watch the sim world). */
  get backend(): Backend {
    return this.#backend;
  }

  /**
   * The hypervisor panic that stopped the system (profiles rfc and v3: a guest-triggerable
   * BUG() of the series), or null. Once set, every call into a domain rejects with
   * EVSMMU_XEN_PANIC.
   */
  get panic(): XenPanic | null {
    return this.#panicBox === null ? null : readPanicBox(this.#panicBox);
  }

  /** @internal the panic as a coded error, or null. */
  panicError(): VsmmuError | null {
    const p = this.panic;
    return p === null ? null : panicError(p);
  }

  /**
   * The host device tree (DTS) Xen booted with: the physical SMMUv3 and the DMA devices
   * behind it with `iommus`, against which xl.cfg `dtdev` paths were resolved (vsmmu dt --host).
   */
  hostDeviceTree(): string {
    return hostTreeDts(this.#hostTree);
  }

  /** The domain called `name`; EVSMMU_UNKNOWN_DOMAIN lists the ones there are. */
  domain(name: string): Domain {
    const d = this.#domains.get(name);
    if (!d) {
      throw new VsmmuError('EVSMMU_UNKNOWN_DOMAIN', `no domain called "${name}" (domains: ${[...this.#domains.keys()].join(', ') || 'none'})`, { name });
    }
    return d;
  }

  /** Every domain created with the system, destroyed or not. */
  get domains(): readonly Domain[] {
    return [...this.#domains.values()];
  }

  /** Destroys the domains Xen crashed since the last look (the toolstack reaping them). */
  async #reap(): Promise<void> {
    const crashed = readCrashBox(this.#crashBox);
    if (crashed.length === this.#reaped) return;
    this.#reaped = crashed.length;
    await Promise.all(this.domains.filter((d) => crashed.includes(d.domid)).map((d) => d.reapIfCrashed()));
  }

  /** Threads: reaps a crashed domain as soon as Xen lists it (close() ends the watch). */
  async #watchCrashes(): Promise<void> {
    const w = new Int32Array(this.#crashBox);
    for (let seen = 0; ; seen = Atomics.load(w, 0)) {
      const r = Atomics.waitAsync(w, 0, seen);
      if (r.async) await r.value;
      if (this.#closing) return;
      await this.#reap();
    }
  }

  async stats(): Promise<SystemStats> {
    await this.#reap();
    const [smmu, xen, xenDomains] = await Promise.all([this.#smmu.api.stats(), this.#xen.api.stats(), this.#xen.api.domains()]);
    const domains: Record<string, GuestStats | { dead: string }> = {};
    await Promise.all(
      this.domains.map(async (d) => {
        // A domain may die during the call (Xen crashes it, a guest thread ends): it is
        // then reported as dead, as if it had died before.
        domains[d.name] = d.dead ? { dead: d.dead.code } : this.panic !== null ? { dead: 'EVSMMU_XEN_PANIC' } : await d.guestStats().catch((e: unknown) => {
          if (d.dead) return { dead: d.dead.code };
          throw e;
        });
      }),
    );
    return { smmu, xen, xenDomains, domains };
  }

  /**
   * What Xen holds for domains (docs/api.md): domains, their pages, VMIDs, vSIDs, streams,
   * interrupt lines and trap slots; each is 0 once every domain is destroyed (`pages.xen`,
   * Xen's own structures for the SMMU, and `pages.free` stay).
   */
  async accounting(): Promise<SystemAccounting> {
    await this.#reap();
    return this.#xen.api.accounting();
  }

  /**
   * Fault injection for tests of the emulator's own failures (docs/security.md):
   * 'stall-sync' makes the physical SMMU's command queue stop at the next CMD_SYNC without
   * completing it, until the queue is disabled (Xen's physical SYNC timeout recovers it).
   */
  async injectFault(kind: 'stall-sync'): Promise<void> {
    await this.#smmu.api.injectFault(kind);
  }

  /** Orderly shutdown: guests, then Xen (devices to abort, memory freed), then the SMMU. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled(this.domains.map((d) => d.destroy()));
      await this.#xen.close().catch(() => this.#xen.destroy());
      await this.#smmu.close().catch(() => this.#smmu.destroy());
      // Every actor is gone; in sim mode they lived on this thread, so nothing writes it now.
      if (this.#backend.mode === 'sim') giveBackMemory(this.#mem);
    })();
    Atomics.notify(new Int32Array(this.#crashBox), 0); // ends #watchCrashes
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  async addDomain(cfg: Parameters<XenActor['createDomain']>[0], guestTimeoutMs: number, driver?: GuestWorkerData['driver']): Promise<void> {
    const att = await this.#xen.api.createDomain(cfg);
    // The toolstack's part (libxl's libxl__prepare_dtb): the guest's device tree from its
    // config and the vSIDs Xen assigned. It is the guest's only description of its platform.
    const deviceTree = domUDts(cfg, { vsids: Object.fromEntries(att.domain.devices.map((d) => [d.name, d.vsid])) });
    // Each device is a DMA engine with two channels, each a descriptor queue with its own
    // SMMU port carrying the device's StreamID: one the guest's driver programs (the engine
    // runs on the guest's thread), one the embedding program drives through
    // device(name).dma() (the engine runs on this thread, so a DMA from the API is one SMMU
    // round trip and never waits on the guest's thread). The API's channel opens at its
    // first DMA.
    const devs = att.domain.devices;
    const ports = await Promise.all(devs.map((dev) => this.#smmu.api.attachPort({ name: `${cfg.name}/${dev.name}`, sid: dev.sid })));
    const queues = ports.map((p) => createDmaQueue(p.data));
    const sched = createSched(cfg.cap ?? 0);
    const data: GuestWorkerData = {
      name: cfg.name,
      domid: att.domain.domid,
      memory: this.#mem.sab,
      ram: att.domain.ram,
      trap: att.trap,
      irq: { desc: att.irq, lines: { [att.spi]: 0 } },
      deviceTree,
      devices: devs.map((dev, i) => ({ name: dev.name, pSid: dev.sid, queue: queues[i]! })),
      hardware: devs.map((dev, i) => ({ name: dev.name, psid: dev.sid, port: ports[i]!, queue: queues[i]! })),
      ...(driver ? { driver } : {}),
      sched,
    };
    const removeEngines: (() => void)[] = [];
    let ended = false;
    const openApi = async (name: string): Promise<ApiChannel> => {
      const dev = devs.find((d) => d.name === name)!;
      const port = await this.#smmu.api.attachPort({ name: `${cfg.name}/${name}/api`, sid: dev.sid });
      if (ended) {
        await this.#smmu.api.detachPort(port.id).catch(() => false);
        throw new VsmmuError('EVSMMU_DOMAIN_DESTROYED', `domain "${cfg.name}" was destroyed`);
      }
      ports.push(port);
      const queue = createDmaQueue(port.data);
      const tracer = this.#backend.trace?.tracer('api') ?? NO_TRACE;
      const engine = new DmaEngine({ port, queue, psid: dev.sid }, tracer, `${cfg.name}/${name}`);
      removeEngines.push(this.#backend.addEngine(engine, `${cfg.name}/${name}/api`));
      return { name, queue, engine };
    };
    let guest: ActorLink<GuestKernel>;
    try {
      guest = await this.#backend.startGuest(data, cfg.name, guestTimeoutMs);
    } catch (e) {
      await this.#xen.api.destroyDomain(att.domain.domid).catch(() => {});
      await Promise.all(ports.map((p) => this.#smmu.api.detachPort(p.id).catch(() => false)));
      throw e;
    }
    const domain = new Domain({
      cfg, att, sched, mem: this.#mem, guest, backend: this.#backend, deviceTree, openApi, xenPanic: () => this.panicError(),
      xenCrashed: () => readCrashBox(this.#crashBox).includes(att.domain.domid),
      // Sim mode bounds a guest call in virtual time (its backend), never by a wall-clock timer.
      guestTimeoutMs: this.mode === 'sim' ? Infinity : guestTimeoutMs,
      teardown: async () => {
        ended = true;
        for (const r of removeEngines) r();
        await this.#xen.api.destroyDomain(att.domain.domid).catch(() => {});
        await Promise.all(ports.map((p) => this.#smmu.api.detachPort(p.id).catch(() => false)));
      },
    });
    this.#domains.set(cfg.name, domain);
  }
}

/**
 * Starts the physical SMMU, Xen (booting it probes and enables the SMMU) and a guest per
 * domain. Bad options reject with a VsmmuError whose `code` names the problem.
 */
export async function createSystem(options: SystemOptions = {}): Promise<System> {
  const cfg = normaliseOptions(options);
  const backend = cfg.sim ? simBackend(cfg.sim) : threadBackend(cfg.priority, cfg.smmuCpu);
  const mem = cfg.sim?.recycleMemory ? takeMemory(cfg.memory) : PhysMemory.create(cfg.memory);
  const smmu = await backend.startSmmu({ memory: mem.sab, features: cfg.smmu, ...(cfg.iotlbEntries !== null ? { iotlbEntries: cfg.iotlbEntries } : {}) });
  let xen: ActorLink<XenActor> | null = null;
  try {
    const d = await smmu.api.describe();
    const panicBox = createPanicBox();
    const crashBox = createCrashBox();
    xen = await backend.startXen({
      memory: mem.sab, regs: d.regs, smmuIrq: d.irq, heapBase: XEN_HEAP_BASE, heapSize: cfg.memory - XEN_HEAP_BASE, cmdline: cfg.cmdline.raw,
      profile: cfg.profile, panicBox, crashBox,
    });
    const system = new System(backend, mem, smmu, xen, d.features, cfg.warnings, { profile: cfg.profile, panicBox, crashBox, hostTree: cfg.hostTree });
    try {
      for (const dc of cfg.domains) await system.addDomain(dc, cfg.guestTimeoutMs);
    } catch (e) {
      await system.close();
      throw e;
    }
    return system;
  } catch (e) {
    if (xen) await xen.destroy().catch(() => {});
    await smmu.destroy().catch(() => {});
    throw e;
  }
}
