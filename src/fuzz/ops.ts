// The fuzzer's inputs: a list of plain-data operations generated from a seed, before the run
// (so a seed replays, and a failing list can be shrunk by deleting operations). Most are a
// hostile guest's: register accesses to its vSMMU, words written into its own RAM (stream
// table, CDs, stage-1 tables, commands with any fields), DMA by its devices. The others are
// well-behaved guests' calls that check their own data, faults and invalidations.
//
// Generation is structure-aware: it keeps a model of where the hostile guest put its queues
// and tables and aims most writes at them, with fields drawn from the architecture's layouts
// (edge values often), and pointers aimed at its own RAM, MMIO, the IPA space's end, beyond
// it, and addresses where other guests' RAM or Xen's heap sit in host memory.
import { CMD_LAYOUTS, OP, encodeCommand, cmdOf, type Command, type CommandName } from '../arch/commands.ts';
import { cdOf, encodeCd, CD_WORDS } from '../arch/cd.ts';
import { encodeL1Std, encodeSte, steOf, STE_CFG, STE_WORDS } from '../arch/ste.ts';
import { R } from '../arch/registers.ts';
import { PageTable, PROT_READ, PROT_WRITE } from '../arch/pgtable.ts';
import type { WordReader, WordWriter } from '../arch/types.ts';
import { Rng } from './rng.ts';

/** One input. `t` is its coverage class (what kind of input it is). */
export type FuzzOp =
  /** The hostile CPU writes u32 words into its RAM at `ipa`. */
  | { readonly k: 'mem'; readonly t: string; readonly ipa: number; readonly w: readonly number[] }
  /** The hostile vCPU accesses its vSMMU frame at `off` (4 or 8 bytes; `v`/`hi` to write). */
  | { readonly k: 'mmio'; readonly t: string; readonly off: number; readonly size: 4 | 8; readonly v?: number; readonly hi?: number }
  /** Commands (4 words each) written into the hostile's command queue, then PROD written. */
  | { readonly k: 'cmds'; readonly t: string; readonly base: number; readonly log2: number; readonly first: number; readonly w: readonly number[]; readonly prod: number }
  /** A DMA by hostile device `dev`. */
  | { readonly k: 'dma'; readonly t: string; readonly dev: number; readonly iova: number; readonly len: number; readonly write: boolean; readonly fill: number; readonly ssid?: number }
  /** The hostile reads the event queue where it believes it is, and acknowledges. */
  | { readonly k: 'evt'; readonly t: string; readonly base: number; readonly log2: number }
  /** The hostile acknowledges what is active (GERRORN := GERROR, OVACKFLG := OVFLG), Linux's recovery. */
  | { readonly k: 'ack'; readonly t: string }
  /** A well-behaved guest's call, checked. */
  | { readonly k: 'v'; readonly t: string; readonly g: number; readonly a: 'map' | 'unmap' | 'dma' | 'faults'; readonly slot: number; readonly fill: number };

/** The hostile guest's RAM map (its lower half; IPAs). */
export const H = {
  RAM: 0x4000_0000,
  RAM_BYTES: 16 * 1024 * 1024,
  STRTAB: 0x4000_0000,
  CMDQ: 0x4001_0000,
  EVTQ: 0x4002_0000,
  CD: 0x4003_0000,
  PT: 0x4004_0000,
  PT_END: 0x4010_0000,
  DATA: 0x4010_0000,
  /** IOVAs the baseline maps for each hostile device. */
  IOVA: 0x1000_0000,
  VSMMU: 0x0404_0000,
} as const;

/** StreamIDs: the hostile's two devices, then two per well-behaved guest. */
export const HOSTILE_SIDS = [0x20, 0x21] as const;
export function victimSid(g: number): number {
  return 0x30 + g;
}

/** Well-behaved guests' layout: IOVA slots mapped to buffers in their lower RAM half. */
export const V = { IOVA: 0x1000_0000, BUF: 0x4010_0000, CANARY: 0x4020_0000, SLOTS: 8 } as const;

const WRAP = (log2: number): number => 2 ** (log2 + 1);

