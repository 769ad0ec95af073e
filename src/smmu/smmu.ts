// The physical SMMUv3 core: a class driven by `step()` (register side effects, then the
// command queue and the transaction ports, each with a budget), so the same code runs in a
// worker (workers/smmu.ts, under the runtime's service loop) or single-threaded under a test.
//
// Interrupt lines (an IrqLines bank of 4 edge lines, SMMU_IRQ): EVENTQ, PRIQ, GERROR,
// CMD_SYNC. The event-queue and GERROR interrupts honour IRQ_CTRLACK; with IDR0.MSI and a
// non-zero *_IRQ_CFG0 address they are MSI writes (32-bit *_IRQ_CFG1 data to that PA)
// instead of the wired line. Enabling an interrupt in IRQ_CTRL while its condition holds
// (events in the queue, an active GERROR) signals it at once, so nothing is lost while it
// was disabled.

import { type CommandOf } from '../arch/commands.ts';
import { DEFAULT_FEATURES, type SmmuFeatures } from '../arch/features.ts';
import { qEmpty } from '../arch/queue.ts';
import { CR0, CR2, fieldMask, GBPA, GERROR, IRQ_CTRL, R } from '../arch/registers.ts';
import type { EventRecord } from '../arch/events.ts';
import { ACC_WRITE } from '../arch/types.ts';
import type { PhysMemory } from '../mem/phys.ts';
import { Buffer } from 'node:buffer';
import { VsmmuError } from '../errors.ts';
import { createIrqLines, IrqLines, type IrqDesc } from '../ports/irq.ts';
import { CommandQueue, type CommandStats } from './cmdq.ts';
import { ConfigCache, type ConfigCacheStats } from './config-cache.ts';
import { EventQueue, type EventQueueStats } from './evtq.ts';
import { Iotlb, type IotlbStats } from './iotlb.ts';
import {
  CP_TAG, MAX_TX_BYTES, PortServer, RQ_BUF, RQ_FLAGS, RQ_IOVA_HI, RQ_IOVA_LO, RQ_LEN, RQ_SID, RQ_TAG, TX_BADREQ, TX_EABT, TX_OK,
  TXF_ACC, TXF_SSID_SHIFT, TXF_SSV, writeCompletion, writeFaultCompletion, type AttachPortOptions, type PortDesc, type PortStats,
} from './ports.ts';
import { DIRTY } from './regmap.ts';
import {
  createSmmuRegisterPage, CTL_DIRTY, CTL_PARK, CTL_SEV, GBPA_RESET, RegisterPage, type RegisterPageDesc,
} from './regpage.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';
import { Translator, XL_OK, XlateOut, type CdEntry, type SteEntry, type TranslateStats, type TranslatorRegs } from './translate.ts';

/** *_IRQ_CFG0.ADDR[55:2] in the low and high halves (FACTS §1.14). */
const MSI_ADDR_LO = fieldMask('GERROR_IRQ_CFG0', 'ADDR');
const MSI_ADDR_HI = fieldMask('GERROR_IRQ_CFG0', 'ADDR', true);
/** Transactions of a port published together (see servePorts). */
const PUBLISH_CHUNK = 32;

/** Lines of the SMMU's interrupt bank. */
export const SMMU_IRQ = { EVENTQ: 0, PRIQ: 1, GERROR: 2, CMD_SYNC: 3 } as const;

export interface SmmuOptions {
  readonly memory: PhysMemory;
  readonly features?: Partial<SmmuFeatures>;
  /** Register page to serve (default: a new one). */
  readonly regs?: RegisterPageDesc;
  /** Interrupt bank to raise (default: a new one of 4 edge lines). */
  readonly irq?: IrqDesc;
  readonly iotlbEntries?: number;
  readonly steCacheEntries?: number;
  readonly cdCacheEntries?: number;
  /** Commands consumed per step (default 256). */
  readonly cmdBudget?: number;
  /** Transactions served per step, all ports together (default 256). */
  readonly txBudget?: number;
  readonly gbpaReset?: number;
  /** The runner's clock in ms (default: the last `now` handed to step()); for uptime. */
  readonly clock?: () => number;
  /** Trace points (docs/tracing.md); default: none. */
  readonly tracer?: Tracer;
  /** Where ports' data buffers come from (zeroed, `bytes` long); default: a new SAB each. */
  readonly buffers?: (bytes: number) => SharedArrayBuffer;
}

