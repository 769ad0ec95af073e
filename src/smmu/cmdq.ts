// The command queue engine (FACTS §4, §5). Consumes commands from CMDQ_CONS to CMDQ_PROD,
// at most `budget` per service call, each fetched once (two single-copy-atomic 64-bit
// loads into a private copy) and decoded from that copy.
//   - An illegal command (commandError: unknown/reserved opcode, a command of a feature this
//     SMMU lacks, a reserved field value, non-zero RES0) stops the queue AT that command:
//     CMDQ_CONS.RD points at it, CMDQ_CONS.ERR = CERROR_ILL, then GERROR.CMDQ_ERR is toggled
//     (if not already active). Nothing is consumed until software acknowledges through
//     GERRORN; processing then resumes by re-fetching at CONS.
//   - A fetch outside memory: the same with CERROR_ABT.
//   - Every command takes effect before the next is fetched (the engine is sequential), so
//     CMD_SYNC completes once reached: it performs its completion signal (CS = SIG_IRQ: the
//     32-bit MSI write of MSIData to MSIAddress when IDR0.MSI and MSIAddress != 0, else the
//     wired CMD_SYNC interrupt; CS = SIG_SEV: a SEV) and CONS moves past it.
//   - Commands are processed whether or not SMMUEN is set (Linux invalidates before enabling).

import {
  CERROR, CFGI_RANGE_ALL, commandError, decodeCommand, opName, SYNC_CS, tlbiRange, type Command, type CommandOf,
} from '../arch/commands.ts';
import type { SmmuFeatures } from '../arch/features.ts';
import { CMD_ENTRY_BYTES, consErr, qCount, qEmpty, qEntryAddr, qInc, qPtr, withConsErr } from '../arch/queue.ts';
import { GERROR, R } from '../arch/registers.ts';
import type { WordReader } from '../arch/types.ts';
import type { ConfigCache } from './config-cache.ts';
import { latchQueue } from './evtq.ts';
import { INV_STAGE1, INV_STAGE2, type Iotlb, REGIME_EL1, REGIME_EL2 } from './iotlb.ts';
import type { RegisterPage } from './regpage.ts';
import { flowId, NO_TRACE, type Tracer } from '../trace/tracer.ts';

export interface CommandStats {
  executed: number;
  byOpcode: Record<string, number>;
  errors: { ill: number; abt: number };
  syncs: number;
}

export interface CmdqHost {
  /** Toggles a GERROR bit if that error is not already active (and raises the IRQ). */
  gerror(bit: number): void;
  /** Performs CMD_SYNC's completion signal. */
  syncSignal(cmd: Readonly<CommandOf<'SYNC'>>): void;
  /** Whether GERROR.CMDQ_ERR is active (GERROR != GERRORN for it). */
  cmdqErrorActive(): boolean;
}

/** The 64-bit VA of a TLBI with its top byte made a sign extension of VA[55] (as TLB keys). */
function canonicalVa(addr: number): number {
  const hi = Math.floor(addr / 4294967296) >>> 0;
  const lo = addr % 4294967296;
  const h = (hi & 0x00800000) !== 0 ? (hi | 0xff000000) >>> 0 : hi & 0x00ffffff;
  return h * 4294967296 + lo;
}

export class CommandQueue {
  private base = 0;
  private log2 = 0;
  private readonly words = new Uint32Array(4);
  readonly stats: CommandStats = { executed: 0, byOpcode: {}, errors: { ill: 0, abt: 0 }, syncs: 0 };

  private readonly f: Readonly<SmmuFeatures>;
  private readonly page: RegisterPage;
  private readonly mem: WordReader;
  private readonly iotlb: Iotlb;
  private readonly cfg: ConfigCache<unknown, unknown>;
  private readonly host: CmdqHost;
  /** Trace points: each command executed (ending the flow Xen's driver started when it queued it). */
  tr: Tracer = NO_TRACE;

