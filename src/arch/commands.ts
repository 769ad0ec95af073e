// Command queue entries (FACTS §4): 16 bytes = 4 u32 words. Each command is a layout table;
// decode/encode are table-driven and commandError() gives CMDQ_CONS.ERR (FACTS §5).

import {
  compileLayout, encodeLayout, POW2, type CompiledLayout, type Layout,
  type WordArray,
} from './bits.ts';
import type { SmmuFeatures } from './features.ts';

/** Opcodes (FACTS §4.2), named without the CMD_ prefix. */
export const OP = {
  PREFETCH_CONFIG: 0x01,
  PREFETCH_ADDR: 0x02,
  CFGI_STE: 0x03,
  CFGI_STE_RANGE: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  CFGI_VMS_PIDM: 0x07,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL3_ALL: 0x18,
  TLBI_EL3_VA: 0x1a,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  STALL_TERM: 0x45,
  SYNC: 0x46,
  // Secure-queue only: CERROR_ILL on the non-secure queue modelled here.
  TLBI_S_EL2_ALL: 0x50,
  TLBI_S_EL2_ASID: 0x51,
  TLBI_S_EL2_VA: 0x52,
  TLBI_S_EL2_VAA: 0x53,
  TLBI_S_S12_VMALL: 0x58,
  TLBI_S_S2_IPA: 0x5a,
  TLBI_SNH_ALL: 0x60,
  // v3.3 DPT (not implemented: CERROR_ILL).
  DPTI_ALL: 0x70,
  DPTI_PA: 0x73,
} as const;

const OP_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(OP).map(([k, v]) => [v, k]));

/** The architecture's name of an opcode without CMD_ (`TLBI_NH_VA`), or its number in hex. */
export function opName(op: number): string {
  return OP_NAMES.get(op) ?? `0x${op.toString(16)}`;
}

/** CFGI_STE_RANGE with this Range invalidates every STE (CMD_CFGI_ALL). */
export const CFGI_RANGE_ALL = 31;

/** CMD_SYNC completion signal (dw0[13:12]); 3 is reserved (CERROR_ILL). */
export const SYNC_CS = { NONE: 0, SIG_IRQ: 1, SIG_SEV: 2 } as const;

/** PRI_RESP Resp (dw1[13:12]); 3 is ILLEGAL. */
export const PRI_RESP = { FAILURE: 0, INVALID: 1, SUCCESS: 2 } as const;

/** CMDQ_CONS.ERR codes (FACTS §5). */
export const CERROR = { NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 } as const;

export const CMD_WORDS = 4;
export const CMD_BYTES = 16;

// Field positions shared by several commands ([dw, msb, lsb], FACTS §4.1, §4.3).
const op = [0, 7, 0] as const;
const ssv = [0, 11, 11] as const;
const ssid = [0, 31, 12] as const;
const sid = [0, 63, 32] as const;
const vmid = [0, 47, 32] as const;
const asid = [0, 63, 48] as const;
const num = [0, 16, 12] as const;
const scale = [0, 24, 20] as const; // bit 25 is SCALE[5] only with IDR5.DS
const leaf = [1, 0, 0] as const;
const ttl = [1, 9, 8] as const;
const tg = [1, 11, 10] as const;
const va = [1, 63, 12, 'addr'] as const;
const range = { num, scale, leaf, ttl, tg } as const;