export interface SmmuStats {
  /** Milliseconds since the SMMU was created (rates = counters / uptime). */
  readonly uptimeMs: number;
  readonly translations: number;
  readonly translationFaults: number;
  readonly permissionFaultsFromTlb: number;
  readonly walks: number;
  readonly walkReads: number;
  readonly steFetches: number;
  readonly cdFetches: number;
  readonly iotlb: IotlbStats;
  readonly configCache: ConfigCacheStats;
  readonly commands: CommandStats;
  readonly events: EventQueueStats;
  readonly gerrors: number;
  readonly msiWrites: number;
  readonly sevs: number;
  readonly ports: readonly PortStats[];
}

/** What a driver and devices need to reach this SMMU. */
export interface SmmuDescription {
  readonly regs: RegisterPageDesc;
  readonly irq: IrqDesc;
  readonly features: SmmuFeatures;
}

export class Smmu {
  readonly features: Readonly<SmmuFeatures>;
  readonly mem: PhysMemory;
  readonly regsDesc: RegisterPageDesc;
  readonly page: RegisterPage;
  readonly irqDesc: IrqDesc;
  readonly irq: IrqLines;
  readonly iotlb: Iotlb;
  readonly configCache: ConfigCache<SteEntry, CdEntry>;
  readonly translator: Translator;
  readonly cmdq: CommandQueue;
  readonly evtq: EventQueue;
  private readonly xregs: TranslatorRegs = { smmuEnabled: false, gbpaAbort: false, strtabBase: 0, strtabCfg: 0, recInvSid: false, e2h: false };
  private readonly out = new XlateOut();
  private readonly ports = new Map<number, PortServer>();
  private portList: PortServer[] = [];
  private nextPort = 0;
  private nextPortId = 1;
  private readonly cmdBudget: number;
  private readonly txBudget: number;
  private readonly gbpaReset: number;
  private readonly segPa = new Float64Array(MAX_TX_BYTES / 4096 + 2);
  /** Physical memory as a Buffer, for copies (see PortServer.bytes). */
  private readonly memBytes: Buffer;
  /** The StreamID of the transaction being served (for onAccess). */
  private txSid = 0;
  /**
   * Observer of every memory access a transaction makes (StreamID, PA, bytes, write), after
   * translation and before the bytes move; null (the default) costs one check. Checkers of
   * isolation (sim-mode stress) set it.
   */
  onAccess: ((sid: number, pa: number, bytes: number, write: boolean) => void) | null = null;
  private readonly segLen = new Float64Array(MAX_TX_BYTES / 4096 + 2);
  private gerrors = 0;
  private msiWrites = 0;
  private sevs = 0;
  /** A CMD_SYNC with CS = SIG_IRQ and no MSI completed in this step (wired CMD_SYNC line). */
  private syncIrq = false;
  /** The runner's clock (ms); uptime only. */
  private readonly clock: () => number;
  private readonly buffers: ((bytes: number) => SharedArrayBuffer) | undefined;
  private readonly born: number;
  private lastNow: number;
  private readonly tr: Tracer;

