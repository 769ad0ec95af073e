// The ports the guest kernel's code runs over. The driver never touches threads: it gets an
// MMIO window (trapped to Xen by the vCPU, or an in-process register file in tests), its RAM
// (GuestRam: IPA-addressed), and a page allocator over that RAM.

import type { WordReader, WordWriter } from '../arch/types.ts';

/** A register window: 32-bit accesses at offsets (a 64-bit register is two halves, low first). */
export interface MmioPort {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
}

/**
 * The guest's RAM at IPAs. `src/mem/guest-ram.ts` GuestRam implements it; load64/store64
 * are the single-copy atomic accesses the driver uses for every STE/CD/descriptor/queue
 * dword (as Linux's WRITE_ONCE of a __le64), the rest are for bulk data.
 */
export interface GuestMemoryPort extends WordReader, WordWriter {
  read32(ipa: number): number;
  write32(ipa: number, value: number): void;
  readBytes(ipa: number, len: number): Uint8Array;
  writeBytes(ipa: number, bytes: ArrayLike<number>): void;
  fill(ipa: number, len: number, byte: number): void;
}

/** Page allocator over the guest's RAM (src/mem PageAllocator): -1 when out of memory. */
export interface GuestAllocator {
  alloc(bytes: number, align?: number): number;
  free(ipa: number): void;
}