/** Interesting pointers for a hostile guest (IPAs it may write into its structures). */
function pointer(r: Rng, align = 64): number {
  const own = (): number => H.RAM + r.int(H.RAM_BYTES / align) * align;
  switch (r.int(12)) {
    case 0: return H.VSMMU + r.int(0x8000) * 4; // its own vSMMU frame (MMIO, never RAM)
    case 1: return 0x0300_1000; // the GIC
    case 2: return H.RAM + H.RAM_BYTES - align; // last bytes of RAM
    case 3: return H.RAM + H.RAM_BYTES + r.int(16) * 4096; // just past RAM
    case 4: return 2 ** 40 - align; // end of the 40-bit IPA space
    case 5: return 2 ** 40 + r.int(1024) * 4096; // beyond the IPA space
    case 6: return 2 ** 51 + r.int(1024) * 4096; // beyond every OAS
    case 7: return r.pick([0x0040_0000, 0x0100_0000, 0x0400_0000, 0x0800_0000]); // where Xen's heap / others' RAM are in host PA
    case 8: return 0;
    case 9: return r.bits(52) - (r.bits(52) % align);
    default: return own();
  }
}

/** A value for a field of `width` bits; addresses get pointers. */
function fieldValue(r: Rng, width: number, isAddr: boolean, align: number): number {
  if (isAddr && r.chance(0.8)) return pointer(r, align) % 2 ** 52;
  return r.bits(Math.min(width, 52));
}

const KNOWN = Object.keys(CMD_LAYOUTS) as CommandName[];
/** What a guest's driver legitimately sends, weighted up. */
const COMMON: readonly CommandName[] = ['CFGI_STE', 'CFGI_CD', 'CFGI_CD_ALL', 'TLBI_NH_VA', 'TLBI_NH_ASID', 'TLBI_NH_ALL', 'SYNC', 'CFGI_STE_RANGE'];

/** A command with any fields: mostly known opcodes, some reserved ones and raw junk. */
function command(r: Rng, sids: readonly number[]): { words: Uint32Array; tag: string } {
  const words = new Uint32Array(4);
  const roll = r.int(10);
  if (roll === 0) {
    for (let i = 0; i < 4; i++) words[i] = r.u32();
    words[0] = ((words[0] ?? 0) & ~0xff | r.int(256)) >>> 0;
    return { words, tag: `cmd:raw:0x${((words[0] ?? 0) & 0xff).toString(16)}` };
  }
  const name = roll < 6 ? r.pick(COMMON) : r.pick(KNOWN);
  const layout = CMD_LAYOUTS[name] as Readonly<Record<string, readonly (number | string)[]>>;
  const p: Record<string, number> = {};
  for (const [f, spec] of Object.entries(layout)) {
    if (f === 'op') continue;
    const width = (spec[1] as number) - (spec[2] as number) + 1;
    const isAddr = spec[3] === 'addr';
    if (f === 'sid' && r.chance(0.7)) p[f] = r.chance(0.8) ? r.pick(sids) : r.int(64);
    else if (f === 'cs') p[f] = r.int(4);
    else if (f === 'msiAddress') p[f] = (pointer(r, 4) % 2 ** 52) - ((pointer(r, 4) % 2 ** 52) % 4);
    else if (f === 'msiAddressHi') p[f] = r.chance(0.9) ? 0 : r.int(16);
    else p[f] = fieldValue(r, width, isAddr, 4096);
  }
  const cmd = cmdOf(name, p as Partial<Omit<Extract<Command, { name: typeof name }>, 'name' | 'op'>>);
  encodeCommand(cmd, words);
  // Some known commands with junk in their RES0 bits.
  if (r.chance(0.1)) words[r.int(4)] = (words[r.int(4)] ?? 0) ^ (1 << r.int(32));
  words[0] = (((words[0] ?? 0) & ~0xff) | OP[name]) >>> 0;
  return { words, tag: `cmd:${name}` };
}

