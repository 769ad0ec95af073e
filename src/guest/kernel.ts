// The guest kernel actor: one per domain, in its own worker. Built from workerData (its
// RAM as p2m ranges over the physical memory SAB, its vCPU's trap channel, its IRQ lines,
// the transaction ports of its passed-through devices), it owns the SMMUv3 driver, the
// test DMA devices and the workloads, and exposes a control API (every public method of
// GuestKernel) through the runtime's serveActor (workers/guest.ts).
//
// Interrupts: the vSMMU's combined SPI is taken by an async loop while the kernel is idle,
// and inside the driver's wait loops (irqPending) while it is busy, as a CPU would.

import { decodeCommand } from '../arch/commands.ts';
import type { SmmuFeatures } from '../arch/features.ts';
import { PROT_EXEC, PROT_PRIV, PROT_READ, PROT_WRITE } from '../arch/pgtable.ts';
import { PageAllocator } from '../mem/alloc.ts';
import { GuestRam, RangeP2m, type P2mRange } from '../mem/guest-ram.ts';
import { PhysMemory } from '../mem/phys.ts';
import { VsmmuError } from '../errors.ts';
import type { IrqDesc } from '../ports/irq.ts';
import type { TrapChannelDesc } from '../ports/trap.ts';
import { DmaDevice, type DmaAttrs, type DmaResult, type DmaWait } from '../devices/dma-device.ts';
import type { DmaEngineDesc } from '../devices/dma-engine.ts';
import { DmaQueueClient, type DmaQueueDesc } from '../devices/dma-queue.ts';
import { platformFromDt } from './dt.ts';
import { SmmuV3Driver, type AttachOptions, type Attachment, type DriverStats, type GuestFault, type ProbeInfo } from './driver.ts';
import type { CmdqErrorRecord } from './cmdq.ts';
import type { LatencySummary } from './latency.ts';
import { Vcpu, type TrapPort } from './vcpu.ts';
import { pollingRunner, type GuestRunner } from './ports.ts';
import { runMapDmaFault, runDmaStream, type MapDmaFaultParams, type MapDmaFaultReport, type DmaStreamParams, type DmaStreamReport } from './workloads.ts';
import { guestFlowSpace, NO_TRACE, type Tracer } from '../trace/tracer.ts';
import type { SchedDesc } from '../ports/sched.ts';
import { GuestStress, type GuestStressParams, type GuestStressReport } from './stress.ts';
import { runBenchWorkload, type BenchWorkloadParams, type BenchWorkloadReport } from './bench-workloads.ts';

/** A passed-through device as the guest gets it. */
export interface GuestDeviceData {
  /** Its node name in the guest's device tree (its vSID is that node's `iommus` entry). */
  readonly name: string;
  /** The physical StreamID the device emits (the hardware sees it). */
  readonly pSid: number;
  /** The device's own interface: its descriptor and completion rings and buffer memory. */
  readonly queue: DmaQueueDesc;
}

/** What the thread running the kernel provides (workers/guest-host.ts): its trap port,
 *  waits and a clock. */
export interface GuestHost extends GuestRunner {
  /** vCPU 0's trap port over its channel to Xen (a trapped access stops the vCPU). */
  trapPort(desc: TrapChannelDesc, timeoutMs: number): TrapPort;
  /** How to wait for device `name`'s progress (the runner steps the devices meanwhile). */
  waitDevice(name: string): DmaWait;
  /** Milliseconds, for latencies. */
  readonly clock: () => number;
  /** The guest's trace points (docs/tracing.md): its vCPU, driver and devices. */
  readonly tracer?: Tracer;
}

