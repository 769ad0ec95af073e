// An SMMUv3 driver with the conventions of Linux's arm-smmu-v3 (FACTS §8): what it probes
// and refuses, the structures it allocates in guest RAM, the order of the reset sequence,
// the STE/CD contents and update order, the invalidations after unmap, command-error
// recovery and the event queue / GERROR interrupt handling. It runs over two ports (an MMIO
// window and the guest's RAM + allocator), so it drives a vSMMU trapped to Xen exactly as
// it drives an in-process register file.
//
// Not modelled (no user in a domU of this emulator): PRI queue, ATS/ATC invalidation, SVA,
// stage-2 domains (the guest only has stage 1 from its vSMMU), E2H, MSI setup for the queue
// interrupts (the vSMMU is wired to one "combined" SPI).

import { cdOf, encodeCd, encodeL1Cd, CD_BYTES, CD_WORDS } from '../arch/cd.ts';
import { cmdOf, type Command } from '../arch/commands.ts';
import { decodeEvent, eventName, type EventRecord } from '../arch/events.ts';
import { decodeIdRegs, oasEncoding, type SmmuFeatures } from '../arch/features.ts';
import { levelShift } from '../arch/granule.ts';
import { PageTable } from '../arch/pgtable.ts';
import { CR0, CR2, fieldMask, GBPA, GERROR, IRQ_CTRL, R, setField32 } from '../arch/registers.ts';
import { encodeL1Std, encodeSte, steOf, STE_BYTES, STE_CFG, STE_WORDS } from '../arch/ste.ts';
import { VsmmuError } from '../errors.ts';
import { CommandQueue, type CmdqErrorRecord, type CmdqStats } from './cmdq.ts';
import { cdUsed, EntryWriter, steUsed } from './entry-writer.ts';
import { EventQueue, type EvtqStats } from './evtq.ts';
import { pollClock, type GuestAllocator, type GuestClock, type GuestMemoryPort, type MmioPort } from './ports.ts';
import { tlbiRangeCommands } from './tlbi.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';

// ---- Linux constants --------------------------------------------------------------------

/** STRTAB_SPLIT: 256 STEs (16 KiB) per level-2 table; L1STD.Span = SPLIT + 1. */
export const STRTAB_SPLIT = 8;
/** STRTAB_MAX_L1_ENTRIES. */
const STRTAB_MAX_L1_ENTRIES = 1 << 17;
/** CTXDESC_L2_ENTRIES (CD tables with more SSIDs are 2-level, S1Fmt = 2). */
const CTXDESC_L2_ENTRIES = 1024;
/** Queue size caps for a 4 KiB-page kernel with MAX_PAGE_ORDER 10 (Q_MAX_SZ_SHIFT = 22). */
export const CMDQ_MAX_SZ_SHIFT = 18;
export const EVTQ_MAX_SZ_SHIFT = 17;
/** ilog2(CMDQ_BATCH_ENTRIES): a queue must hold more than one batch. */
const CMDQ_MIN_LOG2 = 7;
/** ARM_SMMU_POLL_TIMEOUT_US. */
export const POLL_TIMEOUT_MS = 1000;
/** Cacheability/shareability codes. */
const WBRA = 1;
const SH_ISH = 3;
const SH_OSH = 2;
/** CR1: queues and tables ISH, WB/WB (FACTS §1.9), 0xd75. */
export const CR1_LINUX = [
  ['QUEUE_IC', WBRA], ['QUEUE_OC', WBRA], ['QUEUE_SH', SH_ISH], ['TABLE_IC', WBRA], ['TABLE_OC', WBRA], ['TABLE_SH', SH_ISH],
].reduce((v, [f, x]) => setField32('CR1', f as string, v, x as number), 0) >>> 0;
/** GERROR bits Linux handles (GERROR_ERR_MASK, 0x1fd): every error but CMDQP/DPT. */
export const GERROR_ERR_MASK = (GERROR.CMDQ_ERR | GERROR.EVENTQ_ABT_ERR | GERROR.PRIQ_ABT_ERR | GERROR.MSI_CMDQ_ABT_ERR |
  GERROR.MSI_EVENTQ_ABT_ERR | GERROR.MSI_PRIQ_ABT_ERR | GERROR.MSI_GERROR_ABT_ERR | GERROR.SFM_ERR) >>> 0;
/** RA (read-allocate hint, bit 62) in the high word of STRTAB_BASE. */
const STRTAB_BASE_RA_HI = fieldMask('STRTAB_BASE', 'RA', true);
/** GBPA.Update, as an unsigned word. */
const GBPA_UPDATE = GBPA.UPDATE >>> 0;
/** Faults kept in the log (older ones are dropped and counted: a guest can be flooded). */
export const FAULT_LOG_MAX = 4096;
/** Stage-1 MAIR Linux writes (FACTS §7.9). */
export const MAIR_LINUX = 0xf404ff44;
/** STE.S1DSS = SSID0: no-SSID traffic uses CD 0. */
const S1DSS_SSID0 = 2;

export type ProbeRefusal =
  | 'no-aarch64-tables'
  | 'tt-endianness'
  | 'no-translation'
  | 'embedded-implementation'
  | 'cmdq-too-small'
  | 'no-granule';

export interface DriverOptions {
  /** Bound of every register / completion poll (Linux ARM_SMMU_POLL_TIMEOUT_US = 1 s). */
  readonly pollTimeoutMs?: number;
  /** Largest queues to try (log2 entries); Linux's caps by default. */
  readonly cmdqMaxLog2?: number;
  readonly evtqMaxLog2?: number;
  /** The vCPU's interrupt input for the SMMU: polled inside wait loops (the IRQ preempts the poll). */
  readonly irqPending?: () => boolean;
  /** One turn of a spin on memory (GuestRunner.relax). */
  readonly relax?: () => void;
  /** Kernel page size: the default io-pgtable granule (4 KiB). */
  readonly pageSize?: number;
  /** The clock of poll bounds (default: one that advances per read, see pollClock). */
  readonly clock?: GuestClock;
  /** Trace points of the command queue, and its flow id space (the domain's). */
  readonly tracer?: Tracer;
  readonly traceSpace?: number;
}

