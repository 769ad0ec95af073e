// One guest's virtual SMMUv3: the MMIO trap emulation of page 0 and page 1, the command
// queue the guest fills in its RAM, its event queue, GERROR and its "combined" interrupt.
// Pure: it reaches guest RAM through an IPA port, the physical SMMU through `VsmmuPhys`
// (Xen's SMMUv3 driver), and the guest's interrupt through a level callback, so it runs
// in-process under tests and in the Xen worker alike.
//
// Policy (reference/xen-vsmmuv3.md, peers.md §3, reliability.md §6a):
// - command processing is bounded by a budget per call; the rest continues on the next call
//   (`run`), so no trap holds a vCPU for a guest-chosen amount of work;
// - each command is read once from guest RAM into Xen's copy before it is decoded;
// - only the commands of COMMAND_POLICY are accepted; the others, and malformed ones, stop
//   the queue with CERROR_ILL + GERROR.CMDQ_ERR until the guest acknowledges;
// - CMD_SYNC completes only after the commands forwarded before it completed on the
//   physical queue;
// - nothing a guest writes throws: internal failures are counted (`stats.xenBugs`).

import { CERROR, CFGI_RANGE_ALL, CMD_WORDS, SYNC_CS, commandError, decodeCommand, type Command } from '../arch/commands.ts';
import { EVT, EVT_WORDS, decodeEvent, encodeEvent, eventName, eventOf } from '../arch/events.ts';
import type { SmmuFeatures } from '../arch/features.ts';
import { STE_WORDS } from '../arch/ste.ts';
import type { WordReader, WordWriter } from '../arch/types.ts';
import {
  CMD_ENTRY_BYTES, EVT_ENTRY_BYTES, qBase, qConsumed, qCount, qEmpty, qEntryAddr, qFull, qLog2Eff, qOverflowActive, qOverflowed, qProduced,
  withConsErr,
} from '../arch/queue.ts';
import { CR0, CR2, fieldMask, GBPA, GERROR, IRQ_CTRL } from '../arch/registers.ts';
import { Walker, WalkResult } from '../arch/walk.ts';
import {
  GBPA_FIELDS, GBPA_RESET, SLOT, SLOT_AT, VREGS, VSMMU_PAGES_SIZE, guestFeatures, guestIdRegs, type RegEffect,
  type VsmmuGuestOptions,
} from './vsmmuv3-regs.ts';
import { forwardedAsIs, guestEventOf } from './vsmmuv3-events.ts';
import { readGuestSte, type GuestSteConfig, type GuestSteReject } from './vsmmuv3-ste.ts';
import { VsidTable, type VsidMode } from './vsid.ts';
import { flowId, guestFlowSpace, NO_TRACE, type Tracer } from '../trace/tracer.ts';
import { xenProfile, type XenPanic, type XenProfile } from './profile.ts';
import { rfcIdRegs, rfcNestedWords, rfcReadSte, type RfcSte } from './vsmmuv3-rfc.ts';

/** Guest RAM by IPA (the domain's p2m): -1 / false for IPAs the guest does not own. */
export interface GuestMemPort extends WordReader, WordWriter {
  /** 32-bit store at a 4-aligned IPA (MSI writes); false when the IPA is not guest RAM. */
  store32(ipa: number, value: number): boolean;
}

/** What the vSMMU asks of the physical side (Xen's SMMUv3 driver). */
export interface VsmmuPhys {
  /**
   * Installs the physical STE of `psid` for a guest config (Xen composes it over the
   * domain's stage 2 and writes it in a safe order, each step followed by CFGI_STE + SYNC).
   * Returns true if the install is still in flight: the guest's next CMD_SYNC then waits
   * for it (the ticket from `sync` covers it); any other result means done.
   */
  setStreamConfig(psid: number, cfg: GuestSteConfig): unknown;
  /** Queues a sanitised command (4 words: VMID forced, pSID translated) on the physical queue. */
  forward(cmd: Uint32Array): void;
  /** Issues a physical CMD_SYNC after everything forwarded so far; returns its ticket. */
  sync(): number;
  /** Whether the physical CMD_SYNC of `ticket` has completed. */
  syncDone(ticket: number): boolean;
  /**
   * rfc/v3 (iommu_iotlb_flush_all): TLBI_S12_VMALL + CMD_SYNC for every VMID of the domain;
   * returns the ticket of the last SYNC.
   */
  flushDomain?(): number;
  /** A guest-triggerable BUG() of the series: Xen panics (the whole system stops). */
  panic?(p: Pick<XenPanic, 'bug' | 'section' | 'sid' | 'detail'>): void;
  /** Whether Xen has panicked (nothing runs any more). */
  halted?(): boolean;
}

export interface VsmmuOptions extends VsmmuGuestOptions {
  /** Physical SMMU features (the guest's IDRs derive from them). */
  readonly phys: Readonly<SmmuFeatures>;
  readonly ram: GuestMemPort;
  readonly backend: VsmmuPhys;
  /** The domain's VMID, forced into every forwarded TLBI. */
  readonly vmid: number;
  /** Level of the guest's combined SPI. */
  readonly irq: (level: boolean) => void;
  /** Commands consumed per `run` call at most (default 64). */
  readonly budget?: number;
  /** vSID allocation (default: the profile's). */
  readonly vsidMode?: VsidMode;
  /** Trace points (docs/tracing.md) and the domain they are named after. */
  readonly tracer?: Tracer;
  readonly domid?: number;
  /** Xen's policy profile (default hardened). */
  readonly profile?: XenProfile;
}

