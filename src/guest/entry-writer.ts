// The guest driver's side of an STE/CD update: reads the entry from guest RAM, gets the
// steps from the shared used-bits planner (src/arch/entry-update.ts, Linux's
// arm_smmu_write_entry) and carries them out: each step's 64-bit stores, then the caller's
// sync (CFGI_STE/CFGI_CD leaf + CMD_SYNC).

import { ENTRY_WORDS, planEntryUpdate, type EntryUpdateKind, type UsedBits } from '../arch/entry-update.ts';
import { VsmmuError } from '../errors.ts';
import type { GuestMemoryPort } from './ports.ts';

export { cdUsed, ENTRY_WORDS, steUsed, type UsedBits } from '../arch/entry-update.ts';

export interface EntryWriteStats {
  /** Number of syncs the update needed. */
  syncs: number;
  kind: EntryUpdateKind;
}

export class EntryWriter {
  private readonly ram: GuestMemoryPort;
  private readonly cur = new Uint32Array(ENTRY_WORDS);

  constructor(ram: GuestMemoryPort) {
    this.ram = ram;
  }

  /** Updates the entry at `addr` to `target` (16 words), calling `sync` after each step. */
  write(addr: number, target: ArrayLike<number>, used: UsedBits, sync: () => void): EntryWriteStats {
    this.read(addr, this.cur);
    const plan = planEntryUpdate(this.cur, target, used);
    for (const stores of plan.steps) {
      for (const s of stores) if (!this.ram.store64(addr + 8 * s.qword, s.lo, s.hi)) throw notRam(addr);
      sync();
    }
    return { syncs: plan.steps.length, kind: plan.kind };
  }

  private read(addr: number, out: Uint32Array): void {
    for (let q = 0; q < ENTRY_WORDS / 2; q++) {
      const lo = this.ram.load64(addr + 8 * q);
      if (lo === -1) throw notRam(addr);
      out[2 * q] = lo >>> 0;
      out[2 * q + 1] = this.ram.hi >>> 0;
    }
  }
}

function notRam(addr: number): VsmmuError {
  return new VsmmuError('EVSMMU_GUEST_RANGE', `table entry at IPA 0x${addr.toString(16)} is not guest RAM`, { ipa: addr });
}
