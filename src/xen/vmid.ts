// VMID allocator: one VMID per domain, tagging its stage-2 translations in the SMMU's TLBs.
// VMID 0 is never handed out (Linux and Xen reserve it), so a zero S2VMID in an STE always
// means "not a domain's".

import { VsmmuError } from '../errors.ts';

export class VmidAllocator {
  /** Largest VMID: 2^8 - 1, or 2^16 - 1 with IDR0.VMID16. */
  readonly max: number;
  private readonly used: Uint8Array;
  private next = 1;
  private live = 0;

  constructor(vmid16: boolean) {
    this.max = vmid16 ? 0xffff : 0xff;
    this.used = new Uint8Array(this.max + 1);
  }

  /** The next free VMID (round robin, so a freed VMID is reused as late as possible). */
  alloc(): number {
    for (let i = 0; i < this.max; i++) {
      const v = ((this.next - 1 + i) % this.max) + 1;
      if (this.used[v] === 0) {
        this.used[v] = 1;
        this.live++;
        this.next = (v % this.max) + 1;
        return v;
      }
    }
    throw new VsmmuError('EVSMMU_NOVMID', `all ${this.max} VMIDs are in use`);
  }

  free(vmid: number): void {
    if (!(Number.isInteger(vmid) && vmid >= 1 && vmid <= this.max) || this.used[vmid] === 0) {
      throw new VsmmuError('EVSMMU_BADFREE', `VMID ${vmid} is not allocated`);
    }
    this.used[vmid] = 0;
    this.live--;
  }

  get inUse(): number {
    return this.live;
  }
}
