// SMMUv3 register map of page 0 and page 1 (FACTS §1.1–§1.17) as data: offsets, widths,
// access and fields, with generic field accessors. Side effects live in src/smmu.

import { get32, get64, set32, set64 } from './bits.ts';

export type Access = 'RO' | 'RW' | 'WO';

export interface FieldDef {
  readonly name: string;
  readonly msb: number;
  readonly lsb: number;
}

export interface RegDef {
  readonly name: string;
  /** Absolute offset from the SMMU base (page 1 registers at 0x10000 + offset). */
  readonly offset: number;
  readonly width: 32 | 64;
  readonly access: Access;
  readonly fields: readonly FieldDef[];
}

type F = readonly [name: string, msb: number, lsb: number];
type Row = readonly [name: string, offset: number, width: 32 | 64, access: Access, fields: readonly F[]];

/** Page 1 base offset. */
export const PAGE1 = 0x10000;

const CR0_FIELDS = [
  ['SMMUEN', 0, 0], ['PRIQEN', 1, 1], ['EVENTQEN', 2, 2], ['CMDQEN', 3, 3], ['ATSCHK', 4, 4],
  ['VMW', 8, 6], ['DPT_WALK_EN', 10, 10],
] as const satisfies readonly F[];
const IRQ_CTRL_FIELDS = [['GERROR_IRQEN', 0, 0], ['PRIQ_IRQEN', 1, 1], ['EVENTQ_IRQEN', 2, 2]] as const satisfies readonly F[];
const GERROR_FIELDS = [
  ['CMDQ_ERR', 0, 0], ['EVENTQ_ABT_ERR', 2, 2], ['PRIQ_ABT_ERR', 3, 3], ['MSI_CMDQ_ABT_ERR', 4, 4],
  ['MSI_EVENTQ_ABT_ERR', 5, 5], ['MSI_PRIQ_ABT_ERR', 6, 6], ['MSI_GERROR_ABT_ERR', 7, 7],
  ['SFM_ERR', 8, 8], ['CMDQP_ERR', 9, 9], ['DPT_ERR', 10, 10],
] as const satisfies readonly F[];
const IRQ_CFG0 = [['ADDR', 55, 2]] as const satisfies readonly F[];
const IRQ_CFG1 = [['DATA', 31, 0]] as const satisfies readonly F[];
const IRQ_CFG2 = [['MEMATTR', 3, 0], ['SH', 5, 4]] as const satisfies readonly F[];
const PRIQ_IRQ_CFG2 = [['MEMATTR', 3, 0], ['SH', 5, 4], ['LO', 31, 31]] as const satisfies readonly F[]; // LO position UNVERIFIED
const Q_BASE = <H extends string>(hint: H) => [['LOG2SIZE', 4, 0], ['ADDR', 55, 5], [hint, 62, 62]] as const;
const Q_PROD_CMD = [['WR', 19, 0]] as const satisfies readonly F[];
const Q_CONS_CMD = [['RD', 19, 0], ['ERR', 30, 24]] as const satisfies readonly F[];
const Q_PROD_EVT = [['WR', 19, 0], ['OVFLG', 31, 31]] as const satisfies readonly F[];
const Q_CONS_EVT = [['RD', 19, 0], ['OVACKFLG', 31, 31]] as const satisfies readonly F[];
const GBPA_FIELDS = [
  ['MEMATTR', 3, 0], ['MTCFG', 4, 4], ['ALLOCCFG', 11, 8], ['SHCFG', 13, 12], ['PRIVCFG', 17, 16],
  ['INSTCFG', 19, 18], ['ABORT', 20, 20], ['UPDATE', 31, 31],
] as const satisfies readonly F[];

