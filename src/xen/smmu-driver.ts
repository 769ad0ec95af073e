// Xen's driver of the physical SMMUv3: probe through the ID registers, stream table and
// queues in Xen's memory, reset and enable in Linux's order (FACTS §8.1), the SID -> device
// map, STE updates that the hardware never sees half-done, command submission with
// CMD_SYNC tickets, stage-2 invalidation, and the event queue consumer.
//
// It programs the SMMU only through 32-bit register accesses (`DriverMmio`, which the
// physical SMMU's SmmuRegisterPort implements) and plain memory writes; completion is
// observed by reading registers, as on hardware. It never waits by itself: a guest's STE
// install is a job of steps, each ended by CFGI_STE + CMD_SYNC, that `advanceSteWrites`
// moves on once the previous step's SYNC completed (a ticket); control-plane work that
// must finish before it returns waits through `DriverMmio.poll32`, the runner's wait.
// Every physical CMD_SYNC signals completion with the wired CMD_SYNC interrupt (CS =
// SIG_IRQ), which rings Xen's doorbell.

import { CFGI_RANGE_ALL, CMD_WORDS, SYNC_CS, cmdOf, encodeCommand, type Command } from '../arch/commands.ts';
import { EVT_WORDS } from '../arch/events.ts';
import { decodeIdRegs, type SmmuFeatures } from '../arch/features.ts';
import { CONS_ERR_MASK, PROD_OVFLG, Q_PTR_MASK, qCount, qEmpty, qIdx, qInc, qSpace } from '../arch/queue.ts';
import { CR0, CR2, GBPA, GERROR, IRQ_CTRL, R } from '../arch/registers.ts';
import { planEntryUpdate, steUsed, type EntryStore } from '../arch/entry-update.ts';
import { STE_WORDS, encodeL1Std } from '../arch/ste.ts';
import type { PageAllocator } from '../mem/alloc.ts';
import type { PhysMemory } from '../mem/phys.ts';
import { VsmmuError } from '../errors.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';
import { traceIssue } from './trace.ts';

/** Register access to the physical SMMU (SmmuRegisterPort implements it). */
export interface DriverMmio {
  read32(off: number): number;
  write32(off: number, value: number): void;
  /** Polls the register at `off` until `done(value)`; the value, or undefined on timeout. */
  poll32(off: number, done: (v: number) => boolean, timeoutMs?: number): number | undefined;
}

export interface SmmuDriverOptions {
  readonly mmio: DriverMmio;
  readonly mem: PhysMemory;
  /** Xen's page allocator (stream table, queues). */
  readonly alloc: PageAllocator;
  /** Bound of every wait for the hardware (default 2000 ms). */
  readonly timeoutMs?: number;
  /** Largest queues Xen allocates (log2 entries; default 8). */
  readonly cmdqLog2?: number;
  readonly evtqLog2?: number;
}

export interface DriverStats {
  commands: number;
  syncs: number;
  steWrites: number;
  /** STE updates done in one 64-bit store (hitless). */
  hitless: number;
  /** STE updates that went through abort (break-before-make). */
  viaAbort: number;
  events: number;
  eventOverflows: number;
  /** Physical command errors recovered (CERROR_ILL/ABT on Xen's own queue). */
  cmdErrors: number;
  gerrors: number;
  timeouts: number;
  /** Physical command queues recovered after a CMD_SYNC that never completed. */
  queueRecoveries: number;
}

/** One assigned stream: its device and its io_domain (what the STE currently encodes). */
export interface StreamEntry {
  readonly sid: number;
  readonly domid: number;
  readonly vmid: number;
  /** 'abort' | 'invalid' | 's2' | 'nested' | 'bypass' (unassigned streams are abort). */
  stage: string;
}

/** CR2: RECINVSID | PTM (Linux). */
const CR2_VALUE = CR2.RECINVSID | CR2.PTM;
/** 2-level stream tables: 256 STEs per L2 table (Linux's split). */
const SPLIT = 8;
const ABORT_STE = (() => {
  const w = new Uint32Array(STE_WORDS);
  w[0] = 1; // V, Config abort
  return w;
})();

