// The stage-1 TLB invalidations Linux issues after an unmap (FACTS §8.4,
// __arm_smmu_tlb_inv_range): TLBI_NH_VA for the ASID with Leaf; with IDR3.RIL the range
// form (TG = leaf page size of the domain, TTL = level of the unmapped granule, the page
// count split into NUM/SCALE chunks); without it one command per granule. A span of
// CMDQ_MAX_TLBI_OPS granules or more without RIL becomes one TLBI_NH_ASID (as Linux's
// SVA path: cheaper than flooding the queue).

import { cmdOf, type Command } from '../arch/commands.ts';

/** Linux CMDQ_MAX_TLBI_OPS = 1 << (PAGE_SHIFT - 3) for a 4 KiB-page kernel. */
export const CMDQ_MAX_TLBI_OPS = 512;

export interface TlbiRangeArgs {
  asid: number;
  iova: number;
  /** Bytes to invalidate (a multiple of `granule`). */
  size: number;
  /** Size of the leaf entries unmapped (page or block), bytes. */
  granule: number;
  /** log2 of the domain's smallest page (its translation granule). */
  pageShift: number;
  leaf: boolean;
  /** IDR3.RIL. */
  ril: boolean;
}

function log2(n: number): number {
  return Math.round(Math.log2(n));
}

/** Lowest set bit position of a positive integer below 2^53. */
function ffs(n: number): number {
  let s = 0;
  while (n % 2 === 0 && s < 53) {
    n /= 2;
    s++;
  }
  return s;
}

export function tlbiRangeCommands(a: TlbiRangeArgs): Command[] {
  const out: Command[] = [];
  if (a.size <= 0) return out;
  const tgShift = a.pageShift;
  if (!a.ril && a.size / a.granule >= CMDQ_MAX_TLBI_OPS) {
    out.push(cmdOf('TLBI_NH_ASID', { asid: a.asid }));
    return out;
  }
  const end = a.iova + a.size;
  let iova = a.iova;
  if (!a.ril) {
    for (; iova < end; iova += a.granule) out.push(cmdOf('TLBI_NH_VA', { asid: a.asid, leaf: a.leaf ? 1 : 0, addr: iova }));
    return out;
  }
  const tg = (tgShift - 10) / 2;
  let numPages = Math.floor(a.size / 2 ** tgShift);
  let ttl = 0;
  if (a.leaf) ttl = 4 - Math.floor((log2(a.granule) - 3) / (tgShift - 3));
  else if (numPages % 32 === 1) numPages++; // avoid NUM = SCALE = TTL = 0
  while (iova < end && numPages > 0) {
    const scale = ffs(numPages);
    const num = Math.floor(numPages / 2 ** scale) % 32;
    out.push(cmdOf('TLBI_NH_VA', {
      asid: a.asid, leaf: a.leaf ? 1 : 0, ttl, tg, num: num - 1, scale, addr: iova,
    }));
    iova += num * 2 ** (scale + tgShift);
    numPages -= num * 2 ** scale;
  }
  return out;
}