export interface VsmmuStats {
  reads: number;
  writes: number;
  aborts: number;
  /** Writes ignored because the register was locked by an enable (e.g. STRTAB_BASE with SMMUEN). */
  ignoredWrites: number;
  commands: number;
  forwarded: number;
  cerrorIll: number;
  cerrorAbt: number;
  syncs: number;
  /** Times processing stopped with work left because the budget ran out. */
  budgetStops: number;
  steInstalls: number;
  steRejected: Partial<Record<GuestSteReject | 'BAD_STREAMID' | 'FETCH_ABORT', number>>;
  eventsWritten: number;
  eventsDropped: number;
  eventOverflows: number;
  evtqAborts: number;
  msiWrites: number;
  /** Internal failures caught on a guest-driven path (never reach the guest as a crash). */
  xenBugs: number;
  /** Times a device was silenced for flooding the physical event queue. */
  silenced: number;
  /** rfc/v3: commands only logged and skipped (unhandled opcodes, failed CFGI_STE), CONS advanced. */
  skipped: number;
  /** rfc/v3: commands ignored by design (CFGI_ALL, CFGI_CD(_ALL), PREFETCH_CFG, CMD_SYNC). */
  ignored: number;
  /** rfc/v3: guest TLBIs turned into a domain-wide flush (TLBI_S12_VMALL + SYNC per VMID). */
  flushes: number;
}

type CmdResult = 'done' | 'ill' | 'wait' | 'skip' | 'ignore';
type Handler = (v: VSmmuV3, cmd: Command, words: Uint32Array) => CmdResult;

/** The guest commands Xen accepts, and what each becomes (peers.md §3.4 as policy). */
export const COMMAND_POLICY: Readonly<Partial<Record<Command['name'], Handler>>> = {
  PREFETCH_CONFIG: () => 'done',
  PREFETCH_ADDR: () => 'done',
  CFGI_STE: (v, c) => (c.name === 'CFGI_STE' ? v.cfgiSte(c.sid, c.sid) : 'ill'),
  CFGI_STE_RANGE: (v, c) => {
    if (c.name !== 'CFGI_STE_RANGE') return 'ill';
    if (c.range >= CFGI_RANGE_ALL) return v.cfgiSte(0, 0xffff_ffff);
    const n = 2 ** (c.range + 1);
    const first = c.sid - (c.sid % n);
    return v.cfgiSte(first, first + n - 1);
  },
  CFGI_CD: (v, c, w) => (c.name === 'CFGI_CD' ? v.forwardBySid(c.sid, w) : 'ill'),
  CFGI_CD_ALL: (v, c, w) => (c.name === 'CFGI_CD_ALL' ? v.forwardBySid(c.sid, w) : 'ill'),
  TLBI_NH_ALL: (v, _c, w) => v.forwardWithVmid(w),
  TLBI_NH_ASID: (v, _c, w) => v.forwardWithVmid(w),
  TLBI_NH_VA: (v, _c, w) => v.forwardWithVmid(w),
  TLBI_NH_VAA: (v, _c, w) => v.forwardWithVmid(w),
  // All VMIDs would include other guests': it becomes NH_ALL for this guest's VMID.
  TLBI_NSNH_ALL: (v) => v.forwardWithVmid(new Uint32Array([0x10, 0, 0, 0])),
  SYNC: (v, c) => (c.name === 'SYNC' ? v.syncCmd(c.cs, c.msiAddress, c.msiAddressHi, c.msiData) : 'ill'),
};

/**
 * The series' command handling (reference §3.2): TLBI_NH_ASID/VA and NSNH_ALL become a flush
 * of every VMID of the domain, CFGI_STE is read and attached, CFGI_ALL, CFGI_CD(_ALL),
 * PREFETCH_CFG and CMD_SYNC are ignored; every other opcode is skipped ("unhandled command").
 */
export const RFC_COMMAND_POLICY: Readonly<Partial<Record<Command['name'], Handler>>> = {
  PREFETCH_CONFIG: () => 'ignore',
  CFGI_STE: (v, c) => (c.name === 'CFGI_STE' ? v.cfgiSteRfc(c.sid) : 'skip'),
  CFGI_STE_RANGE: () => 'ignore',
  CFGI_CD: () => 'ignore',
  CFGI_CD_ALL: () => 'ignore',
  TLBI_NH_ASID: (v) => v.flushDomain(),
  TLBI_NH_VA: (v) => v.flushDomain(),
  TLBI_NSNH_ALL: (v) => v.flushDomain(),
  SYNC: () => 'ignore',
};

/** The series' io_domain of one device (arm_smmu_attach_guest_config): stage, abort, S1 config. */
interface RfcAttach {
  nested: boolean;
  abort: boolean;
  w0: number;
  w1: number;
}

/**
 * Whether a physical event record reaches the guest's queue as it is, with the vSID (a
 * stage-1 event of a forwarded type); the rewritten cases are in vsmmuv3-events.ts.
 */
export function isGuestEvent(words: ArrayLike<number>): boolean {
  const type = (words[0] ?? 0) & 0xff;
  const s2 = ((words[3] ?? 0) >>> 7) & 1; // dw1[39]
  return s2 === 0 && forwardedAsIs(type);
}

export class VSmmuV3 {
  /** The features the guest sees. */
  readonly gf: SmmuFeatures;
  readonly vsids: VsidTable;
  readonly vmid: number;
  readonly ipaBits: number;
  readonly stats: VsmmuStats = {
    reads: 0, writes: 0, aborts: 0, ignoredWrites: 0, commands: 0, forwarded: 0, cerrorIll: 0,
    cerrorAbt: 0, syncs: 0, budgetStops: 0, steInstalls: 0, steRejected: {}, eventsWritten: 0,
    eventsDropped: 0, eventOverflows: 0, evtqAborts: 0, msiWrites: 0, xenBugs: 0, silenced: 0,
    skipped: 0, ignored: 0, flushes: 0,
  };
  readonly profile: XenProfile;

