// A minimal test-side guest kernel: programs its vSMMU through MMIO (in-process calls into
// Xen, or traps on a real trap channel) and builds its stream table, CDs, stage-1 tables and
// queues in its own RAM by IPA, the way Linux does (FACTS §8). Used by the Xen core tests and
// the integration tests; not the project's guest driver (src/guest).

import { CMD_WORDS, cmdOf, encodeCommand, type CommandName, type CommandOf } from '../../src/arch/commands.ts';
import { CD_WORDS, cdOf, encodeCd } from '../../src/arch/cd.ts';
import { decodeEvent, type EventRecord } from '../../src/arch/events.ts';
import { PROT_READ, PROT_WRITE, PageTable } from '../../src/arch/pgtable.ts';
import { R } from '../../src/arch/registers.ts';
import type { WordReader, WordWriter } from '../../src/arch/types.ts';
import { PageAllocator } from '../../src/mem/alloc.ts';
import { GUEST_RAM0_BASE } from '../../src/xen/layout.ts';

/** The guest's MMIO to its vSMMU window (offsets from the window base). */
export interface GuestMmio {
  read32(off: number): number;
  write32(off: number, v: number): void;
}

/** The guest's RAM by IPA. */
export type GuestMem = WordReader & WordWriter & { read32(ipa: number): number; write32(ipa: number, v: number): void };

/** Guest-RAM layout of the test guest (IPAs; RAM starts at 1 GiB). */
export const G = {
  STRTAB: GUEST_RAM0_BASE + 0x10_0000, // linear, 256 STEs (16 KiB)
  CMDQ: GUEST_RAM0_BASE + 0x12_0000, // 256 x 16 B
  EVTQ: GUEST_RAM0_BASE + 0x13_0000, // 64 x 32 B
  CDS: GUEST_RAM0_BASE + 0x14_0000, // one CD page per vSID slot (64 B each)
  SYNC_MSI: GUEST_RAM0_BASE + 0x15_0000,
  HEAP: GUEST_RAM0_BASE + 0x20_0000, // stage-1 tables
  HEAP_SIZE: 0x20_0000,
  DATA: GUEST_RAM0_BASE + 0x40_0000, // DMA buffers
} as const;

export class TestGuest {
  readonly mmio: GuestMmio;
  readonly mem: GuestMem;
  readonly cmdqLog2 = 8;
  readonly evtqLog2 = 6;
  prod = 0;
  evtCons = 0;
  readonly tables = new Map<number, PageTable>();
  private readonly heap = new PageAllocator(G.HEAP, G.HEAP_SIZE);

  constructor(mmio: GuestMmio, mem: GuestMem) {
    this.mmio = mmio;
    this.mem = mem;
  }

  w(off: number, v: number): void {
    this.mmio.write32(off, v >>> 0);
  }
  r(off: number): number {
    return this.mmio.read32(off) >>> 0;
  }
  private w64(off: number, v: number, hiBits = 0): void {
    this.w(off, v % 4294967296);
    this.w(off + 4, Math.floor(v / 4294967296) | hiBits);
  }
  private zero(ipa: number, bytes: number): void {
    for (let a = ipa; a < ipa + bytes; a += 8) this.mem.store64(a, 0, 0);
  }

  /** Linux's reset order: tables and queues, CMDQEN, CFGI_ALL + SYNC, EVTQ, IRQs, SMMUEN. */
  reset(irqCtrl = 0x5): void {
    this.w(R.CR0, 0);
    this.zero(G.STRTAB, 256 * 64);
    this.w(R.CR1, 0xd75);
    this.w(R.CR2, 0x6);
    this.w64(R.STRTAB_BASE, G.STRTAB, 1 << 30);
    this.w(R.STRTAB_BASE_CFG, 8); // linear, 256 StreamIDs
    this.w64(R.CMDQ_BASE, G.CMDQ + this.cmdqLog2, 1 << 30);
    this.w(R.CMDQ_PROD, 0);
    this.w(R.CMDQ_CONS, 0);
    this.prod = 0;
    this.w(R.CR0, 0x8);
    this.submit(this.cmd('CFGI_STE_RANGE', { range: 31 }), this.cmd('SYNC'));
    this.w64(R.EVENTQ_BASE, G.EVTQ + this.evtqLog2, 1 << 30);
    this.w(R.EVENTQ_PROD, 0);
    this.w(R.EVENTQ_CONS, 0);
    this.evtCons = 0;
    this.w(R.CR0, 0xc);
    this.w(R.IRQ_CTRL, irqCtrl);
    this.w(R.CR0, 0xd);
  }

