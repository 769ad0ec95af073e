// What an SMMU implements, as a plain object, and its ID-register encoding (FACTS §1.3–§1.7).
// The encoding is table-driven: each feature names its register, bit range and value codec.

import { get32, set32 } from './bits.ts';

export interface SmmuFeatures {
  s1: boolean; // IDR0.S1P
  s2: boolean; // IDR0.S2P
  /** IDR0.TTF: 1 AArch32 only, 2 AArch64 only, 3 both. */
  ttf: number;
  coherent: boolean; // IDR0.COHACC
  btm: boolean;
  httu: number; // 0..3
  dormhint: boolean;
  hyp: boolean;
  ats: boolean;
  ns1ats: boolean; // 1 = split-stage ATS NOT supported
  asid16: boolean;
  msi: boolean;
  sev: boolean;
  atos: boolean;
  pri: boolean;
  vmw: boolean;
  vmid16: boolean;
  cd2l: boolean;
  vatos: boolean;
  ttendian: number; // 0 mixed, 2 LE, 3 BE
  atsrecerr: boolean;
  stallModel: number; // 0 stall+terminate, 1 terminate only, 2 stall forced
  termModel: number; // 0|1
  stLevel2: boolean; // IDR0.ST_LEVEL = 1
  rme: boolean;
  sidBits: number; // IDR1.SIDSIZE 0..32
  ssidBits: number; // IDR1.SSIDSIZE 0..20
  priqLog2: number;
  evtqLog2: number;
  cmdqLog2: number;
  attrPermsOvr: boolean;
  attrTypesOvr: boolean;
  rel: boolean;
  queuesPreset: boolean;
  tablesPreset: boolean;
  ecmdq: boolean;
  baVatos: number; // IDR2
  had: boolean; // IDR3
  pbha: boolean;
  xnx: boolean;
  pps: boolean;
  mpam: boolean;
  fwb: boolean;
  stt: boolean;
  ril: boolean;
  bbml: number; // 0..2
  e0pd: boolean;
  ptwnnc: boolean;
  dpt: boolean;
  idr4: number; // IMPDEF
  /** Output address size in bits: 32|36|40|42|44|48|52|56. */
  oas: number;
  gran4k: boolean;
  gran16k: boolean;
  gran64k: boolean;
  ds: boolean;
  d128: boolean;
  vax: number; // 0..2
  stallMax: number; // IDR5.STALL_MAX
  iidr: number;
  aidr: number;
}

/** Address-size encodings (FACTS §7.6): index = field value. */
export const OAS_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52, 56];

/** Encoding of an address size in bits; sizes between encodings round down. */
export function oasEncoding(bits: number): number {
  let enc = 0;
  for (let i = 0; i < OAS_BITS.length; i++) if ((OAS_BITS[i] ?? 99) <= bits) enc = i;
  return enc;
}

/** Bits of an address-size encoding (0..7); other values as 56. */
export function oasBitsOf(enc: number): number {
  return OAS_BITS[enc & 7] ?? 56;
}

export const DEFAULT_FEATURES: Readonly<SmmuFeatures> = Object.freeze({
  s1: true, s2: true, ttf: 2, coherent: true, btm: false, httu: 0, dormhint: false,
  hyp: false, ats: false, ns1ats: false, asid16: true, msi: true, sev: true, atos: false,
  pri: false, vmw: false, vmid16: true, cd2l: true, vatos: false, ttendian: 2,
  atsrecerr: false, stallModel: 1, termModel: 1, stLevel2: true, rme: false,
  sidBits: 16, ssidBits: 8, priqLog2: 8, evtqLog2: 10, cmdqLog2: 10,
  attrPermsOvr: false, attrTypesOvr: false, rel: false, queuesPreset: false,
  tablesPreset: false, ecmdq: false, baVatos: 0,
  had: false, pbha: false, xnx: false, pps: false, mpam: false, fwb: false, stt: false,
  ril: true, bbml: 0, e0pd: false, ptwnnc: false, dpt: false, idr4: 0,
  oas: 48, gran4k: true, gran16k: true, gran64k: true, ds: false, d128: false, vax: 0,
  stallMax: 0,
  iidr: 0x0000043b, // Arm implementer code, product/revision 0
  aidr: 2, // SMMUv3.2
});

export interface IdRegs {
  idr0: number;
  idr1: number;
  idr2: number;
  idr3: number;
  idr4: number;
  idr5: number;
  iidr: number;
  aidr: number;
}

type Reg = keyof IdRegs;
type Kind = 'bool' | 'num' | 'oas';
/** [feature, register, msb, lsb, kind] */
type IdField = readonly [keyof SmmuFeatures, Reg, number, number, Kind];

