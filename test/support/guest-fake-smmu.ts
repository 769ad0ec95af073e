// An in-process SMMUv3 register file for the guest driver's unit tests: enough of the
// programming interface to run Linux's sequences (ID registers, CR0/IRQ_CTRL acks, GBPA
// handshake, a command queue consumer with CMD_SYNC MSI writes and CERROR_ILL injection,
// GERROR/GERRORN, an event queue producer with overflow). It logs every access so tests
// can check orders. It does not translate anything.

import { CERROR, commandError, decodeCommand, type Command } from '../../src/arch/commands.ts';
import { encodeEvent, type EventRecord, eventOf } from '../../src/arch/events.ts';
import { DEFAULT_FEATURES, encodeIdRegs, type SmmuFeatures } from '../../src/arch/features.ts';
import { R } from '../../src/arch/registers.ts';
import { PageAllocator } from '../../src/mem/alloc.ts';
import { GuestRam, RangeP2m } from '../../src/mem/guest-ram.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import type { MmioPort } from '../../src/guest/ports.ts';

export const RAM_IPA = 0x4000_0000;

export interface Access {
  readonly op: 'r' | 'w';
  readonly off: number;
  readonly value: number;
}

export interface FakeOptions {
  features?: Partial<SmmuFeatures>;
  /** CR0ACK follows CR0 only after this many CR0ACK reads (0 = at once; Infinity = never). */
  ackDelay?: number;
  /** Opcodes the fake rejects with CERROR_ILL (besides commandError()). */
  illegalOps?: number[];
}

export class FakeSmmu implements MmioPort {
  readonly regs = new Map<number, number>();
  readonly log: Access[] = [];
  /** Every command consumed, in order, with its words. */
  readonly commands: { cmd: Command; words: number[] }[] = [];
  readonly features: SmmuFeatures;
  irq = false;
  /** Called as each command is consumed (before a SYNC's MSI write). */
  onCommand: ((cmd: Command) => void) | null = null;
  private readonly ram: GuestRam;
  private readonly ackDelay: number;
  private ackReads = 0;
  private readonly illegal: Set<number>;

  constructor(ram: GuestRam, opts: FakeOptions = {}) {
    this.ram = ram;
    this.features = { ...DEFAULT_FEATURES, ...opts.features };
    this.ackDelay = opts.ackDelay ?? 0;
    this.illegal = new Set(opts.illegalOps ?? []);
    const id = encodeIdRegs(this.features);
    this.set(R.IDR0, id.idr0);
    this.set(R.IDR1, id.idr1);
    this.set(R.IDR3, id.idr3);
    this.set(R.IDR5, id.idr5);
    this.set(R.IIDR, id.iidr);
    this.set(R.GBPA, 0x1000);
  }

  get(off: number): number {
    return this.regs.get(off) ?? 0;
  }
  set(off: number, v: number): void {
    this.regs.set(off, v >>> 0);
  }

  read32(off: number): number {
    let v = this.get(off);
    if (off === R.CR0ACK) {
      this.ackReads++;
      if (this.ackReads > this.ackDelay) this.set(R.CR0ACK, this.get(R.CR0));
      v = this.get(R.CR0ACK);
    }
    this.log.push({ op: 'r', off, value: v });
    return v;
  }

  write32(off: number, value: number): void {
    value >>>= 0;
    this.log.push({ op: 'w', off, value });
    switch (off) {
      case R.CR0:
        this.set(R.CR0, value);
        this.ackReads = 0;
        if (this.ackDelay === 0) this.set(R.CR0ACK, value);
        return;
      case R.IRQ_CTRL:
        this.set(R.IRQ_CTRL, value);
        this.set(R.IRQ_CTRLACK, value);
        return;
      case R.GBPA:
        // Update completes at once; writes without Update are ignored (v3.2).
        if (value & 0x80000000) this.set(R.GBPA, value & 0x7fffffff);
        return;
      case R.CMDQ_PROD:
        this.set(off, value);
        this.runCmdq();
        return;
      case R.GERRORN:
        this.set(off, value);
        this.runCmdq();
        return;
      default:
        this.set(off, value);
    }
  }

