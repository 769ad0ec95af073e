// The hypervisor core: domains and their p2m, Xen's SMMUv3 driver, the vIOMMU of each
// domain, the MMIO trap dispatcher and the physical event consumer. Pure (no threads): the
// Xen worker (workers/xen.ts) drives it from its trap channels and IRQ lines, tests drive it
// in-process.
//
// Lifecycle rules: a device is attached stage-2 only, or through its domain's vSMMU (which
// installs nested STEs once the guest configures stage 1). Destroying a domain puts its
// devices' STEs to abort (CFGI_STE + SYNC), invalidates its VMID's TLB entries (SYNC), and
// only then frees its memory and VMID.

import type { SmmuFeatures } from '../arch/features.ts';
import { STE_WORDS } from '../arch/ste.ts';
import { cmdOf } from '../arch/commands.ts';
import type { PageAllocator } from '../mem/alloc.ts';
import type { PhysMemory } from '../mem/phys.ts';
import { VsmmuError } from '../errors.ts';
import { parseXenCmdline, type XenCmdline } from './cmdline.ts';
import { Domain, type DomainInfo } from './domain.ts';
import { GUEST_VSMMUV3_BASE, GUEST_VSMMUV3_SIZE } from './layout.ts';
import { SmmuDriver, type DriverMmio, type DriverStats, type StreamEntry } from './smmu-driver.ts';
import { viommuType } from './viommu.ts';
import { VmidAllocator } from './vmid.ts';
import { VSmmuV3, type GuestMemPort, type VsmmuPhys } from './vsmmuv3.ts';
import { composePhysicalSte, type GuestSteConfig } from './vsmmuv3-ste.ts';
import type { VsidMode } from './vsid.ts';
import { xenProfile, type XenPanic, type XenProfile, type XenProfileName } from './profile.ts';
import type { DomainConfig, DomainDevice } from './xlcfg.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';
import { tracePhysEvent, traceTrap } from './trace.ts';

/** The STE of a quarantined device: V = 1, Config = abort (terminates silently). */
const QUARANTINE_STE = new Uint32Array(STE_WORDS);
QUARANTINE_STE[0] = 1;

export interface XenOptions {
  readonly mem: PhysMemory;
  /** Xen's allocator of physical memory (its structures and guest RAM). */
  readonly alloc: PageAllocator;
  /** Register access to the physical SMMU. */
  readonly mmio: DriverMmio;
  /** The Xen command line (`viommu=<bool>`). */
  readonly cmdline?: string;
  /** vSMMU commands per trap or continuation step (default 64). */
  readonly budget?: number;
  /** vSID allocation (default: the profile's). */
  readonly vsidMode?: VsidMode;
  /** Xen's policy profile (default 'hardened'; src/xen/profile.ts). */
  readonly profile?: XenProfileName;
  /** Bound of every wait for the physical SMMU (ms). */
  readonly timeoutMs?: number;
  /** Domain IPA size (default 40 bits, Xen's default for Arm guests). */
  readonly ipaBits?: number;
  /** log2 entries of the physical event queue Xen allocates (default 12, at most the SMMU's). */
  readonly evtqLog2?: number;
  /**
   * Fault budget: physical event records one device may produce in one drain of the physical
   * event queue before Xen silences it (default: a quarter of the queue).
   */
  readonly faultBudget?: number;
  /** Xen's trace points (docs/tracing.md); default: none. */
  readonly tracer?: Tracer;
  /**
   * How long (ms of the actor's clock) a guest's CMD_SYNC may wait for its physical CMD_SYNC
   * before Xen fences that domain and recovers the physical command queue (default 10000: a
   * real SMMU answers in microseconds, but an emulated one on a loaded machine may be
   * descheduled for seconds, and a wrongly fenced guest is a failure). See checkSyncTimeouts.
   */
  readonly syncTimeoutMs?: number;
  /**
   * Times Xen's work for a domain outside its traps (its vSMMU's continuations: command
   * queue work left over by the per-trap budget, CMD_SYNCs waiting for the physical one), so
   * the runner can charge it to a capped domain as it charges its traps. Default: none.
   */
  readonly meter?: XenMeter;
}