/** Where each feature lives in the ID registers (FACTS §1.3–§1.7). */
export const ID_FIELDS: readonly IdField[] = [
  ['s2', 'idr0', 0, 0, 'bool'],
  ['s1', 'idr0', 1, 1, 'bool'],
  ['ttf', 'idr0', 3, 2, 'num'],
  ['coherent', 'idr0', 4, 4, 'bool'],
  ['btm', 'idr0', 5, 5, 'bool'],
  ['httu', 'idr0', 7, 6, 'num'],
  ['dormhint', 'idr0', 8, 8, 'bool'],
  ['hyp', 'idr0', 9, 9, 'bool'],
  ['ats', 'idr0', 10, 10, 'bool'],
  ['ns1ats', 'idr0', 11, 11, 'bool'],
  ['asid16', 'idr0', 12, 12, 'bool'],
  ['msi', 'idr0', 13, 13, 'bool'],
  ['sev', 'idr0', 14, 14, 'bool'],
  ['atos', 'idr0', 15, 15, 'bool'],
  ['pri', 'idr0', 16, 16, 'bool'],
  ['vmw', 'idr0', 17, 17, 'bool'],
  ['vmid16', 'idr0', 18, 18, 'bool'],
  ['cd2l', 'idr0', 19, 19, 'bool'],
  ['vatos', 'idr0', 20, 20, 'bool'],
  ['ttendian', 'idr0', 22, 21, 'num'],
  ['atsrecerr', 'idr0', 23, 23, 'bool'],
  ['stallModel', 'idr0', 25, 24, 'num'],
  ['termModel', 'idr0', 26, 26, 'num'],
  ['stLevel2', 'idr0', 28, 27, 'bool'],
  ['rme', 'idr0', 30, 30, 'bool'],
  ['sidBits', 'idr1', 5, 0, 'num'],
  ['ssidBits', 'idr1', 10, 6, 'num'],
  ['priqLog2', 'idr1', 15, 11, 'num'],
  ['evtqLog2', 'idr1', 20, 16, 'num'],
  ['cmdqLog2', 'idr1', 25, 21, 'num'],
  ['attrPermsOvr', 'idr1', 26, 26, 'bool'],
  ['attrTypesOvr', 'idr1', 27, 27, 'bool'],
  ['rel', 'idr1', 28, 28, 'bool'],
  ['queuesPreset', 'idr1', 29, 29, 'bool'],
  ['tablesPreset', 'idr1', 30, 30, 'bool'],
  ['ecmdq', 'idr1', 31, 31, 'bool'],
  ['baVatos', 'idr2', 9, 0, 'num'],
  ['had', 'idr3', 2, 2, 'bool'],
  ['pbha', 'idr3', 3, 3, 'bool'],
  ['xnx', 'idr3', 4, 4, 'bool'],
  ['pps', 'idr3', 5, 5, 'bool'],
  ['mpam', 'idr3', 7, 7, 'bool'],
  ['fwb', 'idr3', 8, 8, 'bool'],
  ['stt', 'idr3', 9, 9, 'bool'],
  ['ril', 'idr3', 10, 10, 'bool'],
  ['bbml', 'idr3', 12, 11, 'num'],
  ['e0pd', 'idr3', 13, 13, 'bool'],
  ['ptwnnc', 'idr3', 14, 14, 'bool'],
  ['dpt', 'idr3', 15, 15, 'bool'],
  ['idr4', 'idr4', 31, 0, 'num'],
  ['oas', 'idr5', 2, 0, 'oas'],
  ['gran4k', 'idr5', 4, 4, 'bool'],
  ['gran16k', 'idr5', 5, 5, 'bool'],
  ['gran64k', 'idr5', 6, 6, 'bool'],
  ['ds', 'idr5', 7, 7, 'bool'],
  ['d128', 'idr5', 8, 8, 'bool'],
  ['vax', 'idr5', 11, 10, 'num'],
  ['stallMax', 'idr5', 31, 16, 'num'],
  ['iidr', 'iidr', 31, 0, 'num'],
  ['aidr', 'aidr', 7, 0, 'num'],
];

export function encodeIdRegs(f: Readonly<SmmuFeatures>): IdRegs {
  const r: IdRegs = { idr0: 0, idr1: 0, idr2: 0, idr3: 0, idr4: 0, idr5: 0, iidr: 0, aidr: 0 };
  for (const [name, reg, msb, lsb, kind] of ID_FIELDS) {
    const v = f[name];
    const n = kind === 'oas' ? oasEncoding(Number(v)) : typeof v === 'boolean' ? (v ? 1 : 0) : v;
    r[reg] = set32(r[reg], msb, lsb, n);
  }
  return r;
}

export function decodeIdRegs(r: Readonly<IdRegs>): SmmuFeatures {
  const f: Record<string, number | boolean> = {};
  for (const [name, reg, msb, lsb, kind] of ID_FIELDS) {
    const n = get32(r[reg], msb, lsb);
    f[name] = kind === 'bool' ? n !== 0 : kind === 'oas' ? oasBitsOf(n) : n;
  }
  return f as unknown as SmmuFeatures;
}

/** Granule shift of an S2TG / CD.TG0 encoding (0 4K, 1 64K, 2 16K), or 0 if reserved. */
export function tg0Shift(tg: number): number {
  return tg === 0 ? 12 : tg === 1 ? 16 : tg === 2 ? 14 : 0;
}

/** Whether the SMMU implements the translation granule of log2 size `shift`. */
export function granuleSupported(f: Readonly<SmmuFeatures>, shift: number): boolean {
  return shift === 12 ? f.gran4k : shift === 14 ? f.gran16k : shift === 16 ? f.gran64k : false;
}
