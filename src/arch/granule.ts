// Per-granule geometry of VMSAv8-64 translation tables (FACTS §7.1, §7.5), AArch64, DS = 0.
// g = log2(granule) ∈ {12, 14, 16}; each level resolves g − 3 bits; level 3 resolves [g+8:g]
// (64K: [g+12:g]), so the address bit a level starts at is g + (3 − level)·(g − 3).

/** Lowest address bit a table at `level` indexes (= log2 of the size one entry maps). */
export function levelShift(g: number, level: number): number {
  return g + (3 - level) * (g - 3);
}

/**
 * Stage-1 start level for an input of `vaBits` bits: 4 − ceil((vaBits − g) / (g − 3)).
 * 4K: 16..24 → L0, 25..33 → L1, 34..39 → L2; 16K: 16 → L0, 17..27 → L1, 28..38 → L2,
 * 39 → L3; 64K: 12..21 → L1, 22..34 → L2, 35..39 → L3 (as TxSZ).
 */
export function s1StartLevel(g: number, vaBits: number): number {
  const stride = g - 3;
  return 4 - Math.ceil((vaBits - g) / stride);
}

/**
 * Whether a block descriptor (bits[1:0] = 01) is legal at `level` (0..2) for granule g:
 * 4K at L1 and L2; 16K at L2; 64K at L2, and at L1 only when the SMMU has 52-bit PAs
 * (FEAT_LPA: 4 TiB blocks). Elsewhere 01 is a translation fault.
 */
export function blockAllowed(g: number, level: number, lpa: boolean): boolean {
  if (level === 2) return true;
  if (level === 1) return g === 12 || (g === 16 && lpa);
  return false;
}