  constructor(opts: SmmuOptions) {
    this.features = Object.freeze({ ...DEFAULT_FEATURES, ...opts.features });
    this.mem = opts.memory;
    this.memBytes = Buffer.from(this.mem.sab);
    this.clock = opts.clock ?? (() => this.lastNow);
    this.buffers = opts.buffers;
    this.born = this.lastNow = this.clock();
    this.gbpaReset = opts.gbpaReset ?? GBPA_RESET;
    this.regsDesc = opts.regs ?? createSmmuRegisterPage(this.features, this.gbpaReset);
    this.page = new RegisterPage(this.regsDesc);
    this.irqDesc = opts.irq ?? createIrqLines({ lines: 4 });
    this.irq = new IrqLines(this.irqDesc);
    this.cmdBudget = opts.cmdBudget ?? 256;
    this.txBudget = opts.txBudget ?? 256;
    this.iotlb = new Iotlb(opts.iotlbEntries ?? 2048);
    this.configCache = new ConfigCache<SteEntry, CdEntry>(opts.steCacheEntries ?? 256, opts.cdCacheEntries ?? 1024);
    this.evtq = new EventQueue(this.page, this.mem, this.features.evtqLog2, () => this.gerror(GERROR.EVENTQ_ABT_ERR));
    this.translator = new Translator(this.features, this.mem, this.iotlb, this.configCache, this.xregs, (e, m) => this.recordEvent(e, m));
    this.cmdq = new CommandQueue(this.features, this.page, this.mem, this.iotlb, this.configCache as ConfigCache<unknown, unknown>, {
      gerror: (bit) => this.gerror(bit),
      syncSignal: (cmd) => this.syncSignal(cmd),
      cmdqErrorActive: () => this.gerrorActive(GERROR.CMDQ_ERR),
    });
    if (opts.regs) this.page.reset(this.features, this.gbpaReset);
    this.latchGbpa();
    this.tr = this.cmdq.tr = this.evtq.tr = this.translator.tr = opts.tracer ?? NO_TRACE;
  }

  describe(): SmmuDescription {
    return { regs: this.regsDesc, irq: this.irqDesc, features: { ...this.features } };
  }

  // ---- service -------------------------------------------------------------------------

  /** One service round: register side effects, commands, transactions. Returns work done. */
  step(now = this.clock()): number {
    this.lastNow = now;
    let work = 0;
    const dirty = Atomics.exchange(this.page.ctl, CTL_DIRTY, 0);
    if (dirty !== 0) {
      this.applyRegisterWrites(dirty);
      work++;
    }
    work += this.cmdq.service(this.ack(CR0.CMDQEN), this.cmdBudget);
    work += this.servePorts(this.txBudget);
    this.flushIrqs();
    return work;
  }

  /**
   * Whether a step would find work (for the service loop's wait). A port whose device does
   * not drain its completion ring is not work: serving it would spin.
   */
  hasWork(): boolean {
    if (Atomics.load(this.page.ctl, CTL_DIRTY) !== 0) return true;
    if (this.cmdq.pending(this.ack(CR0.CMDQEN))) return true;
    for (const p of this.portList) if (p.req.available() > 0 && p.cpl.free() > 0) return true;
    return false;
  }

  /** A port has requests but its completion ring is full (its device has to drain it). */
  private backpressured(): boolean {
    for (const p of this.portList) if (p.req.available() > 0 && p.cpl.free() === 0) return true;
    return false;
  }

  /** When a step is due though no doorbell rang: soon while a port is backpressured
   *  (a device freeing completion slots rings its own ring's producer park, not ours). */
  nextDeadline(now: number): number {
    return this.backpressured() ? now + 1 : Infinity;
  }

  // ---- registers -------------------------------------------------------------------------

  private ack(bit: number): boolean {
    return (this.page.load(R.CR0ACK) & bit) !== 0;
  }