/** A guest STE for `sid`: mostly plausible stage-1 ones, many with a forbidden twist. */
function ste(r: Rng, cdTab: number): { words: Uint32Array; tag: string } {
  const w = new Uint32Array(STE_WORDS);
  const kind = r.int(12);
  const s1 = { v: 1, config: STE_CFG.S1, s1fmt: 0, s1ContextPtr: cdTab, s1cdmax: 0, s1dss: 0, s1cir: 1, s1cor: 1, s1csh: 3 };
  let tag: string;
  switch (kind) {
    case 0: encodeSte(steOf({ v: 0 }), w); tag = 'ste:invalid'; break;
    case 1: encodeSte(steOf({ v: 1, config: STE_CFG.ABORT }), w); tag = 'ste:abort'; break;
    case 2: encodeSte(steOf({ v: 1, config: STE_CFG.BYPASS }), w); tag = 'ste:bypass'; break;
    case 3: encodeSte(steOf({ v: 1, config: r.pick([STE_CFG.S2, STE_CFG.NESTED]), s2vmid: r.bits(16), s2ttb: pointer(r, 4096), s2t0sz: r.int(64), s2sl0: r.int(4), s1ContextPtr: cdTab }), w); tag = 'ste:s2-or-nested'; break;
    case 4: encodeSte(steOf({ v: 1, config: r.pick([1, 2, 3]) }), w); tag = 'ste:reserved-config'; break;
    case 5: encodeSte(steOf({ ...s1, s1ContextPtr: pointer(r, 64) }), w); tag = 'ste:s1-wild-cd'; break;
    case 6: encodeSte(steOf({ ...s1, s1fmt: r.int(4), s1cdmax: r.int(32) }), w); tag = 'ste:s1-cd-table'; break;
    case 7: {
      encodeSte(steOf(s1), w);
      const word = r.int(16);
      w[word] = ((w[word] ?? 0) | (1 << r.int(32))) >>> 0;
      tag = 'ste:s1-extra-bit';
      break;
    }
    case 8: for (let i = 0; i < STE_WORDS; i++) w[i] = r.chance(0.5) ? r.u32() : 0; tag = 'ste:random'; break;
    case 9: encodeSte(steOf({ ...s1, eats: r.int(4), s1stalld: r.int(2), strw: r.int(4), mev: r.int(2) }), w); tag = 'ste:s1-eats-strw'; break;
    default: encodeSte(steOf(s1), w); tag = 'ste:s1'; break;
  }
  return { words: w, tag };
}

/** A CD: mostly valid with a twist (TTB0 anywhere, bad TG/T0SZ/IPS, V = 0, random). */
function cd(r: Rng, ttb0: number, asid: number): { words: Uint32Array; tag: string } {
  const w = new Uint32Array(CD_WORDS);
  const base = { t0sz: 16, tg0: 0, ir0: 1, or0: 1, sh0: 3, epd1: 1, v: 1, ips: 2, aa64: 1, r: 1, a: 1, aset: 1, asid, ttb0 };
  const kind = r.int(8);
  let tag: string;
  switch (kind) {
    case 0: encodeCd(cdOf({ ...base, ttb0: pointer(r, 4096) }), w); tag = 'cd:wild-ttb0'; break;
    case 1: encodeCd(cdOf({ ...base, tg0: r.int(4), t0sz: r.int(64), ips: r.int(8) }), w); tag = 'cd:geometry'; break;
    case 2: encodeCd(cdOf({ ...base, v: 0 }), w); tag = 'cd:invalid'; break;
    case 3: encodeCd(cdOf({ ...base, aa64: 0, s: r.int(2), ha: r.int(2), hd: r.int(2) }), w); tag = 'cd:aa32-or-hw'; break;
    case 4: for (let i = 0; i < CD_WORDS; i++) w[i] = r.chance(0.5) ? r.u32() : 0; tag = 'cd:random'; break;
    case 5: encodeCd(cdOf({ ...base, asid: r.bits(16), epd1: 0, ttb1: pointer(r, 4096) }), w); tag = 'cd:ttb1-asid'; break;
    default: encodeCd(cdOf(base), w); tag = 'cd:valid'; break;
  }
  return { words: w, tag };
}