  private readonly ram: GuestMemPort;
  private readonly be: VsmmuPhys;
  private readonly irqOut: (level: boolean) => void;
  private readonly budget: number;
  private readonly r = new Uint32Array(VREGS.length);
  /** Xen's copy of each device's guest STE config, by vSID (from its last CFGI_STE). */
  private readonly guestCfg = new Map<number, GuestSteConfig>();
  /** Devices (vSIDs) silenced for flooding the physical event queue, until the guest acks. */
  private readonly silenced = new Set<number>();
  private readonly cmd = new Uint32Array(CMD_WORDS);
  private readonly evt = new Uint32Array(EVT_WORDS);
  /** Set by `fence`: devices aborted, the queue stopped for good. */
  private fenced = false;
  /** Commands forwarded since the last physical SYNC. */
  private unsynced = 0;
  /** The SYNC being completed: physical ticket (-1 none), and its completion signal. */
  private syncTicket = -1;
  private syncCs = 0;
  private syncMsi = 0;
  private syncData = 0;
  private irqLevel = false;
  /** Redoes a guest's stage-1 walk in its IPA space (to name the descriptor of a stage-2 fault). */
  private readonly walker: Walker;
  private readonly walkRes = new WalkResult();
  private readonly tr: Tracer;
  /** Trace tracks and the flow id space of the guest's command queue. */
  private readonly trCmdq: string;
  private readonly trEvtq: string;
  private readonly trSpace: number;
  /** rfc/v3: the command queue runs only after a PROD write (cleared when empty or a read fails). */
  private kicked = false;
  /** rfc/v3: STRTAB_BASE_CFG was written, so the table is taken as 2-level (features |= 2LVL). */
  private strtab2lvl = false;
  /** rfc/v3: each device's io_domain as the series keeps it, by vSID. */
  private readonly rfcAttach = new Map<number, RfcAttach>();
  private readonly policy: Readonly<Partial<Record<Command['name'], Handler>>>;

  constructor(o: VsmmuOptions) {
    const profile = o.profile ?? xenProfile();
    this.profile = profile;
    const rfcId = profile.idRegs === 'derived' ? null : rfcIdRegs(profile.iidr, profile.idRegs === 'constant-hw' ? { phys: o.phys, ipaBits: o.ipaBits } : null);
    this.gf = rfcId?.features ?? guestFeatures(o.phys, o);
    this.vsids = new VsidTable(o.vsidMode ?? profile.vsidMode, this.gf.sidBits);
    this.vmid = o.vmid;
    this.ipaBits = Math.min(o.ipaBits, o.phys.oas);
    this.walker = new Walker({ oas: this.ipaBits });
    this.ram = o.ram;
    this.be = o.backend;
    this.irqOut = o.irq;
    this.budget = profile.cmdqBudget === 'unbounded' ? Infinity : Math.max(1, Math.floor(o.budget ?? 64));
    this.policy = profile.commands === 'rfc' ? RFC_COMMAND_POLICY : COMMAND_POLICY;
    this.tr = o.tracer ?? NO_TRACE;
    this.trCmdq = `d${o.domid ?? 0} cmdq`;
    this.trEvtq = `d${o.domid ?? 0} evtq`;
    this.trSpace = guestFlowSpace(o.domid ?? 0);
    const id = rfcId?.regs ?? guestIdRegs(this.gf);
    const r = this.r;
    r[SLOT.IDR0] = id.idr0;
    r[SLOT.IDR1] = id.idr1;
    r[SLOT.IDR2] = id.idr2;
    r[SLOT.IDR3] = id.idr3;
    r[SLOT.IDR4] = id.idr4;
    r[SLOT.IDR5] = id.idr5;
    r[SLOT.IIDR] = id.iidr;
    r[SLOT.AIDR] = id.aidr;
    r[SLOT.GBPA] = GBPA_RESET;
  }

  // ---- MMIO -------------------------------------------------------------------------------

  /** Register value at `off` (32-bit, 4-aligned, within the window); RAZ elsewhere. */
  read32(off: number): number {
    this.stats.reads++;
    const slot = off >= 0 && off < VSMMU_PAGES_SIZE ? (SLOT_AT[off >>> 2] ?? -1) : -1;
    return slot < 0 ? 0 : (this.r[slot] ?? 0);
  }

  /** Guest write of a 32-bit register; never throws (internal failures are counted). */
  write32(off: number, value: number): void {
    this.stats.writes++;
    const slot = off >= 0 && off < VSMMU_PAGES_SIZE ? (SLOT_AT[off >>> 2] ?? -1) : -1;
    if (slot < 0) return; // RAZ/WI
    const def = VREGS[slot];
    if (def === undefined) return;
    if (slot === SLOT.STRTAB_BASE_CFG) this.strtab2lvl = true; // rfc: features |= 2LVL, whatever FMT says
    if (def.lock !== undefined && this.profile.baseLock && ((this.r[SLOT.CR0ACK] ?? 0) & def.lock) !== 0) {
      this.stats.ignoredWrites++;
      return;
    }
    const old = this.r[slot] ?? 0;
    this.r[slot] = ((old & ~def.wmask) | (value & def.wmask)) >>> 0;
    if (def.effect !== undefined) this.guard(() => this.effect(def.effect as RegEffect, old, value >>> 0));
  }

  /**
   * One trapped access of `size` bytes at window offset `off` (0 .. size of the window).
   * Returns false for an abort: sizes other than 4 and 8, or unaligned accesses. An 8-byte
   * access is two 32-bit accesses, low half first. Reads leave the value in `lo`/`hi`.
   */
  access(write: boolean, size: number, off: number, valLo: number, valHi: number, out: { lo: number; hi: number }): boolean {
    if ((size !== 4 && size !== 8) || off % size !== 0 || off < 0) {
      this.stats.aborts++;
      return false;
    }
    if (write) {
      this.write32(off, valLo);
      if (size === 8) this.write32(off + 4, valHi);
      out.lo = 0;
      out.hi = 0;
    } else {
      out.lo = this.read32(off);
      out.hi = size === 8 ? this.read32(off + 4) : 0;
    }
    return true;
  }

  /** The current value of a register, by name (tests, stats, traces). */
  reg(name: keyof typeof SLOT): number {
    return this.r[SLOT[name]] ?? 0;
  }

  // ---- devices ----------------------------------------------------------------------------

  /** Gives a device of the domain a vSID and installs its physical STE for the current state. */
  attachDevice(psid: number): number {
    const vsid = this.vsids.allocate(psid);
    // The series: the device starts in Xen's stage-2 io_domain, stage 1 comes with CFGI_STE.
    if (this.profile.steCheck === 'rfc') this.rfcAttach.set(vsid, { nested: false, abort: false, w0: 0, w1: 0 });
    this.installFor(vsid, psid);
    return vsid;
  }

