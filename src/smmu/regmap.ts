// How each register behaves in this model, as a table: writable bits (per feature set),
// the CR0ACK enables that make it write-ignored, and the side-effect class the SMMU thread
// services after a write. Offsets, widths and fields come from src/arch/registers.ts.
//
// Writes: new value = (old & ~mask) | (written & mask). Bits outside `mask` (RES0, RO
// fields such as CMDQ_CONS.ERR or EVENTQ_PROD.OVFLG) keep their value; a register whose mask
// is 0 (RO, or a feature this SMMU does not implement) is write-ignored, and reads of an
// unimplemented register return 0 (RAZ/WI).
//
// Write-ignored while enabled (one of the CONSTRAINED UNPREDICTABLE options, as gem5 and
// OpenVMM choose; reliability.md A3): queue BASE and the software-owned index of a queue
// while CR0ACK says that queue is enabled, STRTAB_BASE(_CFG), CR1 and CR2 while SMMUEN.

import { CR0, CR2, definedMask, fieldMask, GERROR, IRQ_CTRL, reg, type RegName } from '../arch/registers.ts';
import type { SmmuFeatures } from '../arch/features.ts';

/** Side-effect classes: bits of the register page's DIRTY word. */
export const DIRTY = {
  CR0: 1,
  GBPA: 2,
  IRQ_CTRL: 4,
  GERRORN: 8,
  CMDQ_PROD: 16,
  EVENTQ_CONS: 32,
} as const;


export interface RegBehaviour {
  readonly name: RegName;
  /** Writable bits of the low and high 32-bit halves. */
  readonly mask: readonly [number, number];
  /** CR0ACK bits: while any is set, writes are ignored. */
  readonly wiWhen: number;
  /** DIRTY class serviced by the SMMU thread after a write (0 = plain storage). */
  readonly dirty: number;
}

type Row = readonly [RegName, (f: Readonly<SmmuFeatures>) => readonly [number, number], number, number];

const b = (c: boolean, v: number): number => (c ? v : 0);
/** GERRORN bits software acknowledges: the errors this model can activate (no CMDQP/DPT). */
const GERRORN_ACK = GERROR.CMDQ_ERR | GERROR.EVENTQ_ABT_ERR | GERROR.PRIQ_ABT_ERR | GERROR.MSI_CMDQ_ABT_ERR |
  GERROR.MSI_EVENTQ_ABT_ERR | GERROR.MSI_PRIQ_ABT_ERR | GERROR.MSI_GERROR_ABT_ERR | GERROR.SFM_ERR;
/** Every field of a register, both halves: what the architecture lets software write. */
const all = (r: RegName) => (): readonly [number, number] => [definedMask(r), definedMask(r, true)];
/** One field (in the low half). */
const only = (r: RegName, field: string) => (): readonly [number, number] => [fieldMask(r, field), 0];
const when = (c: (f: Readonly<SmmuFeatures>) => boolean, m: () => readonly [number, number]) =>
  (f: Readonly<SmmuFeatures>): readonly [number, number] => {
    const [lo, hi] = m();
    return [b(c(f), lo), b(c(f), hi)];
  };
const msi = (r: RegName) => when((f) => f.msi, all(r));
const pri = (m: () => readonly [number, number]) => when((f) => f.pri, m);