/** Captures a page-table builder's stores as `mem` inputs (hostile RAM starts zeroed). */
class Capture implements WordReader, WordWriter {
  hi = 0;
  readonly words = new Map<number, [number, number]>();
  readonly ops: FuzzOp[] = [];
  load64(pa: number): number {
    const v = this.words.get(pa);
    this.hi = v?.[1] ?? 0;
    return v?.[0] ?? 0;
  }
  store64(pa: number, lo: number, hi: number): boolean {
    // RAM starts zeroed: clearing a new table needs no input.
    if (lo === 0 && hi === 0 && !this.words.has(pa)) return true;
    this.words.set(pa, [lo >>> 0, hi >>> 0]);
    this.ops.push({ k: 'mem', t: 'pt:map', ipa: pa, w: [lo >>> 0, hi >>> 0] });
    return true;
  }
}

export interface GenOptions {
  readonly seed: number;
  /** Inputs after the hostile's baseline set-up. */
  readonly iterations: number;
  /** Well-behaved guests. */
  readonly victims: number;
}

/**
 * The inputs of one seed: the hostile guest's baseline (its vSMMU enabled with a stage-1
 * configuration of both devices, the way a driver would), then `iterations` inputs.
 */
export function generateOps(o: GenOptions): FuzzOp[] {
  const r = new Rng(o.seed ^ 0x5eed_f022);
  const ops: FuzzOp[] = [];
  const sids = [...HOSTILE_SIDS];
  const mmio = (t: string, off: number, v: number, size: 4 | 8 = 4, hi = 0): void => {
    ops.push(size === 8 ? { k: 'mmio', t, off, size, v: v >>> 0, hi: hi >>> 0 } : { k: 'mmio', t, off, size, v: v >>> 0 });
  };
  const mem = (t: string, ipa: number, w: ArrayLike<number>): void => {
    ops.push({ k: 'mem', t, ipa, w: Array.from(w, (x) => x >>> 0) });
  };
  // The model of the hostile's vSMMU the generator aims at.
  const q = { cmdq: H.CMDQ as number, cmdLog2: 8, prod: 0, evtq: H.EVTQ as number, evtLog2: 6, strtab: H.STRTAB as number, on: true };

  // ---- baseline: what a driver does --------------------------------------------------
  let ptNext = H.PT;
  const cap = new Capture();
  const tables = sids.map(() => new PageTable({
    stage: 1, granuleShift: 12, ias: 48, oas: 40, mem: cap,
    alloc: (bytes, align) => {
      const at = Math.ceil(ptNext / align) * align;
      if (at + bytes > H.PT_END) return -1;
      ptNext = at + bytes;
      return at;
    },
  }));
  sids.forEach((sid, i) => {
    const pt = tables[i] as PageTable;
    for (let p = 0; p < 16; p++) pt.map(H.IOVA + p * 4096, H.DATA + (i * 16 + p) * 4096, 4096, PROT_READ | PROT_WRITE);
    const c = new Uint32Array(CD_WORDS);
    encodeCd(cdOf({ t0sz: 16, tg0: 0, ir0: 1, or0: 1, sh0: 3, epd1: 1, v: 1, ips: 2, aa64: 1, r: 1, a: 1, aset: 1, asid: i + 1, ttb0: pt.root }), c);
    mem('cd:valid', H.CD + i * 0x1000, c);
    const s = new Uint32Array(STE_WORDS);
    encodeSte(steOf({ v: 1, config: STE_CFG.S1, s1ContextPtr: H.CD + i * 0x1000, s1cir: 1, s1cor: 1, s1csh: 3 }), s);
    mem('ste:s1', H.STRTAB + sid * 64, s);
  });
  ops.push(...cap.ops);
  cap.ops.length = 0;
  mmio('reg:STRTAB_BASE', R.STRTAB_BASE, H.STRTAB, 8);
  mmio('reg:STRTAB_BASE_CFG', R.STRTAB_BASE_CFG, 6);
  mmio('reg:CMDQ_BASE', R.CMDQ_BASE, H.CMDQ | 8, 8);
  mmio('reg:CMDQ_PROD', R.CMDQ_PROD, 0);
  mmio('reg:CMDQ_CONS', R.CMDQ_CONS, 0);
  mmio('reg:EVENTQ_BASE', R.EVENTQ_BASE, H.EVTQ | 6, 8);
  mmio('reg:EVENTQ_PROD', R.EVENTQ_PROD, 0);
  mmio('reg:EVENTQ_CONS', R.EVENTQ_CONS, 0);
  mmio('reg:IRQ_CTRL', R.IRQ_CTRL, 3);
  mmio('reg:CR0', R.CR0, 0xd);
  const pushCmds = (t: string, list: Uint32Array[], prod?: number): void => {
    const w: number[] = [];
    for (const c of list) w.push(...Array.from(c));
    const first = q.prod;
    q.prod = (q.prod + list.length) % WRAP(q.cmdLog2);
    ops.push({ k: 'cmds', t, base: q.cmdq, log2: q.cmdLog2, first, w, prod: prod ?? q.prod });
  };
  const enc = (c: Command): Uint32Array => {
    const w = new Uint32Array(4);
    encodeCommand(c, w);
    return w;
  };
  pushCmds('cmd:CFGI_STE', [...sids.map((sid) => enc(cmdOf('CFGI_STE', { sid, leaf: 1 }))), enc(cmdOf('SYNC', { cs: 0 }))]);

  // ---- hostile and well-behaved inputs ----------------------------------------------
  const weights = {
    cmds: 16, storm: 2, reg: 10, anyReg: 4, ste: 8, cd: 5, pte: 5, l1: 1, dma: 12, evt: 3,
    smmuen: 2, queue: 3, prodAbuse: 2, ack: 6, victim: 20,
  } as const;
  const REGS = [
    'CR0', 'CR1', 'CR2', 'GBPA', 'IRQ_CTRL', 'GERRORN', 'GERROR_IRQ_CFG0', 'GERROR_IRQ_CFG1', 'GERROR_IRQ_CFG2',
    'STRTAB_BASE', 'STRTAB_BASE_CFG', 'CMDQ_BASE', 'CMDQ_PROD', 'CMDQ_CONS', 'EVENTQ_BASE', 'EVENTQ_PROD',
    'EVENTQ_CONS', 'EVENTQ_IRQ_CFG0', 'EVENTQ_IRQ_CFG1', 'EVENTQ_IRQ_CFG2', 'IDR0', 'GERROR', 'CR0ACK',
  ] as const;
  const victimSlots = Array.from({ length: o.victims }, () => new Set<number>());
  for (let n = 0; n < o.iterations; n++) {
    const kind = r.weighted(weights);
    const dev = r.int(2);
    const sid = sids[dev] as number;
    switch (kind) {
      case 'cmds': {
        const k = 1 + r.int(r.chance(0.2) ? 32 : 6);
        const list: Uint32Array[] = [];
        let tag = '';
        for (let i = 0; i < k; i++) {
          const c = command(r, sids);
          list.push(c.words);
          tag ||= c.tag;
        }
        if (r.chance(0.6)) list.push(enc(cmdOf('SYNC', { cs: r.int(3) })));
        pushCmds(tag, list);
        break;
      }
      case 'storm': {
        // A queue's worth of invalidations or SYNCs (budgeted by Xen, never a long trap).
        const name = r.pick(['TLBI_NH_VA', 'TLBI_NH_ALL', 'SYNC', 'CFGI_STE', 'TLBI_NSNH_ALL'] as const);
        const k = 2 ** q.cmdLog2 - 1;
        const one = name === 'CFGI_STE' ? cmdOf('CFGI_STE', { sid, leaf: 1 }) : name === 'TLBI_NH_VA' ? cmdOf('TLBI_NH_VA', { asid: 1 + dev, addr: H.IOVA, leaf: 1 }) : cmdOf(name);
        const list = Array.from({ length: Math.min(k, 255) }, () => enc(one));
        pushCmds(`storm:${name}`, list);
        break;
      }
      case 'reg': {
        const name = r.pick(REGS);
        const off = R[name];
        let v = r.bits(32);
        if (name === 'CR0') v = r.int(16);
        else if (name === 'GBPA') v = (r.chance(0.7) ? 0x8000_0000 : 0) | (r.int(2) << 20) | r.int(2 ** 20);
        else if (name === 'CMDQ_PROD') v = r.chance(0.5) ? (q.prod + r.int(8)) % WRAP(q.cmdLog2) : r.u32();
        mmio(`reg:${name}`, off, v, name.endsWith('BASE') || name.endsWith('CFG0') ? 8 : 4, name.endsWith('BASE') || name.endsWith('CFG0') ? r.int(2 ** 20) * (r.chance(0.8) ? 0 : 1) : 0);
        break;
      }
      case 'anyReg': {
        // Anywhere in (and a little past) the 256 KiB window, any size and alignment.
        const off = r.int(0x48000);
        const size = r.pick([4, 8, 1, 2, 16] as const);
        const o8 = size === 4 || size === 8 ? size : 4;
        const aligned = r.chance(0.8) ? off - (off % 4) : off;
        ops.push(r.chance(0.5) ? { k: 'mmio', t: 'reg:any-read', off: aligned, size: o8 } : { k: 'mmio', t: 'reg:any-write', off: aligned, size: o8, v: r.u32(), hi: r.u32() });
        break;
      }
      case 'ste': {
        const s = ste(r, H.CD + dev * 0x1000);
        const target = r.chance(0.85) ? sid : r.int(64);
        mem(s.tag, q.strtab + target * 64, s.words);
        if (r.chance(0.7)) pushCmds('cmd:CFGI_STE', [enc(cmdOf('CFGI_STE', { sid: target, leaf: r.int(2) })), enc(cmdOf('SYNC', { cs: 0 }))]);
        break;
      }
      case 'cd': {
        const c = cd(r, (tables[dev] as PageTable).root, dev + 1);
        mem(c.tag, H.CD + dev * 0x1000 + (r.chance(0.8) ? 0 : r.int(16) * 64), c.words);
        if (r.chance(0.7)) pushCmds('cmd:CFGI_CD', [enc(cmdOf('CFGI_CD', { sid, ssid: 0, leaf: 1 })), enc(cmdOf('SYNC', { cs: 0 }))]);
        break;
      }
      case 'pte': {
        // A stage-1 descriptor anywhere in its tables: valid to anywhere, a table loop, junk.
        const at = H.PT + r.int((ptNext - H.PT) / 8) * 8;
        const roll = r.int(4);
        const target = roll === 0 ? at - (at % 4096) : pointer(r, 4096);
        const lo = roll === 3 ? r.u32() : ((target % 4294967296) | 0x743 | (r.chance(0.5) ? 2 : 0)) >>> 0;
        const hi = roll === 3 ? r.u32() : Math.floor(target / 4294967296) & 0xfffff;
        mem(roll === 0 ? 'pt:loop' : roll === 3 ? 'pt:junk' : 'pt:wild', at, [lo, hi]);
        if (r.chance(0.5)) pushCmds('cmd:TLBI_NH_ASID', [enc(cmdOf('TLBI_NH_ASID', { asid: dev + 1 })), enc(cmdOf('SYNC', { cs: 0 }))]);
        break;
      }
      case 'l1': {
        // A 2-level stream table with any Span / L2Ptr, then switched to.
        const [lo, hi] = encodeL1Std({ span: r.int(32), l2ptr: r.chance(0.5) ? H.STRTAB + 0x1000 : pointer(r, 64) });
        mem('strtab:l1', H.STRTAB + 0x8000, [lo, hi]);
        mmio('reg:CR0', R.CR0, 0xc);
        mmio('reg:STRTAB_BASE', R.STRTAB_BASE, H.STRTAB + 0x8000, 8);
        mmio('reg:STRTAB_BASE_CFG', R.STRTAB_BASE_CFG, (1 << 16) | (r.int(12) << 6) | r.int(24));
        mmio('reg:CR0', R.CR0, 0xd);
        q.strtab = H.STRTAB; // the generator keeps aiming at the linear table
        if (r.chance(0.3)) ops.push({ k: 'dma', t: 'dma:l1', dev, iova: H.IOVA, len: 16, write: false, fill: 0 });
        if (r.chance(0.7)) {
          // Back to the linear table (else most later inputs meet a broken lookup).
          mmio('reg:CR0', R.CR0, 0xc);
          mmio('reg:STRTAB_BASE', R.STRTAB_BASE, H.STRTAB, 8);
          mmio('reg:STRTAB_BASE_CFG', R.STRTAB_BASE_CFG, 6);
          mmio('reg:CR0', R.CR0, 0xd);
        }
        break;
      }
      case 'dma': {
        const iova = r.chance(0.7) ? H.IOVA + r.int(20) * 4096 + r.int(4096) : r.bits(48);
        const len = 1 + r.int(r.chance(0.8) ? 64 : 8192);
        const d = { k: 'dma', t: 'dma', dev, iova, len, write: r.chance(0.5), fill: r.int(256) } as const;
        ops.push(r.chance(0.15) ? { ...d, ssid: r.bits(20) } : d);
        break;
      }
      case 'evt':
        ops.push({ k: 'evt', t: 'evt:read', base: q.evtq, log2: q.evtLog2 });
        break;
      case 'ack':
        ops.push({ k: 'ack', t: 'ack:gerror' });
        break;
      case 'smmuen': {
        // Toggling SMMUEN (and the queues) mid-flight.
        mmio('smmuen:off', R.CR0, r.int(8) & ~1);
        if (r.chance(0.5)) mmio('reg:GBPA', R.GBPA, 0x8000_0000 | (r.int(2) << 20));
        ops.push({ k: 'dma', t: 'dma:smmu-off', dev, iova: H.IOVA, len: 16, write: r.chance(0.5), fill: r.int(256) });
        mmio('smmuen:on', R.CR0, 0xd);
        break;
      }
      case 'queue': {
        // Re-point a queue anywhere with any size, re-enable.
        const which = r.int(2);
        const log2 = r.chance(0.3) ? r.int(32) : 2 + r.int(8);
        const base = r.chance(0.6) ? (which === 0 ? H.CMDQ : H.EVTQ) : pointer(r, 32);
        mmio('reg:CR0', R.CR0, which === 0 ? 0x5 : 0x9);
        mmio(which === 0 ? 'queue:cmdq' : 'queue:evtq', which === 0 ? R.CMDQ_BASE : R.EVENTQ_BASE, ((base % 4294967296) | log2) >>> 0, 8, Math.floor(base / 4294967296));
        mmio('reg:CR0', R.CR0, 0xd);
        if (which === 0) {
          q.cmdq = base;
          q.cmdLog2 = Math.min(log2, 8);
          q.prod = 0;
          mmio('reg:CMDQ_CONS', R.CMDQ_CONS, 0);
        } else {
          q.evtq = base;
          q.evtLog2 = Math.min(log2, 8);
        }
        // Back to sane queues later on, or the rest of the run tests nothing.
        if (r.chance(0.5)) {
          mmio('reg:CR0', R.CR0, 0x1);
          mmio('reg:CMDQ_BASE', R.CMDQ_BASE, H.CMDQ | 8, 8);
          mmio('reg:CMDQ_PROD', R.CMDQ_PROD, 0);
          mmio('reg:CMDQ_CONS', R.CMDQ_CONS, 0);
          mmio('reg:EVENTQ_BASE', R.EVENTQ_BASE, H.EVTQ | 6, 8);
          mmio('reg:CR0', R.CR0, 0xd);
          Object.assign(q, { cmdq: H.CMDQ, cmdLog2: 8, prod: 0, evtq: H.EVTQ, evtLog2: 6 });
        }
        break;
      }
      case 'prodAbuse': {
        // PROD far past the queue, wrap flipped, backwards, junk above the index.
        const size = 2 ** q.cmdLog2;
        const v = r.pick([(q.prod ^ size) >>> 0, (q.prod + size + 1) >>> 0, r.u32(), (q.prod + 2 ** 19) >>> 0, Math.max(0, q.prod - 3)]);
        mmio('prod:abuse', R.CMDQ_PROD, v);
        break;
      }
      case 'victim': {
        if (o.victims === 0) break;
        const g = r.int(o.victims);
        const slot = r.int(V.SLOTS);
        const mapped = victimSlots[g] as Set<number>;
        const a = r.weighted({ map: 3, unmap: 2, dma: 6, faults: 1 });
        if (a === 'map') mapped.add(slot);
        if (a === 'unmap') mapped.delete(slot);
        ops.push({ k: 'v', t: `victim:${a}`, g, a, slot, fill: r.int(256) });
        break;
      }
    }
  }
  return ops;
}

/** Counts of the generated inputs by class (the generator's half of the coverage figure). */
export function opClasses(ops: readonly FuzzOp[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const op of ops) out[op.t] = (out[op.t] ?? 0) + 1;
  return out;
}
