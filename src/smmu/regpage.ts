// The SMMU register page: the 128 KiB programming interface (page 0 + page 1) on a
// SharedArrayBuffer (layout and control words: src/ports/regpage.ts). Reads are loads;
// writes are stores plus a doorbell the SMMU services, so side effects (CR0ACK,
// IRQ_CTRLACK, GBPA.Update clearing, GERRORN acknowledgement, PROD doorbells) become
// visible later, as on hardware: software polls for them. Nothing here waits: a driver
// that polls yields between reads (or its runner waits on the page's UPD/SEV counters).
import type { SmmuFeatures } from '../arch/features.ts';
import { decodeIdRegs, encodeIdRegs } from '../arch/features.ts';
import { CR0, R } from '../arch/registers.ts';
import {
  createRegisterPage, FRAME_BYTES, RegisterPage as PortRegisterPage, type RegisterPageDesc,
} from '../ports/regpage.ts';
import { wordRules, type WordRule } from './regmap.ts';

export { CTL_DIRTY, CTL_PARK, CTL_SEV, CTL_STOP, CTL_UPD, FRAME_BYTES, type RegisterPageDesc } from '../ports/regpage.ts';

/** Reset value of GBPA: SHCFG = use incoming, ABORT = 0 (bypass while SMMUEN = 0), as QEMU. */
export const GBPA_RESET = 0x00001000;

/** CoreSight component identification (CIDR0..3 = 0x0D, 0xF0, 0x05, 0xB1). */
const CIDR = [0x0d, 0xf0, 0x05, 0xb1];

/** Allocates a register page and writes its reset state (ID registers from `f`). */
export function createSmmuRegisterPage(f: Readonly<SmmuFeatures>, gbpaReset = GBPA_RESET): RegisterPageDesc {
  const desc = createRegisterPage();
  new RegisterPage(desc).reset(f, gbpaReset);
  return desc;
}

/** Raw access to an SMMU register page (both sides), with the SMMU's reset state. */
export class RegisterPage extends PortRegisterPage {
  /** Every register to its reset value (ID registers from `f`); control words kept. */
  reset(f: Readonly<SmmuFeatures>, gbpaReset = GBPA_RESET): void {
    // One fill: on a shared buffer V8 stores element by element (no word is torn), and it is
    // thirty times a loop of Atomics.store over the 32768 words of the frame.
    this.regs.fill(0);
    const id = encodeIdRegs(f);
    this.store(R.IDR0, id.idr0);
    this.store(R.IDR1, id.idr1);
    this.store(R.IDR2, id.idr2);
    this.store(R.IDR3, id.idr3);
    this.store(R.IDR4, id.idr4);
    this.store(R.IDR5, id.idr5);
    this.store(R.IIDR, id.iidr);
    this.store(R.AIDR, id.aidr);
    this.store(R.GBPA, gbpaReset & ~0x80000000);
    this.store(R.CIDR0, CIDR[0] ?? 0);
    this.store(R.CIDR1, CIDR[1] ?? 0);
    this.store(R.CIDR2, CIDR[2] ?? 0);
    this.store(R.CIDR3, CIDR[3] ?? 0);
  }
}

/**
 * The driver side of the register page (what a CPU's MMIO accesses do): pure code over the
 * SAB, usable from any thread (the Xen worker, tests). Accesses must be naturally aligned
 * 32- or 64-bit accesses inside the 128 KiB frame; others are RAZ/WI, like reserved offsets.
 * A 64-bit access is two 32-bit accesses (low word first); the SMMU sees the doorbell
 * after both halves are stored.
 */
export class SmmuRegisterPort {
  private readonly page: PortRegisterPage;
  private readonly rules: ReadonlyMap<number, WordRule>;

  /**
   * `features` defaults to what the page's ID registers advertise (as a driver learns them),
   * so a port needs only the page.
   */
  constructor(desc: RegisterPageDesc, features?: Readonly<SmmuFeatures>) {
    this.page = new PortRegisterPage(desc);
    const p = this.page;
    this.rules = wordRules(
      features ??
        decodeIdRegs({
          idr0: p.load(R.IDR0), idr1: p.load(R.IDR1), idr2: p.load(R.IDR2), idr3: p.load(R.IDR3),
          idr4: p.load(R.IDR4), idr5: p.load(R.IDR5), iidr: p.load(R.IIDR), aidr: p.load(R.AIDR),
        }),
    );
  }

  read32(off: number): number {
    if (!aligned(off, 4)) return 0;
    return this.page.load(off);
  }

  read64(off: number): bigint {
    if (!aligned(off, 8)) return 0n;
    return (BigInt(this.page.load(off + 4)) << 32n) | BigInt(this.page.load(off));
  }

  /** 64-bit read as (lo, hi) without bigint. */
  read64Pair(off: number): [number, number] {
    if (!aligned(off, 8)) return [0, 0];
    return [this.page.load(off), this.page.load(off + 4)];
  }

  write32(off: number, v: number): void {
    if (!aligned(off, 4)) return;
    const dirty = this.store(off, v >>> 0);
    if (dirty !== 0) this.ring(dirty);
  }

  write64(off: number, v: bigint): void {
    this.write64Pair(off, Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn));
  }

  write64Pair(off: number, lo: number, hi: number): void {
    if (!aligned(off, 8)) return;
    const dirty = this.store(off, lo >>> 0) | this.store(off + 4, hi >>> 0);
    if (dirty !== 0) this.ring(dirty);
  }

  /** Counter of SMMU-side register updates (a runner may wait for it to move). */
  get updates(): number {
    return this.page.updates;
  }

  /** SEV events so far (CMD_SYNC with CS = SIG_SEV). */
  get sevCount(): number {
    return this.page.sevCount;
  }

  /** The page itself (for a runner that waits on its counters). */
  get raw(): PortRegisterPage {
    return this.page;
  }

  private store(off: number, v: number): number {
    const rule = this.rules.get(off);
    if (!rule) return 0; // RO, reserved or unimplemented: write-ignored
    if (rule.wiWhen !== 0 && (this.page.load(R.CR0ACK) & rule.wiWhen) !== 0) return 0;
    if (rule.gbpa && (v & 0x80000000) === 0) return 0; // v3.2: GBPA writes without Update are ignored
    const old = this.page.load(off);
    this.page.store(off, ((old & ~rule.mask) | (v & rule.mask)) >>> 0);
    return rule.dirty;
  }

  private ring(dirty: number): void {
    this.page.ring(dirty);
  }
}

function aligned(off: number, n: number): boolean {
  return Number.isInteger(off) && off >= 0 && off + n <= FRAME_BYTES && off % n === 0;
}

export { CR0 };
