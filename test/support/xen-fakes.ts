// Fakes for in-process tests of the vSMMU: guest RAM as an identity-mapped window of a
// PhysMemory (IPA = PA inside [base, base + size), everything else unowned), a physical
// side that records what Xen asked of it, and a tiny guest driver that programs the vSMMU
// the way Linux does (FACTS §8.1).

import { CMD_WORDS, encodeCommand, cmdOf, type CommandName, type CommandOf } from '../../src/arch/commands.ts';
import { DEFAULT_FEATURES, type SmmuFeatures } from '../../src/arch/features.ts';
import { decodeEvent, type EventRecord } from '../../src/arch/events.ts';
import { R } from '../../src/arch/registers.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { VSmmuV3, type GuestMemPort, type VsmmuOptions, type VsmmuPhys } from '../../src/xen/vsmmuv3.ts';
import type { GuestSteConfig } from '../../src/xen/vsmmuv3-ste.ts';

export class FakeRam implements GuestMemPort {
  hi = 0;
  readonly mem: PhysMemory;
  readonly base: number;
  readonly size: number;
  constructor(base: number, size: number) {
    this.base = base;
    this.size = size;
    this.mem = PhysMemory.create(size); // PA = IPA - base
  }
  owns(ipa: number, len: number): boolean {
    return Number.isSafeInteger(ipa) && ipa >= this.base && ipa + len <= this.base + this.size;
  }
  load64(ipa: number): number {
    if (!this.owns(ipa, 8)) return -1;
    const lo = this.mem.load64(ipa - this.base);
    this.hi = this.mem.hi;
    return lo;
  }
  store64(ipa: number, lo: number, hi: number): boolean {
    return this.owns(ipa, 8) && this.mem.store64(ipa - this.base, lo, hi);
  }
  store32(ipa: number, v: number): boolean {
    if (!this.owns(ipa, 4) || ipa % 4 !== 0) return false;
    this.mem.write32(ipa - this.base, v);
    return true;
  }
  w64(ipa: number, lo: number, hi = 0): void {
    if (!this.store64(ipa, lo, hi)) throw new Error(`test bug: IPA ${ipa.toString(16)} not guest RAM`);
  }
  words(ipa: number, n: number): number[] {
    return Array.from({ length: n }, (_, i) => this.mem.read32(ipa - this.base + 4 * i));
  }
}

export class FakePhys implements VsmmuPhys {
  readonly installs: Array<{ psid: number; cfg: GuestSteConfig }> = [];
  readonly forwarded: Uint32Array[] = [];
  readonly syncs: number[] = [];
  /** When false, physical SYNCs stay pending until `completeAll`. */
  autoComplete = true;
  private done = 0;
  private next = 0;
  setStreamConfig(psid: number, cfg: GuestSteConfig): void {
    this.installs.push({ psid, cfg: { kind: cfg.kind, words: Uint32Array.from(cfg.words) } });
  }
  forward(cmd: Uint32Array): void {
    this.forwarded.push(Uint32Array.from(cmd));
  }
  sync(): number {
    const t = ++this.next;
    this.syncs.push(t);
    if (this.autoComplete) this.done = t;
    return t;
  }
  syncDone(ticket: number): boolean {
    return ticket <= this.done;
  }
  completeAll(): void {
    this.done = this.next;
  }
  lastInstall(psid: number): GuestSteConfig | undefined {
    return this.installs.filter((i) => i.psid === psid).at(-1)?.cfg;
  }
}

export const RAM_BASE = 0x4000_0000;
export const RAM_SIZE = 0x0040_0000; // 4 MiB is plenty for tables and queues
/** Guest structures (IPAs). */
export const STRTAB = RAM_BASE + 0x10_0000;
export const CMDQ = RAM_BASE + 0x20_0000;
export const EVTQ = RAM_BASE + 0x28_0000;
export const CDTAB = RAM_BASE + 0x30_0000;
export const MSI_SLOT = RAM_BASE + 0x38_0000;

export interface Rig {
  v: VSmmuV3;
  ram: FakeRam;
  phys: FakePhys;
  irq: boolean[];
  drv: GuestDriver;
}

export function rig(opts: Partial<Omit<VsmmuOptions, 'ram' | 'backend' | 'irq'>> & { physFeatures?: Partial<SmmuFeatures> } = {}): Rig {
  const ram = new FakeRam(RAM_BASE, RAM_SIZE);
  const phys = new FakePhys();
  const irq: boolean[] = [];
  const v = new VSmmuV3({
    phys: { ...DEFAULT_FEATURES, ...(opts.physFeatures ?? {}) },
    ipaBits: 40,
    vmid: 7,
    ...opts,
    ram,
    backend: phys,
    irq: (l) => irq.push(l),
  });
  return { v, ram, phys, irq, drv: new GuestDriver(v, ram) };
}