/** Layout of every command this model decodes, by name. Unlisted bits are RES0. */
export const CMD_LAYOUTS = {
  PREFETCH_CONFIG: { op, ssv, ssid, sid },
  PREFETCH_ADDR: { op, ssv, ssid, sid, size: [1, 4, 0], addr: va },
  CFGI_STE: { op, sid, leaf },
  CFGI_STE_RANGE: { op, sid, range: [1, 4, 0] },
  CFGI_CD: { op, ssid, sid, leaf },
  CFGI_CD_ALL: { op, sid },
  CFGI_VMS_PIDM: { op },
  TLBI_NH_ALL: { op, vmid },
  TLBI_NH_ASID: { op, vmid, asid },
  TLBI_NH_VA: { op, vmid, asid, ...range, addr: va },
  TLBI_NH_VAA: { op, vmid, ...range, addr: va },
  TLBI_EL3_ALL: { op },
  TLBI_EL3_VA: { op, ...range, addr: va },
  TLBI_EL2_ALL: { op },
  TLBI_EL2_ASID: { op, asid },
  TLBI_EL2_VA: { op, asid, ...range, addr: va },
  TLBI_EL2_VAA: { op, ...range, addr: va },
  TLBI_S12_VMALL: { op, vmid },
  TLBI_S2_IPA: { op, vmid, ...range, addr: [1, 55, 12, 'addr'] },
  TLBI_NSNH_ALL: { op },
  ATC_INV: { op, global: [0, 9, 9], ssv, ssid, sid, size: [1, 5, 0], addr: va },
  PRI_RESP: { op, ssv, ssid, sid, prgIndex: [1, 8, 0], resp: [1, 13, 12] },
  RESUME: { op, ac: [0, 12, 12], ab: [0, 13, 13], sid, stag: [1, 15, 0] },
  STALL_TERM: { op, sid },
  SYNC: {
    op, cs: [0, 13, 12], msh: [0, 23, 22], msiAttr: [0, 27, 24], msiData: [0, 63, 32],
    // MSIAddress is dw1[55:2]: 54 bits, more than a double holds, so it is split into the
    // address below 2^52 (every address this model has) and the bits [55:52] above.
    msiAddress: [1, 51, 2, 'addr'], msiAddressHi: [1, 55, 52],
  },
} as const satisfies Record<string, Layout>;

export type CommandName = keyof typeof CMD_LAYOUTS;
type Layouts = typeof CMD_LAYOUTS;

/** A decoded command of a known opcode: its name, its fields, and its RES0 bits in `other`. */
export type KnownCommand = {
  [N in CommandName]: { name: N; op: (typeof OP)[N]; other: number[] } & {
    -readonly [K in Exclude<keyof Layouts[N], 'op'>]: number;
  };
}[CommandName];

/** Any opcode without a layout here (reserved, secure-only, DPT, IMPDEF): kept raw. */
export interface UnknownCommand {
  name: 'UNKNOWN';
  op: number;
  raw: number[];
}

/** Discriminated on `name` (and `op` for known opcodes). */
export type Command = KnownCommand | UnknownCommand;
export type CommandOf<N extends CommandName> = Extract<KnownCommand, { name: N }>;

interface CmdDef {
  readonly name: CommandName;
  readonly cl: CompiledLayout;
  /** Bits of `other` that must be 0 (RES0 check); see commandError(). */
  readonly res0: readonly number[];
}

/**
 * RES0 bits not checked: positions this model cannot pin down (FACTS §11 UNVERIFIED):
 * PREFETCH_ADDR NS/Stride (dw1[11:5]) and the whole CFGI_VMS_PIDM body.
 */
const RES0_EXEMPT: Partial<Record<CommandName, readonly number[]>> = {
  PREFETCH_ADDR: [0, 0, 0x00000fe0, 0],
  CFGI_VMS_PIDM: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
};

const BY_OP: (CmdDef | undefined)[] = new Array<CmdDef | undefined>(256).fill(undefined);
for (const name of Object.keys(CMD_LAYOUTS) as CommandName[]) {
  const cl = compileLayout(CMD_LAYOUTS[name], CMD_WORDS, { name });
  const ex = RES0_EXEMPT[name] ?? [0, 0, 0, 0];
  const res0 = cl.otherMask.map((m, i) => (m & ~(ex[i] ?? 0)) >>> 0);
  BY_OP[OP[name]] = { name, cl, res0 };
}

