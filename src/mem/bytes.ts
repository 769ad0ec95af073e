// Byte comparison for the checkers (stress, fuzz) and the DMA devices: one native memcmp
// (Buffer.equals over the same bytes, no copy) instead of a loop per caller.

/** Whether `a` and `b` hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
