// A domain's p2m: real VMSAv8-64 stage-2 tables in physical memory (the tables the SMMU
// walks for the domain's devices), plus a range list of what is mapped for Xen's own fast
// IPA -> PA lookups (guest RAM accesses of the vSMMU, the guest kernel's RAM view).
// Changes to a live p2m must be followed by a stage-2 TLB invalidation for the domain's
// VMID: the caller (Xen's SMMU driver) does it, this module only edits tables.

import { oasEncoding, type SmmuFeatures } from '../arch/features.ts';
import { PROT_READ, PROT_WRITE, PageTable } from '../arch/pgtable.ts';
import { STE_CFG, STE_WORDS, encodeSte, steOf } from '../arch/ste.ts';
import type { PageAllocator } from '../mem/alloc.ts';
import { RangeP2m, type P2mRange } from '../mem/guest-ram.ts';
import type { PhysMemory } from '../mem/phys.ts';
import { VsmmuError } from '../errors.ts';

export const P2M_RW = PROT_READ | PROT_WRITE;

export interface P2mOptions {
  readonly mem: PhysMemory;
  /** Xen's allocator of physical pages (tables come from it). */
  readonly alloc: PageAllocator;
  /** IPA size in bits (Xen's default for Arm guests: 40). */
  readonly ipaBits: number;
  /** Physical output size (the SMMU's OAS). */
  readonly oas: number;
  readonly granuleShift?: number;
}

export class P2m {
  readonly table: PageTable;
  readonly ipaBits: number;
  readonly granuleShift: number;
  private ranges: P2mRange[] = [];
  private rp = new RangeP2m([]);
  private readonly alloc: PageAllocator;
  private readonly tablePages: number[] = [];
  /** Bytes of stage-2 tables allocated (accounting). */
  tableBytes = 0;

  constructor(o: P2mOptions) {
    this.ipaBits = o.ipaBits;
    this.granuleShift = o.granuleShift ?? 12;
    this.alloc = o.alloc;
    const mem = o.mem;
    this.table = new PageTable({
      stage: 2,
      granuleShift: this.granuleShift,
      ias: o.ipaBits,
      oas: o.oas,
      mem,
      alloc: (bytes, align) => {
        const pa = o.alloc.alloc(bytes, align);
        if (pa >= 0) {
          mem.fill(pa, bytes, 0);
          this.tablePages.push(pa);
          this.tableBytes += Math.max(bytes, 4096);
        }
        return pa;
      },
    });
  }

  /** IPA -> PA, or -1 when not mapped (bound: pass it as a P2mLookup). */
  readonly lookup = (ipa: number): number => this.rp.lookup(ipa);

  /** What is mapped, sorted by IPA. */
  get mapped(): readonly P2mRange[] {
    return this.ranges;
  }

  /** Pages the stage-2 tables use. */
  get tableCount(): number {
    return this.tablePages.length;
  }

  map(ipa: number, pa: number, size: number, prot = P2M_RW): void {
    this.table.map(ipa, pa, size, prot);
    this.setRanges([...this.ranges, { ipa, pa, size }]);
  }

  /** Unmaps [ipa, ipa + size); returns the bytes that were mapped. */
  unmap(ipa: number, size: number): number {
    const n = this.table.unmap(ipa, size);
    const end = ipa + size;
    const out: P2mRange[] = [];
    for (const r of this.ranges) {
      const rEnd = r.ipa + r.size;
      if (rEnd <= ipa || r.ipa >= end) {
        out.push(r);
        continue;
      }
      if (r.ipa < ipa) out.push({ ipa: r.ipa, pa: r.pa, size: ipa - r.ipa });
      if (rEnd > end) out.push({ ipa: end, pa: r.pa + (end - r.ipa), size: rEnd - end });
    }
    this.setRanges(out);
    return n;
  }

  private setRanges(rs: P2mRange[]): void {
    this.rp = new RangeP2m(rs, 2 ** this.granuleShift);
    this.ranges = [...this.rp.ranges];
  }

  /**
   * The domain's stage-2-only STE (16 words) as Xen's SMMU driver installs it, and the base
   * of every nested STE: V, Config S2, the VMID, VTCR fields of this table, S2AA64, S2PTW,
   * S2R (record faults), S2TTB. Attributes follow the SMMU's coherency (FACTS §8.3).
   */
  s2Ste(vmid: number, f: Readonly<SmmuFeatures>): Uint32Array {
    const t = this.table;
    const out = new Uint32Array(STE_WORDS);
    const g = this.granuleShift;
    encodeSte(steOf({
      v: 1,
      config: STE_CFG.S2,
      s2fwb: f.fwb ? 1 : 0,
      s2vmid: vmid,
      s2t0sz: t.t0sz,
      s2sl0: t.sl0,
      s2ir0: f.coherent ? 1 : 0,
      s2or0: f.coherent ? 1 : 0,
      s2sh0: f.coherent ? 3 : 2,
      s2tg: g === 12 ? 0 : g === 16 ? 1 : 2,
      s2ps: oasEncoding(f.oas),
      s2aa64: 1,
      s2ptw: 1,
      s2r: 1,
      s2ttb: t.root,
    }), out);
    return out;
  }

  /** Frees the tables (not the RAM they map: the domain owns that). */
  destroy(): void {
    if (this.tablePages.length === 0) throw new VsmmuError('EVSMMU_DESTROYED', 'p2m already destroyed');
    this.table.destroy((pa) => this.alloc.free(pa));
    this.tablePages.length = 0;
    this.setRanges([]);
  }
}