const ROWS = [
  ['IDR0', 0x000, 32, 'RO', [
    ['S2P', 0, 0], ['S1P', 1, 1], ['TTF', 3, 2], ['COHACC', 4, 4], ['BTM', 5, 5], ['HTTU', 7, 6],
    ['DORMHINT', 8, 8], ['HYP', 9, 9], ['ATS', 10, 10], ['NS1ATS', 11, 11], ['ASID16', 12, 12],
    ['MSI', 13, 13], ['SEV', 14, 14], ['ATOS', 15, 15], ['PRI', 16, 16], ['VMW', 17, 17],
    ['VMID16', 18, 18], ['CD2L', 19, 19], ['VATOS', 20, 20], ['TTENDIAN', 22, 21],
    ['ATSRECERR', 23, 23], ['STALL_MODEL', 25, 24], ['TERM_MODEL', 26, 26], ['ST_LEVEL', 28, 27],
    ['RME_IMPL', 30, 30],
  ]],
  ['IDR1', 0x004, 32, 'RO', [
    ['SIDSIZE', 5, 0], ['SSIDSIZE', 10, 6], ['PRIQS', 15, 11], ['EVENTQS', 20, 16], ['CMDQS', 25, 21],
    ['ATTR_PERMS_OVR', 26, 26], ['ATTR_TYPES_OVR', 27, 27], ['REL', 28, 28], ['QUEUES_PRESET', 29, 29],
    ['TABLES_PRESET', 30, 30], ['ECMDQ', 31, 31],
  ]],
  ['IDR2', 0x008, 32, 'RO', [['BA_VATOS', 9, 0]]],
  ['IDR3', 0x00c, 32, 'RO', [
    ['HAD', 2, 2], ['PBHA', 3, 3], ['XNX', 4, 4], ['PPS', 5, 5], ['MPAM', 7, 7], ['FWB', 8, 8],
    ['STT', 9, 9], ['RIL', 10, 10], ['BBML', 12, 11], ['E0PD', 13, 13], ['PTWNNC', 14, 14],
    ['DPT', 15, 15], ['PASIDTT', 16, 16],
  ]],
  ['IDR4', 0x010, 32, 'RO', []],
  ['IDR5', 0x014, 32, 'RO', [
    ['OAS', 2, 0], ['GRAN4K', 4, 4], ['GRAN16K', 5, 5], ['GRAN64K', 6, 6], ['DS', 7, 7], ['D128', 8, 8],
    ['VAX', 11, 10], ['STALL_MAX', 31, 16],
  ]],
  ['IIDR', 0x018, 32, 'RO', [['IMPLEMENTER', 11, 0], ['REVISION', 15, 12], ['VARIANT', 19, 16], ['PRODUCTID', 31, 20]]],
  ['AIDR', 0x01c, 32, 'RO', [['ARCHMINORREV', 3, 0], ['ARCHMAJORREV', 7, 4]]],
  ['CR0', 0x020, 32, 'RW', CR0_FIELDS],
  ['CR0ACK', 0x024, 32, 'RO', CR0_FIELDS],
  ['CR1', 0x028, 32, 'RW', [
    ['QUEUE_IC', 1, 0], ['QUEUE_OC', 3, 2], ['QUEUE_SH', 5, 4], ['TABLE_IC', 7, 6], ['TABLE_OC', 9, 8],
    ['TABLE_SH', 11, 10],
  ]],
  ['CR2', 0x02c, 32, 'RW', [['E2H', 0, 0], ['RECINVSID', 1, 1], ['PTM', 2, 2], ['REC_CFG_ATS', 3, 3]]],
  ['S2PII', 0x030, 64, 'RW', []],
  ['STATUSR', 0x040, 32, 'RO', [['DORMANT', 0, 0]]],
  ['GBPA', 0x044, 32, 'RW', GBPA_FIELDS],
  ['AGBPA', 0x048, 32, 'RW', []],
  ['IRQ_CTRL', 0x050, 32, 'RW', IRQ_CTRL_FIELDS],
  ['IRQ_CTRLACK', 0x054, 32, 'RO', IRQ_CTRL_FIELDS],
  ['GERROR', 0x060, 32, 'RO', GERROR_FIELDS],
  ['GERRORN', 0x064, 32, 'RW', GERROR_FIELDS],
  ['GERROR_IRQ_CFG0', 0x068, 64, 'RW', IRQ_CFG0],
  ['GERROR_IRQ_CFG1', 0x070, 32, 'RW', IRQ_CFG1],
  ['GERROR_IRQ_CFG2', 0x074, 32, 'RW', IRQ_CFG2],
  ['STRTAB_BASE', 0x080, 64, 'RW', [['ADDR', 55, 6], ['RA', 62, 62]]],
  ['STRTAB_BASE_CFG', 0x088, 32, 'RW', [['LOG2SIZE', 5, 0], ['SPLIT', 10, 6], ['FMT', 17, 16]]],
  ['CMDQ_BASE', 0x090, 64, 'RW', Q_BASE('RA')],
  ['CMDQ_PROD', 0x098, 32, 'RW', Q_PROD_CMD],
  ['CMDQ_CONS', 0x09c, 32, 'RW', Q_CONS_CMD],
  ['EVENTQ_BASE', 0x0a0, 64, 'RW', Q_BASE('WA')],
  ['EVENTQ_IRQ_CFG0', 0x0b0, 64, 'RW', IRQ_CFG0],
  ['EVENTQ_IRQ_CFG1', 0x0b8, 32, 'RW', IRQ_CFG1],
  ['EVENTQ_IRQ_CFG2', 0x0bc, 32, 'RW', IRQ_CFG2],
  ['PRIQ_BASE', 0x0c0, 64, 'RW', Q_BASE('WA')],
  ['PRIQ_IRQ_CFG0', 0x0d0, 64, 'RW', IRQ_CFG0],
  ['PRIQ_IRQ_CFG1', 0x0d8, 32, 'RW', IRQ_CFG1],
  ['PRIQ_IRQ_CFG2', 0x0dc, 32, 'RW', PRIQ_IRQ_CFG2],
  // Optional features this model does not implement (RAZ/WI in the SMMU model).
  ['GATOS_CTRL', 0x100, 32, 'RW', []],
  ['GATOS_SID', 0x108, 64, 'RW', []],
  ['GATOS_ADDR', 0x110, 64, 'RW', []],
  ['GATOS_PAR', 0x118, 64, 'RO', []],
  ['MPAMIDR', 0x130, 32, 'RO', []],
  ['GMPAM', 0x138, 32, 'RW', []],
  ['GBPMPAM', 0x13c, 32, 'RW', []],
  ['VATOS_SEL', 0x180, 32, 'RW', []],
  ['IDR6', 0x190, 32, 'RO', []],
  ['DPT_BASE', 0x200, 64, 'RW', []],
  ['DPT_BASE_CFG', 0x208, 32, 'RW', []],
  ['DPT_CFG_FAR', 0x210, 64, 'RO', []],
  // CoreSight identification registers.
  ['PIDR4', 0xfd0, 32, 'RO', []], ['PIDR5', 0xfd4, 32, 'RO', []], ['PIDR6', 0xfd8, 32, 'RO', []],
  ['PIDR7', 0xfdc, 32, 'RO', []], ['PIDR0', 0xfe0, 32, 'RO', []], ['PIDR1', 0xfe4, 32, 'RO', []],
  ['PIDR2', 0xfe8, 32, 'RO', []], ['PIDR3', 0xfec, 32, 'RO', []], ['CIDR0', 0xff0, 32, 'RO', []],
  ['CIDR1', 0xff4, 32, 'RO', []], ['CIDR2', 0xff8, 32, 'RO', []], ['CIDR3', 0xffc, 32, 'RO', []],
  // Page 1.
  ['EVENTQ_PROD', PAGE1 + 0x0a8, 32, 'RW', Q_PROD_EVT],
  ['EVENTQ_CONS', PAGE1 + 0x0ac, 32, 'RW', Q_CONS_EVT],
  ['PRIQ_PROD', PAGE1 + 0x0c8, 32, 'RW', Q_PROD_EVT],
  ['PRIQ_CONS', PAGE1 + 0x0cc, 32, 'RW', Q_CONS_EVT],
] as const satisfies readonly Row[];

