// How to update a live STE or CD so the SMMU never sees a torn or illegal entry: Linux's
// used-bits method (6.8+, arm_smmu_write_entry), as a pure planner shared by the guest's
// driver and Xen's. Each entry is 8 qwords; `used` gives, for an entry value, the bits the
// SMMU reads. From the current and target values the plan is
//   - hitless: only one qword's used bits change -> write every other qword (bits the
//     current entry ignores), sync, write that "critical" qword, sync, then clear what the
//     target no longer uses, sync;
//   - breaking: V := 0 in qword 0, sync, write qwords 1..7, sync, write qword 0, sync;
//   - unused: nothing to change in used bits: write the (unused) difference, sync if any.
// The plan is a list of steps; a step is a set of single-copy atomic 64-bit stores followed
// by one sync (CFGI_STE/CFGI_CD leaf + CMD_SYNC, issued by the caller: blocking, ticketed or
// stepped, as its runner likes). A step that would store nothing is left out.

/** 8 qwords = 16 u32 words (word 2k = qword k [31:0]). */
export const ENTRY_WORDS = 16;
const QWORDS = 8;

/** Fills `out` (16 words) with the bits of `entry` the SMMU uses. */
export type UsedBits = (entry: ArrayLike<number>, out: Uint32Array) => void;

/** Linux arm_smmu_get_ste_used (FACTS §2.1 field positions; addresses masked to bit 51). */
export const steUsed: UsedBits = (e, u) => {
  u.fill(0);
  const w0 = (e[0] ?? 0) >>> 0;
  u[0] = 0x1; // V
  if ((w0 & 1) === 0) return;
  u[0] = 0xf; // V | Config
  const cfg = (w0 >>> 1) & 7;
  if (cfg & 1) {
    // S1 translates: S1Fmt, S1ContextPtr[51:6], S1CDMax; S1DSS/CIR/COR/CSH, S1STALLD, STRW, EATS; S2VMID
    u[0] = 0xffffffff;
    u[1] = 0xf80fffff;
    u[2] = (u[2] ?? 0) | 0xf80000ff;
    u[4] = (u[4] ?? 0) | 0xffff;
    if (((e[2] ?? 0) & 3) === 1) u[3] = (u[3] ?? 0) | 0x3000; // S1DSS bypass: SHCFG
  }
  if (cfg & 2) {
    // S2 translates: S2FWB, EATS, SHCFG; S2VMID, VTCR, S2AA64/ENDI/PTW/S/R; S2TTB[51:4]
    u[2] = (u[2] ?? 0) | 0x32000000;
    u[3] = (u[3] ?? 0) | 0x3000;
    u[4] = (u[4] ?? 0) | 0xffff;
    u[5] = 0x065fffff;
    u[6] = 0xfffffff0;
    u[7] = 0x000fffff;
  }
  if (cfg === 4) u[3] = (u[3] ?? 0) | 0x3000; // bypass: SHCFG
};

/** Linux arm_smmu_get_cd_used: V only when invalid; everything, minus the TTB0 walk fields under EPD0. */
export const cdUsed: UsedBits = (e, u) => {
  u.fill(0);
  const w0 = (e[0] ?? 0) >>> 0;
  u[0] = 0x80000000; // V
  if ((w0 & 0x80000000) === 0) return;
  u.fill(0xffffffff);
  if (w0 & 0x4000) {
    u[0] = (u[0] ?? 0) & ~0x3fff; // T0SZ, TG0, IR0, OR0, SH0
    u[2] = (u[2] ?? 0) & 0x0000000f; // TTB0[31:4]
    u[3] = (u[3] ?? 0) & 0xfff00000; // TTB0[51:32]
  }
};

export type EntryUpdateKind = 'hitless' | 'breaking' | 'unused';

/** One 64-bit store: qword `qword` (0..7) of the entry := hi:lo. */
export interface EntryStore {
  readonly qword: number;
  readonly lo: number;
  readonly hi: number;
}

export interface EntryUpdatePlan {
  readonly kind: EntryUpdateKind;
  /** Steps in order: do the stores (any order within a step), then one sync. */
  readonly steps: readonly (readonly EntryStore[])[];
}

/** Appends the stores of qwords [from, from + n) of `src` that differ from `cur` (the entry
 *  as it will be), as one step, and applies them to `cur`. */
function storeStep(steps: EntryStore[][], cur: Uint32Array, src: ArrayLike<number>, from: number, n: number): void {
  const stores: EntryStore[] = [];
  for (let q = from; q < from + n; q++) {
    const lo = (src[2 * q] ?? 0) >>> 0;
    const hi = (src[2 * q + 1] ?? 0) >>> 0;
    if (lo === cur[2 * q] && hi === cur[2 * q + 1]) continue;
    cur[2 * q] = lo;
    cur[2 * q + 1] = hi;
    stores.push({ qword: q, lo, hi });
  }
  if (stores.length > 0) steps.push(stores);
}

/** Plans the update of an entry holding `current` (16 words) to `target` (16 words). */
export function planEntryUpdate(current: ArrayLike<number>, target: ArrayLike<number>, used: UsedBits): EntryUpdatePlan {
  const cur = new Uint32Array(ENTRY_WORDS);
  for (let i = 0; i < ENTRY_WORDS; i++) cur[i] = (current[i] ?? 0) >>> 0;
  const curUsed = new Uint32Array(ENTRY_WORDS);
  const tgtUsed = new Uint32Array(ENTRY_WORDS);
  const unused = new Uint32Array(ENTRY_WORDS);
  used(cur, curUsed);
  used(target, tgtUsed);
  let diff = 0;
  for (let q = 0; q < QWORDS; q++) {
    let differs = false;
    for (let h = 0; h < 2; h++) {
      const i = 2 * q + h;
      const cu = curUsed[i] ?? 0;
      const t = (target[i] ?? 0) >>> 0;
      unused[i] = (((cur[i] ?? 0) & cu) | (t & ~cu)) >>> 0;
      if ((((unused[i] ?? 0) & (tgtUsed[i] ?? 0)) >>> 0) !== t) differs = true;
    }
    if (differs) diff |= 1 << q;
  }
  const steps: EntryStore[][] = [];
  if (diff !== 0 && (diff & (diff - 1)) === 0) {
    const critical = 31 - Math.clz32(diff);
    unused[2 * critical] = cur[2 * critical] ?? 0;
    unused[2 * critical + 1] = cur[2 * critical + 1] ?? 0;
    storeStep(steps, cur, unused, 0, QWORDS);
    storeStep(steps, cur, target, critical, 1);
    storeStep(steps, cur, target, 0, QWORDS);
    return { kind: 'hitless', steps };
  }
  if (diff !== 0) {
    // V = 0 first (qword 0 of both STE and CD holds V; Linux zeroes the whole qword).
    unused[0] = 0;
    unused[1] = 0;
    storeStep(steps, cur, unused, 0, 1);
    storeStep(steps, cur, target, 1, QWORDS - 1);
    storeStep(steps, cur, target, 0, 1);
    return { kind: 'breaking', steps };
  }
  storeStep(steps, cur, target, 0, QWORDS);
  return { kind: 'unused', steps };
}