/** workerData of workers/guest.ts. */
export interface GuestWorkerData {
  readonly name?: string;
  readonly domid?: number;
  /** The physical memory SAB. */
  readonly memory: SharedArrayBuffer;
  /** The guest's RAM: IPA -> PA ranges (the domain's p2m for RAM). */
  readonly ram: readonly P2mRange[];
  /** Page size of the guest kernel (its allocator and GuestRam granule), default 4096. */
  readonly pageSize?: number;
  /** vCPU 0's trap channel to Xen. */
  readonly trap: TrapChannelDesc;
  /** Its interrupt inputs: the bank and the line of each INTID (the vSMMU's SPI 33). */
  readonly irq?: { readonly desc: IrqDesc; readonly lines: Readonly<Record<number, number>> };
  /** The guest's device tree (DTS text, as the toolstack generates it): the only source of
   *  where its vSMMU is, which interrupt it raises and each device's vSID. */
  readonly deviceTree: string;
  readonly devices?: readonly GuestDeviceData[];
  /** DMA engines (hardware) that run on the guest's thread, stepped by workers/guest.ts while
   *  the kernel waits for them; the kernel itself only sees their queues. */
  readonly hardware?: readonly (DmaEngineDesc & { readonly name: string })[];
  /** Driver bounds (polls, queue sizes). */
  readonly driver?: { readonly pollTimeoutMs?: number; readonly cmdqMaxLog2?: number; readonly evtqMaxLog2?: number };
  /** Bound of a trapped access (default: none, as a real vCPU). */
  readonly trapTimeoutMs?: number;
  /** The domain's scheduler words (its CPU cap); the thread running the vCPU enforces it. */
  readonly sched?: SchedDesc;
}

/** What the kernel is built from when not in a worker (tests): ports instead of SABs. */
export interface GuestKernelParts {
  readonly name?: string;
  readonly ram: GuestRam;
  readonly alloc: PageAllocator;
  readonly trap: TrapPort;
  readonly irq?: { readonly desc: IrqDesc; readonly lines: Readonly<Record<number, number>> };
  /** The device tree the kernel boots from (DTS text). */
  readonly deviceTree: string;
  /** Clock, WFI and idling, as the runner gives them (default: polling only, no waits). */
  readonly runner?: GuestRunner;
  /** Its devices by device-tree node name (the vSID comes from the tree). */
  readonly devices?: readonly { readonly name: string; readonly pSid: number; readonly device: DmaDevice }[];
  readonly driver?: GuestWorkerData['driver'];
  /** Trace points, and the domain id their flows are numbered by (Xen's domid). */
  readonly tracer?: Tracer;
  readonly domid?: number;
}

export type ProtSpec = number | string;

/** "rw", "r", "rwx", "rwp" ... (r read, w write, x exec, p privileged) or PROT_* bits. */
export function parseProt(p: ProtSpec): number {
  if (typeof p === 'number') return p;
  let v = 0;
  for (const ch of p.toLowerCase()) {
    const bit = ch === 'r' ? PROT_READ : ch === 'w' ? PROT_WRITE : ch === 'x' ? PROT_EXEC : ch === 'p' ? PROT_PRIV : -1;
    if (bit < 0) throw new VsmmuError('EVSMMU_INVAL', `protection "${p}": expected letters r, w, x, p`, { prot: p });
    v |= bit;
  }
  return v;
}

export interface GuestStats {
  readonly name: string;
  readonly driver: DriverStats | null;
  readonly trapLatency: LatencySummary;
  readonly mmioAborts: number;
  readonly irqsTaken: number;
  readonly spuriousIrqs: number;
  readonly devices: readonly { readonly name: string; readonly vSid: number; readonly pSid: number; readonly stats: DmaDevice['stats'] }[];
}

export interface GuestDmaRequest extends DmaAttrs {
  readonly op: 'read' | 'write';
  readonly iova: number;
  /** Bytes to read, or to write when `data` is absent (the pattern fills them). */
  readonly length?: number;
  readonly data?: Uint8Array;
  /** Fill byte for writes without data (default: an incrementing pattern). */
  readonly fill?: number;
}

interface Dev {
  readonly name: string;
  readonly vSid: number;
  readonly pSid: number;
  readonly device: DmaDevice;
}

export class GuestKernel {
  readonly name: string;
  readonly ram: GuestRam;
  readonly allocator: PageAllocator;
  readonly vcpu: Vcpu;
  /** The SMMUv3 driver; without a vSMMU in the device tree its register window is absent
   *  (every access is EVSMMU_NOVIOMMU) and the guest's DMA is stage-2 only. */
  readonly driver: SmmuV3Driver;
  readonly #drv: SmmuV3Driver | null;
  readonly spi: number;
  readonly vsmmuBase: number;
  /** The device tree it booted from, exactly as received. */
  readonly dts: string;
  /** Devices by device-tree node name; vSid -1: not behind an IOMMU. */
  private readonly devs: Map<string, Dev>;
  private irqsTaken = 0;
  private spurious = 0;
  private closed = false;
  private irqLoop: Promise<void> | null = null;
  private readonly hasIrq: boolean;
  private readonly runner: GuestRunner;
  private readonly tr: Tracer;
  #stress: GuestStress | null = null;

