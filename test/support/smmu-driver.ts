// A minimal SMMUv3 driver for tests: programs the SMMU only through its registers and
// physical memory, in Linux's order (FACTS §8.1). Works against an SMMU on another thread
// (waits on the register page's update counter) or in-process (`pump` runs smmu.step()).

import { cmdOf, encodeCommand, type Command } from '../../src/arch/commands.ts';
import { encodeCd, type Cd } from '../../src/arch/cd.ts';
import { decodeEvent, type EventRecord } from '../../src/arch/events.ts';
import type { SmmuFeatures } from '../../src/arch/features.ts';
import { qIdx, qInc, qPtr, PROD_OVFLG } from '../../src/arch/queue.ts';
import { CR0, IRQ_CTRL, R } from '../../src/arch/registers.ts';
import { encodeL1Std, encodeSte, type Ste } from '../../src/arch/ste.ts';
import type { WordWriter } from '../../src/arch/types.ts';
import type { PageAllocator } from '../../src/mem/alloc.ts';
import type { PhysMemory } from '../../src/mem/phys.ts';
import { SmmuRegisterPort, type RegisterPageDesc } from '../../src/smmu/regpage.ts';
import { pollRegister, waitSev } from '../../src/runtime/regwait.ts';

/** The SMMU's register port with the thread-side waits a test driver needs. */
export class WaitingRegisterPort extends SmmuRegisterPort {
  /** Polls `off` until `done(value)`, sleeping on the SMMU's update counter; undefined on timeout. */
  poll32(off: number, done: (v: number) => boolean, timeoutMs = 5000): number | undefined {
    return pollRegister(this.raw, (o) => this.read32(o), off, done, timeoutMs);
  }

  /** Blocks until a SEV after `seen` (or the timeout); true if one came. */
  waitSev(seen: number, timeoutMs: number): boolean {
    return waitSev(this.raw, seen, timeoutMs);
  }
}

export interface DriverOptions {
  readonly mem: PhysMemory;
  readonly regs: RegisterPageDesc;
  readonly features: Readonly<SmmuFeatures>;
  /** Allocator of physical memory for the driver's tables and queues. */
  readonly alloc: PageAllocator;
  /** In-process SMMU: called while waiting for a register change. */
  readonly pump?: () => unknown;
}

export interface ResetOptions {
  readonly sidBits?: number;
  readonly twoLevel?: boolean;
  readonly cmdqLog2?: number;
  readonly evtqLog2?: number;
  readonly irq?: boolean;
  readonly enable?: boolean;
  /** CR2 (default PTM | RECINVSID). */
  readonly cr2?: number;
}

const SYNC_SEV = 2;

export class SmmuTestDriver {
  readonly port: WaitingRegisterPort;
  readonly mem: PhysMemory;
  readonly alloc: PageAllocator;
  private readonly pump: (() => unknown) | undefined;
  cmdqBase = 0;
  cmdqLog2 = 0;
  prod = 0;
  evtqBase = 0;
  evtqLog2 = 0;
  strtabBase = 0;
  sidBits = 0;
  twoLevel = false;
  private readonly l2 = new Map<number, number>();
  /** What reset() allocated (freed by the next reset). */
  private owned: number[] = [];

  constructor(o: DriverOptions) {
    this.port = new WaitingRegisterPort(o.regs, o.features);
    this.mem = o.mem;
    this.alloc = o.alloc;
    this.pump = o.pump;
  }

  /** Waits (handshake) until the register at `off` satisfies `done`; throws on timeout. */
  waitReg(off: number, done: (v: number) => boolean, what = `register 0x${off.toString(16)}`): number {
    if (this.pump) {
      for (let i = 0; i < 10000; i++) {
        const v = this.port.read32(off);
        if (done(v)) return v;
        this.pump();
      }
      throw new Error(`timeout waiting for ${what}`);
    }
    const v = this.port.poll32(off, done, 10_000);
    if (v === undefined) throw new Error(`timeout waiting for ${what}`);
    return v;
  }

  private setCr0(v: number): void {
    this.port.write32(R.CR0, v);
    this.waitReg(R.CR0ACK, (a) => a === v, `CR0ACK = 0x${v.toString(16)}`);
  }

  private zeroed(bytes: number, align: number): number {
    const pa = this.alloc.alloc(bytes, align);
    if (pa < 0) throw new Error('out of test memory');
    this.mem.fill(pa, bytes, 0);
    this.owned.push(pa);
    return pa;
  }