  /** Forgets a device (its STE is Xen's business again); returns its vSID or -1. */
  detachDevice(psid: number): number {
    const vsid = this.vsids.release(psid);
    if (vsid >= 0) {
      this.guestCfg.delete(vsid);
      this.rfcAttach.delete(vsid);
      this.silenced.delete(vsid);
    }
    return vsid;
  }

  /**
   * Silences a device whose faults flood the physical event queue (Xen's fault budget): its
   * physical STE becomes abort, which terminates its transactions without recording
   * anything, and the guest learns that its records were lost through its own
   * EVENTQ_PROD.OVFLG. The device's configuration comes back once the guest acknowledges the
   * overflow. Returns false if the device is not the guest's or already silenced.
   */
  silence(psid: number): boolean {
    let done = false;
    this.guard(() => {
      const vsid = this.vsids.vsidOf(psid);
      if (vsid < 0 || this.silenced.has(vsid)) return;
      this.silenced.add(vsid);
      this.stats.silenced++;
      this.installFor(vsid, psid);
      this.lostEvents();
      done = true;
    });
    return done;
  }

  /** Whether a device is silenced (see `silence`). */
  isSilenced(psid: number): boolean {
    const vsid = this.vsids.vsidOf(psid);
    return vsid >= 0 && this.silenced.has(vsid);
  }

  /** The guest acknowledged its overflow: silenced devices get their configuration back. */
  private unsilence(): void {
    const r = this.r;
    if (this.silenced.size === 0 || qOverflowActive(r[SLOT.EVENTQ_PROD] ?? 0, r[SLOT.EVENTQ_CONS] ?? 0)) return;
    const vsids = [...this.silenced];
    this.silenced.clear();
    for (const vsid of vsids) {
      const psid = this.vsids.psidOf(vsid);
      if (psid >= 0) this.installFor(vsid, psid);
    }
  }

  /** What the physical STE of `vsid` must be now: guest SMMU disabled -> GBPA, else its STE. */
  effectiveConfig(vsid: number): GuestSteConfig {
    const r = this.r;
    if (this.fenced || this.silenced.has(vsid)) return { kind: 'abort', words: EMPTY_STE };
    const a = this.rfcAttach.get(vsid);
    if (this.profile.steCheck === 'rfc') {
      // The series ignores the guest's SMMUEN and GBPA: the io_domain alone decides.
      if (a === undefined || a.abort) return { kind: 'abort', words: EMPTY_STE };
      return a.nested ? { kind: 'nested', words: rfcNestedWords(a.w0, a.w1, new Uint32Array(STE_WORDS)) } : { kind: 's2', words: EMPTY_STE };
    }
    if (((r[SLOT.CR0ACK] ?? 0) & CR0.SMMUEN) === 0) {
      const abort = ((r[SLOT.GBPA] ?? 0) & GBPA.ABORT) !== 0;
      return { kind: abort ? 'abort' : 's2', words: EMPTY_STE };
    }
    return this.guestCfg.get(vsid) ?? { kind: 'invalid', words: EMPTY_STE };
  }

  // ---- command queue ----------------------------------------------------------------------

  /** The physical SYNC ticket the guest's CMD_SYNC waits for, or -1. */
  get pendingSync(): number {
    return this.syncTicket;
  }

  /** Whether Xen fenced this vSMMU (see `fence`). */
  get isFenced(): boolean {
    return this.fenced;
  }

  /**
   * A physical CMD_SYNC this vSMMU waited for never completed (Xen's timeout): every device
   * goes to abort and the command queue stops for good. The guest's CMD_SYNC is never
   * reported complete, so nothing the guest frees on its strength is reused (XSA-373).
   */
  fence(): void {
    this.guard(() => {
      if (this.fenced) return;
      this.fenced = true;
      for (const { vsid, psid } of this.vsids.entries()) this.installFor(vsid, psid);
    });
  }

  /** Whether `run` has something to do (commands pending, or a SYNC waiting for the hardware). */
  hasWork(): boolean {
    const r = this.r;
    if (this.fenced || this.be.halted?.() === true) return false;
    if (((r[SLOT.CR0ACK] ?? 0) & CR0.CMDQEN) === 0) return false;
    if (this.profile.cmdErrors === 'log-and-skip' && !this.kicked && this.syncTicket < 0) return false;
    if ((((r[SLOT.GERROR] ?? 0) ^ (r[SLOT.GERRORN] ?? 0)) & GERROR.CMDQ_ERR) !== 0) return false;
    if (this.syncTicket >= 0) return true;
    const log2 = this.cmdqLog2();
    return !qEmpty(r[SLOT.CMDQ_PROD] ?? 0, r[SLOT.CMDQ_CONS] ?? 0, log2);
  }

  /** Whether the queue is stopped only waiting for a physical SYNC. */
  waitingForHardware(): boolean {
    return !this.fenced && this.syncTicket >= 0 && !this.be.syncDone(this.syncTicket);
  }

  /** Processes at most `budget` commands; returns how many were consumed. Never throws. */
  run(budget = this.budget): number {
    let n = 0;
    this.guard(() => {
      // The series has no budget: the queue is drained to empty, however long it is (§3.1).
      n = this.process(this.profile.cmdqBudget === 'unbounded' ? Infinity : budget);
    });
    return n;
  }