/** The runner's clock and ledger for Xen's work on behalf of a domain (see XenOptions.meter). */
export interface XenMeter {
  /** Whether domain `domid`'s work is to be timed (it is capped). */
  wants(domid: number): boolean;
  now(): number;
  charge(domid: number, ms: number): void;
}

export interface XenStats {
  readonly domains: number;
  readonly vmidsInUse: number;
  readonly streams: number;
  readonly driver: DriverStats;
  readonly traps: number;
  readonly trapAborts: number;
  /** Physical events for StreamIDs no domain owns. */
  readonly unknownStreamEvents: number;
  /** Internal failures caught on guest-driven paths (never a crash of the actor). */
  readonly xenBugs: number;
  /** Physical records of flooding devices dropped by the fault budget (their guests got OVFLG). */
  readonly floodDrops: number;
  /** Stage-2-only devices put to abort (until reassigned) for flooding the event queue. */
  readonly quarantined: number;
  /**
   * Guests told (their OVFLG) that records may have been lost after a physical event-queue
   * overflow: only guests with a device whose records reach them (nested or invalid STE).
   */
  readonly overflowNotices: number;
  /** The profile Xen runs. */
  readonly profile: XenProfileName;
  /** The hypervisor panic that stopped Xen (rfc/v3's guest-triggerable BUG()s), or null. */
  readonly panic: XenPanic | null;
  /** Domains fenced because a physical CMD_SYNC they waited for never completed (checkSyncTimeouts). */
  readonly syncTimeouts: number;
  readonly memory: { readonly freePages: number; readonly usedPages: number };
}

/**
 * What Xen holds for domains, for leak checks after teardown (system.accounting()): every
 * figure but `pages.xen` and `pages.free` is 0 once every domain is destroyed.
 */
export interface XenAccounting {
  readonly domains: number;
  readonly pages: {
    /** Pages of domains' RAM and p2m tables (all of Xen's allocations but its own structures). */
    readonly domains: number;
    /** Of those, pages of destroyed domains kept because the hardware never confirmed their
     *  devices were quiesced (reused only once it does: never handed to someone else). */
    readonly withheld: number;
    /** Pages of the structures Xen gives the SMMU (stream table, L2 tables, queues). */
    readonly xen: number;
    readonly free: number;
  };
  readonly vmids: number;
  /** Virtual StreamIDs given to devices of live vSMMUs. */
  readonly vsids: number;
  /** Physical streams assigned to domains. */
  readonly streams: number;
}

export interface TrapOut {
  lo: number;
  hi: number;
}

export class Xen {
  readonly cmdline: XenCmdline;
  readonly driver: SmmuDriver;
  readonly profile: XenProfile;
  /** Set once Xen panicked: it serves nothing any more (the runner reports it). */
  panicked: XenPanic | null = null;
  /** Called once when Xen panics (the actor stops its trap server). */
  onPanic: (p: XenPanic) => void = () => {};
  /**
   * Xen's domain_crash(): a domain Xen stopped trusting (a physical CMD_SYNC of its timed
   * out). Its devices are fenced already; the toolstack reaps it (destroys it, frees its
   * memory) when told through this hook.
   */
  onDomainCrash: (domid: number) => void = () => {};
  phys!: SmmuFeatures;
  private readonly mem: PhysMemory;
  private readonly alloc: PageAllocator;
  private readonly budget: number;
  private seenOverflows = 0;
  private readonly vsidMode: VsidMode;
  private readonly ipaBits: number;
  private vmids!: VmidAllocator;
  private readonly domains = new Map<number, Domain>();
  private nextDomid = 1;
  private traps = 0;
  private trapAborts = 0;
  private unknownStreamEvents = 0;
  private xenBugs = 0;
  /** Physical records per StreamID in the current drain (fault budget). */
  private readonly passCounts = new Map<number, number>();
  private readonly faultBudgetOpt: number | undefined;
  /** Records of silenced (flooding) devices dropped by the fault budget. */
  private floodDrops = 0;
  /** Stage-2-only devices put to abort for flooding the physical event queue. */
  private quarantined = 0;
  private readonly syncTimeoutMs: number;
  /** Per domain: the physical SYNC ticket its vSMMU waits for and since when (actor clock). */
  private readonly syncWaits = new Map<number, { ticket: number; since: number }>();
  private syncTimeouts = 0;
  /** Pages of destroyed domains kept because their teardown was not confirmed. */
  private withheldPages = 0;
  /** Guests told of a possible loss after a physical event-queue overflow. */
  private overflowNotices = 0;
  private readonly tr: Tracer;
  private readonly meter: XenMeter | null;

