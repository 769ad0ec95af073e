// The driver's command queue (Linux arm_smmu_cmdq_issue_cmdlist, single producer): commands
// are written into the queue in guest RAM, then PROD is written; a batch that needs
// completion ends with a CMD_SYNC and the caller waits for it:
//   - MSI polling (IDR0.MSI and coherent): CS = SIG_IRQ with MSIAddress = the SYNC slot
//     itself and MSIData = 0; the driver polls the slot's low word until the SMMU's 32-bit
//     MSI write zeroes it;
//   - otherwise CS = SIG_SEV and the driver polls CMDQ_CONS until it passes the SYNC.
// Command errors (CMDQ_CONS.ERR + GERROR.CMDQ_ERR) are handled by the GERROR handler
// (driver.ts) through `skipErr`, exactly as Linux's __arm_smmu_cmdq_skip_err.

import { CERROR, CMD_BYTES, cmdOf, encodeCommand, SYNC_CS, type Command } from '../arch/commands.ts';
import { VsmmuError } from '../errors.ts';
import type { GuestClock, GuestMemoryPort, MmioPort } from './ports.ts';
import { fieldMask, R } from '../arch/registers.ts';
import { consErr, qIdx, qInc, qPtr, qSpace } from '../arch/queue.ts';
import { qConsumed } from './queue-math.ts';
import { flowId, NO_TRACE, type Tracer } from '../trace/tracer.ts';

const CMDQ_PROD = R.CMDQ_PROD;
const CMDQ_CONS = R.CMDQ_CONS;
/** Linux CMDQ_BATCH_ENTRIES (BITS_PER_LONG): commands per PROD update. */
export const CMDQ_BATCH_ENTRIES = 64;
/** Linux ARM_SMMU_SH_ISH and ARM_SMMU_MEMATTR_OIWB, used in every CMD_SYNC. */
const SH_ISH = 3;
const MEMATTR_OIWB = 0xf;

export const CERROR_NAMES: Readonly<Record<number, string>> = {
  [CERROR.NONE]: 'No error',
  [CERROR.ILL]: 'Illegal command',
  [CERROR.ABT]: 'Abort on command fetch',
  [CERROR.ATC_INV_SYNC]: 'ATC invalidate timeout',
};

/** One command error as the GERROR handler found it. */
export interface CmdqErrorRecord {
  /** CMDQ_CONS as read (RD + ERR). */
  readonly cons: number;
  /** CMDQ_CONS.ERR. */
  readonly code: number;
  readonly name: string;
  /** The four words of the command in error (as found in the slot). */
  readonly command: readonly number[];
  /** True when the slot was overwritten with a CMD_SYNC (CERROR_ILL and unknown codes). */
  readonly replaced: boolean;
}

export interface CmdqHooks {
  /**
   * Called on every iteration of a wait loop, like an interrupt taken while the CPU polls:
   * `consErr` is CMDQ_CONS.ERR from the last CONS read (0 when MSI polling).
   */
  service(consErr: number): void;
  /** Called on every turn of a spin on memory (GuestRunner.relax). */
  relax?(): void;
}

export interface CmdqStats {
  commands: number;
  syncs: number;
  prodWrites: number;
  errors: number;
}

export class CommandQueue {
  readonly base: number;
  readonly log2: number;
  readonly msiPoll: boolean;
  /** Software copy of PROD (index + wrap). */
  prod = 0;
  /** Last CONS read (index + wrap). */
  cons = 0;
  readonly stats: CmdqStats = { commands: 0, syncs: 0, prodWrites: 0, errors: 0 };
  readonly errors: CmdqErrorRecord[] = [];
  private readonly mmio: MmioPort;
  private readonly ram: GuestMemoryPort;
  private readonly timeoutMs: number;
  private readonly now: GuestClock;
  private readonly hooks: CmdqHooks;
  private readonly w = new Uint32Array(4);
  private readonly tr: Tracer;
  private readonly trSpace: number;
  /** First queue position whose completion the guest has not seen (traced flows end there). */
  private trFrom = 0;