  private process(budget: number): number {
    const r = this.r;
    let done = 0;
    while (this.hasWork()) {
      if (this.syncTicket >= 0) {
        if (!this.be.syncDone(this.syncTicket)) break;
        this.completeSync();
        continue;
      }
      if (done >= budget) {
        this.stats.budgetStops++;
        break;
      }
      const log2 = this.cmdqLog2();
      const cons = r[SLOT.CMDQ_CONS] ?? 0;
      const at = qEntryAddr(this.cmdqBase(), cons, log2, CMD_ENTRY_BYTES);
      if (!this.fetch(at, this.cmd, 2)) {
        if (this.profile.cmdErrors === 'cerror') this.cmdError(CERROR.ABT);
        else this.kicked = false; // the series returns without CONS++: retried on the next PROD write
        break;
      }
      this.stats.commands++;
      const words = this.cmd;
      const cmd = decodeCommand(words);
      const handler = this.policy[cmd.name];
      const rfc = this.profile.cmdErrors === 'log-and-skip';
      let res: CmdResult = rfc ? 'skip' : 'ill';
      const t0 = this.tr.enabled ? this.traceFetch(cons) : 0;
      // The series decodes the opcode only; hardened checks every field first.
      if (handler !== undefined && (rfc || commandError(cmd, this.gf) === CERROR.NONE)) res = handler(this, cmd, words);
      if (this.tr.enabled) this.traceCmd(t0, cmd.name, cons, res);
      if (this.be.halted?.() === true) break; // Xen panicked inside the command
      if (res === 'ill') {
        if (!rfc) {
          this.cmdError(CERROR.ILL);
          break;
        }
        res = 'skip';
      }
      if (res === 'skip') this.stats.skipped++;
      else if (res === 'ignore') this.stats.ignored++;
      done++;
      if (res === 'wait') continue; // CONS moves past the SYNC once the hardware completed
      this.consume();
    }
    if (this.profile.cmdErrors === 'log-and-skip' && this.syncTicket < 0 && qEmpty(r[SLOT.CMDQ_PROD] ?? 0, r[SLOT.CMDQ_CONS] ?? 0, this.cmdqLog2())) {
      this.kicked = false;
    }
    return done;
  }

  /** A guest command fetched at `cons`: its flow steps here, and the physical commands it causes continue it. */
  private traceFetch(cons: number): number {
    this.tr.counter(`${this.trCmdq} depth`, qCount(this.r[SLOT.CMDQ_PROD] ?? 0, cons, this.cmdqLog2()));
    const t0 = this.tr.stamp();
    this.tr.flow(this.trCmdq, 't', flowId(this.trSpace, cons));
    this.tr.cause = flowId(this.trSpace, cons);
    return t0;
  }

  private traceCmd(t0: number, name: string, cons: number, res: CmdResult): void {
    this.tr.cause = 0;
    this.tr.slice(this.trCmdq, name, t0, { cons, result: res === 'wait' ? 'waits for the physical SYNC' : res });
  }

  private consume(): void {
    const r = this.r;
    const cons = r[SLOT.CMDQ_CONS] ?? 0;
    r[SLOT.CMDQ_CONS] = qConsumed(cons, this.cmdqLog2());
  }

  private cmdError(code: number): void {
    const r = this.r;
    if (code === CERROR.ILL) this.stats.cerrorIll++;
    else this.stats.cerrorAbt++;
    // ERR is written before the error is made visible (FACTS §5).
    r[SLOT.CMDQ_CONS] = withConsErr(r[SLOT.CMDQ_CONS] ?? 0, code);
    this.raiseGerror(GERROR.CMDQ_ERR);
  }

  /** CFGI_STE / CFGI_STE_RANGE / CFGI_ALL over the guest's devices in [first, last]. */
  cfgiSte(first: number, last: number): CmdResult {
    for (const vsid of this.vsids.inRange(first, last)) this.refreshSte(vsid);
    return 'done';
  }

  /**
   * rfc/v3 CFGI_STE (reference §3.3): the series' stream-table walk and dword-0 decode, then
   * attach_guest_config. Xen waits for the physical STE write before CONS moves on (the
   * series writes it synchronously inside the trap).
   */
  cfgiSteRfc(vsid: number): CmdResult {
    const r = this.r;
    const st = {
      base: joinAddr(r[SLOT.STRTAB_BASE] ?? 0, r[SLOT.STRTAB_BASE_HI] ?? 0, ADDR_LO.STRTAB),
      cfg: r[SLOT.STRTAB_BASE_CFG] ?? 0,
      // rfc: 2-level once STRTAB_BASE_CFG was written; v3: as its FMT says.
      twoLevel: this.profile.strtab === 'fmt-split8' ? ((r[SLOT.STRTAB_BASE_CFG] ?? 0) >>> 16 & 3) === 1 : this.strtab2lvl,
    };
    const res: RfcSte = rfcReadSte(this.ram, st, vsid);
    switch (res.kind) {
      case 'ignore':
        return res.why === 'V = 0' ? 'done' : 'skip';
      case 'event':
        this.stats.steRejected[res.event === EVT.C_BAD_STREAMID ? 'BAD_STREAMID' : 'CONFIG'] =
          (this.stats.steRejected[res.event === EVT.C_BAD_STREAMID ? 'BAD_STREAMID' : 'CONFIG'] ?? 0) + 1;
        this.rfcEvent(res.event, vsid);
        return 'skip';
      case 'panic':
        this.be.panic?.({ bug: 'BUG()', section: '§3.3', sid: vsid, detail: `guest STE of StreamID ${vsid} has Config 0b${res.config.toString(2).padStart(3, '0')} (${res.config === 7 ? 'nested' : 'reserved'}): arm_vsmmu_decode_ste hits BUG()` });
        return 'done';
    }
    const psid = this.vsids.psidOf(vsid);
    const a = this.rfcAttach.get(vsid);
    if (psid < 0 || a === undefined) return 'skip'; // -ENODEV: not a device of this domain
    if (res.kind === 'abort') a.abort = true;
    else if (res.kind === 'bypass') a.abort = false; // the stage is left as it is
    else {
      a.nested = true;
      a.abort = false;
      a.w0 = res.w0;
      a.w1 = res.w1;
    }
    this.stats.steInstalls++;
    if (this.be.setStreamConfig(psid, this.effectiveConfig(vsid)) !== true) return 'done';
    return this.waitPhysical(this.be.sync());
  }

  /** rfc/v3 TLBI_NH_ASID/VA, NSNH_ALL: iommu_iotlb_flush_all, waited for before CONS moves on. */
  flushDomain(): CmdResult {
    const flush = this.be.flushDomain;
    if (flush === undefined) return 'skip';
    this.stats.flushes++;
    return this.waitPhysical(flush.call(this.be));
  }