/** What a guest kernel does with its vSMMU, through MMIO and its RAM. */
export class GuestDriver {
  cmdqLog2 = 8;
  evtqLog2 = 6;
  prod = 0;
  evtCons = 0;
  readonly v: VSmmuV3;
  readonly ram: FakeRam;
  constructor(v: VSmmuV3, ram: FakeRam) {
    this.v = v;
    this.ram = ram;
  }

  w(off: number, val: number): void {
    this.v.write32(off, val >>> 0);
  }
  r(off: number): number {
    return this.v.read32(off);
  }
  w64(off: number, addr: number): void {
    this.w(off, addr % 4294967296);
    this.w(off + 4, Math.floor(addr / 4294967296));
  }

  /** Linear stream table of 2^log2 STEs, queues, enables (Linux's reset order). */
  reset(o: { log2?: number; twoLevel?: boolean; smmuen?: boolean; irq?: number } = {}): void {
    this.w(R.CR0, 0);
    this.w(R.CR1, 0xd75);
    this.w(R.CR2, 0x6);
    this.w64(R.STRTAB_BASE, STRTAB);
    const log2 = o.log2 ?? 8;
    this.w(R.STRTAB_BASE_CFG, o.twoLevel ? (1 << 16) | (8 << 6) | log2 : log2);
    this.w64(R.CMDQ_BASE, CMDQ + this.cmdqLog2);
    this.w(R.CMDQ_PROD, 0);
    this.w(R.CMDQ_CONS, 0);
    this.prod = 0;
    this.w(R.CR0, 0x8);
    this.w64(R.EVENTQ_BASE, EVTQ + this.evtqLog2);
    this.w(R.EVENTQ_PROD, 0);
    this.w(R.EVENTQ_CONS, 0);
    this.evtCons = 0;
    this.w(R.CR0, 0xc);
    this.w(R.IRQ_CTRL, o.irq ?? 0x5);
    if (o.smmuen ?? true) this.w(R.CR0, 0xd);
  }

  steAddr(sid: number): number {
    return STRTAB + sid * 64;
  }

  /** Writes 16 STE words for `sid` (linear table). */
  writeSte(sid: number, words: ArrayLike<number>, at = this.steAddr(sid)): void {
    for (let i = 0; i < 8; i++) this.ram.w64(at + 8 * i, words[2 * i] ?? 0, words[2 * i + 1] ?? 0);
  }

  /** A Linux-like S1 STE: V, Config S1, CD table at CDTAB, S1DSS = 2, CIR/COR/CSH. */
  s1Ste(cdtab = CDTAB, extra: { w0?: number; w1?: number; w2?: number } = {}): number[] {
    const w = new Array<number>(16).fill(0);
    w[0] = ((cdtab % 4294967296) | 0xb | (extra.w0 ?? 0)) >>> 0;
    w[1] = (Math.floor(cdtab / 4294967296) | (extra.w1 ?? 0)) >>> 0;
    w[2] = (0xd6 | (extra.w2 ?? 0)) >>> 0; // S1DSS=2, CIR=1, COR=1, CSH=3
    return w;
  }

  /** Appends raw commands to the queue (not yet published). */
  push(...cmds: ArrayLike<number>[]): void {
    for (const c of cmds) {
      const idx = this.prod & ((1 << this.cmdqLog2) - 1);
      const at = CMDQ + idx * 16;
      this.ram.w64(at, c[0] ?? 0, c[1] ?? 0);
      this.ram.w64(at + 8, c[2] ?? 0, c[3] ?? 0);
      this.prod = (this.prod + 1) & ((2 << this.cmdqLog2) - 1);
    }
  }

  /** Publishes PROD (the trap) and lets Xen run the queue as after a trap. */
  publish(runBudget?: number): number {
    this.w(R.CMDQ_PROD, this.prod);
    return this.v.run(runBudget);
  }

  issue(...cmds: ArrayLike<number>[]): number {
    this.push(...cmds);
    return this.publish();
  }

  cons(): number {
    return this.r(R.CMDQ_CONS);
  }

  /** Events the guest has not consumed yet (and consumes them). */
  events(): EventRecord[] {
    const out: EventRecord[] = [];
    const prod = this.r(R.EVENTQ_PROD);
    const mask = (2 << this.evtqLog2) - 1;
    while ((this.evtCons & mask) !== (prod & mask)) {
      const idx = this.evtCons & ((1 << this.evtqLog2) - 1);
      out.push(decodeEvent(this.ram.words(EVTQ + idx * 32, 8)));
      this.evtCons = (this.evtCons + 1) & mask;
    }
    this.w(R.EVENTQ_CONS, (this.evtCons | (prod & 0x8000_0000)) >>> 0);
    return out;
  }
}

export function cmd<N extends CommandName>(name: N, p: Partial<Omit<CommandOf<N>, 'name' | 'op'>> = {}): Uint32Array {
  const out = new Uint32Array(CMD_WORDS);
  encodeCommand(cmdOf(name, p), out);
  return out;
}