export type RegName = (typeof ROWS)[number][0];

export const REGISTERS: readonly RegDef[] = ROWS.map(([name, offset, width, access, fields]) => ({
  name, offset, width, access, fields: fields.map(([n, msb, lsb]) => ({ name: n, msb, lsb })),
}));

/** Named absolute offsets: R.CR0 = 0x20, R.EVENTQ_PROD = 0x100A8, ... */
export const R = Object.freeze(Object.fromEntries(REGISTERS.map((r) => [r.name, r.offset]))) as Readonly<Record<RegName, number>>;

const BY_NAME = new Map<string, RegDef>(REGISTERS.map((r) => [r.name, r]));
const BY_OFFSET = new Map<number, RegDef>(REGISTERS.map((r) => [r.offset, r]));

/** The register starting at `offset` (absolute), or undefined (reserved: RAZ/WI). */
export function regAt(offset: number): RegDef | undefined {
  return BY_OFFSET.get(offset);
}

/** The register any aligned 32-bit access at `offset` touches and whether it is the high half. */
export function regContaining(offset: number): { reg: RegDef; high: boolean } | undefined {
  const r = BY_OFFSET.get(offset);
  if (r) return { reg: r, high: false };
  const lo = BY_OFFSET.get(offset - 4);
  return lo && lo.width === 64 ? { reg: lo, high: true } : undefined;
}