  constructor(p: GuestKernelParts) {
    this.name = p.name ?? 'guest';
    this.ram = p.ram;
    this.allocator = p.alloc;
    this.dts = p.deviceTree;
    const platform = platformFromDt(p.deviceTree);
    const smmu = platform.smmu;
    this.spi = smmu?.intid ?? -1;
    this.vsmmuBase = smmu?.base ?? -1;
    this.hasIrq = smmu !== null && p.irq !== undefined && p.irq.lines[this.spi] !== undefined;
    this.runner = p.runner ?? pollingRunner();
    this.tr = p.tracer ?? NO_TRACE;
    this.vcpu = new Vcpu({
      trap: p.trap, clock: this.runner.clock, tracer: this.tr,
      ...(p.irq ? { irq: p.irq } : {}), ...(this.runner.irqWait ? { irqWait: this.runner.irqWait } : {}),
    });
    const absent = (): never => {
      throw new VsmmuError('EVSMMU_NOVIOMMU', `guest ${this.name}: its device tree has no arm,smmu-v3 node`);
    };
    this.driver = new SmmuV3Driver(smmu ? this.vcpu.window(smmu.base, smmu.size) : { read32: absent, write32: absent }, this.ram, this.allocator, {
      ...(p.driver ?? {}),
      clock: this.runner.clock,
      tracer: this.tr,
      traceSpace: guestFlowSpace(p.domid ?? 0),
      ...(this.hasIrq ? { irqPending: () => this.vcpu.irqPending(this.spi) } : {}),
      ...(this.runner.relax ? { relax: this.runner.relax } : {}),
    });
    this.#drv = smmu ? this.driver : null;
    this.devs = new Map((p.devices ?? []).map((d) => {
      const vSid = platform.masters.get(d.name);
      if (vSid === undefined && smmu !== null) {
        throw new VsmmuError('EVSMMU_DT', `device "${d.name}": no iommus entry for it in the guest's device tree`, { device: d.name });
      }
      return [d.name, { ...d, vSid: vSid ?? -1 }];
    }));
  }

  /** Builds the kernel in a worker from its workerData. */
  static fromWorkerData(data: GuestWorkerData, host: GuestHost): GuestKernel {
    const pageSize = data.pageSize ?? 4096;
    const mem = PhysMemory.attach(data.memory);
    if (data.ram.length === 0) throw new VsmmuError('EVSMMU_INVAL', 'guest has no RAM');
    const p2m = new RangeP2m(data.ram, pageSize);
    const ram = new GuestRam(mem, p2m.lookup, pageSize);
    // The kernel's own allocations (stream table, queues, CDs, page tables, DMA buffers)
    // come from the upper half of the first bank; the lower half is left to whoever drives
    // the guest from outside (the API's domain.memory), so the two never collide.
    // The bank is IPA-contiguous, but the p2m may hold it as several PA-contiguous ranges:
    // its size is the run of ranges that follow each other in IPA from the first (taking
    // only the first range put the kernel's queues in the caller's half: found by vsmmu fuzz).
    const first = p2m.ranges[0] as P2mRange;
    let bankSize = 0;
    for (const r of p2m.ranges) {
      if (r.ipa !== first.ipa + bankSize) break;
      bankSize += r.size;
    }
    const half = Math.floor(bankSize / 2 / 65536) * 65536;
    const alloc = new PageAllocator(first.ipa + half, bankSize - half, pageSize);
    const devices = (data.devices ?? []).map((d) => ({
      name: d.name, pSid: d.pSid,
      device: new DmaDevice(new DmaQueueClient(d.queue), d.pSid, { name: d.name, wait: host.waitDevice(d.name), clock: host.clock }),
    }));
    return new GuestKernel({
      ...(data.name !== undefined ? { name: data.name } : {}),
      ram, alloc, trap: host.trapPort(data.trap, data.trapTimeoutMs ?? Infinity), runner: host,
      ...(data.irq ? { irq: data.irq } : {}),
      deviceTree: data.deviceTree,
      ...(data.driver ? { driver: data.driver } : {}),
      devices,
      ...(host.tracer ? { tracer: host.tracer } : {}),
      ...(data.domid !== undefined ? { domid: data.domid } : {}),
    });
  }