  private applyRegisterWrites(dirty: number): void {
    const page = this.page;
    if (dirty & DIRTY.CR0) {
      const want = page.load(R.CR0);
      const had = page.load(R.CR0ACK);
      const rise = want & ~had;
      const fall = had & ~want;
      if (rise & CR0.CMDQEN) this.cmdq.enable();
      if (fall & CR0.CMDQEN) this.cmdq.disable();
      if (rise & CR0.EVENTQEN) this.evtq.enable();
      if (rise & CR0.SMMUEN) {
        // STRTAB_BASE(_CFG) and CR2 cannot change while SMMUEN = 1: latch them now.
        const lo = page.load(R.STRTAB_BASE);
        const hi = page.load(R.STRTAB_BASE + 4) & 0x00ffffff;
        this.xregs.strtabBase = hi * 4294967296 + ((lo & 0xffffffc0) >>> 0);
        this.xregs.strtabCfg = page.load(R.STRTAB_BASE_CFG);
        const cr2 = page.load(R.CR2);
        this.xregs.recInvSid = (cr2 & CR2.RECINVSID) !== 0;
        this.xregs.e2h = (cr2 & CR2.E2H) !== 0;
      }
      if ((rise | fall) & CR0.SMMUEN) this.translator.forget();
      this.xregs.smmuEnabled = (want & CR0.SMMUEN) !== 0;
      page.store(R.CR0ACK, want);
    }
    if (dirty & DIRTY.GBPA) this.latchGbpa();
    if (dirty & DIRTY.IRQ_CTRL) {
      const want = page.load(R.IRQ_CTRL);
      const rise = want & ~page.load(R.IRQ_CTRLACK);
      page.store(R.IRQ_CTRLACK, want);
      // A condition that arose while the interrupt was disabled is signalled on enable.
      if (rise & IRQ_CTRL.EVENTQ_IRQEN && !qEmpty(page.load(R.EVENTQ_PROD), page.load(R.EVENTQ_CONS), this.evtq.queueLog2)) {
        this.evtq.pendingIrq = true;
      }
      if (rise & IRQ_CTRL.GERROR_IRQEN && this.gerrorActive(0x7ff)) this.signalGerror();
    }
    // GERRORN (acknowledgements) needs no action: the queue checks GERROR ^ GERRORN.
    // EVENTQ_CONS: space and OVACKFLG are read at each event write.
    page.published();
  }

  private latchGbpa(): void {
    const v = this.page.load(R.GBPA);
    this.xregs.gbpaAbort = (v & GBPA.ABORT) !== 0;
    if (v & GBPA.UPDATE) {
      this.page.store(R.GBPA, v & ~GBPA.UPDATE);
      this.page.published();
    }
  }

  private gerrorActive(bits: number): boolean {
    return ((this.page.load(R.GERROR) ^ this.page.load(R.GERRORN)) & bits) !== 0;
  }

  /** Activates a global error: toggles GERROR[bit] unless already active, raises the IRQ. */
  gerror(bit: number): void {
    if (this.gerrorActive(bit)) return;
    this.page.store(R.GERROR, this.page.load(R.GERROR) ^ bit);
    this.gerrors++;
    this.page.published();
    this.signalGerror(bit === GERROR.MSI_GERROR_ABT_ERR);
  }

  private signalGerror(wiredOnly = false): void {
    if (!(this.page.load(R.IRQ_CTRLACK) & IRQ_CTRL.GERROR_IRQEN)) return;
    if (!wiredOnly && this.msiTarget(R.GERROR_IRQ_CFG0) !== 0) {
      if (!this.msiWrite(this.msiTarget(R.GERROR_IRQ_CFG0), this.page.load(R.GERROR_IRQ_CFG1))) this.gerror(GERROR.MSI_GERROR_ABT_ERR);
    } else this.irq.raise(SMMU_IRQ.GERROR);
    if (this.tr.enabled) this.tr.instant('irq', 'GERROR', { gerror: this.page.load(R.GERROR) });
  }

  private flushIrqs(): void {
    // After the command queue published CONS: whoever the interrupt wakes sees the SYNC done.
    if (this.syncIrq) {
      this.syncIrq = false;
      this.irq.raise(SMMU_IRQ.CMD_SYNC);
      if (this.tr.enabled) this.tr.instant('irq', 'CMD_SYNC');
    }
    if (!this.evtq.pendingIrq) return;
    this.evtq.pendingIrq = false;
    if (!(this.page.load(R.IRQ_CTRLACK) & IRQ_CTRL.EVENTQ_IRQEN)) return;
    const addr = this.msiTarget(R.EVENTQ_IRQ_CFG0);
    if (addr !== 0) {
      if (!this.msiWrite(addr, this.page.load(R.EVENTQ_IRQ_CFG1))) this.gerror(GERROR.MSI_EVENTQ_ABT_ERR);
    } else this.irq.raise(SMMU_IRQ.EVENTQ);
    if (this.tr.enabled) this.tr.instant('irq', addr !== 0 ? 'EVENTQ (MSI)' : 'EVENTQ');
  }