  constructor(o: XenOptions) {
    this.cmdline = parseXenCmdline(o.cmdline ?? '');
    this.mem = o.mem;
    this.alloc = o.alloc;
    this.budget = o.budget ?? 64;
    this.profile = xenProfile(o.profile);
    this.vsidMode = o.vsidMode ?? this.profile.vsidMode;
    this.ipaBits = o.ipaBits ?? 40;
    this.driver = new SmmuDriver({
      mmio: o.mmio, mem: o.mem, alloc: o.alloc, evtqLog2: o.evtqLog2 ?? 12,
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    });
    this.faultBudgetOpt = o.faultBudget;
    this.syncTimeoutMs = o.syncTimeoutMs ?? 10_000;
    this.tr = this.driver.tr = o.tracer ?? NO_TRACE;
    this.meter = o.meter ?? null;
  }

  /** Probes and enables the physical SMMU. */
  boot(): SmmuFeatures {
    this.phys = this.driver.probe();
    this.vmids = new VmidAllocator(this.phys.vmid16);
    this.driver.reset();
    return this.phys;
  }

  // ---- domains ----------------------------------------------------------------------------

  /**
   * Creates a domain from its xl.cfg config: VMID, RAM at the guest layout, p2m, vSMMU if
   * asked (and allowed by the command line and the hardware), its devices attached.
   */
  createDomain(cfg: DomainConfig): DomainInfo {
    this.checkRunning();
    const type = viommuType(cfg.viommu);
    if (type.name !== 'none' && !this.cmdline.viommu) {
      throw new VsmmuError('EVSMMU_VIOMMU_DISABLED', `domain "${cfg.name}" asks for viommu = "${cfg.viommu}" but Xen was booted without viommu=1`, { domain: cfg.name });
    }
    if (type.needsNesting && !this.driver.nesting) {
      throw new VsmmuError('EVSMMU_VIOMMU_UNSUPPORTED', `domain "${cfg.name}": the physical SMMU cannot nest (needs IDR0.S1P and S2P)`, { domain: cfg.name });
    }
    for (const d of this.domains.values()) {
      if (d.config.name === cfg.name) throw new VsmmuError('EVSMMU_DOMAIN_DUPLICATE', `a domain named "${cfg.name}" exists`, { domain: cfg.name });
    }
    for (const dev of cfg.devices) {
      if (this.driver.stream(dev.sid)) throw new VsmmuError('EVSMMU_BUSY', `StreamID 0x${dev.sid.toString(16)} is already assigned`, { sid: dev.sid });
    }
    const vmid = this.vmids.alloc();
    let dom: Domain;
    try {
      dom = new Domain(this.nextDomid, cfg, vmid, this.mem, this.alloc, this.phys.oas, this.ipaBits);
    } catch (e) {
      this.vmids.free(vmid);
      throw e;
    }
    this.nextDomid++;
    this.domains.set(dom.domid, dom);
    try {
      if (type.name === 'smmuv3') dom.vsmmu = this.makeVsmmu(dom);
      for (const dev of cfg.devices) this.assignDevice(dom.domid, dev);
    } catch (e) {
      this.destroyDomain(dom.domid);
      throw e;
    }
    if (this.tr.enabled) this.tr.instant('domains', 'domain created', { domid: dom.domid, name: cfg.name, vmid: dom.vmid, viommu: type.name });
    return dom.info();
  }