export interface ProbeInfo {
  readonly features: SmmuFeatures;
  readonly ias: number;
  readonly strtab: { readonly ipa: number; readonly twoLevel: boolean; readonly cfg: number; readonly l1Entries: number };
  readonly cmdq: { readonly ipa: number; readonly log2: number; readonly msiPoll: boolean };
  readonly evtq: { readonly ipa: number; readonly log2: number };
}

export interface AttachOptions {
  /** ASID (default: the lowest free one from 1). Devices attached with the same ASID share a domain. */
  readonly asid?: number;
  /** SubstreamID bits of the master (S1CDMax); 0 = a single CD. */
  readonly ssidBits?: number;
  /** Translation granule in bytes (4096 default, 16384, 65536). */
  readonly granule?: number;
  /** The master can stall (dma-can-stall): clears S1STALLD, sets CD.S. */
  readonly stall?: boolean;
}

export interface Attachment {
  readonly vSid: number;
  readonly asid: number;
  readonly granule: number;
  /** IPAs of the STE, the CD table and the stage-1 root (CD.TTB0). */
  readonly steIpa: number;
  readonly cdTableIpa: number;
  readonly cdIpa: number;
  readonly ttb0: number;
}

/** A fault the interrupt handler took from the event queue. */
export interface GuestFault extends EventRecord {
  readonly seq: number;
  /** Type name (F_TRANSLATION ...), or "0x.." for an unknown type. */
  readonly name: string;
  /** InputAddr as a number (exact below 2^53). */
  readonly iova: number;
}

export interface DriverStats {
  readonly cmdq: Readonly<CmdqStats>;
  readonly evtq: Readonly<EvtqStats>;
  readonly irqs: number;
  readonly gerrors: number;
  readonly steSyncs: number;
  readonly cdSyncs: number;
  readonly tlbiCommands: number;
  /** Faults dropped from the log (FAULT_LOG_MAX kept). */
  readonly faultsDropped: number;
}

interface S1Domain {
  readonly asid: number;
  readonly granule: number;
  readonly pgtable: PageTable;
  /** Users: "vSid" for CD 0 (the device's default domain), "vSid/ssid" for PASIDs. */
  readonly masters: Set<string>;
  /** Invalidations gathered by unmaps without sync (iommu_unmap_fast), issued by iotlbSync. */
  readonly gathered: Command[];
}

interface CdTable {
  readonly ipa: number;
  readonly bytes: number;
  readonly s1fmt: number;
  readonly s1cdmax: number;
  /** 2-level: IPAs of allocated leaf tables by L1 index. */
  readonly l2: Map<number, number>;
}

interface Master {
  readonly vSid: number;
  readonly stall: boolean;
  cd: CdTable | null;
  domain: S1Domain | null;
  /** Domains attached to SubstreamIDs other than 0 (PASIDs). */
  readonly pasids: Map<number, S1Domain>;
}