  constructor(f: Readonly<SmmuFeatures>, page: RegisterPage, mem: WordReader, iotlb: Iotlb, cfg: ConfigCache<unknown, unknown>, host: CmdqHost) {
    this.f = f;
    this.page = page;
    this.mem = mem;
    this.iotlb = iotlb;
    this.cfg = cfg;
    this.host = host;
  }

  /**
   * Fault injection (tests only, never set by a register): the next CMD_SYNC is not
   * completed; the queue stays at it (CONS on the SYNC) until the queue is disabled, as a
   * wedged command queue would. One-shot: disabling the queue clears it.
   */
  stallSync = false;
  /** Whether the queue is stalled at a SYNC by `stallSync`. */
  stalled = false;

  /** Disabling the queue (CMDQEN 1 -> 0) ends an injected stall. */
  disable(): void {
    this.stallSync = false;
    this.stalled = false;
  }

  /** Latches CMDQ_BASE (CMDQEN 0 -> 1). */
  enable(): void {
    const q = latchQueue(this.page, R.CMDQ_BASE, CMD_ENTRY_BYTES, this.f.cmdqLog2);
    this.base = q.base;
    this.log2 = q.log2;
  }

  /** Whether commands wait to be consumed (queue enabled, no error active, PROD != CONS). */
  pending(enabled: boolean): boolean {
    if (!enabled || this.stalled || this.host.cmdqErrorActive()) return false;
    return !qEmpty(this.page.load(R.CMDQ_PROD), this.page.load(R.CMDQ_CONS), this.log2);
  }

  /** Consumes up to `budget` commands; returns how many were consumed. */
  service(enabled: boolean, budget: number): number {
    if (!enabled || this.stalled || this.host.cmdqErrorActive()) return 0;
    const page = this.page;
    const prod = qPtr(page.load(R.CMDQ_PROD), this.log2);
    let cons = qPtr(page.load(R.CMDQ_CONS), this.log2);
    let n = 0;
    const traced = this.tr.enabled; // read once: nothing in a service call changes it
    if (traced && cons !== prod) this.tr.counter('cmdq depth', qCount(prod, cons, this.log2));
    while (cons !== prod && n < budget) {
      const at = qEntryAddr(this.base, cons, this.log2, CMD_ENTRY_BYTES);
      const w = this.words;
      const lo0 = this.mem.load64(at);
      const hi0 = this.mem.hi;
      const lo1 = lo0 < 0 ? -1 : this.mem.load64(at + 8);
      if (lo1 < 0) return this.stop(cons, CERROR.ABT, n);
      w[0] = lo0;
      w[1] = hi0;
      w[2] = lo1;
      w[3] = this.mem.hi;
      const cmd = decodeCommand(w);
      const err = commandError(cmd, this.f);
      if (err !== CERROR.NONE) return this.stop(cons, err, n);
      if (this.stallSync && cmd.name === 'SYNC') {
        this.stalled = true;
        break;
      }
      const t0 = traced ? this.tr.stamp() : 0;
      this.execute(cmd);
      if (traced) this.traced(t0, cmd, cons);
      cons = qInc(cons, this.log2);
      // CONS moves after each command: a SYNC's completion is visible as soon as it is done.
      page.store(R.CMDQ_CONS, cons);
      n++;
    }
    if (n > 0) page.published();
    return n;
  }

  /** The command at `pos` was executed: its slice, the end of its flow from the issuer. */
  private traced(t0: number, cmd: Readonly<Command>, pos: number): void {
    this.tr.flow('cmdq', 'f', flowId(0, pos));
    if (cmd.name === 'SYNC') this.tr.instant('cmdq', 'CMD_SYNC completed', { cs: cmd.cs, cons: pos });
    this.tr.slice('cmdq', cmd.name, t0, { cons: pos });
  }

  private stop(cons: number, err: number, n: number): number {
    // ERR is written before the error is made visible through GERROR.
    this.page.store(R.CMDQ_CONS, withConsErr(cons, err));
    if (err === CERROR.ILL) this.stats.errors.ill++;
    else this.stats.errors.abt++;
    this.host.gerror(GERROR.CMDQ_ERR);
    if (this.tr.enabled) this.tr.instant('cmdq', err === CERROR.ILL ? 'CERROR_ILL' : 'CERROR_ABT', { cons });
    this.page.published();
    return n;
  }