  /** CONS stays on the current command until physical `ticket` completed; no completion signal. */
  private waitPhysical(ticket: number): CmdResult {
    this.syncCs = SYNC_CS.NONE;
    this.syncTicket = ticket;
    return 'wait';
  }

  /** arm_vsmmu_send_event: {ID, SID}; dropped silently while EVENTQEN = 0. */
  private rfcEvent(type: number, sid: number): void {
    if (((this.r[SLOT.CR0ACK] ?? 0) & CR0.EVENTQEN) === 0) return;
    encodeEvent(eventOf({ type, sid }), this.evt);
    this.pushEvent(this.evt);
  }

  /** Re-reads the guest STE of `vsid` into Xen's copy and installs the physical STE. */
  private refreshSte(vsid: number): void {
    const r = this.r;
    const st = {
      base: joinAddr(r[SLOT.STRTAB_BASE] ?? 0, r[SLOT.STRTAB_BASE_HI] ?? 0, ADDR_LO.STRTAB),
      cfg: r[SLOT.STRTAB_BASE_CFG] ?? 0,
    };
    const res = readGuestSte(this.ram, st, vsid, this.gf, this.ipaBits);
    if (this.tr.enabled) this.tr.instant(this.trCmdq, res.ok ? 'STE accepted' : 'STE refused', res.ok ? { vsid, config: res.cfg.kind } : { vsid, reason: res.reason });
    if (res.ok) {
      this.guestCfg.set(vsid, res.cfg);
    } else {
      const lookup = res.event === EVT.C_BAD_STE ? undefined : { event: res.event, fetchAddr: res.fetchAddr };
      this.guestCfg.set(vsid, lookup === undefined ? { kind: 'invalid', words: EMPTY_STE } : { kind: 'invalid', words: EMPTY_STE, lookup });
      this.stats.steRejected[res.reason] = (this.stats.steRejected[res.reason] ?? 0) + 1;
      // No record now: as on hardware, a configuration error is recorded when a transaction
      // (of the device, through the invalid physical STE) finds it, once per transaction
      // (spec 7.3; vsmmuv3-events.ts turns that C_BAD_STE into the guest's own answer).
    }
    const psid = this.vsids.psidOf(vsid);
    if (psid >= 0) this.installFor(vsid, psid);
  }

  private installFor(vsid: number, psid: number): void {
    this.stats.steInstalls++;
    // An install in flight is forwarded work: the guest's CMD_SYNC completes after it.
    if (this.be.setStreamConfig(psid, this.effectiveConfig(vsid)) === true) this.unsynced++;
  }

  /** CFGI_CD / CFGI_CD_ALL: forwarded with the pSID; a vSID without a device is a no-op. */
  forwardBySid(vsid: number, words: Uint32Array): CmdResult {
    const psid = this.vsids.psidOf(vsid);
    if (psid < 0) return 'done';
    const out = Uint32Array.from(words);
    out[1] = psid >>> 0;
    this.forward(out);
    return 'done';
  }

  /** TLBI_NH_*: forwarded with the domain's VMID (dw0[47:32]) whatever the guest wrote. */
  forwardWithVmid(words: Uint32Array): CmdResult {
    const out = Uint32Array.from(words);
    out[1] = (((out[1] ?? 0) & 0xffff_0000) | (this.vmid & 0xffff)) >>> 0;
    this.forward(out);
    return 'done';
  }

  private forward(cmd: Uint32Array): void {
    this.stats.forwarded++;
    this.unsynced++;
    this.be.forward(cmd);
  }

  /** CMD_SYNC: waits for the forwarded commands on the physical queue, then signals. */
  syncCmd(cs: number, msiLo: number, msiHi: number, data: number): CmdResult {
    this.stats.syncs++;
    this.syncCs = cs;
    this.syncMsi = msiHi === 0 ? msiLo : -1; // an address above 2^52 is never guest RAM
    this.syncData = data >>> 0;
    if (this.unsynced === 0) {
      this.signalSync();
      return 'done';
    }
    this.unsynced = 0;
    this.syncTicket = this.be.sync();
    return 'wait';
  }

  private completeSync(): void {
    const t0 = this.tr.enabled ? this.tr.stamp() : 0;
    if (this.tr.enabled) this.tr.flow(this.trCmdq, 't', flowId(this.trSpace, this.r[SLOT.CMDQ_CONS] ?? 0));
    if (this.tr.enabled) this.tr.slice(this.trCmdq, 'guest CMD_SYNC completed', t0, { ticket: this.syncTicket, cons: this.r[SLOT.CMDQ_CONS] ?? 0 });
    this.syncTicket = -1;
    this.signalSync();
    this.consume();
  }

  private signalSync(): void {
    if (this.syncCs === SYNC_CS.SIG_IRQ && this.syncMsi !== 0) {
      if (this.msiWrite(this.syncMsi, this.syncData)) this.stats.msiWrites++;
      else this.raiseGerror(GERROR.MSI_CMDQ_ABT_ERR);
    }
    // SIG_SEV: a WFE wake-up has no observable effect here.
  }

  // ---- event queue ------------------------------------------------------------------------

  /**
   * A physical event record of one of the guest's devices (`psid`): forwarded with the vSID
   * if it is a stage-1 event of a forwarded type. Returns whether it reached the guest queue.
   */
  forwardEvent(words: ArrayLike<number>, psid: number): boolean {
    let ok = false;
    this.guard(() => {
      const vsid = this.vsids.vsidOf(psid);
      if (vsid < 0) return;
      if (this.profile.events === 's1-faults-verbatim') {
        // The series (§4.1): stage-1 translation faults only, all 4 dwords as they are.
        const type = (words[0] ?? 0) & 0xff;
        if (type < EVT.F_TRANSLATION || type > EVT.F_PERMISSION || (((words[3] ?? 0) >>> 7) & 1) !== 0) return;
        for (let i = 0; i < EVT_WORDS; i++) this.evt[i] = words[i] ?? 0;
        // vSID == pSID in the RFC; v3's mapping layer names the device by its vSID (docs/profiles.md).
        this.evt[1] = vsid >>> 0;
        ok = this.pushEvent(this.evt);
        return;
      }
      const view = { vsid, cfg: this.guestCfg.get(vsid), recInvSid: this.recInvSid(), ram: this.ram, gf: this.gf };
      const e = guestEventOf(decodeEvent(words), view, this.walker, this.walkRes);
      if (e === null) return;
      encodeEvent(e, this.evt);
      ok = this.pushEvent(this.evt);
      if (this.tr.enabled) this.tr.instant(this.trEvtq, ok ? 'event forwarded' : 'event dropped', { vsid, psid, type: eventName(e.type) });
    });
    return ok;
  }