  private makeVsmmu(dom: Domain): VSmmuV3 {
    const ram: GuestMemPort = {
      hi: 0,
      load64(ipa: number): number {
        const lo = dom.ram.load64(ipa);
        this.hi = dom.ram.hi;
        return lo;
      },
      store64: (ipa, lo, hi) => dom.ram.store64(ipa, lo, hi),
      store32: (ipa, v) => {
        if (ipa % 4 !== 0 || !dom.ram.owns(ipa, 4)) return false;
        dom.ram.write32(ipa, v);
        return true;
      },
    };
    const drv = this.driver;
    // A guest's CMD_SYNC completes once the physical SYNC issued for it completed and every
    // STE install begun before it (its CFGI_STEs) is done: the fence taken with the ticket.
    let fence = 0;
    const backend: VsmmuPhys = {
      setStreamConfig: (psid, cfg) => this.installGuestConfig(dom, psid, cfg),
      forward: (cmd) => drv.issueRaw(cmd),
      sync: () => {
        fence = drv.steFence;
        return drv.sync();
      },
      syncDone: (t) => drv.syncDone(t) && drv.steWritten(fence),
      flushDomain: () => {
        // iommu_iotlb_flush_all: every io_domain (VMID) of the domain, each with its SYNC.
        let t = 0;
        for (const vmid of this.vmidsOf(dom)) {
          drv.issue(cmdOf('TLBI_S12_VMALL', { vmid }));
          t = drv.sync();
        }
        return t;
      },
      panic: (p) => this.panic(dom, p.bug, p.section, p.sid, p.detail),
      halted: () => this.panicked !== null,
    };
    return new VSmmuV3({
      profile: this.profile,
      phys: this.phys,
      ipaBits: dom.p2m.ipaBits,
      ram,
      backend,
      vmid: dom.vmid,
      budget: this.budget,
      vsidMode: this.vsidMode,
      tracer: this.tr,
      domid: dom.domid,
      irq: (level) => {
        dom.irqLevel = level;
        dom.onIrq(level);
      },
    });
  }

  /**
   * Starts installing the physical STE for a guest config; true while the install is in
   * flight (its steps go on in `pump` as their physical SYNCs complete: other guests'
   * traps are served meanwhile).
   */
  private installGuestConfig(dom: Domain, psid: number, cfg: GuestSteConfig): boolean {
    const s = this.driver.stream(psid);
    if (s === undefined || s.domid !== dom.domid) return false; // not (or no longer) this domain's
    if (this.profile.bugOnS1Live && cfg.kind === 'nested' && s.stage === 'nested') {
      // arm_smmu_write_strtab_ent: stage 1 written over a live stage-1 STE.
      this.panic(dom, 'BUG_ON(s1_live)', '§3.3', dom.vsmmu?.vsids.vsidOf(psid) ?? psid, `StreamID ${psid}: stage 1 attached again while its STE is live with stage 1`);
      return false;
    }
    const out = new Uint32Array(STE_WORDS);
    const rfc = this.profile.nestedSte === 'rfc';
    composePhysicalSte(cfg.kind, cfg.words, dom.p2m.s2Ste(s.vmid, this.phys), out, !rfc);
    const seq = this.driver.beginSteWrite(psid, out, rfc ? 'rfc' : 'linux');
    s.stage = cfg.kind;
    return !this.driver.steWritten(seq);
  }

  /** Passes a device through to a domain; returns its vSID (-1 without a vSMMU). */
  assignDevice(domid: number, dev: DomainDevice): number {
    const dom = this.domain(domid);
    this.checkRunning();
    if (dom.devices.has(dev.sid)) throw new VsmmuError('EVSMMU_BUSY', `device with StreamID ${dev.sid} already assigned`, { sid: dev.sid });
    // The series (patch 03): each assigned device its own io_domain, so its own VMID.
    const vmid = this.profile.vmidPerDevice ? this.vmids.alloc() : dom.vmid;
    let s: StreamEntry;
    try {
      s = this.driver.addStream(dev.sid, dom.domid, vmid);
    } catch (e) {
      if (vmid !== dom.vmid) this.vmids.free(vmid);
      throw e;
    }
    if (this.tr.enabled) this.tr.instant('domains', 'device assigned', { domid, sid: dev.sid, name: dev.name });
    dom.devices.set(dev.sid, dev);
    try {
      if (dom.vsmmu) {
        const vsid = dom.vsmmu.attachDevice(dev.sid);
        this.driver.finishSteWrites(); // the control plane returns with the STE in place
        return vsid;
      }
      this.driver.writeSte(dev.sid, dom.p2m.s2Ste(vmid, this.phys));
      s.stage = 's2';
      return -1;
    } catch (e) {
      this.driver.removeStream(dev.sid);
      dom.devices.delete(dev.sid);
      if (vmid !== dom.vmid) this.vmids.free(vmid);
      throw e;
    }
  }

