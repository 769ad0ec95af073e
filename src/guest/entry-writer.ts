// How Linux (6.8+, arm_smmu_write_entry) updates a live STE or CD so the SMMU never sees a
// torn or illegal entry: each entry is 8 qwords; `used` gives, for an entry value, the bits
// the SMMU reads. From the current and target values it picks
//   - hitless: only one qword's used bits change -> write every other qword (bits the
//     current entry ignores), sync, write that "critical" qword, sync, then clear what the
//     target no longer uses, sync;
//   - breaking: V := 0 in qword 0, sync, write qwords 1..7, sync, write qword 0, sync;
//   - nothing to change in used bits: write the (unused) difference, sync if any.
// Every qword is one single-copy atomic 64-bit store; "sync" is CFGI_STE/CFGI_CD (leaf) +
// CMD_SYNC, given by the caller.

import { VsmmuError } from '../errors.ts';
import type { GuestMemoryPort } from './ports.ts';

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

export interface EntryWriteStats {
  /** Number of syncs the update needed. */
  syncs: number;
  kind: 'hitless' | 'breaking' | 'unused';
}

export class EntryWriter {
  private readonly ram: GuestMemoryPort;
  private readonly cur = new Uint32Array(ENTRY_WORDS);
  private readonly curUsed = new Uint32Array(ENTRY_WORDS);
  private readonly tgtUsed = new Uint32Array(ENTRY_WORDS);
  private readonly unused = new Uint32Array(ENTRY_WORDS);

  constructor(ram: GuestMemoryPort) {
    this.ram = ram;
  }

  /** Updates the entry at `addr` to `target` (16 words), calling `sync` after each step. */
  write(addr: number, target: ArrayLike<number>, used: UsedBits, sync: () => void): EntryWriteStats {
    const cur = this.cur;
    this.read(addr, cur);
    used(cur, this.curUsed);
    used(target, this.tgtUsed);
    let diff = 0;
    const unused = this.unused;
    for (let q = 0; q < QWORDS; q++) {
      let differs = false;
      for (let h = 0; h < 2; h++) {
        const i = 2 * q + h;
        const cu = this.curUsed[i] ?? 0;
        const t = (target[i] ?? 0) >>> 0;
        unused[i] = (((cur[i] ?? 0) & cu) | (t & ~cu)) >>> 0;
        if ((((unused[i] ?? 0) & (this.tgtUsed[i] ?? 0)) >>> 0) !== t) differs = true;
      }
      if (differs) diff |= 1 << q;
    }
    let syncs = 0;
    const set = (src: ArrayLike<number>, from: number, n: number): void => {
      let changed = false;
      for (let q = from; q < from + n; q++) {
        const lo = (src[2 * q] ?? 0) >>> 0;
        const hi = (src[2 * q + 1] ?? 0) >>> 0;
        if (lo === cur[2 * q] && hi === cur[2 * q + 1]) continue;
        if (!this.ram.store64(addr + 8 * q, lo, hi)) throw notRam(addr);
        cur[2 * q] = lo;
        cur[2 * q + 1] = hi;
        changed = true;
      }
      if (changed) {
        sync();
        syncs++;
      }
    };
    if (diff !== 0 && (diff & (diff - 1)) === 0) {
      const critical = 31 - Math.clz32(diff);
      unused[2 * critical] = cur[2 * critical] ?? 0;
      unused[2 * critical + 1] = cur[2 * critical + 1] ?? 0;
      set(unused, 0, QWORDS);
      set(target, critical, 1);
      set(target, 0, QWORDS);
      return { syncs, kind: 'hitless' };
    }
    if (diff !== 0) {
      unused[0] = 0;
      unused[1] = 0;
      // V = 0 first (qword 0 of both STE and CD holds V; Linux zeroes the whole qword).
      set(unused, 0, 1);
      set(target, 1, QWORDS - 1);
      set(target, 0, 1);
      return { syncs, kind: 'breaking' };
    }
    set(target, 0, QWORDS);
    return { syncs, kind: 'unused' };
  }

  private read(addr: number, out: Uint32Array): void {
    for (let q = 0; q < QWORDS; q++) {
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