  /** MSI target of a *_IRQ_CFG0 register: ADDR[55:2], 0 = no MSI (or MSI not implemented). */
  private msiTarget(off: number): number {
    if (!this.features.msi) return 0;
    const lo = this.page.load(off) & MSI_ADDR_LO;
    const hi = this.page.load(off + 4) & MSI_ADDR_HI;
    return hi * 4294967296 + (lo >>> 0);
  }

  /** A 32-bit MSI write to physical memory; false if the address is outside memory. */
  private msiWrite(pa: number, data: number): boolean {
    if (pa % 4 !== 0 || !this.mem.contains(pa, 4)) return false;
    Atomics.store(this.mem.u32, pa / 4, data >>> 0);
    this.mem.markWritten(pa, 4);
    this.msiWrites++;
    return true;
  }

  private syncSignal(cmd: Readonly<CommandOf<'SYNC'>>): void {
    if (cmd.cs === 1) {
      const addr = cmd.msiAddressHi !== 0 ? -1 : cmd.msiAddress;
      if (this.features.msi && addr !== 0) {
        if (!this.msiWrite(addr, cmd.msiData)) this.gerror(GERROR.MSI_CMDQ_ABT_ERR);
      } else this.syncIrq = true; // raised once CONS has moved past the SYNC (flushIrqs)
    } else if (cmd.cs === 2) {
      this.sevs++;
      Atomics.add(this.page.ctl, CTL_SEV, 1);
      Atomics.notify(this.page.ctl, CTL_SEV);
    }
  }

  private recordEvent(e: EventRecord, mergeable: boolean): void {
    this.evtq.write(e, this.ack(CR0.EVENTQEN), mergeable);
  }

  // ---- transactions ----------------------------------------------------------------------

  attachPort(opts: AttachPortOptions = {}): PortDesc {
    const id = this.nextPortId++;
    const p = new PortServer(id, opts, { sab: this.regsDesc.sab, index: (0x20000 >> 2) + CTL_PARK }, this.buffers);
    this.ports.set(id, p);
    this.portList = [...this.ports.values()];
    return p.desc;
  }

  detachPort(id: number): boolean {
    const p = this.ports.get(id);
    if (!p) return false;
    p.req.close();
    p.cpl.close();
    this.ports.delete(id);
    this.portList = [...this.ports.values()];
    return true;
  }

  /**
   * Serves the ports round-robin, up to `budget` transactions in all. A port's transactions
   * are published in chunks of PUBLISH_CHUNK (completions committed, request slots
   * released): its device reaps and posts again while the rest of the batch is served, so
   * the two threads overlap instead of taking turns, and a port whose device keeps up is
   * served on (fresh requests seen at each chunk) until the budget is spent. The next call
   * starts after the first port served in this one, so every busy port is first equally
   * often (starting one port further each call favoured the busy port after a run of idle
   * ones: with 8 of 18 ports busy, guest1 streamed 1.3x the others).
   */
  private servePorts(budget: number): number {
    const list = this.portList;
    const n = list.length;
    let done = 0;
    let first = -1;
    const traced = this.tr.enabled;
    for (let k = 0; k < n && done < budget; k++) {
      const at = (this.nextPort + k) % n;
      const p = list[at] as PortServer;
      const req = p.req;
      const cpl = p.cpl;
      const rq = req.u32;
      const cq = cpl.u32;
      let served = 0;
      let t0 = 0;
      for (;;) {
        const avail = req.available();
        if (avail === 0) break;
        const m = Math.min(avail, cpl.free(), budget - done, PUBLISH_CHUNK);
        if (m <= 0) break; // the completion ring is full (the device drains it), or the budget is spent
        if (traced && served === 0) t0 = this.batchStart(p);
        for (let i = 0; i < m; i++) this.transact(p, rq, req.offset(i), cq, cpl.offset(i));
        cpl.publish(m);
        req.retire(m);
        served += m;
        done += m;
      }
      if (served === 0) continue;
      if (first < 0) first = at;
      // One wake-up per run, after its last chunk (both rings ring the same word): a device
      // that polls has seen every chunk as it came, one that sleeps is woken once, with the
      // most to do. (Waking it earlier, at a low-water mark, so that it refills before the
      // port runs dry, measured worse on the shared 2-core machine: each wake-up moved
      // fewer transactions, and a woken thread takes a core from the SMMU.)
      cpl.ringConsumer();
      req.ringProducer();
      if (traced) this.batchEnd(p, t0, served);
      p.stats.batches++;
    }
    if (n > 0) this.nextPort = ((first < 0 ? this.nextPort : first) + 1) % n;
    return done;
  }