  /** Every VMID the domain's devices use (the domain's own first). */
  private vmidsOf(dom: Domain): number[] {
    const out = [dom.vmid];
    for (const sid of dom.devices.keys()) {
      const v = this.driver.stream(sid)?.vmid;
      if (v !== undefined && !out.includes(v)) out.push(v);
    }
    return out;
  }

  /** Invalidates every VMID of `vmids` (each with its SYNC, waited for). */
  private invalidateVmids(vmids: readonly number[], nested: boolean): void {
    for (const v of vmids) this.driver.invalidateVmid(v, nested);
  }

  /** Frees the per-device VMIDs of `vmids` (not the domain's own). */
  private freeDeviceVmids(dom: Domain, vmids: readonly number[]): void {
    for (const v of vmids) if (v !== dom.vmid) this.vmids.free(v);
  }

  /**
   * A guest-triggerable BUG() of the series: Xen stops. Nothing is thrown: the vSMMU stops
   * at once, every later trap aborts, and the runner closes the guests' trap channels and
   * reports the panic (EVSMMU_XEN_PANIC) to whoever asks.
   */
  private panic(dom: Domain, bug: string, section: string, sid: number, detail: string): void {
    if (this.panicked !== null) return;
    this.panicked = { bug, section, domid: dom.domid, domain: dom.config.name, sid, detail };
    if (this.tr.enabled) this.tr.instant('domains', `panic: ${bug}`, { ...this.panicked });
    this.onPanic(this.panicked);
  }

  /** Throws EVSMMU_XEN_PANIC once Xen has panicked. */
  checkRunning(): void {
    const p = this.panicked;
    if (p !== null) throw panicError(p);
  }

  /** Takes a device away from its domain: its STE goes to abort (CFGI_STE + SYNC). */
  deassignDevice(domid: number, sid: number): void {
    const dom = this.domain(domid);
    if (!dom.devices.has(sid)) throw new VsmmuError('EVSMMU_NODEV', `domain ${domid} has no device with StreamID ${sid}`, { domid, sid });
    const vmid = this.driver.stream(sid)?.vmid ?? dom.vmid;
    this.driver.removeStream(sid);
    dom.vsmmu?.detachDevice(sid);
    dom.devices.delete(sid);
    this.invalidateVmids(vmid === dom.vmid ? [vmid] : [dom.vmid, vmid], dom.vsmmu !== null);
    this.freeDeviceVmids(dom, [vmid]);
  }

  /**
   * Destroys a domain: devices to abort, its TLB entries invalidated (each step synced on
   * the physical queue), then its RAM, tables and VMID freed. Unknown domids throw EVSMMU_NODOMAIN.
   */
  destroyDomain(domid: number): void {
    const dom = this.domain(domid);
    if (this.tr.enabled) this.tr.instant('domains', 'domain destroyed', { domid, name: dom.config.name });
    let firstError: unknown = null;
    const step = (f: () => void): void => {
      try {
        f();
      } catch (e) {
        firstError ??= e;
      }
    };
    const vmids = this.vmidsOf(dom);
    for (const sid of [...dom.devices.keys()]) {
      step(() => this.driver.removeStream(sid));
      dom.vsmmu?.detachDevice(sid);
    }
    dom.devices.clear();
    step(() => this.invalidateVmids(vmids, dom.vsmmu !== null));
    // Internal failures are counted for the life of the system, not of the domain.
    this.xenBugs += dom.vsmmu?.stats.xenBugs ?? 0;
    dom.vsmmu = null;
    this.domains.delete(domid);
    if (firstError !== null) {
      // The hardware did not confirm the devices are quiesced: keep the memory (leaked on
      // purpose rather than handed to someone else while DMA may still reach it).
      this.withheldPages += dom.pages();
      throw firstError;
    }
    dom.release();
    this.freeDeviceVmids(dom, vmids);
    this.vmids.free(dom.vmid);
  }