  constructor(
    mmio: MmioPort, ram: GuestMemoryPort, base: number, log2: number,
    opts: { msiPoll: boolean; timeoutMs: number; clock: GuestClock; hooks: CmdqHooks; tracer?: Tracer; traceSpace?: number },
  ) {
    this.tr = opts.tracer ?? NO_TRACE;
    this.trSpace = opts.traceSpace ?? 1;
    this.mmio = mmio;
    this.ram = ram;
    this.base = base;
    this.log2 = log2;
    this.msiPoll = opts.msiPoll;
    this.timeoutMs = opts.timeoutMs;
    this.now = opts.clock;
    this.hooks = opts.hooks;
  }

  /** CMDQ_BASE low/high words: RA (bit 62) | ADDR | LOG2SIZE (Linux Q_BASE_RWA). */
  baseReg(): [number, number] {
    const lo = ((this.base % 4294967296) & ~31 | this.log2) >>> 0;
    const hi = ((Math.floor(this.base / 4294967296) & 0x000fffff) | fieldMask('CMDQ_BASE', 'RA', true)) >>> 0;
    return [lo, hi];
  }

  /** Issues `cmds` in batches of CMDQ_BATCH_ENTRIES; with `sync`, the last batch ends in a CMD_SYNC that is waited for. */
  issue(cmds: readonly Command[], sync: boolean): void {
    let i = 0;
    do {
      const n = Math.min(CMDQ_BATCH_ENTRIES, cmds.length - i);
      const last = i + n >= cmds.length;
      this.issueList(cmds, i, n, sync && last);
      i += n;
    } while (i < cmds.length);
  }

  private issueList(cmds: readonly Command[], from: number, n: number, sync: boolean): void {
    const total = n + (sync ? 1 : 0);
    if (total === 0) return;
    this.waitSpace(total);
    const w = this.w;
    const t0 = this.tr.enabled ? this.tr.stamp() : 0;
    for (let k = 0; k < n; k++) {
      const cmd = cmds[from + k];
      if (cmd === undefined) continue;
      encodeCommand(cmd, w, 0);
      this.put(this.prod, w);
      if (this.tr.enabled) this.tr.flow('cmdq', 's', flowId(this.trSpace, this.prod), cmd.name);
      this.prod = qInc(this.prod, this.log2);
    }
    this.stats.commands += n;
    let syncPos = -1;
    if (sync) {
      syncPos = this.prod;
      const slot = this.slot(syncPos);
      encodeCommand(this.msiPoll ? syncCmd(slot) : syncCmd(0), w, 0);
      this.put(syncPos, w);
      if (this.tr.enabled) this.tr.flow('cmdq', 's', flowId(this.trSpace, syncPos), 'CMD_SYNC');
      this.prod = qInc(this.prod, this.log2);
      this.stats.syncs++;
    }
    this.mmio.write32(CMDQ_PROD, this.prod);
    this.stats.prodWrites++;
    if (this.tr.enabled) this.tr.slice('cmdq', 'cmdq write', t0, { commands: n, sync, prod: this.prod });
    if (sync) this.waitSync(syncPos);
    if (sync && this.tr.enabled) this.traceSynced(syncPos);
  }

  /** The guest saw its CMD_SYNC at `syncPos` complete: every command up to it is done. */
  private traceSynced(syncPos: number): void {
    const t0 = this.tr.stamp();
    const end = qInc(syncPos, this.log2);
    let p = qConsumed(this.trFrom, syncPos, this.log2) ? syncPos : this.trFrom;
    for (let k = 0; p !== end && k < 2 << this.log2; k++, p = qInc(p, this.log2)) this.tr.flow('cmdq', 'f', flowId(this.trSpace, p));
    this.trFrom = end;
    this.tr.slice('cmdq', 'CMD_SYNC completed', t0, { cons: end });
  }

  /** Linux __arm_smmu_cmdq_skip_err: called by the GERROR handler when CMDQ_ERR is active. */
  skipErr(): CmdqErrorRecord {
    const cons = this.mmio.read32(CMDQ_CONS) >>> 0;
    const code = consErr(cons);
    const slot = this.slot(cons);
    const command = this.get(slot);
    // ABT: the fetch is retried; ATC_INV_SYNC: CONS still points at the CMD_SYNC, which is
    // re-executed; NONE: nothing to do. Anything else (ILL) is skipped by turning it into a
    // CMD_SYNC without MSI (CS = SIG_SEV).
    const replaced = code !== CERROR.NONE && code !== CERROR.ABT && code !== CERROR.ATC_INV_SYNC;
    if (replaced) {
      encodeCommand(syncCmd(0), this.w, 0);
      this.putAt(slot, this.w);
    }
    const rec: CmdqErrorRecord = { cons, code, name: CERROR_NAMES[code] ?? 'Unknown', command, replaced };
    this.errors.push(rec);
    this.stats.errors++;
    return rec;
  }