  // IOTLB counters when the traced batch began.
  private batchHits = 0;
  private batchMisses = 0;

  /** A traced DMA batch begins: walks and cache misses go on the port's track. */
  private batchStart(p: PortServer): number {
    this.translator.track = `port ${p.stats.name}`;
    const s = this.iotlb.stats();
    this.batchHits = s.hits;
    this.batchMisses = s.misses;
    return this.tr.stamp();
  }

  /** The batch's slice and the IOTLB hit rate of its lookups. */
  private batchEnd(p: PortServer, t0: number, n: number): void {
    const s = this.iotlb.stats();
    const hits = s.hits - this.batchHits;
    const lookups = hits + s.misses - this.batchMisses;
    this.tr.slice(this.translator.track, 'dma batch', t0, { transactions: n, port: p.stats.name });
    if (lookups > 0) this.tr.counter('iotlb hit %', Math.round((1000 * hits) / lookups) / 10);
    this.translator.track = 'xlate';
  }

  private transact(p: PortServer, rq: Uint32Array, ro: number, cq: Uint32Array, co: number): void {
    const tag = rq[ro + RQ_TAG]!;
    const sid = p.sid >= 0 ? p.sid : rq[ro + RQ_SID]!;
    this.txSid = sid;
    const flags = rq[ro + RQ_FLAGS]!;
    let lo = rq[ro + RQ_IOVA_LO]!;
    let hi = rq[ro + RQ_IOVA_HI]!;
    const len = rq[ro + RQ_LEN]!;
    const boff = rq[ro + RQ_BUF]!;
    const acc = flags & TXF_ACC;
    const ssv = (flags & TXF_SSV) !== 0;
    const ssid = flags >>> TXF_SSID_SHIFT;
    const st = p.stats;
    st.transactions++;
    cq[co + CP_TAG] = tag;
    if (len === 0 || len > MAX_TX_BYTES || boff + len > p.dataBytes) {
      st.badRequests++;
      this.complete(cq, co, TX_BADREQ, 0);
      return;
    }
    // Phase 1: translate every page; a fault stops the transaction before any byte moves.
    const out = this.out;
    if (this.translator.translate(sid, ssv, ssid, hi, lo, acc, out) !== XL_OK) {
      this.faulted(p, cq, co, hi, lo);
      return;
    }
    const mem = this.mem;
    const write = (acc & ACC_WRITE) !== 0;
    if (out.pageBytes >= len) {
      // One page (the common case): no page list.
      const pa = out.pa;
      if (pa + len > mem.size) {
        st.aborts++;
        this.complete(cq, co, TX_EABT, 0);
        return;
      }
      this.copy(p, pa, boff, len, write);
    } else {
      let nseg = 0;
      let left = len;
      for (;;) {
        const chunk = out.pageBytes < left ? out.pageBytes : left;
        this.segPa[nseg] = out.pa;
        this.segLen[nseg] = chunk;
        nseg++;
        left -= chunk;
        if (left === 0) break;
        const nlo = lo + chunk;
        if (nlo >= 4294967296) {
          lo = nlo - 4294967296;
          hi = (hi + 1) >>> 0;
        } else lo = nlo;
        if (this.translator.translate(sid, ssv, ssid, hi, lo, acc, out) !== XL_OK) {
          this.faulted(p, cq, co, hi, lo);
          return;
        }
      }
      // Phase 2: every output inside memory, then move the bytes.
      for (let s = 0; s < nseg; s++) {
        if (!mem.contains(this.segPa[s]!, this.segLen[s]!)) {
          st.aborts++;
          this.complete(cq, co, TX_EABT, 0);
          return;
        }
      }
      let b = boff;
      for (let s = 0; s < nseg; s++) {
        this.copy(p, this.segPa[s]!, b, this.segLen[s]!, write);
        b += this.segLen[s]!;
      }
    }
    st.bytes += len;
    this.complete(cq, co, TX_OK, len);
  }