  /**
   * Removes [ipa, ipa + size) from a domain's stage 2 (a balloon-out): the p2m entries go,
   * then TLBI_S2_IPA (or S12_VMALL) for the VMID, plus NH_ALL for nested entries, and a SYNC
   * waited for. The pages stay the domain's until it is destroyed. Returns bytes unmapped.
   */
  unmapGuestRam(domid: number, ipa: number, size: number): number {
    const dom = this.domain(domid);
    const n = dom.p2m.unmap(ipa, size);
    for (const vmid of this.vmidsOf(dom)) this.driver.invalidateIpa(vmid, ipa, size, dom.vsmmu !== null);
    return n;
  }

  domain(domid: number): Domain {
    const d = this.domains.get(domid);
    if (d === undefined) throw new VsmmuError('EVSMMU_NODOMAIN', `no domain ${domid}`, { domid });
    return d;
  }

  domainByName(name: string): Domain | undefined {
    for (const d of this.domains.values()) if (d.config.name === name) return d;
    return undefined;
  }

  listDomains(): DomainInfo[] {
    return [...this.domains.values()].map((d) => d.info());
  }

  // ---- traps and continuations ------------------------------------------------------------

  /**
   * A trapped MMIO access of domain `domid` at IPA `ipa`. Returns false for a data abort
   * (nothing emulated there, or an access the vSMMU refuses). Never throws.
   */
  mmio(domid: number, write: boolean, size: number, ipa: number, valLo: number, valHi: number, out: TrapOut): boolean {
    if (!this.tr.enabled) return this.trap(domid, write, size, ipa, valLo, valHi, out);
    const t0 = this.tr.stamp();
    const ok = this.trap(domid, write, size, ipa, valLo, valHi, out);
    traceTrap(this.tr, t0, domid, write, ipa, valLo, out, ok);
    return ok;
  }

  private trap(domid: number, write: boolean, size: number, ipa: number, valLo: number, valHi: number, out: TrapOut): boolean {
    this.traps++;
    if (this.panicked !== null) {
      // A dead hypervisor answers nothing (the runner closes the trap channels).
      this.trapAborts++;
      return false;
    }
    try {
      const dom = this.domains.get(domid);
      const v = dom?.vsmmu;
      if (v && ipa >= GUEST_VSMMUV3_BASE && ipa < GUEST_VSMMUV3_BASE + GUEST_VSMMUV3_SIZE) {
        // Before a read, let a pending queue progress (a SYNC the hardware just completed
        // shows in CMDQ_CONS at once); after a write, run a budget of new work. The rest
        // continues in `pump`.
        if (!write && v.hasWork()) v.run();
        const ok = v.access(write, size, ipa - GUEST_VSMMUV3_BASE, valLo, valHi, out);
        if (write && ok) v.run();
        if (!ok) this.trapAborts++;
        return ok && this.panicked === null;
      }
    } catch {
      this.xenBugs++;
    }
    this.trapAborts++;
    out.lo = 0;
    out.hi = 0;
    return false;
  }