  // ---- the SMMU -----------------------------------------------------------------------


  /** Probes and enables the vSMMU (Linux's probe + reset); starts taking its interrupt. */
  probe(): ProbeInfo {
    const info = this.driver.probe();
    this.startIrqLoop();
    return info;
  }

  features(): SmmuFeatures | null {
    return this.#drv?.probed?.features ?? null;
  }

  attach(vSid: number, opts: AttachOptions = {}): Attachment {
    this.ensureProbed();
    return this.driver.attach({ vSid }, opts);
  }

  detach(vSid: number): void {
    this.driver.detach(vSid);
  }

  /** Attaches PASID `ssid` of the device to a stage-1 domain (needs attach with ssidBits). */
  attachPasid(vSid: number, ssid: number, opts: { asid?: number; granule?: number } = {}): Attachment {
    return this.driver.attachPasid(vSid, ssid, opts);
  }

  detachPasid(vSid: number, ssid: number): void {
    this.driver.detachPasid(vSid, ssid);
  }

  /** Maps in the device's domain (of PASID `ssid` when given). */
  map(vSid: number, iova: number, ipa: number, length: number, prot: ProtSpec = 'rw', ssid = 0): void {
    this.driver.map(vSid, iova, ipa, length, parseProt(prot), ssid);
  }

  /** Unmaps; with `sync` false only gathers the TLB invalidation (see iotlbSync). */
  unmap(vSid: number, iova: number, length: number, ssid = 0, sync = true): number {
    return this.driver.unmap(vSid, iova, length, ssid, sync);
  }

  /** Issues the invalidations gathered by unmaps without sync; returns how many commands. */
  iotlbSync(vSid: number, ssid = 0): number {
    return this.driver.iotlbSync(vSid, ssid);
  }

  /** The stage-1 translation of `iova` for the device (software lookup), -1 if unmapped. */
  iovaToIpa(vSid: number, iova: number, ssid = 0): number {
    return this.driver.iovaToIpa(vSid, iova, ssid);
  }

  /** Faults taken from the event queue (those after sequence number `since`); a pending
   *  vSMMU interrupt is taken first, as the vCPU takes it before its next instruction. */
  faults(since = 0): GuestFault[] {
    this.pollIrq();
    // The log is in sequence order: find the first newer one from the end (usually none).
    const log = this.driver.faults();
    let i = log.length;
    while (i > 0 && log[i - 1]!.seq > since) i--;
    return log.slice(i);
  }

  cmdqErrors(): readonly CmdqErrorRecord[] {
    return this.#drv?.probed ? this.#drv.cmdqErrors() : [];
  }

  /**
   * Issues raw commands (4 u32 words each) on the command queue, then a CMD_SYNC if `sync`
   * (diagnostics: what the SMMU does with a command the driver would not send). Returns the
   * command errors recovered meanwhile.
   */
  issueCommands(commands: readonly (readonly number[])[], sync = true): CmdqErrorRecord[] {
    this.ensureProbed();
    const before = this.driver.cmdqErrors().length;
    this.driver.submit(commands.map((w) => decodeCommand(w)), sync);
    return this.driver.cmdqErrors().slice(before);
  }

  /** Runs the interrupt handler now if the vSMMU's SPI is pending; returns events consumed. */
  pollIrq(): number {
    if (!this.hasIrq || !this.vcpu.irqPending(this.spi)) return 0;
    return this.takeIrq();
  }

  /** Blocks up to `timeoutMs` for the vSMMU's interrupt and handles it; returns events consumed (-1 on timeout). */
  waitIrq(timeoutMs: number): number {
    if (!this.hasIrq) throw new VsmmuError('EVSMMU_INVAL', `SPI ${this.spi} is not wired to this guest`);
    if (this.vcpu.waitIrq([this.spi], timeoutMs).length === 0) return -1;
    return this.takeIrq();
  }

