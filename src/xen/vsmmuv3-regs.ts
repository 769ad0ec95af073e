// The register file a guest sees in its vSMMUv3 window, as data: which registers exist,
// which bits the guest may write, which writes are ignored while an enable is set, and which
// side effect a write has. Everything not listed is RAZ/WI (reserved and unimplemented
// registers: PRIQ_*, AGBPA, GATOS, the page-0 EVENTQ_PROD/CONS aliases, the secure bank,
// ID_REGS), as the architecture says of reserved locations (FACTS §1.1). Accesses of 1 or 2
// bytes, or unaligned ones, are answered with an abort (CONSTRAINED UNPREDICTABLE; we pick
// the data abort and keep to it).
//
// The ID registers are derived from the physical SMMU: stage 1 only (the guest owns stage 1,
// Xen stage 2), no ATS/PRI/stall/Hyp/BTM/HTTU (none is emulated), MSI and SEV (CMD_SYNC
// completion is emulated), the physical granules, ASID16, CD2L, SSIDSIZE, RIL and endianness
// (the hardware walks the guest's CDs and stage-1 tables itself), OAS = the domain's IPA size
// bounded by the physical OAS, and the guest's own StreamID width and queue sizes.

import { encodeIdRegs, type IdRegs, type SmmuFeatures } from '../arch/features.ts';
import { PROD_OVFLG, Q_PTR_MASK } from '../arch/queue.ts';
import { CR0, CR2, definedMask, fieldMask, GBPA, GERROR, IRQ_CTRL, R, type RegName } from '../arch/registers.ts';

/** GERROR bits the vSMMU can raise (and the guest acknowledges through GERRORN). */
const GERR_ALL = GERROR.CMDQ_ERR | GERROR.EVENTQ_ABT_ERR | GERROR.MSI_CMDQ_ABT_ERR | GERROR.MSI_EVENTQ_ABT_ERR |
  GERROR.MSI_GERROR_ABT_ERR;
/** GBPA fields a guest can set (with UPDATE). */
export const GBPA_FIELDS = (definedMask('GBPA') & ~GBPA.UPDATE) >>> 0;
/** Reset value: SHCFG = use incoming, no abort (as QEMU and openvmm: DMA works before the driver). */
export const GBPA_RESET = 0x0000_1000;

/** The fields of a register's low half (from the architecture's tables). */
const lo = (r: RegName): number => definedMask(r);
/**
 * The fields of a register's high half, addresses cut at bit 51: the vSMMU's physical
 * (IPA) addresses have at most 52 bits (RA/WA and other non-address bits kept).
 */
const hi52 = (r: RegName): number => (definedMask(r, true) & ~(fieldMask(r, 'ADDR', true) & ~ADDR_HI_52)) >>> 0;
const ADDR_HI_52 = 0x000f_ffff;

/** Size of the guest window the register file decodes: page 0 and page 1. */
export const VSMMU_PAGES_SIZE = 0x2_0000;

/** Side effects the core runs after a write is stored. */
export type RegEffect = 'cr0' | 'gbpa' | 'irqCtrl' | 'gerrorn' | 'cmdqProd' | 'evtqCons';

export interface VReg {
  readonly name: string;
  /** Offset in the window (page 1 registers at 0x10000 + offset). */
  readonly off: number;
  /** Bits a guest write changes; the rest keep their value (RES0 bits stay 0). */
  readonly wmask: number;
  /** Writes are ignored while this CR0ACK bit is set (CONSTRAINED UNPREDICTABLE -> ignore). */
  readonly lock?: number;
  readonly effect?: RegEffect;
}

