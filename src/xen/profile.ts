// Xen's policy profiles: one plain-data object per profile, consulted where the vSMMU
// (vsmmuv3*.ts) and Xen's core and SMMU driver (xen.ts, smmu-driver.ts) make a decision. A
// profile is data, not code: it crosses to the Xen worker (and the sim runner) as its name
// and each actor looks its policy up here.
//
//   hardened  the default: iommufd's allow-list, exact forwarding, budgets, vSIDs
//   rfc       "Add SMMUv3 Stage 1 Support for XEN guests" as posted in 2022, its weaknesses
//             included (reference/xen-vsmmuv3.md §2-§4, §6)
//   v3        the 2026 re-post: the RFC plus what §6.5 names as changed in v2/v3: the vSID ->
//             pSID layer, IIDR, and the fixes agreed in its review (IDR fields derived from
//             the hardware, an Arm IIDR, BASE writes ignored while enabled, no unconditional
//             2-level flag); where the reference does not say, the RFC's behaviour is kept
//
// docs/profiles.md is the side-by-side table; every field below is one of its rows.

import { VsmmuError } from '../errors.ts';
import type { VsidMode } from './vsid.ts';

export type XenProfileName = 'hardened' | 'rfc' | 'v3';

export const XEN_PROFILE_NAMES: readonly XenProfileName[] = ['hardened', 'rfc', 'v3'];

export const DEFAULT_PROFILE: XenProfileName = 'hardened';

export interface XenProfile {
  readonly name: XenProfileName;
  /**
   * The guest's ID registers: derived from the physical SMMU (hardened), the series'
   * constants IDR0 0x0D00100A, IDR1 0x02730010, IDR3 0, IDR5 0x75 (§2.2), or those with the
   * fields v3's review derives from the hardware (ASID16, OAS, granules, TTENDIAN; §6.3,
   * §6.5). `iidr` is the constant IIDR (null: the physical SMMU's).
   */
  readonly idRegs: 'derived' | 'constant' | 'constant-hw';
  readonly iidr: number | null;
  /** STRTAB_BASE(_CFG) and the queue BASE registers ignored while enabled (§6.3, agreed in v3 review). */
  readonly baseLock: boolean;
  /**
   * The guest's stream table on CFGI_STE: read as the guest's STRTAB_BASE_CFG says
   * (hardened), or 2-level forced once STRTAB_BASE_CFG is written, L1 index with the fixed
   * split of 8, only STE dword 0 read (§3.3).
   */
  readonly strtab: 'guest' | 'forced-2lvl-split8' | 'fmt-split8';
  /** Commands per trap or continuation: bounded by Xen's budget, or drained to empty (§3.1). */
  readonly cmdqBudget: 'bounded' | 'unbounded';
  /**
   * A command Xen refuses or cannot read: CERROR_ILL/ABT + GERROR.CMDQ_ERR, the queue stops
   * (hardened); or logged, CONS advances, no error (a read failure stops without advancing
   * CONS, retried on the next PROD write only) (§3.1).
   */
  readonly cmdErrors: 'cerror' | 'log-and-skip';
  /**
   * The command set: hardened forwards CFGI_CD(_ALL) with the pSID, TLBI_NH_* with the
   * domain's VMID, re-reads STEs on CFGI_ALL, completes CMD_SYNC after the forwarded work;
   * rfc replaces TLBI_NH_ASID/VA and NSNH_ALL by TLBI_S12_VMALL + CMD_SYNC for every VMID of
   * the domain, ignores CFGI_ALL, CFGI_CD, CFGI_CD_ALL, PREFETCH_CFG and CMD_SYNC, and skips
   * every other opcode (§3.2).
   */
  readonly commands: 'hardened' | 'rfc';
  /**
   * A guest STE Xen cannot use: C_BAD_STE (hardened: allow-list); rfc: S1CDMax != 0 and
   * Config = S2 give C_BAD_STE, Config = nested or reserved is BUG(): a hypervisor panic (§3.3).
   */
  readonly steCheck: 'allow-list' | 'rfc';
  /** BUG_ON(s1_live): re-attaching stage 1 over a live stage-1 STE panics (§3.3). */
  readonly bugOnS1Live: boolean;
  /** Physical nested STE: MEV forced and Linux's hitless order (hardened), or the RFC's order and attributes. */
  readonly nestedSte: 'hardened' | 'rfc';
  /** VMIDs: one per domain (hardened), or one per assigned device (patch 03: each its own io_domain) (§3.2). */
  readonly vmidPerDevice: boolean;
  /** vSIDs: identity (vSID == pSID, RFC) or the lowest free one (v2/v3's allocate_free_vid) (§3.4). */
  readonly vsidMode: VsidMode;
  /**
   * Physical events for the guest: stage-1 records with the vSID and the stage-2 cases
   * rewritten (hardened); or only F_TRANSLATION/F_ADDR_SIZE/F_ACCESS/F_PERMISSION with
   * S2 = 0, copied verbatim (§4.1).
   */
  readonly events: 'rewritten' | 's1-faults-verbatim';
  /**
   * The guest's event queue full, disabled or unwritable: EVENTQ_PROD.OVFLG / dropped
   * (hardened, the architecture), or GERROR.EVTQ_ABT_ERR toggled and the record dropped (§4.1).
   */
  readonly evtqFull: 'overflow' | 'gerror';
  /** The combined interrupt: gated by IRQ_CTRL (hardened) or asserted whatever IRQ_CTRL says (§4.3). */
  readonly irqCtrl: 'honoured' | 'ignored';
  /** CR0 side effects: enables re-read STEs and lock registers (hardened); or CR0 is only stored, CR0ACK at once (§2.2). */
  readonly cr0: 'effects' | 'store-only';
  /**
   * Xen's fault budget: a device flooding the physical event queue is silenced (hardened);
   * the series has none (§6.2: proposed in the design doc, not implemented).
   */
  readonly faultBudget: boolean;
  /**
   * When a passthrough IRQ equal to GUEST_VSMMU_SPI (INTID 33) is refused: in a domain with a
   * vSMMU (hardened, v3: the line is its vSMMU's), or also in one with a partial device tree,
   * vSMMU or not (rfc: libxl reserves the SPI for any domain with PCI or a partial DT) (§5.1).
   */
  readonly vsmmuSpiReserved: 'viommu' | 'viommu-or-partial-dt';
}