/** Every software-writable register; anything else is RO or RAZ/WI. */
const ROWS: readonly Row[] = [
  ['CR0', (f) => [CR0.SMMUEN | CR0.EVENTQEN | CR0.CMDQEN | b(f.pri, CR0.PRIQEN) | b(f.ats, CR0.ATSCHK) | b(f.vmw, CR0.VMW), 0], 0, DIRTY.CR0],
  ['CR1', all('CR1'), CR0.SMMUEN, 0],
  ['CR2', (f) => [CR2.RECINVSID | CR2.PTM | b(f.hyp, CR2.E2H) | b(f.ats, CR2.REC_CFG_ATS), 0], CR0.SMMUEN, 0],
  ['GBPA', all('GBPA'), 0, DIRTY.GBPA],
  ['IRQ_CTRL', (f) => [IRQ_CTRL.GERROR_IRQEN | IRQ_CTRL.EVENTQ_IRQEN | b(f.pri, IRQ_CTRL.PRIQ_IRQEN), 0], 0, DIRTY.IRQ_CTRL],
  ['GERRORN', () => [GERRORN_ACK, 0], 0, DIRTY.GERRORN],
  ['GERROR_IRQ_CFG0', msi('GERROR_IRQ_CFG0'), 0, 0],
  ['GERROR_IRQ_CFG1', msi('GERROR_IRQ_CFG1'), 0, 0],
  ['GERROR_IRQ_CFG2', msi('GERROR_IRQ_CFG2'), 0, 0],
  ['STRTAB_BASE', all('STRTAB_BASE'), CR0.SMMUEN, 0],
  ['STRTAB_BASE_CFG', all('STRTAB_BASE_CFG'), CR0.SMMUEN, 0],
  ['CMDQ_BASE', all('CMDQ_BASE'), CR0.CMDQEN, 0],
  ['CMDQ_PROD', all('CMDQ_PROD'), 0, DIRTY.CMDQ_PROD],
  ['CMDQ_CONS', only('CMDQ_CONS', 'RD'), CR0.CMDQEN, 0], // ERR is the SMMU's
  ['EVENTQ_BASE', all('EVENTQ_BASE'), CR0.EVENTQEN, 0],
  ['EVENTQ_PROD', only('EVENTQ_PROD', 'WR'), CR0.EVENTQEN, 0], // OVFLG is the SMMU's
  ['EVENTQ_CONS', all('EVENTQ_CONS'), 0, DIRTY.EVENTQ_CONS],
  ['EVENTQ_IRQ_CFG0', msi('EVENTQ_IRQ_CFG0'), 0, 0],
  ['EVENTQ_IRQ_CFG1', msi('EVENTQ_IRQ_CFG1'), 0, 0],
  ['EVENTQ_IRQ_CFG2', msi('EVENTQ_IRQ_CFG2'), 0, 0],
  // PRI is not modelled beyond its registers: plain storage when advertised, else RAZ/WI.
  ['PRIQ_BASE', pri(all('PRIQ_BASE')), CR0.PRIQEN, 0],
  ['PRIQ_PROD', pri(only('PRIQ_PROD', 'WR')), CR0.PRIQEN, 0],
  ['PRIQ_CONS', pri(all('PRIQ_CONS')), 0, 0],
  ['PRIQ_IRQ_CFG0', when((f) => f.pri && f.msi, all('PRIQ_IRQ_CFG0')), 0, 0],
  ['PRIQ_IRQ_CFG1', when((f) => f.pri && f.msi, all('PRIQ_IRQ_CFG1')), 0, 0],
  ['PRIQ_IRQ_CFG2', when((f) => f.pri && f.msi, all('PRIQ_IRQ_CFG2')), 0, 0],
];

/** The behaviour of every writable register under feature set `f`, by name. */
export function regBehaviours(f: Readonly<SmmuFeatures>): ReadonlyMap<RegName, RegBehaviour> {
  const m = new Map<RegName, RegBehaviour>();
  for (const [name, mask, wiWhen, dirty] of ROWS) m.set(name, { name, mask: mask(f), wiWhen, dirty });
  return m;
}

/** A 32-bit word's write behaviour: the writable mask of that half, plus the register's rules. */
export interface WordRule {
  readonly mask: number;
  readonly wiWhen: number;
  readonly dirty: number;
  readonly gbpa: boolean;
}

/** Write rules per 32-bit word offset (absolute), for the words software can write. */
export function wordRules(f: Readonly<SmmuFeatures>): ReadonlyMap<number, WordRule> {
  const rules = new Map<number, WordRule>();
  for (const r of regBehaviours(f).values()) {
    const def = reg(r.name);
    for (let half = 0; half < def.width / 32; half++) {
      const mask = r.mask[half] ?? 0;
      if (mask !== 0) rules.set(def.offset + 4 * half, { mask, wiWhen: r.wiWhen, dirty: r.dirty, gbpa: r.name === 'GBPA' });
    }
  }
  return rules;
}