/** Every register the vSMMU implements (32-bit slots; 64-bit registers as two halves). */
export const VREGS: readonly VReg[] = [
  { name: 'IDR0', off: R.IDR0, wmask: 0 },
  { name: 'IDR1', off: R.IDR1, wmask: 0 },
  { name: 'IDR2', off: R.IDR2, wmask: 0 },
  { name: 'IDR3', off: R.IDR3, wmask: 0 },
  { name: 'IDR4', off: R.IDR4, wmask: 0 },
  { name: 'IDR5', off: R.IDR5, wmask: 0 },
  { name: 'IIDR', off: R.IIDR, wmask: 0 },
  { name: 'AIDR', off: R.AIDR, wmask: 0 },
  { name: 'CR0', off: R.CR0, wmask: CR0.SMMUEN | CR0.EVENTQEN | CR0.CMDQEN, effect: 'cr0' },
  { name: 'CR0ACK', off: R.CR0ACK, wmask: 0 },
  { name: 'CR1', off: R.CR1, wmask: definedMask('CR1'), lock: CR0.SMMUEN },
  { name: 'CR2', off: R.CR2, wmask: CR2.RECINVSID | CR2.PTM, lock: CR0.SMMUEN }, // no E2H: no Hyp
  { name: 'STATUSR', off: R.STATUSR, wmask: 0 },
  { name: 'GBPA', off: R.GBPA, wmask: 0, effect: 'gbpa' }, // stored by the effect, only with Update
  { name: 'IRQ_CTRL', off: R.IRQ_CTRL, wmask: IRQ_CTRL.GERROR_IRQEN | IRQ_CTRL.EVENTQ_IRQEN, effect: 'irqCtrl' },
  { name: 'IRQ_CTRLACK', off: R.IRQ_CTRLACK, wmask: 0 },
  { name: 'GERROR', off: R.GERROR, wmask: 0 },
  { name: 'GERRORN', off: R.GERRORN, wmask: GERR_ALL, effect: 'gerrorn' },
  { name: 'GERROR_IRQ_CFG0', off: R.GERROR_IRQ_CFG0, wmask: lo('GERROR_IRQ_CFG0') },
  { name: 'GERROR_IRQ_CFG0_HI', off: R.GERROR_IRQ_CFG0 + 4, wmask: hi52('GERROR_IRQ_CFG0') },
  { name: 'GERROR_IRQ_CFG1', off: R.GERROR_IRQ_CFG1, wmask: lo('GERROR_IRQ_CFG1') },
  { name: 'GERROR_IRQ_CFG2', off: R.GERROR_IRQ_CFG2, wmask: definedMask('GERROR_IRQ_CFG2') },
  { name: 'STRTAB_BASE', off: R.STRTAB_BASE, wmask: lo('STRTAB_BASE'), lock: CR0.SMMUEN },
  { name: 'STRTAB_BASE_HI', off: R.STRTAB_BASE + 4, wmask: hi52('STRTAB_BASE'), lock: CR0.SMMUEN },
  { name: 'STRTAB_BASE_CFG', off: R.STRTAB_BASE_CFG, wmask: definedMask('STRTAB_BASE_CFG'), lock: CR0.SMMUEN },
  { name: 'CMDQ_BASE', off: R.CMDQ_BASE, wmask: lo('CMDQ_BASE'), lock: CR0.CMDQEN },
  { name: 'CMDQ_BASE_HI', off: R.CMDQ_BASE + 4, wmask: hi52('CMDQ_BASE'), lock: CR0.CMDQEN },
  { name: 'CMDQ_PROD', off: R.CMDQ_PROD, wmask: Q_PTR_MASK, effect: 'cmdqProd' },
  { name: 'CMDQ_CONS', off: R.CMDQ_CONS, wmask: Q_PTR_MASK, lock: CR0.CMDQEN },
  { name: 'EVENTQ_BASE', off: R.EVENTQ_BASE, wmask: lo('EVENTQ_BASE'), lock: CR0.EVENTQEN },
  { name: 'EVENTQ_BASE_HI', off: R.EVENTQ_BASE + 4, wmask: hi52('EVENTQ_BASE'), lock: CR0.EVENTQEN },
  { name: 'EVENTQ_IRQ_CFG0', off: R.EVENTQ_IRQ_CFG0, wmask: lo('EVENTQ_IRQ_CFG0') },
  { name: 'EVENTQ_IRQ_CFG0_HI', off: R.EVENTQ_IRQ_CFG0 + 4, wmask: hi52('EVENTQ_IRQ_CFG0') },
  { name: 'EVENTQ_IRQ_CFG1', off: R.EVENTQ_IRQ_CFG1, wmask: lo('EVENTQ_IRQ_CFG1') },
  { name: 'EVENTQ_IRQ_CFG2', off: R.EVENTQ_IRQ_CFG2, wmask: definedMask('GERROR_IRQ_CFG2') },
  { name: 'EVENTQ_PROD', off: R.EVENTQ_PROD, wmask: PROD_OVFLG | Q_PTR_MASK, lock: CR0.EVENTQEN },
  { name: 'EVENTQ_CONS', off: R.EVENTQ_CONS, wmask: PROD_OVFLG | Q_PTR_MASK, effect: 'evtqCons' },
];