const HARDENED: XenProfile = {
  name: 'hardened', idRegs: 'derived', iidr: null, baseLock: true, strtab: 'guest', cmdqBudget: 'bounded', cmdErrors: 'cerror',
  commands: 'hardened', steCheck: 'allow-list', bugOnS1Live: false, nestedSte: 'hardened', vmidPerDevice: false,
  vsidMode: 'identity', events: 'rewritten', evtqFull: 'overflow', irqCtrl: 'honoured', cr0: 'effects',
  faultBudget: true, vsmmuSpiReserved: 'viommu',
};

const RFC: XenProfile = {
  name: 'rfc', idRegs: 'constant', iidr: 0, baseLock: false, strtab: 'forced-2lvl-split8', cmdqBudget: 'unbounded', cmdErrors: 'log-and-skip',
  commands: 'rfc', steCheck: 'rfc', bugOnS1Live: true, nestedSte: 'rfc', vmidPerDevice: true,
  vsidMode: 'identity', events: 's1-faults-verbatim', evtqFull: 'gerror', irqCtrl: 'ignored', cr0: 'store-only',
  faultBudget: false, vsmmuSpiReserved: 'viommu-or-partial-dt',
};

/**
 * v1..v3 (§6.5): the vSID layer, and the fixes §6.5 names: IDR fields from the hardware, an
 * Arm IIDR (the physical one), BASE writes gated on the enables, the 2-level flag only when
 * the guest's FMT says so (the L1 index keeps the fixed split of 8); the rest as the RFC.
 */
const V3: XenProfile = { ...RFC, name: 'v3', idRegs: 'constant-hw', iidr: null, baseLock: true, strtab: 'fmt-split8', vsidMode: 'lowest-free', vsmmuSpiReserved: 'viommu' };

const PROFILES: Readonly<Record<XenProfileName, XenProfile>> = { hardened: HARDENED, rfc: RFC, v3: V3 };

export function isXenProfileName(s: unknown): s is XenProfileName {
  return typeof s === 'string' && Object.hasOwn(PROFILES, s);
}

/** The policy of a profile; an unknown name throws EVSMMU_BADOPTIONS listing the known ones. */
export function xenProfile(name: string = DEFAULT_PROFILE): XenProfile {
  if (!isXenProfileName(name)) {
    throw new VsmmuError('EVSMMU_BADOPTIONS', `unknown Xen profile ${JSON.stringify(name)}: known profiles are ${XEN_PROFILE_NAMES.map((n) => `"${n}"`).join(', ')}`, { option: 'xen.profile', known: XEN_PROFILE_NAMES });
  }
  return PROFILES[name];
}

/** What a hypervisor panic leaves behind (a guest-triggerable BUG() of the series). */
export interface XenPanic {
  /** The BUG that fired: 'BUG(): guest STE config' or 'BUG_ON(s1_live)'. */
  readonly bug: string;
  /** The reference section it comes from. */
  readonly section: string;
  readonly domid: number;
  readonly domain: string;
  /** The guest's StreamID whose CFGI_STE triggered it. */
  readonly sid: number;
  readonly detail: string;
}