  /** Linux's reset and enable sequence (FACTS §8.1). */
  reset(o: ResetOptions = {}): void {
    const port = this.port;
    if (port.read32(R.CR0ACK) & CR0.SMMUEN) {
      port.write32(R.GBPA, 0x80000000 | 0x00100000);
      this.waitReg(R.GBPA, (v) => (v & 0x80000000) === 0, 'GBPA.Update');
    }
    this.setCr0(0);
    for (const pa of this.owned) this.alloc.free(pa);
    this.owned = [];
    // Acknowledge global errors left active by a previous owner.
    port.write32(R.GERRORN, port.read32(R.GERROR));
    port.write32(R.CR1, 0xd75);
    port.write32(R.CR2, o.cr2 ?? 0x6); // PTM | RECINVSID
    this.sidBits = o.sidBits ?? 8;
    this.twoLevel = o.twoLevel ?? false;
    this.l2.clear();
    if (this.twoLevel) {
      const l1 = 2 ** Math.max(0, this.sidBits - 8);
      this.strtabBase = this.zeroed(Math.max(64, l1 * 8), Math.max(64, l1 * 8));
      port.write64Pair(R.STRTAB_BASE, this.strtabBase % 2 ** 32, 0x40000000 + Math.floor(this.strtabBase / 2 ** 32));
      port.write32(R.STRTAB_BASE_CFG, (1 << 16) | (8 << 6) | this.sidBits);
    } else {
      const bytes = 64 * 2 ** this.sidBits;
      this.strtabBase = this.zeroed(bytes, bytes);
      port.write64Pair(R.STRTAB_BASE, this.strtabBase % 2 ** 32, 0x40000000 + Math.floor(this.strtabBase / 2 ** 32));
      port.write32(R.STRTAB_BASE_CFG, this.sidBits);
    }
    this.cmdqLog2 = o.cmdqLog2 ?? 8;
    const cbytes = 16 * 2 ** this.cmdqLog2;
    this.cmdqBase = this.zeroed(cbytes, Math.max(32, cbytes));
    port.write64Pair(R.CMDQ_BASE, (this.cmdqBase % 2 ** 32) | this.cmdqLog2, 0x40000000 + Math.floor(this.cmdqBase / 2 ** 32));
    port.write32(R.CMDQ_PROD, 0);
    port.write32(R.CMDQ_CONS, 0);
    this.prod = 0;
    this.setCr0(CR0.CMDQEN);
    this.cmdSync([cmdOf('CFGI_STE_RANGE', { range: 31 })]);
    this.cmdSync([cmdOf('TLBI_NSNH_ALL')]);
    this.evtqLog2 = o.evtqLog2 ?? 6;
    const ebytes = 32 * 2 ** this.evtqLog2;
    this.evtqBase = this.zeroed(ebytes, Math.max(32, ebytes));
    port.write64Pair(R.EVENTQ_BASE, (this.evtqBase % 2 ** 32) | this.evtqLog2, 0x40000000 + Math.floor(this.evtqBase / 2 ** 32));
    port.write32(R.EVENTQ_PROD, 0);
    port.write32(R.EVENTQ_CONS, 0);
    this.setCr0(CR0.CMDQEN | CR0.EVENTQEN);
    port.write32(R.IRQ_CTRL, 0);
    this.waitReg(R.IRQ_CTRLACK, (v) => v === 0, 'IRQ_CTRLACK = 0');
    port.write64Pair(R.GERROR_IRQ_CFG0, 0, 0);
    port.write64Pair(R.EVENTQ_IRQ_CFG0, 0, 0);
    if (o.irq ?? true) {
      const irq = IRQ_CTRL.GERROR_IRQEN | IRQ_CTRL.EVENTQ_IRQEN;
      port.write32(R.IRQ_CTRL, irq);
      this.waitReg(R.IRQ_CTRLACK, (v) => v === irq, 'IRQ_CTRLACK');
    }
    if (o.enable ?? true) this.setCr0(CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
  }

  /** PA of the STE of `sid`, allocating its L2 table (Span 9, 256 STEs) when 2-level. */
  steAddr(sid: number): number {
    if (!this.twoLevel) return this.strtabBase + sid * 64;
    const l1 = sid >>> 8;
    let l2 = this.l2.get(l1);
    if (l2 === undefined) {
      l2 = this.zeroed(256 * 64, 256 * 64);
      this.l2.set(l1, l2);
      const [lo, hi] = encodeL1Std({ span: 9, l2ptr: l2 });
      this.mem.store64(this.strtabBase + l1 * 8, lo, hi);
    }
    return l2 + (sid & 255) * 64;
  }

  writeSte(sid: number, ste: Ste): void {
    writeWords(this.mem, this.steAddr(sid), (w) => encodeSte(ste, w));
  }

  /** Writes a CD at `at` through `mem` (physical memory, or a guest's IPA view when nested). */
  writeCd(at: number, cd: Cd, mem: WordWriter = this.mem): void {
    writeWords(mem, at, (w) => encodeCd(cd, w));
  }

  /** Writes commands at PROD and publishes PROD (no wait). */
  submit(cmds: readonly Command[]): void {
    const w = new Uint32Array(4);
    for (const c of cmds) {
      encodeCommand(c, w);
      const at = this.cmdqBase + qIdx(this.prod, this.cmdqLog2) * 16;
      this.mem.store64(at, w[0] ?? 0, w[1] ?? 0);
      this.mem.store64(at + 8, w[2] ?? 0, w[3] ?? 0);
      this.prod = qInc(this.prod, this.cmdqLog2);
    }
    this.port.write32(R.CMDQ_PROD, this.prod);
  }

  /** Submits `cmds` + CMD_SYNC (CS = SEV) and waits for CONS to pass the SYNC. */
  cmdSync(cmds: readonly Command[], sync: Command = cmdOf('SYNC', { cs: SYNC_SEV })): void {
    this.submit([...cmds, sync]);
    this.waitConsPast();
  }

  /** Waits until CONS = PROD (every submitted command consumed); throws on a CMDQ error. */
  waitConsPast(): void {
    const target = this.prod;
    const errActive = (): boolean => ((this.port.read32(R.GERROR) ^ this.port.read32(R.GERRORN)) & 1) !== 0;
    this.waitReg(R.CMDQ_CONS, (v) => qPtr(v, this.cmdqLog2) === target || errActive(), 'CMDQ_CONS');
    const cons = this.port.read32(R.CMDQ_CONS);
    if (qPtr(cons, this.cmdqLog2) !== target) throw new Error(`CMDQ error ${(cons >>> 24) & 0x7f} at ${qPtr(cons, this.cmdqLog2)}`);
  }

  /** Reads every pending event record and consumes them (acknowledging any overflow). */
  readEvents(): EventRecord[] {
    const out: EventRecord[] = [];
    const prodReg = this.port.read32(R.EVENTQ_PROD);
    let cons = this.port.read32(R.EVENTQ_CONS);
    const log2 = this.evtqLog2;
    const w = new Uint32Array(8);
    while (qPtr(cons, log2) !== qPtr(prodReg, log2)) {
      const at = this.evtqBase + qIdx(cons, log2) * 32;
      for (let i = 0; i < 4; i++) {
        w[2 * i] = this.mem.load64(at + 8 * i);
        w[2 * i + 1] = this.mem.hi;
      }
      out.push(decodeEvent(w));
      cons = qInc(cons, log2);
    }
    this.port.write32(R.EVENTQ_CONS, (qPtr(cons, log2) | (prodReg & PROD_OVFLG)) >>> 0);
    return out;
  }
}

/** PA of the leaf descriptor of `va` in a 4K-granule, 4-level stage-1 table at `root` (-1 if none). */
export function leafSlot(mem: PhysMemory, root: number, va: number): number {
  let table = root;
  for (let level = 0; level <= 3; level++) {
    const slot = table + (Math.floor(va / 2 ** (39 - 9 * level)) % 512) * 8;
    const lo = mem.load64(slot);
    const hi = mem.hi;
    if (lo < 0 || (lo & 1) === 0) return -1;
    if (level === 3 || (lo & 2) === 0) return slot;
    table = (hi & 0xffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
  }
  return -1;
}

function writeWords(mem: WordWriter, at: number, fill: (w: Uint32Array) => void): void {
  const w = new Uint32Array(16);
  fill(w);
  // dw0 last, so the structure becomes valid only once complete.
  for (let i = 7; i >= 0; i--) mem.store64(at + 8 * i, w[2 * i] ?? 0, w[2 * i + 1] ?? 0);
}