/**
 * How an STE is replaced: Linux's used-bits method (hitless where it can be), or the order
 * of the series' arm_smmu_write_strtab_ent (reference §3.3): a live STE to abort first, then
 * dwords 1..7, then dword 0, each step followed by CFGI_STE + CMD_SYNC.
 */
export type SteOrder = 'linux' | 'rfc';

/** One STE replacement in flight: its plan (made when it reaches the head of its SID's
 *  queue), the next step, and the ticket of the last step's SYNC (-1 before the first). */
interface SteJob {
  readonly sid: number;
  readonly next: Uint32Array;
  readonly order: SteOrder;
  readonly seq: number;
  steps: readonly (readonly EntryStore[])[] | null;
  step: number;
  ticket: number;
}

export class SmmuDriver {
  readonly stats: DriverStats = {
    commands: 0, syncs: 0, steWrites: 0, hitless: 0, viaAbort: 0, events: 0, eventOverflows: 0,
    cmdErrors: 0, gerrors: 0, timeouts: 0, queueRecoveries: 0,
  };
  features!: SmmuFeatures;
  private readonly io: DriverMmio;
  private readonly mem: PhysMemory;
  private readonly alloc: PageAllocator;
  private readonly timeoutMs: number;
  private readonly wantCmdq: number;
  private readonly wantEvtq: number;
  private twoLevel = false;
  private strtab = -1;
  private strtabLog2 = 0;
  private readonly l2 = new Map<number, number>();
  private cmdq = -1;
  private cmdqLog2 = 0;
  private evtq = -1;
  private evtqLog2 = 0;
  /** Software PROD of the command queue and the totals issued/consumed (tickets). */
  private prod = 0;
  private cons = 0;
  private issued = 0;
  private consumed = 0;
  private evtCons = 0;
  /** Streams by SID, sorted (binary search). */
  private readonly streams: StreamEntry[] = [];
  private readonly scratch = new Uint32Array(CMD_WORDS);
  private readonly steOld = new Uint32Array(STE_WORDS);
  /** STE writes by SID, in order (the head is in flight), and the last sequence number. */
  private readonly steJobs = new Map<number, SteJob[]>();
  private steSeq = 0;
  private readonly evtWords = new Uint32Array(EVT_WORDS);
  /** Every structure given to the SMMU (for the alignment and leak checks). */
  private readonly given: { what: string; pa: number; bytes: number }[] = [];
  /** Trace points: each command queued (a flow the SMMU ends when it executes it). */
  tr: Tracer = NO_TRACE;

  constructor(o: SmmuDriverOptions) {
    this.io = o.mmio;
    this.mem = o.mem;
    this.alloc = o.alloc;
    this.timeoutMs = o.timeoutMs ?? 2000;
    this.wantCmdq = o.cmdqLog2 ?? 8;
    this.wantEvtq = o.evtqLog2 ?? 8;
  }

  // ---- probe and reset --------------------------------------------------------------------

  /** Reads the ID registers; throws EVSMMU_SMMU_PROBE if the SMMU cannot do what Xen needs. */
  probe(): SmmuFeatures {
    const io = this.io;
    const f = decodeIdRegs({
      idr0: io.read32(R.IDR0), idr1: io.read32(R.IDR1), idr2: io.read32(R.IDR2), idr3: io.read32(R.IDR3),
      idr4: io.read32(R.IDR4), idr5: io.read32(R.IDR5), iidr: io.read32(R.IIDR), aidr: io.read32(R.AIDR),
    });
    const why: string[] = [];
    if (!f.s2) why.push('no stage 2 (IDR0.S2P)');
    if ((f.ttf & 2) === 0) why.push('no AArch64 tables (IDR0.TTF)');
    if (f.rel || f.queuesPreset || f.tablesPreset) why.push('preset/relative tables or queues');
    if (f.cmdqLog2 < 2) why.push('command queue too small');
    if (!f.gran4k) why.push('no 4K granule');
    if (why.length > 0) throw new VsmmuError('EVSMMU_SMMU_PROBE', `physical SMMU unusable: ${why.join(', ')}`, { why });
    this.features = f;
    return f;
  }