/** A command with the given fields and zero elsewhere. */
export function cmdOf<N extends CommandName>(name: N, p: Partial<Omit<CommandOf<N>, 'name' | 'op'>> = {}): CommandOf<N> {
  const o: Record<string, unknown> = { name, op: OP[name], other: [0, 0, 0, 0] };
  for (const k of Object.keys(CMD_LAYOUTS[name])) if (k !== 'op') o[k] = 0;
  return { ...o, ...p } as CommandOf<N>;
}

/** Decodes the command at words[off..off+3]. Never throws. */
export function decodeCommand(words: ArrayLike<number>, off = 0): Command {
  const opcode = (words[off] ?? 0) & 0xff;
  const def = BY_OP[opcode];
  if (!def) {
    const raw = [0, 0, 0, 0].map((_, i) => (words[off + i] ?? 0) >>> 0);
    return { name: 'UNKNOWN', op: opcode, raw };
  }
  return def.cl.decode(words, off) as unknown as Command;
}

/** Writes the 4 words of `cmd` at out[off..off+3]. */
export function encodeCommand(cmd: Readonly<Command>, out: WordArray, off = 0): void {
  if (cmd.name === 'UNKNOWN') {
    for (let i = 0; i < CMD_WORDS; i++) out[off + i] = (cmd.raw[i] ?? 0) >>> 0;
    out[off] = (((out[off] ?? 0) & ~0xff) | (cmd.op & 0xff)) >>> 0;
    return;
  }
  const def = BY_OP[OP[cmd.name]];
  if (def) encodeLayout(def.cl, cmd, out, off);
}

const RANGE_CMDS: ReadonlySet<CommandName> = new Set<CommandName>([
  'TLBI_NH_VA', 'TLBI_NH_VAA', 'TLBI_EL2_VA', 'TLBI_EL2_VAA', 'TLBI_S2_IPA', 'TLBI_EL3_VA',
]);

/** Which SMMU feature a command needs (CERROR_ILL without it, FACTS §4.3, §5). */
function featurePresent(name: CommandName, f: Readonly<SmmuFeatures>): boolean {
  switch (name) {
    case 'CFGI_CD': case 'CFGI_CD_ALL':
    case 'TLBI_NH_ALL': case 'TLBI_NH_ASID': case 'TLBI_NH_VA': case 'TLBI_NH_VAA':
      return f.s1;
    case 'TLBI_EL2_ALL': case 'TLBI_EL2_ASID': case 'TLBI_EL2_VA': case 'TLBI_EL2_VAA':
      return f.hyp;
    case 'TLBI_EL3_ALL': case 'TLBI_EL3_VA':
      return false; // EL3 maintenance only exists on the secure queue
    case 'TLBI_S12_VMALL': case 'TLBI_S2_IPA':
      return f.s2;
    case 'CFGI_VMS_PIDM':
      return f.mpam;
    case 'ATC_INV':
      return f.ats;
    case 'PRI_RESP':
      return f.pri;
    case 'RESUME': case 'STALL_TERM':
      return f.stallModel !== 1;
    default:
      return true;
  }
}

/**
 * CMDQ_CONS.ERR for `cmd` on the non-secure command queue: CERROR.NONE or CERROR.ILL.
 * ILL for: unknown/reserved/secure/DPT/IMPDEF opcodes; commands of absent features;
 * CMD_SYNC CS = 3; PRI_RESP Resp = 3; ATC_INV Size > 52; range TLBIs with TG != 0 but no
 * IDR3.RIL, or TG != 0 with NUM = SCALE = 0 and an effective TTL of 0 (TTL = 0, or TG = 16K
 * with TTL = 1 without IDR5.DS: spec 4.4.1.1); and any non-zero RES0 bit, i.e. any bit
 * no field of that command's layout names (this includes SSec, dw0[10], and SCALE[5],
 * dw0[25], since DS = 0; PREFETCH_ADDR NS/Stride and CFGI_VMS_PIDM are not checked).
 * With TG = 0, NUM/SCALE/TTL are ignored. Never throws.
 */