  cmd<N extends CommandName>(name: N, p: Partial<Omit<CommandOf<N>, 'name' | 'op'>> = {}): Uint32Array {
    const out = new Uint32Array(CMD_WORDS);
    encodeCommand(cmdOf(name, p), out);
    return out;
  }

  /** Writes commands at PROD and publishes them (one trap). */
  submit(...cmds: Uint32Array[]): void {
    for (const c of cmds) {
      const at = G.CMDQ + (this.prod & ((1 << this.cmdqLog2) - 1)) * 16;
      this.mem.store64(at, c[0] ?? 0, c[1] ?? 0);
      this.mem.store64(at + 8, c[2] ?? 0, c[3] ?? 0);
      this.prod = (this.prod + 1) & ((2 << this.cmdqLog2) - 1);
    }
    this.w(R.CMDQ_PROD, this.prod);
  }

  /** Whether CONS has caught up with PROD (no error). */
  drained(): boolean {
    const c = this.r(R.CMDQ_CONS);
    return (c & 0xfffff) === this.prod && c >>> 24 === 0;
  }

  /** A stage-1 domain for vSID `sid`: CD (ASID) + its own page table, STE, CFGI_STE + SYNC. */
  attachS1(sid: number, asid: number): PageTable {
    const pt = new PageTable({
      stage: 1, granuleShift: 12, ias: 48, oas: 40, mem: this.mem,
      alloc: (bytes, align) => {
        const ipa = this.heap.alloc(bytes, align);
        if (ipa >= 0) this.zero(ipa, Math.ceil(bytes / 4096) * 4096);
        return ipa;
      },
    });
    this.tables.set(sid, pt);
    const cd = new Uint32Array(CD_WORDS);
    encodeCd(cdOf({
      t0sz: 16, tg0: 0, ir0: 1, or0: 1, sh0: 3, epd1: 1, v: 1, ips: 2, aa64: 1, r: 1, a: 1, aset: 1,
      asid, ttb0: pt.root, mair0: 0xf404ff44,
    }), cd);
    const cdAt = G.CDS + sid * 64;
    for (let i = 0; i < 8; i++) this.mem.store64(cdAt + 8 * i, cd[2 * i] ?? 0, cd[2 * i + 1] ?? 0);
    this.writeSte(sid, [(cdAt | 0xb) >>> 0, 0, 0xd6]);
    this.submit(this.cmd('CFGI_STE', { sid, leaf: 1 }), this.cmd('SYNC'));
    return pt;
  }

  writeSte(sid: number, words: ArrayLike<number>): void {
    const at = G.STRTAB + sid * 64;
    for (let i = 7; i >= 0; i--) this.mem.store64(at + 8 * i, words[2 * i] ?? 0, words[2 * i + 1] ?? 0);
  }

  map(sid: number, iova: number, ipa: number, size: number, prot = PROT_READ | PROT_WRITE): void {
    this.tables.get(sid)?.map(iova, ipa, size, prot);
  }

  unmap(sid: number, iova: number, size: number): void {
    this.tables.get(sid)?.unmap(iova, size);
  }

  /** Unconsumed guest events (consumed and acknowledged). */
  events(): EventRecord[] {
    const out: EventRecord[] = [];
    const prod = this.r(R.EVENTQ_PROD);
    const mask = (2 << this.evtqLog2) - 1;
    while ((this.evtCons & mask) !== (prod & mask)) {
      const at = G.EVTQ + (this.evtCons & ((1 << this.evtqLog2) - 1)) * 32;
      const w = Array.from({ length: 8 }, (_, i) => this.mem.read32(at + 4 * i));
      out.push(decodeEvent(w));
      this.evtCons = (this.evtCons + 1) & mask;
    }
    this.w(R.EVENTQ_CONS, (this.evtCons | (prod & 0x8000_0000)) >>> 0);
    return out;
  }
}