  /** Current CMDQ_CONS.ERR. */
  get error(): number {
    return consErr(this.page.load(R.CMDQ_CONS));
  }

  /** Applies one legal command's architectural effect. */
  execute(cmd: Readonly<Command>): void {
    this.stats.executed++;
    const name = opName(cmd.op);
    this.stats.byOpcode[name] = (this.stats.byOpcode[name] ?? 0) + 1;
    const tlb = this.iotlb;
    const vmidOf = (v: number): number => (this.f.s2 ? v : 0);
    switch (cmd.name) {
      case 'PREFETCH_CONFIG':
      case 'PREFETCH_ADDR':
        return; // hints: caching is never required
      case 'CFGI_STE':
        this.cfg.invalidateSte(cmd.sid);
        return;
      case 'CFGI_STE_RANGE': {
        if (cmd.range === CFGI_RANGE_ALL) {
          this.cfg.clear(true);
          return;
        }
        const span = 2 ** (cmd.range + 1);
        const first = cmd.sid - (cmd.sid % span);
        this.cfg.invalidateSidRange(first, first + span - 1);
        return;
      }
      case 'CFGI_CD':
        this.cfg.invalidateCd(cmd.sid, cmd.ssid);
        return;
      case 'CFGI_CD_ALL':
        this.cfg.invalidateCdAll(cmd.sid);
        return;
      case 'CFGI_VMS_PIDM':
        return; // no VMS/MPAM state is cached
      case 'TLBI_NH_ALL':
        tlb.invalidateVmid(vmidOf(cmd.vmid), INV_STAGE1);
        return;
      case 'TLBI_NH_ASID':
        tlb.invalidateAsid(REGIME_EL1, vmidOf(cmd.vmid), cmd.asid);
        return;
      case 'TLBI_NH_VA':
      case 'TLBI_NH_VAA': {
        const s = tlbiRange(cmd.tg, cmd.num, cmd.scale, cmd.ttl, canonicalVa(cmd.addr));
        const asid = cmd.name === 'TLBI_NH_VA' ? cmd.asid : -1;
        tlb.invalidateVa(REGIME_EL1, vmidOf(cmd.vmid), asid, s.start - (s.start % 4096), s.length || 1);
        return;
      }
      case 'TLBI_EL2_ALL':
        tlb.invalidateRegime(REGIME_EL2);
        return;
      case 'TLBI_EL2_ASID':
        tlb.invalidateAsid(REGIME_EL2, -1, cmd.asid);
        return;
      case 'TLBI_EL2_VA':
      case 'TLBI_EL2_VAA': {
        const s = tlbiRange(cmd.tg, cmd.num, cmd.scale, cmd.ttl, canonicalVa(cmd.addr));
        const asid = cmd.name === 'TLBI_EL2_VA' ? cmd.asid : -1;
        tlb.invalidateVa(REGIME_EL2, -1, asid, s.start - (s.start % 4096), s.length || 1);
        return;
      }
      case 'TLBI_S12_VMALL':
        tlb.invalidateVmid(cmd.vmid, INV_STAGE1 | INV_STAGE2);
        return;
      case 'TLBI_S2_IPA': {
        const s = tlbiRange(cmd.tg, cmd.num, cmd.scale, cmd.ttl, cmd.addr);
        tlb.invalidateIpa(cmd.vmid, s.start - (s.start % 4096), s.length || 1);
        return;
      }
      case 'TLBI_NSNH_ALL':
        tlb.invalidateRegime(REGIME_EL1);
        return;
      case 'SYNC':
        this.stats.syncs++;
        if (cmd.cs !== SYNC_CS.NONE) this.host.syncSignal(cmd);
        return;
      default:
        // ATC_INV, PRI_RESP, RESUME, STALL_TERM, EL3 TLBIs: commandError rejects them unless
        // the feature is advertised; no ATC, PRI queue or stalled transaction is modelled.
        return;
    }
  }
}