  /** The guest's CR2.RECINVSID (CR2 cannot change while the guest SMMU is enabled). */
  private recInvSid(): boolean {
    return ((this.r[SLOT.CR2] ?? 0) & CR2.RECINVSID) !== 0;
  }

  /**
   * Events of this guest may have been lost before they reached Xen (the physical event
   * queue overflowed): tell the guest the way the architecture tells of loss, by toggling
   * EVENTQ_PROD.OVFLG (unless an overflow is already active) and raising the interrupt.
   */
  lostEvents(): void {
    if (this.profile.evtqFull === 'gerror') return; // the series has no overflow semantics
    this.guard(() => {
      const r = this.r;
      if (((r[SLOT.CR0ACK] ?? 0) & CR0.EVENTQEN) === 0) return;
      const prod = r[SLOT.EVENTQ_PROD] ?? 0;
      const next = qOverflowed(prod, r[SLOT.EVENTQ_CONS] ?? 0);
      if (next === prod >>> 0) return;
      r[SLOT.EVENTQ_PROD] = next;
      this.stats.eventOverflows++;
      this.updateIrq();
    });
  }

  /** Writes one record into the guest's event queue (EVENTQEN, CONS, overflow honoured). */
  private pushEvent(e: Uint32Array): boolean {
    const r = this.r;
    const series = this.profile.evtqFull === 'gerror';
    if (((r[SLOT.CR0ACK] ?? 0) & CR0.EVENTQEN) === 0) {
      this.stats.eventsDropped++;
      if (series) this.raiseGerror(GERROR.EVENTQ_ABT_ERR); // §4.1: each failure toggles EVTQ_ABT_ERR
      return false;
    }
    const log2 = this.evtqLog2();
    const prod = r[SLOT.EVENTQ_PROD] ?? 0;
    const cons = r[SLOT.EVENTQ_CONS] ?? 0;
    if (qFull(prod, cons, log2)) {
      this.stats.eventsDropped++;
      if (series) {
        this.raiseGerror(GERROR.EVENTQ_ABT_ERR);
        return false;
      }
      this.stats.eventOverflows++;
      // A new overflow only when none is active (OVFLG == OVACKFLG).
      r[SLOT.EVENTQ_PROD] = qOverflowed(prod, cons);
      return false;
    }
    const base = joinAddr(r[SLOT.EVENTQ_BASE] ?? 0, r[SLOT.EVENTQ_BASE_HI] ?? 0, ADDR_LO.QUEUE);
    const at = qEntryAddr(qBase(base, log2, EVT_ENTRY_BYTES), prod, log2, EVT_ENTRY_BYTES);
    for (let i = 0; i < EVT_WORDS / 2; i++) {
      if (!this.ram.store64(at + i * 8, e[2 * i] ?? 0, e[2 * i + 1] ?? 0)) {
        this.stats.evtqAborts++;
        this.stats.eventsDropped++;
        this.raiseGerror(GERROR.EVENTQ_ABT_ERR);
        return false;
      }
    }
    r[SLOT.EVENTQ_PROD] = qProduced(prod, log2);
    this.stats.eventsWritten++;
    if (!series && ((r[SLOT.IRQ_CTRL] ?? 0) & IRQ_CTRL.EVENTQ_IRQEN) !== 0 && this.msiAddr(SLOT.EVENTQ_IRQ_CFG0) !== 0) {
      if (!this.msiWrite(this.msiAddr(SLOT.EVENTQ_IRQ_CFG0), r[SLOT.EVENTQ_IRQ_CFG1] ?? 0)) this.raiseGerror(GERROR.MSI_EVENTQ_ABT_ERR);
    }
    this.updateIrq();
    return true;
  }

  // ---- GERROR and the interrupt -----------------------------------------------------------

  /** Activates `bit` if it is not already active (GERROR toggles, FACTS §1.13). */
  private raiseGerror(bit: number): void {
    const r = this.r;
    const active = ((r[SLOT.GERROR] ?? 0) ^ (r[SLOT.GERRORN] ?? 0)) & bit;
    if (active !== 0) return;
    r[SLOT.GERROR] = ((r[SLOT.GERROR] ?? 0) ^ bit) >>> 0;
    if (this.profile.irqCtrl === 'honoured' && ((r[SLOT.IRQ_CTRL] ?? 0) & IRQ_CTRL.GERROR_IRQEN) !== 0 && this.msiAddr(SLOT.GERROR_IRQ_CFG0) !== 0 && bit !== GERROR.MSI_GERROR_ABT_ERR) {
      if (!this.msiWrite(this.msiAddr(SLOT.GERROR_IRQ_CFG0), r[SLOT.GERROR_IRQ_CFG1] ?? 0)) this.raiseGerror(GERROR.MSI_GERROR_ABT_ERR);
    }
    this.updateIrq();
  }