function refuse(reason: ProbeRefusal, message: string, details: Record<string, unknown> = {}): VsmmuError {
  return new VsmmuError('EVSMMU_SMMU_UNSUPPORTED', `SMMUv3 probe refused: ${message}`, { reason, ...details });
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

export class SmmuV3Driver {
  private readonly mmio: MmioPort;
  private readonly ram: GuestMemoryPort;
  private readonly galloc: GuestAllocator;
  private readonly timeoutMs: number;
  private readonly now: GuestClock;
  private readonly irqPending: (() => boolean) | undefined;
  private readonly relax: (() => void) | undefined;
  private readonly pageSize: number;
  private readonly cmdqMax: number;
  private readonly evtqMax: number;
  private readonly writer: EntryWriter;
  private info: ProbeInfo | null = null;
  private cmdq: CommandQueue | null = null;
  private evtq: EventQueue | null = null;
  private readonly l2: Map<number, number> = new Map(); // L1 index -> L2 table IPA
  private readonly masters = new Map<number, Master>();
  private readonly domains = new Map<number, S1Domain>();
  private readonly faultLog: GuestFault[] = [];
  private faultsDropped = 0;
  private readonly gerrorLog: number[] = [];
  private faultSeq = 0;
  private inIrq = false;
  private readonly tracer: Tracer;
  private readonly traceSpace: number;
  private counters = { irqs: 0, gerrors: 0, steSyncs: 0, cdSyncs: 0, tlbiCommands: 0 };

  constructor(mmio: MmioPort, ram: GuestMemoryPort, alloc: GuestAllocator, opts: DriverOptions = {}) {
    this.mmio = mmio;
    this.ram = ram;
    this.galloc = alloc;
    this.timeoutMs = opts.pollTimeoutMs ?? POLL_TIMEOUT_MS;
    this.now = opts.clock ?? pollClock();
    this.tracer = opts.tracer ?? NO_TRACE;
    this.traceSpace = opts.traceSpace ?? 1;
    this.irqPending = opts.irqPending;
    this.relax = opts.relax;
    this.pageSize = opts.pageSize ?? 4096;
    this.cmdqMax = opts.cmdqMaxLog2 ?? CMDQ_MAX_SZ_SHIFT;
    this.evtqMax = opts.evtqMaxLog2 ?? EVTQ_MAX_SZ_SHIFT;
    this.writer = new EntryWriter(ram);
  }

  // ---- probe and reset ------------------------------------------------------------------

  /** arm_smmu_device_probe: hardware probe, structures in guest RAM, reset and enable. */
  probe(): ProbeInfo {
    if (this.info) throw new VsmmuError('EVSMMU_BUSY', 'SMMU already probed');
    const f = this.hwProbe();
    const allocated: number[] = [];
    const galloc = this.galloc;
    const tracking: GuestAllocator = {
      alloc: (bytes, align) => {
        const ipa = galloc.alloc(bytes, align);
        if (ipa >= 0) allocated.push(ipa);
        return ipa;
      },
      free: (ipa) => galloc.free(ipa),
    };
    try {
      const info = this.setup(f, tracking);
      this.reset(info);
      this.info = info;
      return info;
    } catch (e) {
      // As devm: nothing allocated by a failed probe stays allocated.
      for (const ipa of allocated) galloc.free(ipa);
      this.cmdq = null;
      this.evtq = null;
      throw e;
    }
  }

  /** Stream table and queues in guest RAM (arm_smmu_init_structures). */
  private setup(f: SmmuFeatures, alloc: GuestAllocator): ProbeInfo {
    const ias = Math.max(f.ttf & 1 ? 40 : 0, f.oas);
    const twoLevel = f.stLevel2 && f.sidBits > STRTAB_SPLIT;
    const strtab = twoLevel ? this.initStrtab2Lvl(f, alloc) : this.initStrtabLinear(f, alloc);
    const msiPoll = f.msi && f.coherent;
    const cmdqQ = this.initQueue('cmdq', Math.min(this.cmdqMax, f.cmdqLog2), 16, alloc);
    const evtqQ = this.initQueue('evtq', Math.min(this.evtqMax, f.evtqLog2), 32, alloc);
    this.cmdq = new CommandQueue(this.mmio, this.ram, cmdqQ.ipa, cmdqQ.log2, {
      msiPoll, timeoutMs: this.timeoutMs, clock: this.now, hooks: { service: (err) => this.service(err), ...(this.relax ? { relax: this.relax } : {}) },
      tracer: this.tracer, traceSpace: this.traceSpace,
    });
    this.evtq = new EventQueue(this.mmio, this.ram, evtqQ.ipa, evtqQ.log2);
    return {
      features: f, ias, strtab,
      cmdq: { ipa: cmdqQ.ipa, log2: cmdqQ.log2, msiPoll },
      evtq: { ipa: evtqQ.ipa, log2: evtqQ.log2 },
    };
  }

  /** arm_smmu_device_hw_probe: read the ID registers, refuse what Linux refuses. */
  private hwProbe(): SmmuFeatures {
    const m = this.mmio;
    const idr0 = m.read32(R.IDR0) >>> 0;
    const idr1 = m.read32(R.IDR1) >>> 0;
    const idr3 = m.read32(R.IDR3) >>> 0;
    const idr5 = m.read32(R.IDR5) >>> 0;
    const iidr = m.read32(R.IIDR) >>> 0;
    const f = decodeIdRegs({ idr0, idr1, idr2: 0, idr3, idr4: 0, idr5, iidr, aidr: 0 });
    if ((f.ttf & 2) === 0) throw refuse('no-aarch64-tables', 'AArch64 table format not supported', { idr0 });
    if (f.ttendian !== 0 && f.ttendian !== 2) throw refuse('tt-endianness', 'unknown/unsupported TT endianness', { idr0 });
    if (!f.s1 && !f.s2) throw refuse('no-translation', 'no translation support', { idr0 });
    if (f.rel || f.queuesPreset || f.tablesPreset) {
      throw refuse('embedded-implementation', 'embedded implementation not supported (IDR1.REL/QUEUES_PRESET/TABLES_PRESET)', { idr1 });
    }
    if (Math.min(this.cmdqMax, f.cmdqLog2) < CMDQ_MIN_LOG2) {
      throw refuse('cmdq-too-small', `command queue size <= ${1 << (CMDQ_MIN_LOG2 - 1)} entries not supported`, { idr1 });
    }
    if (!f.gran4k && !f.gran16k && !f.gran64k) throw refuse('no-granule', 'no translation granule supported', { idr5 });
    // Linux: unknown output sizes (56 bits) are truncated to 48.
    if (f.oas > 52) f.oas = 48;
    return f;
  }

  private allocZeroed(bytes: number, align: number, what: string, alloc: GuestAllocator = this.galloc): number {
    const ipa = alloc.alloc(bytes, align);
    if (ipa < 0) throw new VsmmuError('EVSMMU_NOMEM', `failed to allocate ${what} (${hex(bytes)} bytes)`, { bytes });
    this.ram.fill(ipa, bytes, 0);
    return ipa;
  }

  private initStrtabLinear(f: SmmuFeatures, alloc: GuestAllocator): ProbeInfo['strtab'] {
    const entries = 2 ** f.sidBits;
    const bytes = entries * STE_BYTES;
    const ipa = this.allocZeroed(bytes, Math.max(bytes, 64), 'linear stream table', alloc);
    this.initAbortStes(ipa, entries);
    return { ipa, twoLevel: false, cfg: f.sidBits, l1Entries: 0 };
  }

  private initStrtab2Lvl(f: SmmuFeatures, alloc: GuestAllocator): ProbeInfo['strtab'] {
    const l1Entries = Math.min(STRTAB_MAX_L1_ENTRIES, 2 ** (f.sidBits - STRTAB_SPLIT));
    const bytes = l1Entries * 8;
    const ipa = this.allocZeroed(bytes, Math.max(bytes, 64), 'l1 stream table', alloc);
    // FMT = 2-level (1), SPLIT, LOG2SIZE = SIDs covered.
    let cfg = setField32('STRTAB_BASE_CFG', 'FMT', 0, 1);
    cfg = setField32('STRTAB_BASE_CFG', 'SPLIT', cfg, STRTAB_SPLIT);
    cfg = setField32('STRTAB_BASE_CFG', 'LOG2SIZE', cfg, Math.log2(l1Entries) + STRTAB_SPLIT);
    return { ipa, twoLevel: true, cfg, l1Entries };
  }

  /** arm_smmu_init_initial_stes with disable_bypass: every STE aborts (dw0 = V | Config 0). */
  private initAbortStes(ipa: number, n: number): void {
    for (let i = 0; i < n; i++) this.ram.store64(ipa + i * STE_BYTES, 1, 0);
  }

  private initQueue(name: string, maxLog2: number, entBytes: number, alloc: GuestAllocator): { ipa: number; log2: number } {
    for (let log2 = maxLog2; ; log2--) {
      const bytes = (2 ** log2) * entBytes;
      const ipa = alloc.alloc(bytes, Math.max(bytes, 32));
      if (ipa >= 0) {
        this.ram.fill(ipa, bytes, 0);
        return { ipa, log2 };
      }
      if (bytes < this.pageSize || log2 === 0) {
        throw new VsmmuError('EVSMMU_NOMEM', `failed to allocate queue (${hex(bytes)} bytes) for ${name}`, { bytes });
      }
    }
  }

  private write64(off: number, lo: number, hi: number): void {
    this.mmio.write32(off, lo >>> 0);
    this.mmio.write32(off + 4, hi >>> 0);
  }

  /** arm_smmu_write_reg_sync: write, then poll the ACK register until it reflects the value. */
  private writeRegSync(val: number, off: number, ackOff: number): void {
    this.mmio.write32(off, val);
    this.pollReg(ackOff, (v) => v === val >>> 0, `${ackOff === R.CR0ACK ? 'CR0ACK' : 'IRQ_CTRLACK'} = ${hex(val)}`);
  }

  private pollReg(off: number, done: (v: number) => boolean, what: string): number {
    const deadline = this.now() + this.timeoutMs;
    for (let it = 0; ; it++) {
      const v = this.mmio.read32(off) >>> 0;
      if (done(v)) return v;
      if ((it & 15) === 15 && this.now() > deadline) {
        throw new VsmmuError('EVSMMU_SMMU_TIMEOUT', `SMMU did not ack ${what} within ${this.timeoutMs} ms (read ${hex(v)})`, { offset: off, value: v });
      }
    }
  }

  /** arm_smmu_update_gbpa(set, clr): Update handshake on GBPA. */
  private updateGbpa(set: number, clr: number): void {
    const reg = this.pollReg(R.GBPA, (v) => (v & GBPA_UPDATE) === 0, 'GBPA.Update clear');
    this.mmio.write32(R.GBPA, (((reg & ~clr) | set) | GBPA_UPDATE) >>> 0);
    this.pollReg(R.GBPA, (v) => (v & GBPA_UPDATE) === 0, 'GBPA update');
  }

  /** arm_smmu_device_reset, in Linux's order (FACTS §8.1). */
  private reset(info: ProbeInfo): void {
    const m = this.mmio;
    const f = info.features;
    const cmdq = this.queue();
    const evtq = this.events();
    if ((m.read32(R.CR0) & CR0.SMMUEN) !== 0) this.updateGbpa(GBPA.ABORT, 0);
    this.writeRegSync(0, R.CR0, R.CR0ACK);
    m.write32(R.CR1, CR1_LINUX);
    m.write32(R.CR2, CR2.PTM | CR2.RECINVSID);
    // Stream table: STRTAB_BASE with RA, then STRTAB_BASE_CFG.
    this.write64(R.STRTAB_BASE, (info.strtab.ipa % 4294967296) & ~63, (Math.floor(info.strtab.ipa / 4294967296) & 0xfffff) | STRTAB_BASE_RA_HI);
    m.write32(R.STRTAB_BASE_CFG, info.strtab.cfg);
    // Command queue.
    const [cl, ch] = cmdq.baseReg();
    this.write64(R.CMDQ_BASE, cl, ch);
    m.write32(R.CMDQ_PROD, cmdq.prod);
    m.write32(R.CMDQ_CONS, cmdq.cons);
    let enables = CR0.CMDQEN;
    this.writeRegSync(enables, R.CR0, R.CR0ACK);
    cmdq.issue([cmdOf('CFGI_STE_RANGE', { range: 31 })], true); // CFGI_ALL
    if (f.hyp) cmdq.issue([cmdOf('TLBI_EL2_ALL')], true);
    cmdq.issue([cmdOf('TLBI_NSNH_ALL')], true);
    // Event queue (PROD/CONS in page 1).
    const [el, eh] = evtq.baseReg();
    this.write64(R.EVENTQ_BASE, el, eh);
    m.write32(R.EVENTQ_PROD, evtq.prod);
    m.write32(R.EVENTQ_CONS, evtq.cons);
    enables |= CR0.EVENTQEN;
    this.writeRegSync(enables, R.CR0, R.CR0ACK);
    if (f.ats) {
      enables |= CR0.ATSCHK;
      this.writeRegSync(enables, R.CR0, R.CR0ACK);
    }
    // arm_smmu_setup_irqs: disable, clear the MSI addresses, enable GERROR + EVTQ.
    this.writeRegSync(0, R.IRQ_CTRL, R.IRQ_CTRLACK);
    this.write64(R.GERROR_IRQ_CFG0, 0, 0);
    this.write64(R.EVENTQ_IRQ_CFG0, 0, 0);
    if (f.pri) this.write64(R.PRIQ_IRQ_CFG0, 0, 0);
    this.writeRegSync(IRQ_CTRL.GERROR_IRQEN | IRQ_CTRL.EVENTQ_IRQEN, R.IRQ_CTRL, R.IRQ_CTRLACK);
    enables |= CR0.SMMUEN;
    this.writeRegSync(enables, R.CR0, R.CR0ACK);
  }

  // ---- accessors -------------------------------------------------------------------------

  get probed(): ProbeInfo | null {
    return this.info;
  }

  private probedInfo(): ProbeInfo {
    if (!this.info) throw new VsmmuError('EVSMMU_NODEV', 'SMMU not probed');
    return this.info;
  }

  private queue(): CommandQueue {
    if (!this.cmdq) throw new VsmmuError('EVSMMU_NODEV', 'SMMU not probed');
    return this.cmdq;
  }

  private events(): EventQueue {
    if (!this.evtq) throw new VsmmuError('EVSMMU_NODEV', 'SMMU not probed');
    return this.evtq;
  }

  /** Issues commands and (with `sync`) a CMD_SYNC, waiting for it. */
  submit(cmds: readonly Command[], sync = true): void {
    this.queue().issue(cmds, sync);
  }

  // ---- interrupts ------------------------------------------------------------------------

  // Called from every wait loop: an interrupt that is pending is taken (as on a CPU), and a
  // visible command error is handled even if the interrupt has not arrived yet.
  private service(consErr: number): void {
    if (this.inIrq) return;
    if (this.irqPending?.()) {
      this.handleIrq();
      return;
    }
    if (consErr !== 0) this.handleGerror();
  }

  /**
   * The handler of the vSMMU's combined interrupt (SPI 33): GERROR first, then the event
   * queue. Returns the number of events consumed.
   */
  handleIrq(): number {
    if (this.inIrq) return 0;
    this.inIrq = true;
    try {
      this.counters.irqs++;
      this.handleGerror();
      return this.events().drain((w) => this.recordEvent(w));
    } finally {
      this.inIrq = false;
    }
  }

  /** arm_smmu_gerror_handler. Returns the active error bits handled (0 if none). */
  handleGerror(): number {
    const gerror = this.mmio.read32(R.GERROR) >>> 0;
    const gerrorn = this.mmio.read32(R.GERRORN) >>> 0;
    const active = (gerror ^ gerrorn) & GERROR_ERR_MASK;
    if (active === 0) return 0;
    this.counters.gerrors++;
    this.gerrorLog.push(active);
    if (active & GERROR.SFM_ERR) this.writeRegSync(0, R.CR0, R.CR0ACK); // Service Failure Mode: disable
    if (active & GERROR.CMDQ_ERR) this.queue().skipErr();
    this.mmio.write32(R.GERRORN, gerror);
    return active;
  }

  private recordEvent(w: Uint32Array): void {
    const e = decodeEvent(w, 0);
    if (this.faultLog.length >= FAULT_LOG_MAX) {
      this.faultLog.shift();
      this.faultsDropped++;
    }
    this.faultLog.push({
      ...e,
      seq: ++this.faultSeq,
      name: eventName(e.type),
      iova: e.inputHi * 4294967296 + e.inputLo,
    });
  }

  /** Every fault taken from the event queue, oldest first. */
  faults(): readonly GuestFault[] {
    return this.faultLog;
  }

  /** Command errors recovered (CMDQ_CONS.ERR) and GERROR bits handled. */
  cmdqErrors(): readonly CmdqErrorRecord[] {
    return this.queue().errors;
  }

  gerrors(): readonly number[] {
    return this.gerrorLog;
  }

  stats(): DriverStats {
    return {
      cmdq: { ...this.queue().stats },
      evtq: { ...this.events().stats },
      ...this.counters,
      faultsDropped: this.faultsDropped,
    };
  }

  // ---- stream table ----------------------------------------------------------------------

  /** IPA of the STE of `sid`, allocating its level-2 table (arm_smmu_init_l2_strtab). */
  private steIpa(sid: number): number {
    const info = this.probedInfo();
    const f = info.features;
    if (!(Number.isInteger(sid) && sid >= 0 && sid < 2 ** f.sidBits)) {
      throw new VsmmuError('EVSMMU_INVAL', `StreamID ${sid} is outside the SMMU's ${f.sidBits} bits`, { sid });
    }
    if (!info.strtab.twoLevel) return info.strtab.ipa + sid * STE_BYTES;
    const l1 = Math.floor(sid / 2 ** STRTAB_SPLIT);
    if (l1 >= info.strtab.l1Entries) throw new VsmmuError('EVSMMU_INVAL', `StreamID ${sid} is beyond the stream table`, { sid });
    let l2 = this.l2.get(l1);
    if (l2 === undefined) {
      const bytes = (1 << STRTAB_SPLIT) * STE_BYTES;
      l2 = this.allocZeroed(bytes, bytes, 'l2 stream table');
      this.initAbortStes(l2, 1 << STRTAB_SPLIT);
      const [lo, hi] = encodeL1Std({ span: STRTAB_SPLIT + 1, l2ptr: l2 });
      this.ram.store64(info.strtab.ipa + l1 * 8, lo, hi);
      this.l2.set(l1, l2);
    }
    return l2 + (sid % 2 ** STRTAB_SPLIT) * STE_BYTES;
  }

  /** arm_smmu_write_ste: hitless/breaking update with CFGI_STE (leaf) + SYNC per step, then PREFETCH_CONFIG. */
  private writeSte(sid: number, target: Uint32Array): void {
    const ipa = this.steIpa(sid);
    this.writer.write(ipa, target, steUsed, () => {
      this.counters.steSyncs++;
      this.submit([cmdOf('CFGI_STE', { sid, leaf: 1 })], true);
    });
    this.submit([cmdOf('PREFETCH_CONFIG', { sid })], false);
  }

  // ---- context descriptors ---------------------------------------------------------------

  private allocCdTable(ssidBits: number): CdTable {
    const f = this.probedInfo().features;
    const max = 2 ** ssidBits;
    if (!f.cd2l || max <= CTXDESC_L2_ENTRIES) {
      const bytes = max * CD_BYTES;
      const ipa = this.allocZeroed(bytes, Math.max(bytes, 64), 'CD table');
      return { ipa, bytes, s1fmt: 0, s1cdmax: ssidBits, l2: new Map() };
    }
    const l1 = Math.ceil(max / CTXDESC_L2_ENTRIES);
    const bytes = l1 * 8;
    const ipa = this.allocZeroed(bytes, Math.max(bytes, 64), 'L1 CD table');
    return { ipa, bytes, s1fmt: 2, s1cdmax: ssidBits, l2: new Map() };
  }

  /** arm_smmu_get_cd_ptr (allocating a leaf table, publishing its L1CD, CFGI_CD non-leaf). */
  private cdIpa(m: Master, ssid: number): number {
    const t = m.cd;
    if (!t) throw new VsmmuError('EVSMMU_INVAL', 'no CD table');
    if (t.s1fmt === 0) return t.ipa + ssid * CD_BYTES;
    const i = Math.floor(ssid / CTXDESC_L2_ENTRIES);
    let l2 = t.l2.get(i);
    if (l2 === undefined) {
      const bytes = CTXDESC_L2_ENTRIES * CD_BYTES;
      l2 = this.allocZeroed(bytes, bytes, 'L2 CD table');
      const [lo, hi] = encodeL1Cd({ v: 1, l2ptr: l2 });
      this.ram.store64(t.ipa + i * 8, lo, hi);
      t.l2.set(i, l2);
      this.syncCd(m, ssid, false); // an invalid L1CD can be cached
    }
    return l2 + (ssid % CTXDESC_L2_ENTRIES) * CD_BYTES;
  }

  private syncCd(m: Master, ssid: number, leaf: boolean): void {
    this.counters.cdSyncs++;
    this.submit([cmdOf('CFGI_CD', { sid: m.vSid, ssid, leaf: leaf ? 1 : 0 })], true);
  }

  private writeCd(m: Master, ssid: number, target: Uint32Array): number {
    const ipa = this.cdIpa(m, ssid);
    this.writer.write(ipa, target, cdUsed, () => this.syncCd(m, ssid, true));
    return ipa;
  }

  /** arm_smmu_make_s1_cd. */
  private makeS1Cd(d: S1Domain, stall: boolean): Uint32Array {
    const info = this.probedInfo();
    const coherent = info.features.coherent;
    const g = d.pgtable.granuleShift;
    const cd = cdOf({
      t0sz: d.pgtable.t0sz,
      tg0: g === 12 ? 0 : g === 16 ? 1 : 2,
      ir0: coherent ? WBRA : 0,
      or0: coherent ? WBRA : 0,
      sh0: coherent ? SH_ISH : SH_OSH,
      epd1: 1,
      v: 1,
      ips: oasEncoding(info.ias),
      aa64: 1,
      s: stall ? 1 : 0,
      r: 1,
      a: 1,
      aset: 1,
      asid: d.asid,
      ttb0: d.pgtable.root,
      mair0: MAIR_LINUX,
    });
    const w = new Uint32Array(CD_WORDS);
    encodeCd(cd, w, 0);
    return w;
  }

  /** arm_smmu_make_cdtable_ste (S1DSS = SSID0, NS-EL1, no ATS). */
  private makeCdTableSte(m: Master): Uint32Array {
    const f = this.probedInfo().features;
    const t = m.cd;
    if (!t) throw new VsmmuError('EVSMMU_INVAL', 'no CD table');
    const stalls = f.stallModel === 0 || f.stallModel === 2; // ARM_SMMU_FEAT_STALLS
    const ste = steOf({
      v: 1, config: STE_CFG.S1, s1fmt: t.s1fmt, s1ContextPtr: t.ipa, s1cdmax: t.s1cdmax,
      s1dss: S1DSS_SSID0, s1cir: WBRA, s1cor: WBRA, s1csh: SH_ISH,
      s1stalld: stalls && !m.stall ? 1 : 0,
    });
    const w = new Uint32Array(STE_WORDS);
    encodeSte(ste, w, 0);
    return w;
  }

  // ---- domains -------------------------------------------------------------------------

  private newDomain(asid: number, granule: number): S1Domain {
    const info = this.probedInfo();
    const f = info.features;
    const ok = (g: number): boolean => (g === 4096 && f.gran4k) || (g === 16384 && f.gran16k) || (g === 65536 && f.gran64k);
    if (!ok(granule)) {
      throw new VsmmuError('EVSMMU_INVAL', `granule ${granule} is not supported by the SMMU (IDR5)`, { granule });
    }
    const maxAsid = f.asid16 ? 0xffff : 0xff;
    if (!(Number.isInteger(asid) && asid >= 1 && asid <= maxAsid)) {
      throw new VsmmuError('EVSMMU_INVAL', `ASID ${asid} is outside 1..${maxAsid}`, { asid });
    }
    const g = Math.log2(granule);
    const vaBits = f.vax !== 0 && g === 16 && info.ias >= 52 ? 52 : 48;
    const pgtable = new PageTable({
      stage: 1, granuleShift: g, ias: vaBits, oas: info.ias, mem: this.ram,
      alloc: (bytes, align) => {
        const ipa = this.galloc.alloc(bytes, align);
        if (ipa >= 0) this.ram.fill(ipa, bytes, 0);
        return ipa;
      },
    });
    const d: S1Domain = { asid, granule, pgtable, masters: new Set(), gathered: [] };
    this.domains.set(asid, d);
    return d;
  }

  /** The kernel page size if the SMMU has it, else the smallest granule it has (io-pgtable). */
  private defaultGranule(f: SmmuFeatures): number {
    const has = (g: number): boolean => (g === 4096 && f.gran4k) || (g === 16384 && f.gran16k) || (g === 65536 && f.gran64k);
    if (has(this.pageSize)) return this.pageSize;
    return [4096, 16384, 65536].find(has) ?? this.pageSize;
  }

  private freeAsid(): number {
    for (let a = 1; ; a++) if (!this.domains.has(a)) return a;
  }

  /** Attaches the master with virtual StreamID `dev.vSid` to a stage-1 domain (arm_smmu_attach_dev). */
  attach(dev: { readonly vSid: number }, opts: AttachOptions = {}): Attachment {
    const info = this.probedInfo();
    const f = info.features;
    if (!f.s1) throw new VsmmuError('EVSMMU_SMMU_UNSUPPORTED', 'the SMMU has no stage 1 (IDR0.S1P = 0)');
    const vSid = dev.vSid;
    this.steIpa(vSid); // checks the StreamID, allocates its level-2 table
    const ssidBits = opts.ssidBits ?? 0;
    if (!(Number.isInteger(ssidBits) && ssidBits >= 0 && ssidBits <= f.ssidBits)) {
      throw new VsmmuError('EVSMMU_INVAL', `ssidBits ${ssidBits} exceeds the SMMU's SSIDSIZE ${f.ssidBits}`, { ssidBits });
    }
    let m = this.masters.get(vSid);
    // Attached already and nothing else asked for: the current attachment.
    const cur = m?.domain;
    if (m && cur && (opts.asid === undefined || opts.asid === cur.asid) && (opts.granule === undefined || opts.granule === cur.granule) &&
      (opts.ssidBits === undefined || opts.ssidBits === m.cd?.s1cdmax)) {
      return this.attachmentOf(m, cur);
    }
    if (m && m.cd && m.cd.s1cdmax !== ssidBits) {
      // A CD table of another shape: go through abort, as a new master.
      if (m.domain) this.detach(vSid);
      m = undefined;
    }
    if (!m) {
      m = { vSid, stall: (opts.stall ?? false) || f.stallModel === 2, cd: null, domain: null, pasids: new Map() };
      this.masters.set(vSid, m);
    }
    const asid = opts.asid ?? this.freeAsid();
    const granule = opts.granule ?? this.defaultGranule(f);
    let d = this.domains.get(asid);
    if (d && d.granule !== granule) {
      throw new VsmmuError('EVSMMU_INVAL', `ASID ${asid} is a domain with granule ${d.granule}, not ${granule}`, { asid });
    }
    d ??= this.newDomain(asid, granule);
    m.cd ??= this.allocCdTable(ssidBits);
    // Moving between domains rewrites CD 0 in place (a breaking update); the STE already
    // points at the CD table and does not change.
    this.writeCd(m, 0, this.makeS1Cd(d, m.stall));
    this.writeSte(vSid, this.makeCdTableSte(m));
    const old = m.domain;
    m.domain = d;
    d.masters.add(`${vSid}`);
    if (old && old !== d) this.release(old, `${vSid}`);
    return this.attachmentOf(m, d);
  }

  private attachmentOf(m: Master, d: S1Domain): Attachment {
    const cd = m.cd;
    if (!cd) throw new VsmmuError('EVSMMU_INVAL', 'no CD table');
    return {
      vSid: m.vSid, asid: d.asid, granule: d.granule, steIpa: this.steIpa(m.vSid), cdTableIpa: cd.ipa,
      cdIpa: this.cdIpa(m, 0), ttb0: d.pgtable.root,
    };
  }

  /** A user leaves `d`; the last one out frees it. */
  private release(d: S1Domain, user: string): void {
    d.masters.delete(user);
    if (d.masters.size === 0) this.freeDomain(d);
  }

  /** The domain's last master left: flush its ASID (TLBI_NH_ASID + SYNC), free its tables. */
  private freeDomain(d: S1Domain): void {
    this.submit([cmdOf('TLBI_NH_ASID', { asid: d.asid })], true);
    d.pgtable.destroy((ipa) => this.galloc.free(ipa));
    this.domains.delete(d.asid);
  }

  /**
   * Back to an abort STE, clear CD 0 and the PASID CDs; the last master out frees a domain
   * (TLBI_NH_ASID + SYNC).
   */
  detach(vSid: number): void {
    const m = this.masters.get(vSid);
    if (!m || !m.domain) throw new VsmmuError('EVSMMU_NODEV', `StreamID ${vSid} is not attached`, { vSid });
    const abort = new Uint32Array(STE_WORDS);
    abort[0] = 1;
    this.writeSte(vSid, abort);
    for (const ssid of [...m.pasids.keys()]) this.detachPasid(vSid, ssid);
    this.writeCd(m, 0, new Uint32Array(CD_WORDS));
    const d = m.domain;
    m.domain = null;
    this.release(d, `${vSid}`);
  }

  /**
   * Attaches SubstreamID `ssid` (a PASID, >= 1) of an attached master to a stage-1 domain
   * (arm_smmu_set_pasid): writes CD[ssid] and invalidates it. Needs a CD table (attach with
   * ssidBits > 0).
   */
  attachPasid(vSid: number, ssid: number, opts: { readonly asid?: number; readonly granule?: number } = {}): Attachment {
    const m = this.masters.get(vSid);
    if (!m || !m.domain || !m.cd) throw new VsmmuError('EVSMMU_NODEV', `StreamID ${vSid} is not attached`, { vSid });
    const max = 2 ** m.cd.s1cdmax;
    if (!(Number.isInteger(ssid) && ssid >= 1 && ssid < max)) {
      throw new VsmmuError('EVSMMU_INVAL', `SubstreamID ${ssid} is outside 1..${max - 1} (attached with ssidBits ${m.cd.s1cdmax})`, { ssid });
    }
    const f = this.probedInfo().features;
    const cur = m.pasids.get(ssid);
    if (cur && (opts.asid === undefined || opts.asid === cur.asid)) return { ...this.attachmentOf(m, cur), cdIpa: this.cdIpa(m, ssid) };
    const asid = opts.asid ?? this.freeAsid();
    const granule = opts.granule ?? this.defaultGranule(f);
    let d = this.domains.get(asid);
    if (d && d.granule !== granule) throw new VsmmuError('EVSMMU_INVAL', `ASID ${asid} is a domain with granule ${d.granule}, not ${granule}`, { asid });
    d ??= this.newDomain(asid, granule);
    const cdIpa = this.writeCd(m, ssid, this.makeS1Cd(d, m.stall));
    m.pasids.set(ssid, d);
    d.masters.add(`${vSid}/${ssid}`);
    if (cur) this.release(cur, `${vSid}/${ssid}`);
    return { ...this.attachmentOf(m, d), cdIpa };
  }

  /** Clears CD[ssid] (arm_smmu_clear_cd); the last user frees the domain. */
  detachPasid(vSid: number, ssid: number): void {
    const m = this.masters.get(vSid);
    const d = m?.pasids.get(ssid);
    if (!m || !d) throw new VsmmuError('EVSMMU_NODEV', `SubstreamID ${ssid} of StreamID ${vSid} is not attached`, { vSid, ssid });
    this.writeCd(m, ssid, new Uint32Array(CD_WORDS));
    m.pasids.delete(ssid);
    this.release(d, `${vSid}/${ssid}`);
  }

  attachment(vSid: number): { asid: number; granule: number } | null {
    const d = this.masters.get(vSid)?.domain;
    return d ? { asid: d.asid, granule: d.granule } : null;
  }

  /** The domain behind (vSid, ssid): CD 0's domain for ssid 0 / absent, else the PASID's. */
  private domainOf(vSid: number, ssid = 0): S1Domain {
    const m = this.masters.get(vSid);
    const d = ssid === 0 ? m?.domain : m?.pasids.get(ssid);
    if (!d) throw new VsmmuError('EVSMMU_NODEV', `StreamID ${vSid}${ssid ? ` SubstreamID ${ssid}` : ''} is not attached`, { vSid, ssid });
    return d;
  }

  // ---- io-pgtable ----------------------------------------------------------------------

  /** iommu_map on the device's domain (no invalidation: nothing invalid is cached). */
  map(vSid: number, iova: number, ipa: number, length: number, prot: number, ssid = 0): void {
    this.domainOf(vSid, ssid).pgtable.map(iova, ipa, length, prot);
  }

  /**
   * iommu_unmap: clears the leaves, then the TLB invalidation Linux issues for what was
   * unmapped (grouped by leaf size, as the io-pgtable gather) + CMD_SYNC. With `sync` false
   * (iommu_unmap_fast) the invalidations are only gathered: until `iotlbSync`, the SMMU may
   * still use cached translations of the unmapped range. Returns bytes unmapped.
   */
  unmap(vSid: number, iova: number, length: number, ssid = 0, sync = true): number {
    const d = this.domainOf(vSid, ssid);
    const groups = this.leafGroups(d.pgtable, iova, length);
    const n = d.pgtable.unmap(iova, length);
    const ril = this.probedInfo().features.ril;
    for (const gr of groups) {
      d.gathered.push(...tlbiRangeCommands({
        asid: d.asid, iova: gr.start, size: gr.size, granule: gr.leaf, pageShift: d.pgtable.granuleShift, leaf: true, ril,
      }));
    }
    if (sync) this.syncDomain(d);
    return n;
  }

  /** iommu_iotlb_sync: issues the gathered invalidations of the domain + CMD_SYNC. */
  iotlbSync(vSid: number, ssid = 0): number {
    return this.syncDomain(this.domainOf(vSid, ssid));
  }

  /**
   * Invalidates the whole domain instead of what was gathered (Linux's flush queue,
   * arm_smmu_tlb_inv_context): TLBI_NH_ASID + CMD_SYNC; the gathered ranges are dropped.
   */
  flushAsid(vSid: number, ssid = 0): void {
    const d = this.domainOf(vSid, ssid);
    d.gathered.length = 0;
    this.counters.tlbiCommands++;
    this.submit([cmdOf('TLBI_NH_ASID', { asid: d.asid })], true);
  }

  private syncDomain(d: S1Domain): number {
    const cmds = d.gathered.splice(0);
    if (cmds.length > 0) {
      this.counters.tlbiCommands += cmds.length;
      this.submit(cmds, true);
    }
    return cmds.length;
  }

  /** Software lookup in the device's stage-1 table: IPA of `iova`, or -1. */
  iovaToIpa(vSid: number, iova: number, ssid = 0): number {
    return this.domainOf(vSid, ssid).pgtable.translate(iova);
  }

  /**
   * The mapped parts of [iova, iova + length) as runs of equal leaf size (the io-pgtable
   * gather flushes when the page size changes), read from the descriptors.
   */
  private leafGroups(pt: PageTable, iova: number, length: number): { start: number; size: number; leaf: number }[] {
    const out: { start: number; size: number; leaf: number }[] = [];
    const g = pt.granuleShift;
    const end = iova + length;
    let v = iova;
    while (v < end) {
      let table = pt.root;
      let bits = pt.ias - levelShift(g, pt.startLevel);
      let leaf = 0;
      let span = 0;
      for (let level = pt.startLevel; level <= 3; level++) {
        const shift = levelShift(g, level);
        const idx = Math.floor(v / 2 ** shift) % 2 ** bits;
        const lo = this.ram.load64(table + idx * 8);
        const hi = this.ram.hi;
        span = 2 ** shift;
        if (lo === -1 || (lo & 1) === 0) break;
        if (level < 3 && (lo & 2) !== 0) {
          table = (hi & 0xffff) * 4294967296 + ((lo >>> 0) - ((lo >>> 0) % 2 ** g));
          bits = g - 3;
          continue;
        }
        leaf = span;
        break;
      }
      const next = Math.min(end, v - (v % span) + span);
      if (leaf !== 0) {
        const last = out[out.length - 1];
        if (last && last.leaf === leaf && last.start + last.size === v) last.size += next - v;
        else out.push({ start: v, size: next - v, leaf });
      }
      v = next;
    }
    return out;
  }
}