export function commandError(cmd: Readonly<Command>, f: Readonly<SmmuFeatures>): number {
  if (cmd.name === 'UNKNOWN') return CERROR.ILL;
  const def = BY_OP[OP[cmd.name]];
  if (!def) return CERROR.ILL;
  for (let i = 0; i < CMD_WORDS; i++) if (((cmd.other[i] ?? 0) & (def.res0[i] ?? 0)) !== 0) return CERROR.ILL;
  if (!featurePresent(cmd.name, f)) return CERROR.ILL;
  switch (cmd.name) {
    case 'SYNC':
      return cmd.cs === 3 ? CERROR.ILL : CERROR.NONE;
    case 'PRI_RESP':
      return cmd.resp === 3 ? CERROR.ILL : CERROR.NONE;
    case 'ATC_INV':
      return cmd.size > 52 ? CERROR.ILL : CERROR.NONE;
    default:
      break;
  }
  if (RANGE_CMDS.has(cmd.name) && 'tg' in cmd && cmd.tg !== 0) {
    if (!f.ril) return CERROR.ILL;
    // Spec 4.4.1.1: NUM = SCALE = 0 with (effective) TTL = 0 is reserved.
    if (cmd.num === 0 && cmd.scale === 0 && tlbiEffectiveTtl(cmd.tg, cmd.ttl, f.ds) === 0) return CERROR.ILL;
  }
  return CERROR.NONE;
}

/**
 * The TTL level hint a TLBI is taken to carry (spec 4.4.1.1): without IDR5.DS, TTL = 1 with
 * the 16K granule (TG = 2) is reserved and treated as TTL = 0; with TG = 0, TTL is not used.
 */
export function tlbiEffectiveTtl(tgField: number, ttlField: number, ds: boolean): number {
  if (tgField === 0) return 0;
  if (tgField === 2 && ttlField === 1 && !ds) return 0;
  return ttlField;
}

/** Granule shift of a TLBI TG field (1 4K, 2 16K, 3 64K), 0 for TG = 0 (not a range). */
export function tlbiGranuleShift(tgField: number): number {
  return tgField === 1 ? 12 : tgField === 2 ? 14 : tgField === 3 ? 16 : 0;
}

export interface TlbiSpan {
  /** First address invalidated (Address aligned down to the TG granule for ranges). */
  start: number;
  /** Bytes invalidated; 0 = a single-address invalidation (TG = 0) matching any page size. */
  length: number;
  /** TTL level hint (1..3), 0 when unknown. */
  level: number;
}

/**
 * The address span a TLBI by address invalidates (FACTS §4.3): with TG != 0,
 * (NUM + 1) * 2^SCALE pages of the TG granule from Address; with TG = 0, Address alone.
 */
export function tlbiRange(tgField: number, numField: number, scaleField: number, ttlField: number, address: number): TlbiSpan {
  const g = tlbiGranuleShift(tgField);
  if (g === 0) return { start: address, length: 0, level: ttlField };
  const page = POW2[g] ?? 4096;
  const start = address - (address % page);
  return { start, length: (numField + 1) * (POW2[scaleField] ?? 0) * page, level: ttlField };
}

/**
 * StreamIDs a CFGI_STE_RANGE invalidates: 2^(Range+1) STEs from StreamID aligned down to
 * that size; Range = 31 covers every StreamID (CMD_CFGI_ALL).
 */
export function cfgiSteRange(sid: number, rangeField: number): { first: number; count: number } {
  const count = POW2[(rangeField & 31) + 1] ?? 0;
  const id = sid >>> 0;
  return { first: id - (id % count), count };
}

/** The span of an ATC_INV: 4096 * 2^Size bytes, Address aligned down; Size 52 = all. */
export function atcInvRange(size: number, address: number): { start: number; length: number } {
  if (size >= 52) return { start: 0, length: POW2[64] ?? Infinity };
  const span = (POW2[size] ?? 1) * 4096;
  return { start: address - (address % span), length: span };
}