  private complete(cq: Uint32Array, co: number, status: number, bytes: number): void {
    writeCompletion(cq, co, status, bytes);
  }

  private faulted(p: PortServer, cq: Uint32Array, co: number, hi: number, lo: number): void {
    const out = this.out;
    const e = out.event;
    p.stats.faults++;
    writeFaultCompletion(cq, co, e.type, e.s2, e.cls, out.recorded, hi, lo, e.fetchAddr !== 0 ? e.fetchAddr : e.ipa);
  }

  /** Moves n bytes between physical memory at pa and the port's data buffer at b. */
  private copy(p: PortServer, pa: number, b: number, n: number, write: boolean): void {
    if (this.onAccess !== null) this.onAccess(this.txSid, pa, n, write);
    const mem = this.mem;
    if (write) mem.markWritten(pa, n);
    if (n <= 64 && pa < 2147483648) {
      // Small copies: int32 indices (a double index costs a conversion per access), and
      // whole words when everything is 4-byte aligned.
      const a = pa | 0;
      if (((a | b | n) & 3) === 0) {
        const m32 = mem.u32;
        const d32 = p.data32;
        const wa = a >> 2;
        const wb = b >> 2;
        const nw = n >> 2;
        if (write) for (let i = 0; i < nw; i++) m32[wa + i] = d32[wb + i]!;
        else for (let i = 0; i < nw; i++) d32[wb + i] = m32[wa + i]!;
      } else {
        const u8 = mem.u8;
        const data = p.data;
        if (write) for (let i = 0; i < n; i++) u8[a + i] = data[b + i]!;
        else for (let i = 0; i < n; i++) data[b + i] = u8[a + i]!;
      }
    } else if (write) p.bytes.copy(this.memBytes, pa, b, b + n);
    else this.memBytes.copy(p.bytes, b, pa, pa + n);
  }

  // ---- control -----------------------------------------------------------------------------

  /** Hardware reset: registers to reset values, caches emptied, queues disabled. */
  reset(): void {
    this.page.reset(this.features, this.gbpaReset);
    Atomics.store(this.page.ctl, CTL_DIRTY, 0);
    this.iotlb.clear();
    this.configCache.clear();
    this.translator.forget();
    this.xregs.smmuEnabled = false;
    this.latchGbpa();
    this.page.published();
  }

  /**
   * Fault injection for tests (docs/security.md): 'stall-sync' makes the command queue stop
   * at the next CMD_SYNC without completing it, until the queue is disabled.
   */
  injectFault(kind: 'stall-sync'): void {
    if (kind === 'stall-sync') this.cmdq.stallSync = true;
  }

  stats(): SmmuStats {
    const t: TranslateStats = this.translator.stats;
    return {
      uptimeMs: this.clock() - this.born,
      translations: t.translations,
      translationFaults: t.faults,
      permissionFaultsFromTlb: t.permissionHits,
      walks: this.translator.walker.walks,
      walkReads: this.translator.walker.reads,
      steFetches: t.steFetches,
      cdFetches: t.cdFetches,
      iotlb: this.iotlb.stats(),
      configCache: this.configCache.stats(),
      commands: structuredClone(this.cmdq.stats),
      events: structuredClone(this.evtq.stats),
      gerrors: this.gerrors,
      msiWrites: this.msiWrites,
      sevs: this.sevs,
      ports: this.portList.map((p) => ({ ...p.stats })),
    };
  }

  /** Checks an option object coming from another thread. */
  static checkOptions(o: { cmdBudget?: number; txBudget?: number; iotlbEntries?: number }): void {
    for (const k of ['cmdBudget', 'txBudget'] as const) {
      const v = o[k];
      if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new VsmmuError('EVSMMU_SMMU_CONFIG', `${k} must be a positive integer`);
    }
    const e = o.iotlbEntries;
    if (e !== undefined && !(Number.isInteger(e) && e >= 1 && e <= 1 << 20)) throw new VsmmuError('EVSMMU_SMMU_CONFIG', `iotlbEntries must be an integer from 1 to ${1 << 20}`);
  }
}