  // ---- devices and DMA ---------------------------------------------------------------

  /** The device tree this kernel booted from, exactly as it received it. */
  deviceTree(): string {
    return this.dts;
  }

  devices(): { name: string; vSid: number; pSid: number }[] {
    return [...this.devs.values()].map(({ name, vSid, pSid }) => ({ name, vSid, pSid }));
  }

  /** Makes the device (its vSID or device-tree name) do a DMA read or write. */
  dma(dev: number | string, req: GuestDmaRequest): DmaResult {
    const d = this.#dev(dev).device;
    const attrs: DmaAttrs = {
      ...(req.ssid !== undefined ? { ssid: req.ssid } : {}),
      ...(req.priv ? { priv: true } : {}), ...(req.instr ? { instr: true } : {}),
    };
    if (req.op === 'read') return d.read(req.iova, req.length ?? req.data?.length ?? 0, attrs);
    const data = req.data ?? pattern(req.length ?? 0, req.fill);
    return d.write(req.iova, data, attrs);
  }

  /** Several DMAs by the device (vSID or name), in order (one control call for many). */
  dmaBatch(dev: number | string, reqs: readonly GuestDmaRequest[]): DmaResult[] {
    return reqs.map((r) => this.dma(dev, r));
  }

  #dev(key: number | string): Dev {
    const d = typeof key === 'string' ? this.devs.get(key) : [...this.devs.values()].find((x) => x.vSid === key && key >= 0);
    if (!d) throw new VsmmuError('EVSMMU_NODEV', `no device ${typeof key === 'string' ? `"${key}"` : `with vSID ${key}`} in ${this.name}`, { device: key });
    return d;
  }

  // ---- memory and MMIO ------------------------------------------------------------------

  /** dma_alloc: a zeroed buffer in guest RAM; returns its IPA. */
  alloc(bytes: number, align?: number): number {
    const ipa = this.allocPages(bytes, align);
    this.ram.fill(ipa, bytes, 0);
    return ipa;
  }

  /**
   * alloc_pages without __GFP_ZERO: a buffer whose contents are whatever the RAM holds, for
   * callers that write it before any read (clearing costs a scan of every page, and a host
   * page fault for each page never touched).
   */
  allocPages(bytes: number, align?: number): number {
    const ipa = this.allocator.alloc(bytes, align);
    if (ipa < 0) throw new VsmmuError('EVSMMU_NOMEM', `guest ${this.name}: no ${bytes} bytes of free RAM`, { bytes });
    return ipa;
  }

  free(ipa: number): void {
    this.allocator.free(ipa);
  }

  memRead(ipa: number, length: number): Uint8Array {
    return this.ram.readBytes(ipa, length);
  }

  memWrite(ipa: number, bytes: Uint8Array): void {
    this.ram.writeBytes(ipa, bytes);
  }

  /**
   * A load by the guest's vCPU at guest physical address `gpa` (4 or 8 bytes): MMIO traps
   * to Xen (the vSMMU window at 0x0404_0000, ...). Returns [lo, hi]; an abort is EVSMMU_GUEST_SEA.
   */
  mmioRead(gpa: number, size: 4 | 8 = 4): [number, number] {
    return this.vcpu.mmioRead(gpa, size);
  }

  /** A store by the guest's vCPU at `gpa` (4 or 8 bytes, low word `lo`). */
  mmioWrite(gpa: number, size: 4 | 8, lo: number, hi = 0): void {
    this.vcpu.mmioWrite(gpa, size, lo, hi);
  }

  // ---- workloads and stats ------------------------------------------------------------

  /** Map a buffer, DMA into it, check, unmap, DMA again, expect the F_TRANSLATION fault via the event queue and interrupt. */
  workloadMapDmaFault(params: MapDmaFaultParams): MapDmaFaultReport {
    this.ensureProbed();
    return runMapDmaFault(this, params);
  }

  /** A stream of DMA transactions at a chosen rate and size. */
  workloadDmaStream(params: DmaStreamParams): DmaStreamReport {
    this.ensureProbed();
    return runDmaStream(this, params, this.#dev(params.vSid).device);
  }

  /** One benchmark workload for a while (vsmmu bench), run here on the guest's thread. */
  workloadBench(params: BenchWorkloadParams): BenchWorkloadReport {
    this.ensureProbed();
    return runBenchWorkload(this, params, (vSid) => this.#dev(vSid).device);
  }

  // ---- stress (vsmmu stress): a seeded operation list run as this guest's own steps ----

  /** Starts this guest's stress workload (replacing one that ran before). */
  stressStart(params: GuestStressParams): void {
    this.#stress = new GuestStress(this, params);
  }

  /** Whether a stress workload has operations left (its steps run when the runner steps the guest). */
  stressPending(): boolean {
    return this.#stress?.pending ?? false;
  }

  /** One operation of the stress workload; false once it has ended. */
  stressStep(): boolean {
    return this.#stress?.step() ?? false;
  }

  /** Runs the stress workload to its end (on threads: all of it, here); its report. */
  stressFinish(): GuestStressReport {
    if (!this.#stress) throw new VsmmuError('EVSMMU_INVAL', `guest ${this.name}: no stress workload was started`);
    return this.#stress.finish();
  }

  stats(): GuestStats {
    return {
      name: this.name,
      driver: this.#drv?.probed ? this.#drv.stats() : null,
      trapLatency: this.vcpu.latency.summary(),
      mmioAborts: this.vcpu.abortCount,
      irqsTaken: this.irqsTaken,
      spuriousIrqs: this.spurious,
      devices: [...this.devs.values()].map((d) => ({ name: d.name, vSid: d.vSid, pSid: d.pSid, stats: { ...d.device.stats } })),
    };
  }

  resetLatency(): void {
    this.vcpu.latency.reset();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.closed = true;
    await this.irqLoop?.catch(() => {});
    this.vcpu.close();
  }

  // ---- interrupts ---------------------------------------------------------------------

  /** Takes the vSMMU's interrupt: acknowledge at the GIC, run the driver's handler. */
  takeIrq(): number {
    this.vcpu.ackIrq(this.spi);
    this.irqsTaken++;
    const drv = this.#drv;
    if (!drv?.probed) {
      this.spurious++; // no handler installed yet
      return 0;
    }
    const before = drv.stats().gerrors;
    const t0 = this.tr.enabled ? this.tr.stamp() : 0;
    const n = drv.handleIrq();
    if (this.tr.enabled) this.tr.slice('vcpu0', 'irq handler', t0, { spi: this.spi, events: n });
    if (n === 0 && drv.stats().gerrors === before) this.spurious++;
    return n;
  }

  private ensureProbed(): void {
    if (!this.driver.probed) this.probe();
  }

  /** The runner's clock (ms). */
  now(): number {
    return this.runner.clock();
  }

  /** Idles the vCPU until `dueMs` on the runner's clock. */
  sleepUntil(dueMs: number): void {
    this.runner.sleepUntil(dueMs);
  }

  private startIrqLoop(): void {
    // Taken asynchronously only when the runner can wait for it (WFI); otherwise polled.
    if (!this.hasIrq || this.irqLoop || !this.runner.irqWait?.waitAsync) return;
    this.irqLoop = (async () => {
      while (!this.closed) {
        // Wake up at least every 50 ms to notice close().
        const got = await this.vcpu.waitIrqAsync([this.spi], 50).catch(() => [] as number[]);
        if (this.closed) break;
        if (got.length === 0) continue;
        const spuriousBefore = this.spurious;
        this.takeIrq();
        // A level line that stays asserted with nothing to do: back off instead of spinning.
        if (this.spurious !== spuriousBefore && this.vcpu.irqPending(this.spi)) await this.runner.pause(1);
      }
    })();
  }
}

/** Bytes i & 0xff (+ fill) for test DMA: every byte distinguishes its position in a page. */
export function pattern(length: number, fill?: number): Uint8Array {
  const b = new Uint8Array(length);
  if (fill !== undefined) b.fill(fill & 0xff);
  else for (let i = 0; i < length; i++) b[i] = (i * 7 + (i >>> 8) * 13 + 1) & 0xff;
  return b;
}
