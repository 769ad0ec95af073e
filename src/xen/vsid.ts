// Virtual StreamIDs of one vSMMU: the guest names its devices by vSID, the hardware by
// pSID. A guest never sees a pSID (v2/v3 of the Xen series, "vSID->pSID mapping layer";
// reference/xen-vsmmuv3.md §3.4). The map is injective both ways: one pSID has at most one
// vSID in one vSMMU and vice versa (reliability.md D12).

import { VsmmuError } from '../errors.ts';

export type VsidMode = 'identity' | 'lowest-free';

export class VsidTable {
  readonly mode: VsidMode;
  /** Guest StreamID space: vSIDs are below 2^bits. */
  readonly bits: number;
  private readonly v2p = new Map<number, number>();
  private readonly p2v = new Map<number, number>();
  /** vSIDs in ascending order, for CFGI_STE_RANGE walks in O(devices). */
  private sorted: number[] = [];

  constructor(mode: VsidMode, bits: number) {
    this.mode = mode;
    this.bits = bits;
  }

  get size(): number {
    return this.v2p.size;
  }

  /**
   * Gives `psid` a vSID: the same number in identity mode, the lowest free one otherwise
   * (as Xen's allocate_free_vid). Throws EVSMMU_VSID when the space is exhausted, when an identity
   * vSID does not fit the guest's StreamID width, or when `psid` already has one.
   */
  allocate(psid: number): number {
    if (this.p2v.has(psid)) {
      throw new VsmmuError('EVSMMU_VSID', `physical StreamID ${psid} already has a virtual StreamID`, { psid });
    }
    const limit = 2 ** this.bits;
    let vsid: number;
    if (this.mode === 'identity') {
      vsid = psid;
      if (vsid >= limit) {
        throw new VsmmuError('EVSMMU_VSID', `identity vSID ${psid} does not fit the guest's ${this.bits}-bit StreamIDs`, { psid });
      }
    } else {
      vsid = 0;
      for (const v of this.sorted) {
        if (v !== vsid) break;
        vsid++;
      }
      if (vsid >= limit) throw new VsmmuError('EVSMMU_VSID', 'no free virtual StreamID', { psid });
    }
    this.v2p.set(vsid, psid);
    this.p2v.set(psid, vsid);
    this.sorted = [...this.v2p.keys()].sort((a, b) => a - b);
    return vsid;
  }

  /** Forgets `psid`; returns its vSID or -1. */
  release(psid: number): number {
    const v = this.p2v.get(psid);
    if (v === undefined) return -1;
    this.p2v.delete(psid);
    this.v2p.delete(v);
    this.sorted = this.sorted.filter((x) => x !== v);
    return v;
  }

  /** pSID of `vsid`, or -1 (no device: commands naming it are architectural no-ops). */
  psidOf(vsid: number): number {
    return this.v2p.get(vsid) ?? -1;
  }

  /** vSID of `psid`, or -1. */
  vsidOf(psid: number): number {
    return this.p2v.get(psid) ?? -1;
  }

  /** vSIDs in [first, last], ascending. */
  inRange(first: number, last: number): number[] {
    return this.sorted.filter((v) => v >= first && v <= last);
  }

  entries(): Array<{ vsid: number; psid: number }> {
    return this.sorted.map((vsid) => ({ vsid, psid: this.v2p.get(vsid) ?? -1 }));
  }
}