export type VRegName =
  | 'IDR0' | 'IDR1' | 'IDR2' | 'IDR3' | 'IDR4' | 'IDR5' | 'IIDR' | 'AIDR' | 'CR0' | 'CR0ACK'
  | 'CR1' | 'CR2' | 'STATUSR' | 'GBPA' | 'IRQ_CTRL' | 'IRQ_CTRLACK' | 'GERROR' | 'GERRORN'
  | 'GERROR_IRQ_CFG0' | 'GERROR_IRQ_CFG0_HI' | 'GERROR_IRQ_CFG1' | 'GERROR_IRQ_CFG2'
  | 'STRTAB_BASE' | 'STRTAB_BASE_HI' | 'STRTAB_BASE_CFG' | 'CMDQ_BASE' | 'CMDQ_BASE_HI'
  | 'CMDQ_PROD' | 'CMDQ_CONS' | 'EVENTQ_BASE' | 'EVENTQ_BASE_HI' | 'EVENTQ_IRQ_CFG0'
  | 'EVENTQ_IRQ_CFG0_HI' | 'EVENTQ_IRQ_CFG1' | 'EVENTQ_IRQ_CFG2' | 'EVENTQ_PROD' | 'EVENTQ_CONS';

/** Slot (index into VREGS and the value array) of each register, by name. */
export const SLOT: Readonly<Record<VRegName, number>> = Object.fromEntries(
  VREGS.map((r, i) => [r.name, i]),
) as Record<VRegName, number>;

/** Offset -> slot over the two pages (one Int16 per 32-bit location; -1 = RAZ/WI). */
export const SLOT_AT: Int16Array = (() => {
  const a = new Int16Array(VSMMU_PAGES_SIZE >>> 2).fill(-1);
  VREGS.forEach((r, i) => (a[r.off >>> 2] = i));
  return a;
})();

export interface VsmmuGuestOptions {
  /** The domain's IPA size in bits (guest OAS; bounded by the physical OAS). */
  readonly ipaBits: number;
  /** Guest StreamID width (IDR1.SIDSIZE); default 16 bounded by the physical width. */
  readonly sidBits?: number;
  /** Guest queue sizes (IDR1.CMDQS/EVENTQS); default the physical ones, at most 19. */
  readonly cmdqLog2?: number;
  readonly evtqLog2?: number;
}

/** The features a guest sees (its IDRs), derived from the physical SMMU's. */
export function guestFeatures(p: Readonly<SmmuFeatures>, o: VsmmuGuestOptions): SmmuFeatures {
  const cap = (v: number | undefined, d: number, max: number): number =>
    Math.max(0, Math.min(max, Math.floor(v ?? d)));
  return {
    ...p,
    s1: true, s2: false, ttf: 2, btm: false, httu: 0, dormhint: false, hyp: false, ats: false,
    ns1ats: false, msi: true, sev: true, atos: false, pri: false, vmw: false, vmid16: false,
    vatos: false, atsrecerr: false, stallModel: 1, stLevel2: true, rme: false,
    sidBits: cap(o.sidBits, Math.min(16, p.sidBits), 32),
    priqLog2: 0,
    evtqLog2: cap(o.evtqLog2, p.evtqLog2, 19),
    cmdqLog2: cap(o.cmdqLog2, p.cmdqLog2, 19),
    attrPermsOvr: false, attrTypesOvr: false, rel: false, queuesPreset: false, tablesPreset: false,
    ecmdq: false, baVatos: 0, pbha: false, xnx: false, pps: false, mpam: false, fwb: false,
    ptwnnc: false, dpt: false, idr4: 0,
    oas: Math.min(p.oas, o.ipaBits),
    ds: false, d128: false, stallMax: 0,
  };
}

export function guestIdRegs(gf: Readonly<SmmuFeatures>): IdRegs {
  return encodeIdRegs(gf);
}