  /**
   * Continuations: runs each vSMMU with pending commands for one budget, and consumes the
   * physical event queue. Returns true while some vSMMU still has commands it can process
   * now (the caller calls again soon); a vSMMU waiting for the hardware does not count.
   */
  pump(): boolean {
    let more = false;
    if (this.panicked !== null) return false;
    try {
      if (this.driver.advanceSteWrites() > 0 && this.driver.steWritesReady()) more = true;
      if (this.driver.eventsPending()) {
        // One drain takes everything the queue holds (the queue is sized for the guests and
        // each device's share of it is bounded by the fault budget).
        this.passCounts.clear();
        this.driver.drainEvents((w, s) => this.onEvent(w, s), this.driver.evtqEntries);
      }
      // The physical event queue overflowed (the fault budget keeps a flooding device from
      // getting it there; an injected overflow or a burst of many devices still may). The
      // hardware does not say whose records it dropped, so the notice (the guest's own
      // OVFLG, iommufd's LOST_EVENTS) goes to every guest that may have lost one: a guest
      // with a device whose physical STE records events the guest would receive (nested, or
      // invalid: C_BAD_STE). Guests whose devices are all aborted, silenced or stage-2 only
      // could not have lost a record and are not told.
      const overflows = this.driver.stats.eventOverflows;
      if (overflows !== this.seenOverflows) {
        this.seenOverflows = overflows;
        for (const d of this.domains.values()) {
          if (d.vsmmu === null || !this.mayRecordGuestEvents(d)) continue;
          d.vsmmu.lostEvents();
          this.overflowNotices++;
        }
      }
    } catch {
      this.xenBugs++;
    }
    const meter = this.meter;
    for (const d of this.domains.values()) {
      const v = d.vsmmu;
      if (v === null || !v.hasWork()) continue;
      if (meter !== null && meter.wants(d.domid)) {
        const t0 = meter.now();
        v.run();
        meter.charge(d.domid, meter.now() - t0);
      } else v.run();
      if (v.hasWork() && !v.waitingForHardware()) more = true;
    }
    return more;
  }

  /**
   * Whether `pump` would find work now: an STE install whose SYNC completed, a vSMMU with
   * commands it can process, or physical events to consume.
   */
  hasWork(): boolean {
    if (this.panicked !== null) return false;
    try {
      if (this.driver.steWritesReady() || this.driver.eventsPending()) return true;
    } catch {
      return false;
    }
    for (const d of this.domains.values()) {
      const v = d.vsmmu;
      if (v !== null && v.hasWork() && !v.waitingForHardware()) return true;
    }
    return false;
  }

  /**
   * The physical SYNC timeout (reliability.md F5, XSA-373), in the actor's clock: a domain
   * whose guest CMD_SYNC has waited `syncTimeoutMs` for the same physical CMD_SYNC is fenced
   * (its devices to abort, its vSMMU's queue stopped, its CMD_SYNC never reported complete),
   * then the physical command queue is recovered (disabled, the stuck commands skipped and
   * replaced by a global invalidation whose SYNC is waited for), so the other guests go on.
   * The fenced domain is crashed (onDomainCrash) and stays until the toolstack destroys it;
   * its memory is freed then, once the hardware has confirmed the abort STEs. Returns
   * whether a domain was fenced.
   */
  checkSyncTimeouts(now: number): boolean {
    const late: Domain[] = [];
    try {
      for (const d of this.domains.values()) {
        const v = d.vsmmu;
        const ticket = v !== null && v.waitingForHardware() ? v.pendingSync : -1;
        if (ticket < 0) {
          this.syncWaits.delete(d.domid);
          continue;
        }
        const w = this.syncWaits.get(d.domid);
        if (w === undefined || w.ticket !== ticket) this.syncWaits.set(d.domid, { ticket, since: now });
        else if (now - w.since >= this.syncTimeoutMs) late.push(d);
      }
      if (late.length === 0) return false;
      for (const d of late) {
        if (this.tr.enabled) this.tr.instant('domains', 'physical CMD_SYNC timeout: domain fenced', { domid: d.domid });
        d.vsmmu?.fence();
        this.syncWaits.delete(d.domid);
        this.syncTimeouts++;
      }
      this.driver.recoverCommandQueue();
    } catch {
      this.xenBugs++;
    }
    for (const d of late) this.onDomainCrash(d.domid);
    return late.length > 0;
  }

  /** When checkSyncTimeouts must run next (actor clock), or Infinity. */
  nextSyncDeadline(): number {
    let t = Infinity;
    for (const w of this.syncWaits.values()) t = Math.min(t, w.since + this.syncTimeoutMs);
    return t;
  }