  /** Offsets of the writes, in order (a compact view of the log). */
  writes(): number[] {
    return this.log.filter((a) => a.op === 'w').map((a) => a.off);
  }

  private cmdqLog2(): number {
    return Math.min(this.get(R.CMDQ_BASE) & 31, this.features.cmdqLog2);
  }

  private cmdqBase(): number {
    return ((this.get(R.CMDQ_BASE) & ~31) >>> 0) + (this.get(R.CMDQ_BASE + 4) & 0xfffff) * 4294967296;
  }

  private runCmdq(): void {
    if ((this.get(R.CR0) & 8) === 0) return;
    const active = (this.get(R.GERROR) ^ this.get(R.GERRORN)) & 1;
    if (active) return;
    const log2 = this.cmdqLog2();
    const mask = (2 << log2) - 1;
    let cons = this.get(R.CMDQ_CONS) & mask;
    const prod = this.get(R.CMDQ_PROD) & mask;
    const base = this.cmdqBase();
    while (cons !== prod) {
      const slot = base + (cons & ((1 << log2) - 1)) * 16;
      const words = [this.ram.read32(slot), this.ram.read32(slot + 4), this.ram.read32(slot + 8), this.ram.read32(slot + 12)];
      const cmd = decodeCommand(words, 0);
      const err = this.illegal.has(cmd.op) ? CERROR.ILL : commandError(cmd, this.features);
      if (err !== CERROR.NONE) {
        this.set(R.CMDQ_CONS, cons | (err << 24));
        this.set(R.GERROR, this.get(R.GERROR) ^ 1);
        this.irq = true;
        return;
      }
      this.commands.push({ cmd, words });
      this.onCommand?.(cmd);
      if (cmd.name === 'SYNC' && cmd.cs === 1 && cmd.msiAddress !== 0 && this.features.msi) {
        this.ram.write32(cmd.msiAddress, cmd.msiData);
      }
      cons = (cons + 1) & mask;
      this.set(R.CMDQ_CONS, cons | (this.get(R.CMDQ_CONS) & 0x7f000000));
    }
  }

  /** Produces an event record (discarded with OVFLG toggled when the queue is full). */
  pushEvent(p: Partial<EventRecord>): boolean {
    const log2 = Math.min(this.get(R.EVENTQ_BASE) & 31, this.features.evtqLog2);
    const mask = (2 << log2) - 1;
    const prodReg = this.get(R.EVENTQ_PROD);
    const prod = prodReg & mask;
    const cons = this.get(R.EVENTQ_CONS) & mask;
    const full = (prod & ((1 << log2) - 1)) === (cons & ((1 << log2) - 1)) && prod !== cons;
    this.irq = true;
    if (full) {
      const ovActive = ((prodReg ^ this.get(R.EVENTQ_CONS)) & 0x80000000) !== 0;
      if (!ovActive) this.set(R.EVENTQ_PROD, prodReg ^ 0x80000000);
      return false;
    }
    const base = ((this.get(R.EVENTQ_BASE) & ~31) >>> 0) + (this.get(R.EVENTQ_BASE + 4) & 0xfffff) * 4294967296;
    const w = new Uint32Array(8);
    encodeEvent(eventOf(p), w, 0);
    const slot = base + (prod & ((1 << log2) - 1)) * 32;
    for (let i = 0; i < 8; i++) this.ram.write32(slot + 4 * i, w[i] ?? 0);
    this.set(R.EVENTQ_PROD, (prodReg & 0x80000000) | ((prod + 1) & mask));
    return true;
  }
}

/** A guest's RAM (IPA RAM_IPA.., backed from PA 0) with an allocator over it. */
export function guestRam(size = 16 * 1024 * 1024): { ram: GuestRam; alloc: PageAllocator; mem: PhysMemory } {
  const mem = PhysMemory.create(size);
  const p2m = new RangeP2m([{ ipa: RAM_IPA, pa: 0, size }]);
  const ram = new GuestRam(mem, p2m.lookup, 4096);
  const alloc = new PageAllocator(RAM_IPA, size, 4096);
  return { ram, alloc, mem };
}