  /** Whether nested translation (a vSMMU for guests) is possible: S1P and S2P. */
  get nesting(): boolean {
    return this.features.s1 && this.features.s2;
  }

  /** Allocates the stream table and queues and enables the SMMU (Linux's reset order). */
  reset(): void {
    const f = this.features ?? this.probe();
    const io = this.io;
    if ((io.read32(R.CR0) & CR0.SMMUEN) !== 0) {
      // Already enabled: abort incoming traffic while we reprogram (Linux).
      io.write32(R.GBPA, GBPA.UPDATE | GBPA.ABORT | (io.read32(R.GBPA) & 0x001f_3f1f));
      this.pollReg(R.GBPA, (v) => (v & GBPA.UPDATE) === 0, 'GBPA update');
    }
    this.setCr0(0);
    io.write32(R.CR1, f.coherent ? 0xd75 : 0x0); // tables and queues: WB/ISH if coherent
    io.write32(R.CR2, CR2_VALUE);
    this.allocStrtab(f);
    this.write64(R.STRTAB_BASE, this.strtab, 1 << 30); // RA
    this.io.write32(R.STRTAB_BASE_CFG, this.twoLevel ? (1 << 16) | (SPLIT << 6) | this.strtabLog2 : this.strtabLog2);
    this.cmdqLog2 = Math.min(this.wantCmdq, f.cmdqLog2);
    this.cmdq = this.allocStructure('command queue', 16 * 2 ** this.cmdqLog2);
    this.write64(R.CMDQ_BASE, this.cmdq + this.cmdqLog2, 1 << 30);
    io.write32(R.CMDQ_PROD, 0);
    io.write32(R.CMDQ_CONS, 0);
    this.prod = this.cons = this.issued = this.consumed = 0;
    this.setCr0(CR0.CMDQEN);
    this.issue(cmdOf('CFGI_STE_RANGE', { range: CFGI_RANGE_ALL }));
    this.waitSync(this.sync());
    if (f.hyp) this.issue(cmdOf('TLBI_EL2_ALL'));
    this.issue(cmdOf('TLBI_NSNH_ALL'));
    this.waitSync(this.sync());
    this.evtqLog2 = Math.min(this.wantEvtq, f.evtqLog2);
    this.evtq = this.allocStructure('event queue', 32 * 2 ** this.evtqLog2);
    this.write64(R.EVENTQ_BASE, this.evtq + this.evtqLog2, 1 << 30);
    io.write32(R.EVENTQ_PROD, 0);
    io.write32(R.EVENTQ_CONS, 0);
    this.evtCons = 0;
    this.setCr0(CR0.CMDQEN | CR0.EVENTQEN);
    io.write32(R.IRQ_CTRL, 0);
    this.pollReg(R.IRQ_CTRLACK, (v) => v === 0, 'IRQ_CTRLACK');
    this.write64(R.GERROR_IRQ_CFG0, 0, 0);
    this.write64(R.EVENTQ_IRQ_CFG0, 0, 0);
    const irqs = IRQ_CTRL.GERROR_IRQEN | IRQ_CTRL.EVENTQ_IRQEN; // wired interrupts
    io.write32(R.IRQ_CTRL, irqs);
    this.pollReg(R.IRQ_CTRLACK, (v) => v === irqs, 'IRQ_CTRLACK');
    this.setCr0(CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
  }

  /** Disables translation (CR0 = 0); the stream table and queues stay allocated. */
  disable(): void {
    this.setCr0(0);
  }

  private setCr0(v: number): void {
    this.io.write32(R.CR0, v);
    this.pollReg(R.CR0ACK, (a) => a === v, 'CR0ACK');
  }

  private allocStrtab(f: SmmuFeatures): void {
    this.strtabLog2 = f.sidBits;
    this.twoLevel = f.stLevel2 && f.sidBits > SPLIT;
    const bytes = this.twoLevel ? 8 * 2 ** (f.sidBits - SPLIT) : 64 * 2 ** f.sidBits;
    this.strtab = this.allocStructure(this.twoLevel ? 'L1 stream table' : 'stream table', bytes);
    // Every STE starts as V = 0: traffic from an unknown stream is C_BAD_STE (or abort).
  }

  /**
   * Zeroed memory for a structure the SMMU reads or writes. The architecture treats the low
   * address bits of every queue and table base as zero up to the structure's size (queues:
   * their size, at least 32 bytes; linear stream tables and L1 tables: their size, at least
   * 64; L2 tables: their size), so each is allocated aligned to its size. A misaligned base
   * would make the SMMU write event records over a neighbour (e.g. Xen's command queue).
   */
  private allocStructure(what: string, bytes: number): number {
    const pa = this.allocZeroed(bytes, Math.max(4096, bytes));
    assertAligned(what, pa, bytes);
    this.given.push({ what, pa, bytes });
    return pa;
  }

  private allocZeroed(bytes: number, align = 4096): number {
    const pa = this.alloc.alloc(bytes, align);
    if (pa < 0) throw new VsmmuError('EVSMMU_NOMEM', `Xen is out of memory for SMMU structures (${bytes} bytes)`);
    if (!this.alloc.lastFresh) this.mem.fill(pa, Math.ceil(bytes / 4096) * 4096, 0);
    return pa;
  }

  private write64(off: number, value: number, hiBits: number): void {
    this.io.write32(off, value % 4294967296);
    this.io.write32(off + 4, (Math.floor(value / 4294967296) | hiBits) >>> 0);
  }

  private pollReg(off: number, done: (v: number) => boolean, what: string): number {
    const v = this.io.poll32(off, done, this.timeoutMs);
    if (v === undefined) {
      this.stats.timeouts++;
      throw new VsmmuError('EVSMMU_SMMU_TIMEOUT', `physical SMMU did not acknowledge ${what} within ${this.timeoutMs} ms`, { what });
    }
    return v;
  }

  // ---- streams ----------------------------------------------------------------------------

  /** The stream entry of `sid`, or undefined (binary search over the sorted SID map). */
  stream(sid: number): StreamEntry | undefined {
    const s = this.streams;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = s[mid] as StreamEntry;
      if (e.sid === sid) return e;
      if (e.sid < sid) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  get streamCount(): number {
    return this.streams.length;
  }

  /** Records `sid` as a device of `domid` (with its VMID) and makes its STE addressable. */
  addStream(sid: number, domid: number, vmid: number): StreamEntry {
    if (!(Number.isInteger(sid) && sid >= 0 && sid < 2 ** this.features.sidBits)) {
      throw new VsmmuError('EVSMMU_SID', `StreamID ${sid} is outside the SMMU's ${this.features.sidBits}-bit range`, { sid });
    }
    if (this.stream(sid)) throw new VsmmuError('EVSMMU_BUSY', `StreamID ${sid} is already assigned`, { sid });
    this.steAddr(sid, true);
    const e: StreamEntry = { sid, domid, vmid, stage: 'abort' };
    let i = 0;
    while (i < this.streams.length && (this.streams[i] as StreamEntry).sid < sid) i++;
    this.streams.splice(i, 0, e);
    return e;
  }

  /** Puts `sid` to abort (CFGI_STE + SYNC done) and forgets it. */
  removeStream(sid: number): void {
    const i = this.streams.findIndex((e) => e.sid === sid);
    if (i < 0) return;
    this.writeSte(sid, ABORT_STE);
    this.streams.splice(i, 1);
  }

  /** PA of the STE of `sid` (allocating its L2 table when asked), or -1. */
  steAddr(sid: number, create = false): number {
    if (!this.twoLevel) return this.strtab + sid * 64;
    const i = Math.floor(sid / 2 ** SPLIT);
    let l2 = this.l2.get(i);
    if (l2 === undefined) {
      if (!create) return -1;
      l2 = this.allocStructure('L2 stream table', 64 * 2 ** SPLIT);
      this.l2.set(i, l2);
      const [lo, hi] = encodeL1Std({ span: SPLIT + 1, l2ptr: l2 });
      this.mem.store64(this.strtab + i * 8, lo, hi);
      // The L1 descriptor changed: invalidate with Leaf = 0 (also L1STD) and wait.
      this.issue(cmdOf('CFGI_STE', { sid, leaf: 0 }));
      this.waitSync(this.sync());
    }
    return l2 + (sid % 2 ** SPLIT) * 64;
  }

  /** The STE of `sid` as the hardware would read it now (16 words). */
  readSte(sid: number, out = new Uint32Array(STE_WORDS)): Uint32Array {
    const at = this.steAddr(sid);
    if (at < 0) {
      out.fill(0);
      return out;
    }
    for (let i = 0; i < 8; i++) {
      out[2 * i] = Math.max(0, this.mem.load64(at + 8 * i));
      out[2 * i + 1] = this.mem.hi;
    }
    return out;
  }

  /**
   * Replaces the STE of `sid` so that the hardware never uses a mix of old and new fields
   * (see beginSteWrite), and waits until the hardware has it (control plane).
   */
  writeSte(sid: number, next: Uint32Array): void {
    this.finishSteWrites(this.beginSteWrite(sid, next));
  }

  /** Waits until STE write `seq` (default: every one begun) and those before it are done. */
  finishSteWrites(seq = this.steSeq): void {
    while (!this.steWritten(seq)) {
      this.advanceSteWrites();
      if (!this.steWritten(seq)) this.waitSync(this.issued);
    }
  }

  /**
   * Starts replacing the STE of `sid` by `next`, after any earlier write of that STE; returns
   * the write's sequence number (see steWritten). The plan is Linux's used-bits method
   * (arch/entry-update.ts, the guest driver's too): hitless when one qword's used bits
   * change, otherwise V = 0 first. Each step is followed by CFGI_STE + CMD_SYNC, and the
   * next step starts only once that SYNC completed (advanceSteWrites).
   */
  beginSteWrite(sid: number, next: Uint32Array, order: SteOrder = 'linux'): number {
    this.steAddr(sid, true);
    const job: SteJob = { sid, next: Uint32Array.from(next), order, seq: ++this.steSeq, steps: null, step: 0, ticket: -1 };
    const q = this.steJobs.get(sid);
    if (q) q.push(job);
    else this.steJobs.set(sid, [job]);
    // As far as it goes without waiting: hardware that already completed a step's SYNC
    // lets the next one start now (at most the 3 steps of a plan, plus its retirement).
    for (let k = 0; k < 4 && this.advanceJob(job); k++);
    return job.seq;
  }

  /** Whether STE write `seq` and every write begun before it are done. */
  steWritten(seq: number): boolean {
    for (const q of this.steJobs.values()) if ((q[0] as SteJob).seq <= seq) return false;
    return true;
  }

  /** Sequence number of the last STE write begun (a fence for steWritten). */
  get steFence(): number {
    return this.steSeq;
  }

  /** Whether some STE write can take its next step now (its last SYNC completed). */
  steWritesReady(): boolean {
    for (const q of this.steJobs.values()) {
      const j = q[0] as SteJob;
      if (j.ticket < 0 || this.syncDone(j.ticket)) return true;
    }
    return false;
  }

  /** Moves every STE write whose last SYNC completed to its next step; steps taken. */
  advanceSteWrites(): number {
    let n = 0;
    for (const q of [...this.steJobs.values()]) if (this.advanceJob(q[0] as SteJob)) n++;
    return n;
  }

  /** One step of `job` if it is at the head of its SID's queue and its SYNC completed. */
  private advanceJob(job: SteJob): boolean {
    const q = this.steJobs.get(job.sid);
    if (q === undefined || q[0] !== job) return false;
    if (job.ticket >= 0 && !this.syncDone(job.ticket)) return false;
    job.steps ??= job.order === 'rfc' ? this.planSteRfc(job.sid, job.next) : this.planSte(job.sid, job.next);
    if (job.step >= job.steps.length) {
      q.shift();
      if (q.length === 0) this.steJobs.delete(job.sid);
      else this.advanceJob(q[0] as SteJob);
      return true;
    }
    const at = this.steAddr(job.sid);
    for (const st of job.steps[job.step++] as readonly EntryStore[]) this.mem.store64(at + 8 * st.qword, st.lo, st.hi);
    this.issue(cmdOf('CFGI_STE', { sid: job.sid, leaf: 1 }));
    job.ticket = this.sync();
    return true;
  }

  /** The series' order (see SteOrder); nothing when the STE does not change. */
  private planSteRfc(sid: number, next: Uint32Array): readonly (readonly EntryStore[])[] {
    const old = this.readSte(sid, this.steOld);
    if (old.every((w, i) => w === (next[i] ?? 0))) return [];
    const w0 = old[0] ?? 0;
    const config = (w0 >>> 1) & 7;
    const steps: EntryStore[][] = [];
    // ste_live: a valid STE that translates (stage 1, stage 2 or both).
    if ((w0 & 1) !== 0 && config >= 5) steps.push([{ qword: 0, lo: 1, hi: 0 }]);
    const rest: EntryStore[] = [];
    for (let q = 1; q < STE_WORDS / 2; q++) rest.push({ qword: q, lo: next[2 * q] ?? 0, hi: next[2 * q + 1] ?? 0 });
    steps.push(rest, [{ qword: 0, lo: next[0] ?? 0, hi: next[1] ?? 0 }]);
    this.stats.steWrites++;
    if (steps.length === 3) this.stats.viaAbort++;
    return steps;
  }

  /** The steps that replace the current STE of `sid` by `next` (Linux's used-bits method). */
  private planSte(sid: number, next: Uint32Array): readonly (readonly EntryStore[])[] {
    const plan = planEntryUpdate(this.readSte(sid, this.steOld), next, steUsed);
    if (plan.steps.length === 0) return plan.steps;
    this.stats.steWrites++;
    if (plan.kind === 'hitless') this.stats.hitless++;
    else if (plan.kind === 'breaking') this.stats.viaAbort++;
    return plan.steps;
  }

  // ---- command queue ----------------------------------------------------------------------

  /** Queues one command (decoded form) and rings the doorbell. */
  issue(cmd: Command): void {
    encodeCommand(cmd, this.scratch);
    this.issueRaw(this.scratch);
  }

  /** Queues 4 raw words (waiting for space if the queue is full) and rings the doorbell. */
  issueRaw(words: ArrayLike<number>): void {
    const log2 = this.cmdqLog2;
    while (qSpace(this.prod, this.cons, log2) === 0) {
      this.readCons();
      if (qSpace(this.prod, this.cons, log2) > 0) break;
      // poll32 gives up after the timeout: the hardware stopped consuming.
      if (this.io.poll32(R.CMDQ_CONS, (v) => (v & Q_PTR_MASK) !== this.cons, this.timeoutMs) === undefined) {
        this.stats.timeouts++;
        throw new VsmmuError('EVSMMU_SMMU_TIMEOUT', 'physical command queue stayed full');
      }
    }
    const at = this.cmdq + qIdx(this.prod, log2) * 16;
    const t0 = this.tr.enabled ? this.tr.stamp() : 0;
    this.mem.store64(at, words[0] ?? 0, words[1] ?? 0);
    this.mem.store64(at + 8, words[2] ?? 0, words[3] ?? 0);
    if (this.tr.enabled) traceIssue(this.tr, t0, words, this.prod);
    this.prod = qInc(this.prod, log2);
    this.issued++;
    this.stats.commands++;
    this.io.write32(R.CMDQ_PROD, this.prod);
  }

  /** Queues a CMD_SYNC; the ticket is complete once CONS has passed it. */
  sync(): number {
    this.stats.syncs++;
    this.issue(cmdOf('SYNC', { cs: SYNC_CS.SIG_IRQ }));
    return this.issued;
  }

  /** Whether the commands up to `ticket` have been consumed (non-blocking). */
  syncDone(ticket: number): boolean {
    if (this.consumed >= ticket) return true;
    this.readCons();
    return this.consumed >= ticket;
  }

  /** Blocks until `ticket` completes; throws EVSMMU_SMMU_TIMEOUT. */
  waitSync(ticket: number): void {
    while (!this.syncDone(ticket)) {
      const seen = this.cons;
      // Each wait is for CONS to move at all; poll32 gives up after the timeout.
      if (this.io.poll32(R.CMDQ_CONS, (v) => (v & Q_PTR_MASK) !== seen || (v & CONS_ERR_MASK) !== 0, this.timeoutMs) === undefined && !this.syncDone(ticket)) {
        this.stats.timeouts++;
        throw new VsmmuError('EVSMMU_SMMU_TIMEOUT', `physical CMD_SYNC not completed within ${this.timeoutMs} ms`, { ticket });
      }
    }
  }

  /** Reads CONS, advancing the consumed total; recovers from a command error (Linux's way). */
  private readCons(): void {
    const v = this.io.read32(R.CMDQ_CONS);
    const log2 = this.cmdqLog2;
    const now = v & Q_PTR_MASK;
    this.consumed += qCount(now, this.cons, log2);
    this.cons = now;
    const gerror = this.io.read32(R.GERROR);
    const gerrorn = this.io.read32(R.GERRORN);
    if (((gerror ^ gerrorn) & GERROR.CMDQ_ERR) !== 0) {
      // The bad command is at CONS: replace it by a SYNC and acknowledge (skip-err flow).
      this.stats.cmdErrors++;
      const at = this.cmdq + qIdx(now, log2) * 16;
      encodeCommand(cmdOf('SYNC', { cs: SYNC_CS.SIG_SEV }), this.scratch);
      this.mem.store64(at, this.scratch[0] ?? 0, this.scratch[1] ?? 0);
      this.mem.store64(at + 8, this.scratch[2] ?? 0, this.scratch[3] ?? 0);
      this.io.write32(R.GERRORN, (gerrorn ^ GERROR.CMDQ_ERR) >>> 0);
    }
  }

  /** Commands issued and not yet seen consumed (the physical queue's backlog). */
  get backlog(): number {
    return this.issued - this.consumed;
  }

  /**
   * The command queue stopped consuming (a CMD_SYNC that never completed): disables it,
   * skips what it holds (CONS := PROD while disabled), re-enables it, and replaces the
   * skipped commands by a global invalidation (CFGI_ALL, TLBI_NSNH_ALL, and TLBI_EL2_ALL with
   * a hypervisor stage) whose SYNC is waited for. Over-invalidating is always safe; each
   * skipped ticket counts as complete once that SYNC is. Returns false if the hardware does
   * not complete the recovery either (its errors are counted, never thrown).
   */
  recoverCommandQueue(): boolean {
    this.stats.queueRecoveries++;
    try {
      this.readCons();
      const cr0 = this.io.read32(R.CR0ACK);
      this.setCr0(cr0 & ~CR0.CMDQEN);
      this.consumed += qCount(this.prod, this.cons, this.cmdqLog2);
      this.io.write32(R.CMDQ_CONS, this.prod);
      this.cons = this.prod;
      this.setCr0(cr0 | CR0.CMDQEN);
      this.issue(cmdOf('CFGI_STE_RANGE', { range: CFGI_RANGE_ALL }));
      if (this.features.hyp) this.issue(cmdOf('TLBI_EL2_ALL'));
      this.issue(cmdOf('TLBI_NSNH_ALL'));
      this.waitSync(this.sync());
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Invalidates the domain's stage-2 translations after a p2m change, and its nested
   * (combined S1+S2) entries with NH_ALL (peers.md §3.4), then waits for the SYNC.
   */
  invalidateVmid(vmid: number, nested: boolean): void {
    this.issue(cmdOf('TLBI_S12_VMALL', { vmid }));
    if (nested) this.issue(cmdOf('TLBI_NH_ALL', { vmid }));
    this.waitSync(this.sync());
  }

  /** Invalidates stage-2 entries of [ipa, ipa + size) page by page (TLBI_S2_IPA). */
  invalidateIpa(vmid: number, ipa: number, size: number, nested: boolean): void {
    const pages = Math.ceil(size / 4096);
    if (pages > 64) {
      this.invalidateVmid(vmid, nested);
      return;
    }
    for (let i = 0; i < pages; i++) this.issue(cmdOf('TLBI_S2_IPA', { vmid, addr: ipa + i * 4096, leaf: 1 }));
    if (nested) this.issue(cmdOf('TLBI_NH_ALL', { vmid }));
    this.waitSync(this.sync());
  }

  // ---- event queue ------------------------------------------------------------------------

  /**
   * Consumes up to `max` physical event records, handing each (8 words) and its stream entry
   * (undefined for an unknown SID) to `handle`. Returns the number consumed.
   */
  drainEvents(handle: (words: Uint32Array, stream: StreamEntry | undefined) => void, max = 64): number {
    const io = this.io;
    const log2 = this.evtqLog2;
    const prod = io.read32(R.EVENTQ_PROD);
    const words = this.evtWords;
    let n = 0;
    while (n < max && !qEmpty(prod & Q_PTR_MASK, this.evtCons, log2)) {
      const at = this.evtq + qIdx(this.evtCons, log2) * 32;
      for (let i = 0; i < 4; i++) {
        words[2 * i] = Math.max(0, this.mem.load64(at + 8 * i));
        words[2 * i + 1] = this.mem.hi;
      }
      this.evtCons = qInc(this.evtCons, log2);
      n++;
      this.stats.events++;
      handle(words, this.stream(words[1] ?? 0));
    }
    const ovf = prod & PROD_OVFLG;
    if (ovf !== (io.read32(R.EVENTQ_CONS) & PROD_OVFLG)) this.stats.eventOverflows++;
    if (n > 0 || ovf !== 0) io.write32(R.EVENTQ_CONS, (this.evtCons | ovf) >>> 0);
    this.ackGerror();
    return n;
  }

  /** Entries of the physical event queue. */
  get evtqEntries(): number {
    return 2 ** this.evtqLog2;
  }

  /** Whether the physical event queue holds records Xen has not consumed. */
  eventsPending(): boolean {
    return !qEmpty(this.io.read32(R.EVENTQ_PROD) & Q_PTR_MASK, this.evtCons, this.evtqLog2);
  }

  /** Acknowledges global errors other than CMDQ_ERR (counted; CMDQ_ERR is handled in readCons). */
  private ackGerror(): void {
    const g = this.io.read32(R.GERROR);
    const n = this.io.read32(R.GERRORN);
    const active = (g ^ n) & ~GERROR.CMDQ_ERR;
    if (active !== 0) {
      this.stats.gerrors++;
      this.io.write32(R.GERRORN, (n ^ active) >>> 0);
    }
  }

  /** Every queue and table Xen gave the SMMU: base PA and size in bytes. */
  get layout(): readonly { readonly what: string; readonly pa: number; readonly bytes: number }[] {
    return this.given;
  }

  /** Memory Xen gave the SMMU (stream table, L2 tables, queues), for leak checks. */
  get structures(): { strtab: number; l2Tables: number; cmdq: number; evtq: number } {
    return { strtab: this.strtab, l2Tables: this.l2.size, cmdq: this.cmdq, evtq: this.evtq };
  }
}

/** Asserts that a structure handed to the SMMU is aligned to its size (a bug otherwise). */
export function assertAligned(what: string, pa: number, bytes: number): void {
  const align = Math.max(64, 2 ** Math.ceil(Math.log2(bytes)));
  if (pa % align !== 0) {
    throw new VsmmuError('EVSMMU_INTERNAL', `Xen's ${what} at 0x${pa.toString(16)} is not aligned to its size (${bytes} bytes)`, { what, pa, bytes });
  }
}