  /** The combined wired SPI: the level of every enabled, pending, non-MSI source. */
  private updateIrq(): void {
    const r = this.r;
    const ctrl = r[SLOT.IRQ_CTRLACK] ?? 0;
    const gerr = ((r[SLOT.GERROR] ?? 0) ^ (r[SLOT.GERRORN] ?? 0)) !== 0;
    // Pending event-queue condition: records to read, or an overflow not yet acknowledged.
    const prod = r[SLOT.EVENTQ_PROD] ?? 0;
    const cons = r[SLOT.EVENTQ_CONS] ?? 0;
    const evtq = ((r[SLOT.CR0ACK] ?? 0) & CR0.EVENTQEN) !== 0 &&
      (!qEmpty(prod, cons, this.evtqLog2()) || qOverflowActive(prod, cons));
    // The series (§4.3): the SPI is asserted for every event and GERROR, IRQ_CTRL unread, no MSI.
    if (this.profile.irqCtrl === 'ignored') {
      const level = gerr || evtq;
      if (level !== this.irqLevel) {
        this.irqLevel = level;
        this.irqOut(level);
      }
      return;
    }
    const level =
      ((ctrl & IRQ_CTRL.GERROR_IRQEN) !== 0 && gerr && this.msiAddr(SLOT.GERROR_IRQ_CFG0) === 0) ||
      ((ctrl & IRQ_CTRL.EVENTQ_IRQEN) !== 0 && evtq && this.msiAddr(SLOT.EVENTQ_IRQ_CFG0) === 0);
    if (level !== this.irqLevel) {
      if (this.tr.enabled) this.tr.instant(this.trEvtq, level ? 'virtual irq raised' : 'virtual irq lowered');
      this.irqLevel = level;
      this.irqOut(level);
    }
  }

  /** Current level of the guest's combined interrupt. */
  get irqAsserted(): boolean {
    return this.irqLevel;
  }

  private msiAddr(cfg0Slot: number): number {
    return joinAddr(this.r[cfg0Slot] ?? 0, this.r[cfg0Slot + 1] ?? 0, ADDR_LO.MSI);
  }

  private msiWrite(ipa: number, data: number): boolean {
    return ipa >= 0 && this.ram.store32(ipa, data >>> 0);
  }

  // ---- register side effects --------------------------------------------------------------

  private effect(e: RegEffect, old: number, value: number): void {
    const r = this.r;
    switch (e) {
      case 'cr0': {
        const now = r[SLOT.CR0] ?? 0;
        r[SLOT.CR0ACK] = now; // every change takes effect at once
        // Disabling the queue abandons a SYNC in progress: it is re-read from CONS later.
        if ((now & CR0.CMDQEN) === 0) this.syncTicket = -1;
        if (this.profile.cr0 === 'effects' && ((old ^ now) & CR0.SMMUEN) !== 0) this.smmuenChanged((now & CR0.SMMUEN) !== 0);
        this.updateIrq();
        return;
      }
      case 'gbpa': {
        if ((value & GBPA.UPDATE) === 0) return; // v3.2: writes without Update are ignored
        const prev = r[SLOT.GBPA] ?? 0;
        r[SLOT.GBPA] = (value & GBPA_FIELDS) >>> 0; // Update reads 0: done at once
        if (((prev ^ value) & GBPA.ABORT) !== 0 && ((r[SLOT.CR0ACK] ?? 0) & CR0.SMMUEN) === 0) this.reinstallAll();
        return;
      }
      case 'irqCtrl':
        r[SLOT.IRQ_CTRLACK] = r[SLOT.IRQ_CTRL] ?? 0;
        this.updateIrq();
        return;
      case 'gerrorn':
        this.updateIrq();
        return;
      case 'evtqCons':
        this.unsilence();
        this.updateIrq();
        return;
      case 'cmdqProd':
        // The caller (Xen) runs the queue after the trap: see `run`. The series processes
        // only on a PROD write with CMDQEN set (nothing later when CMDQEN comes on).
        if (((r[SLOT.CR0ACK] ?? 0) & CR0.CMDQEN) !== 0) this.kicked = true;
        return;
    }
  }

  private smmuenChanged(on: boolean): void {
    if (on) {
      // The hardware reads STEs from the table it was just given: so does Xen, quietly.
      for (const { vsid } of this.vsids.entries()) this.refreshSte(vsid);
    } else {
      this.reinstallAll();
    }
  }

  private reinstallAll(): void {
    for (const { vsid, psid } of this.vsids.entries()) this.installFor(vsid, psid);
  }

  // ---- helpers ----------------------------------------------------------------------------

  private cmdqLog2(): number {
    return qLog2Eff((this.r[SLOT.CMDQ_BASE] ?? 0) & 31, this.gf.cmdqLog2);
  }

  private evtqLog2(): number {
    return qLog2Eff((this.r[SLOT.EVENTQ_BASE] ?? 0) & 31, this.gf.evtqLog2);
  }

  /** CMDQ base, aligned down to the queue size (lower bits treated as zero). */
  private cmdqBase(): number {
    const base = joinAddr(this.r[SLOT.CMDQ_BASE] ?? 0, this.r[SLOT.CMDQ_BASE_HI] ?? 0, ADDR_LO.QUEUE);
    return qBase(base, this.cmdqLog2(), CMD_ENTRY_BYTES);
  }

  /** Reads `n` 64-bit words at IPA `at` into `out`; false on a guest-memory abort. */
  private fetch(at: number, out: Uint32Array, n: number): boolean {
    for (let i = 0; i < n; i++) {
      const lo = this.ram.load64(at + i * 8);
      if (lo < 0) return false;
      out[2 * i] = lo;
      out[2 * i + 1] = this.ram.hi;
    }
    return true;
  }

  private guard(f: () => void): void {
    try {
      f();
    } catch {
      this.stats.xenBugs++;
    }
  }
}

const EMPTY_STE = new Uint32Array(STE_WORDS);

/** The low-half bits of the ADDR fields (FACTS §1.14-§1.16), from the register tables. */
const ADDR_LO = {
  STRTAB: fieldMask('STRTAB_BASE', 'ADDR'),
  QUEUE: fieldMask('CMDQ_BASE', 'ADDR'),
  MSI: fieldMask('GERROR_IRQ_CFG0', 'ADDR'),
} as const;

/** (lo & loMask) + bits [51:32] of hi, as a number (exact: below 2^52, the vSMMU's limit). */
function joinAddr(lo: number, hi: number, loMask: number): number {
  return (hi & 0x000f_ffff) * 4294967296 + ((lo & loMask) >>> 0);
}
