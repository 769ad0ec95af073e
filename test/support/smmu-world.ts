// Test scenarios for the SMMU: physical memory, a driver, and helpers that build stage-1,
// stage-2 and nested configurations the way Linux / Xen lay them out (FACTS §8.2, §8.3).
// Memory map (64 MiB):
//   [1 MiB, 32 MiB)   driver/hypervisor allocations: stream table, queues, CDs, S1 and S2 tables
//   [32 MiB, 64 MiB)  a guest's RAM, seen at IPA 0x4000_0000 through stage 2 (nested tests)

import { cdOf, type Cd } from '../../src/arch/cd.ts';
import type { SmmuFeatures } from '../../src/arch/features.ts';
import { PageTable, PROT_READ, PROT_WRITE } from '../../src/arch/pgtable.ts';
import { steOf, type Ste } from '../../src/arch/ste.ts';
import { PageAllocator } from '../../src/mem/alloc.ts';
import { GuestRam, RangeP2m } from '../../src/mem/guest-ram.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import type { RegisterPageDesc } from '../../src/smmu/regpage.ts';
import { SmmuTestDriver } from './smmu-driver.ts';

export const MIB = 1 << 20;
export const GUEST_IPA = 0x4000_0000;
export const GUEST_PA = 32 * MIB;
export const GUEST_SIZE = 32 * MIB;
export const RW = PROT_READ | PROT_WRITE;

const TG0 = (g: number): number => (g === 12 ? 0 : g === 16 ? 1 : 2);

export interface World {
  readonly mem: PhysMemory;
  readonly alloc: PageAllocator;
  readonly drv: SmmuTestDriver;
  /** The guest's RAM through its p2m (IPA view), and an allocator of guest IPAs. */
  readonly guest: GuestRam;
  readonly guestAlloc: PageAllocator;
}

export function makeWorld(mem: PhysMemory, regs: RegisterPageDesc, features: Readonly<SmmuFeatures>, pump?: () => unknown): World {
  const alloc = new PageAllocator(MIB, 31 * MIB);
  const drv = new SmmuTestDriver({ mem, regs, features, alloc, ...(pump ? { pump } : {}) });
  const p2m = new RangeP2m([{ ipa: GUEST_IPA, pa: GUEST_PA, size: GUEST_SIZE }]);
  const guest = new GuestRam(mem, p2m.lookup);
  const guestAlloc = new PageAllocator(GUEST_IPA, GUEST_SIZE);
  return { mem, alloc, drv, guest, guestAlloc };
}

/** A stage-1 page table in physical memory (or, with `ipa`, in the guest's IPA space). */
export function s1Table(w: World, g = 12, ipa = false): PageTable {
  const mem = ipa ? w.guest : w.mem;
  const a = ipa ? w.guestAlloc : w.alloc;
  return new PageTable({
    stage: 1, granuleShift: g, ias: 48, mem,
    alloc: (bytes, align) => {
      const pa = a.alloc(bytes, align);
      if (pa >= 0) for (let i = 0; i < bytes; i += 8) mem.store64(pa + i, 0, 0);
      return pa;
    },
  });
}

export function s2Table(w: World, g = 12, ias = 40): PageTable {
  return new PageTable({
    stage: 2, granuleShift: g, ias, mem: w.mem,
    alloc: (bytes, align) => {
      const pa = w.alloc.alloc(bytes, align);
      if (pa >= 0) w.mem.fill(pa, bytes, 0);
      return pa;
    },
  });
}

/** A stage-1 CD as Linux writes it (arm_smmu_make_s1_cd). */
export function s1Cd(pt: PageTable, asid: number, extra: Partial<Cd> = {}): Cd {
  return cdOf({
    t0sz: pt.t0sz, tg0: TG0(pt.granuleShift), ir0: 1, or0: 1, sh0: 3, epd1: 1, v: 1, ips: 5, aa64: 1,
    r: 1, a: 1, aset: 1, asid, ttb0: pt.root, mair0: 0xf404ff44, ...extra,
  });
}

/** Stage-2 STE fields as Linux writes them (arm_smmu_make_s2_domain_ste). */
export function s2Fields(pt: PageTable, vmid: number): Partial<Ste> {
  return {
    s2vmid: vmid, s2t0sz: pt.t0sz, s2sl0: pt.sl0, s2ir0: 1, s2or0: 1, s2sh0: 3, s2tg: TG0(pt.granuleShift),
    s2ps: 5, s2aa64: 1, s2ptw: 1, s2r: 1, s2ttb: pt.root,
  };
}

export function s1Ste(cdPtr: number, extra: Partial<Ste> = {}): Ste {
  return steOf({ v: 1, config: 5, s1ContextPtr: cdPtr, s1cir: 1, s1cor: 1, s1csh: 3, s1dss: 0, ...extra });
}

export function s2Ste(pt: PageTable, vmid: number, extra: Partial<Ste> = {}): Ste {
  return steOf({ v: 1, config: 6, ...s2Fields(pt, vmid), ...extra });
}

export function nestedSte(s2: PageTable, vmid: number, cdIpa: number, extra: Partial<Ste> = {}): Ste {
  return steOf({ v: 1, config: 7, ...s2Fields(s2, vmid), s1ContextPtr: cdIpa, s1cir: 1, s1cor: 1, s1csh: 3, mev: 1, ...extra });
}

/** A CD slot (64 bytes) in physical memory or guest IPA space. */
export function cdSlot(w: World, count = 1, ipa = false): number {
  const a = ipa ? w.guestAlloc : w.alloc;
  const at = a.alloc(64 * count, Math.max(64, 64 * count));
  const mem = ipa ? w.guest : w.mem;
  for (let i = 0; i < 64 * count; i += 8) mem.store64(at + i, 0, 0);
  return at;
}

/** The guest's stage 2: IPA [GUEST_IPA, +GUEST_SIZE) -> PA [GUEST_PA, ...), as Xen's p2m. */
export function guestS2(w: World, vmid: number, g = 12): { pt: PageTable; vmid: number } {
  const pt = s2Table(w, g, 40);
  pt.map(GUEST_IPA, GUEST_PA, GUEST_SIZE, RW);
  return { pt, vmid };
}