export function reg(name: RegName): RegDef {
  const r = BY_NAME.get(name);
  if (!r) throw new Error(`no register ${name}`); // RegName makes this unreachable
  return r;
}

function fieldOf(r: RegName | RegDef, field: string): FieldDef {
  const def = typeof r === 'string' ? reg(r) : r;
  for (const f of def.fields) if (f.name === field) return f;
  throw new Error(`register ${def.name} has no field ${field}`); // a bug in the caller
}

/** Field of a register value held as (lo, hi) (hi = 0 for 32-bit registers). */
export function getField(r: RegName | RegDef, field: string, lo: number, hi = 0): number {
  const f = fieldOf(r, field);
  return get64(lo, hi, f.msb, f.lsb);
}

/** (lo, hi) with the field replaced by `value` (truncated to the field width). */
export function setField(r: RegName | RegDef, field: string, lo: number, hi: number, value: number): [number, number] {
  const f = fieldOf(r, field);
  return set64(lo, hi, f.msb, f.lsb, value);
}

/** Field of a 32-bit register value. */
export function getField32(r: RegName | RegDef, field: string, v: number): number {
  const f = fieldOf(r, field);
  return get32(v, f.msb, f.lsb);
}

/** 32-bit register value with the field replaced by `value`. */
export function setField32(r: RegName | RegDef, field: string, v: number, value: number): number {
  const f = fieldOf(r, field);
  return set32(v, f.msb, f.lsb, value);
}

/** Mask of a field within the low (hi = false) or high 32-bit half of its register. */
export function fieldMask(r: RegName | RegDef, field: string, high = false): number {
  const f = fieldOf(r, field);
  const lsb = high ? Math.max(f.lsb - 32, 0) : f.lsb;
  const msb = high ? f.msb - 32 : Math.min(f.msb, 31);
  if (msb < 0 || lsb > 31 || (!high && f.lsb > 31)) return 0;
  return set32(0, msb, lsb, 0xffffffff);
}

/** Mask of all defined field bits of a register half (bits outside read as zero / RES0). */
export function definedMask(r: RegName | RegDef, high = false): number {
  const def = typeof r === 'string' ? reg(r) : r;
  let m = 0;
  for (const f of def.fields) m = (m | fieldMask(def, f.name, high)) >>> 0;
  return m;
}

// ---- fields as masks: the one place register bits are named ----------------------------

type RowNamed<N extends RegName> = Extract<(typeof ROWS)[number], readonly [N, ...unknown[]]>;
/** Names of the fields of register N, as the architecture spells them. */
export type FieldName<N extends RegName> = RowNamed<N>[4][number][0];

/**
 * Masks of a register's fields that lie in its low 32 bits, by field name
 * (`fieldMasks('CR0').EVENTQEN === 4`). For single-bit fields the mask is the bit.
 */
export function fieldMasks<N extends RegName>(name: N): Readonly<Record<FieldName<N>, number>> {
  const def = reg(name);
  const m: Record<string, number> = {};
  for (const f of def.fields) if (f.msb < 32) m[f.name] = fieldMask(def, f.name);
  return Object.freeze(m) as Readonly<Record<FieldName<N>, number>>;
}

/** CR0 / CR0ACK bits (FACTS §1.8). */
export const CR0 = fieldMasks('CR0');
/** CR2 bits (FACTS §1.10). */
export const CR2 = fieldMasks('CR2');
/** GBPA fields (FACTS §1.11): ABORT, UPDATE, ... */
export const GBPA = fieldMasks('GBPA');
/** IRQ_CTRL / IRQ_CTRLACK bits (FACTS §1.12). */
export const IRQ_CTRL = fieldMasks('IRQ_CTRL');
/** GERROR / GERRORN bits (FACTS §1.13). */
export const GERROR = fieldMasks('GERROR');
/** STRTAB_BASE_CFG fields (FACTS §1.15). */
export const STRTAB_BASE_CFG = fieldMasks('STRTAB_BASE_CFG');