  /** Whether any vSMMU waits for a physical SYNC (the caller polls again later). */
  waitingForHardware(): boolean {
    for (const d of this.domains.values()) if (d.vsmmu?.waitingForHardware()) return true;
    return false;
  }

  /** Whether one of the domain's devices has a physical STE whose records reach the guest. */
  private mayRecordGuestEvents(dom: Domain): boolean {
    for (const sid of dom.devices.keys()) {
      const st = this.driver.stream(sid)?.stage;
      if (st === 'nested' || st === 'invalid') return true;
    }
    return false;
  }

  /** Records one device may produce per drain (a quarter of the physical queue by default). */
  private faultBudget(): number {
    return this.faultBudgetOpt ?? Math.max(16, this.driver.evtqEntries >> 2);
  }

  private onEvent(words: Uint32Array, s: StreamEntry | undefined): void {
    if (this.tr.enabled) tracePhysEvent(this.tr, words);
    if (s === undefined) {
      this.unknownStreamEvents++;
      return;
    }
    const dom = this.domains.get(s.domid);
    if (dom === undefined) {
      this.unknownStreamEvents++;
      return;
    }
    // Containment: a device over its budget in this drain is silenced (abort STE: no more
    // records) and its guest told of the loss with its own OVFLG; its further records in
    // this drain are dropped. Other guests' records are never touched.
    const n = (this.passCounts.get(s.sid) ?? 0) + 1;
    this.passCounts.set(s.sid, n);
    if (this.profile.faultBudget && n > this.faultBudget()) {
      if (dom.vsmmu !== null) dom.vsmmu.silence(s.sid);
      else if (s.stage !== 'quarantined') {
        // Stage 2 only: no guest reads these records, so nothing to acknowledge either; the
        // device stays aborted until it is assigned again.
        this.driver.beginSteWrite(s.sid, QUARANTINE_STE);
        s.stage = 'quarantined';
        this.quarantined++;
      }
      this.floodDrops++;
      return;
    }
    if (dom.vsmmu?.forwardEvent(words, s.sid)) {
      dom.stats.eventsForwarded++;
      return;
    }
    dom.stats.eventsKept++;
    if ((((words[3] ?? 0) >>> 7) & 1) === 1) dom.stats.s2Faults++;
  }

  accounting(): XenAccounting {
    const a = this.alloc.stats();
    let xen = 0;
    for (const st of this.driver.layout) xen += Math.ceil(st.bytes / a.pageSize);
    let vsids = 0;
    for (const d of this.domains.values()) vsids += d.vsmmu?.vsids.size ?? 0;
    return {
      domains: this.domains.size,
      pages: { domains: a.usedPages - xen, withheld: this.withheldPages, xen, free: a.freePages },
      vmids: this.vmids?.inUse ?? 0,
      vsids,
      streams: this.driver.streamCount,
    };
  }

  stats(): XenStats {
    let vsmmuBugs = 0;
    for (const d of this.domains.values()) vsmmuBugs += d.vsmmu?.stats.xenBugs ?? 0;
    const a = this.alloc.stats();
    return {
      domains: this.domains.size,
      vmidsInUse: this.vmids?.inUse ?? 0,
      streams: this.driver.streamCount,
      driver: { ...this.driver.stats },
      traps: this.traps,
      trapAborts: this.trapAborts,
      unknownStreamEvents: this.unknownStreamEvents,
      xenBugs: this.xenBugs + vsmmuBugs,
      floodDrops: this.floodDrops,
      quarantined: this.quarantined,
      overflowNotices: this.overflowNotices,
      profile: this.profile.name,
      panic: this.panicked,
      syncTimeouts: this.syncTimeouts,
      memory: { freePages: a.freePages, usedPages: a.usedPages },
    };
  }
}

/** The coded error of a hypervisor panic (kind 'run'): what fired, where, and the reference section. */
export function panicError(p: XenPanic): VsmmuError {
  return new VsmmuError('EVSMMU_XEN_PANIC', `Xen panicked: ${p.bug} (reference ${p.section}) on a CFGI_STE of domain "${p.domain}": ${p.detail}`, { ...p });
}