  private slot(pos: number): number {
    return this.base + qIdx(pos, this.log2) * CMD_BYTES;
  }

  private put(pos: number, w: Uint32Array): void {
    this.putAt(this.slot(pos), w);
  }

  private putAt(addr: number, w: Uint32Array): void {
    if (!this.ram.store64(addr, w[0] ?? 0, w[1] ?? 0) || !this.ram.store64(addr + 8, w[2] ?? 0, w[3] ?? 0)) {
      throw new VsmmuError('EVSMMU_GUEST_RANGE', `command queue slot 0x${addr.toString(16)} is not guest RAM`, { ipa: addr });
    }
  }

  private get(addr: number): number[] {
    const out: number[] = [];
    for (const a of [addr, addr + 8]) {
      const lo = this.ram.load64(a);
      out.push(lo >>> 0, lo === -1 ? 0 : this.ram.hi >>> 0);
    }
    return out;
  }

  private readCons(): number {
    const v = this.mmio.read32(CMDQ_CONS) >>> 0;
    this.cons = qPtr(v, this.log2);
    return v;
  }

  private waitSpace(n: number): void {
    if (qSpace(this.prod, this.cons, this.log2) >= n) return;
    const deadline = this.now() + this.timeoutMs;
    for (let it = 0; ; it++) {
      const v = this.readCons();
      if (qSpace(this.prod, this.cons, this.log2) >= n) return;
      this.hooks.service(consErr(v));
      if ((it & 15) === 15 && this.now() > deadline) throw this.timeout('CMDQ space', v);
    }
  }

  private waitSync(syncPos: number): void {
    const deadline = this.now() + this.timeoutMs;
    if (this.msiPoll) {
      const slot = this.slot(syncPos);
      for (let it = 0; ; it++) {
        if (this.ram.load64(slot) === 0) break; // the MSI write (data 0) landed on the slot
        this.hooks.relax?.();
        // Slow: look at CONS.ERR now and then, in case the error interrupt is not wired.
        this.hooks.service((it & 255) === 255 ? consErr(this.readCons()) : 0);
        if ((it & 255) === 255 && this.now() > deadline) throw this.timeout('CMD_SYNC MSI', this.readCons());
      }
      // As Linux (__arm_smmu_cmdq_poll_until_msi): the SMMU consumed up to the SYNC.
      this.cons = qInc(syncPos, this.log2);
      return;
    }
    for (let it = 0; ; it++) {
      const v = this.readCons();
      if (qConsumed(this.cons, syncPos, this.log2)) return;
      this.hooks.service(consErr(v));
      if ((it & 15) === 15 && this.now() > deadline) throw this.timeout('CMD_SYNC CONS', v);
    }
  }

  private timeout(what: string, cons: number): VsmmuError {
    return new VsmmuError('EVSMMU_SMMU_TIMEOUT', `${what}: the SMMU did not complete in ${this.timeoutMs} ms (CMDQ_PROD 0x${this.prod.toString(16)}, CMDQ_CONS 0x${(cons >>> 0).toString(16)})`, {
      prod: this.prod, cons: cons >>> 0,
    });
  }
}

/** Linux's CMD_SYNC: CS = SIG_IRQ with the MSI address when given, else SIG_SEV; MSH ISH, MSIAttr OIWB. */
export function syncCmd(msiAddress: number): Command {
  return msiAddress !== 0
    ? cmdOf('SYNC', { cs: SYNC_CS.SIG_IRQ, msh: SH_ISH, msiAttr: MEMATTR_OIWB, msiAddress })
    : cmdOf('SYNC', { cs: SYNC_CS.SIG_SEV, msh: SH_ISH, msiAttr: MEMATTR_OIWB });
}
