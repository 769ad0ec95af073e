// Shared vocabulary of the pure architecture core: branded address/id types and the memory
// port through which tables, descriptors and queues are read. See docs/architecture.md for
// the 64-bit representation: (lo, hi) u32 pairs, never bigint on hot paths.

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Physical address (output of stage 2, or of stage 1 when stage 2 bypasses). */
export type Pa = Brand<number, 'Pa'>;
/** Intermediate physical address: a guest's view of its RAM. */
export type Ipa = Brand<number, 'Ipa'>;
/** I/O virtual address as a device issues it (below 2^53 when carried as a number). */
export type Iova = Brand<number, 'Iova'>;
export type StreamId = Brand<number, 'StreamId'>;
export type Vmid = Brand<number, 'Vmid'>;
export type Asid = Brand<number, 'Asid'>;

/** Memory port the walker, the SMMU and table fetches read through. */
export interface WordReader {
  /**
   * Single-copy atomic little-endian 64-bit load at an 8-byte aligned `pa`. Returns the low
   * 32 bits (unsigned) and leaves the high 32 bits in `hi`. Returns -1 when `pa` is outside
   * memory: the caller reports an external abort.
   */
  load64(pa: number): number;
  hi: number;
}

export interface WordWriter {
  /** Single-copy atomic little-endian 64-bit store; false when `pa` is outside memory. */
  store64(pa: number, lo: number, hi: number): boolean;
}

/** Transaction attribute bits; event records derive RnW/InD/PnU from them. */
export const ACC_WRITE = 1;
export const ACC_INSTR = 2;
export const ACC_PRIV = 4;

/** 2^32, for composing addresses from (lo, hi) pairs without bigint. */
export const TWO32 = 4294967296;
