// The SMMU register page: the 128 KiB programming interface (page 0 + page 1) on a
// SharedArrayBuffer. Reads are loads; writes are stores plus a doorbell the SMMU thread
// services, so side effects (CR0ACK, IRQ_CTRLACK, GBPA.Update clearing, GERRORN
// acknowledgement, PROD doorbells) become visible asynchronously, as on hardware: software
// polls for them.
//
// SAB layout (allocated by createSmmuRegisterPage):
//   bytes [0, 0x20000)  VALUES: every register's current value, u32 little-endian at its
//                       absolute offset (page 1 registers at 0x10000 + offset). Reserved
//                       offsets stay 0 (RAZ). Written by the driver side (SmmuRegisterPort,
//                       software-writable bits only) and by the SMMU thread (ID registers at
//                       creation, CR0ACK, IRQ_CTRLACK, GERROR, CMDQ_CONS, EVENTQ_PROD,
//                       GBPA.Update). Accessed with Atomics.load/store only.
//   bytes [0x20000, 0x20180)  CONTROL, Int32 words, each on its own 64-byte line:
//     DIRTY  side-effect classes written since the SMMU last looked (regmap.ts DIRTY);
//            the driver Atomics.or's, the SMMU Atomics.exchange's it with 0
//     PARK   the SMMU thread's park word (runtime/wait.ts protocol). Register writes and
//            the transaction rings of every port wake it.
//     UPD    counter the SMMU bumps (and notifies) after it changes any register, so a
//            driver polling CR0ACK, CONS, GBPA or GERROR waits instead of spinning
//     SEV    counter bumped and notified by CMD_SYNC with CS = SIG_SEV (the "event" a
//            driver in WFE would see)
//     STOP   set by the owner to end the SMMU service loop (then PARK is woken)
//     MAGIC  identifies the SAB
import type { SmmuFeatures } from '../arch/features.ts';
import { decodeIdRegs, encodeIdRegs } from '../arch/features.ts';
import { R } from '../arch/registers.ts';
import { VsmmuError } from '../errors.ts';
import { wake } from '../runtime/wait.ts';
import { CR0, wordRules, type WordRule } from './regmap.ts';

export const FRAME_BYTES = 0x20000;
const CONTROL_BYTES = 0x180;
export const CTL_DIRTY = 0;
export const CTL_PARK = 16;
export const CTL_UPD = 32;
export const CTL_SEV = 48;
export const CTL_STOP = 64;
const CTL_MAGIC = 80;
const REG_MAGIC = 0x534d4d55; // 'SMMU'

/** Reset value of GBPA: SHCFG = use incoming, ABORT = 0 (bypass while SMMUEN = 0), as QEMU. */
export const GBPA_RESET = 0x00001000;

export interface RegisterPageDesc {
  readonly sab: SharedArrayBuffer;
}

/** CoreSight component identification (CIDR0..3 = 0x0D, 0xF0, 0x05, 0xB1). */
const CIDR = [0x0d, 0xf0, 0x05, 0xb1];

/** Allocates a register page and writes its reset state (ID registers from `f`). */
export function createSmmuRegisterPage(f: Readonly<SmmuFeatures>, gbpaReset = GBPA_RESET): RegisterPageDesc {
  const sab = new SharedArrayBuffer(FRAME_BYTES + CONTROL_BYTES);
  const page = new RegisterPage({ sab }, false);
  page.reset(f, gbpaReset);
  Atomics.store(page.ctl, CTL_MAGIC, REG_MAGIC);
  return { sab };
}

/** Raw access to a register page (both sides). */
export class RegisterPage {
  readonly regs: Int32Array;
  readonly ctl: Int32Array;

  constructor(desc: RegisterPageDesc, check = true) {
    if (desc.sab.byteLength !== FRAME_BYTES + CONTROL_BYTES) throw new VsmmuError('EVSMMU_REGPAGE', 'not an SMMU register page');
    this.regs = new Int32Array(desc.sab, 0, FRAME_BYTES >> 2);
    this.ctl = new Int32Array(desc.sab, FRAME_BYTES, CONTROL_BYTES >> 2);
    if (check && Atomics.load(this.ctl, CTL_MAGIC) !== REG_MAGIC) throw new VsmmuError('EVSMMU_REGPAGE', 'not an SMMU register page');
  }

  /** Unsigned 32-bit value at absolute offset `off` (4-aligned). */
  load(off: number): number {
    return Atomics.load(this.regs, off >> 2) >>> 0;
  }

  store(off: number, v: number): void {
    Atomics.store(this.regs, off >> 2, v | 0);
  }

  /** 64-bit register as a number (its value must be below 2^53: addresses are). */
  load64(off: number): number {
    return this.load(off + 4) * 4294967296 + this.load(off);
  }

  /** Every register to its reset value (ID registers from `f`); control words kept. */
  reset(f: Readonly<SmmuFeatures>, gbpaReset = GBPA_RESET): void {
    for (let i = 0; i < this.regs.length; i++) Atomics.store(this.regs, i, 0);
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

  /** SMMU side: publish register changes to pollers (bump UPD and notify). */
  published(): void {
    Atomics.add(this.ctl, CTL_UPD, 1);
    Atomics.notify(this.ctl, CTL_UPD);
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
  private readonly page: RegisterPage;
  private readonly rules: ReadonlyMap<number, WordRule>;

  /**
   * `features` defaults to what the page's ID registers advertise (as a driver learns them),
   * so a port needs only the page.
   */
  constructor(desc: RegisterPageDesc, features?: Readonly<SmmuFeatures>) {
    this.page = new RegisterPage(desc);
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

  /** Counter of SMMU-side register updates (see waitUpdate). */
  get updates(): number {
    return Atomics.load(this.page.ctl, CTL_UPD);
  }

  /** Blocks until the SMMU updates a register after `seen` was read (or the timeout). */
  waitUpdate(seen: number, timeoutMs: number): boolean {
    return Atomics.wait(this.page.ctl, CTL_UPD, seen, timeoutMs) !== 'timed-out';
  }

  /** SEV events so far (CMD_SYNC with CS = SIG_SEV). */
  get sevCount(): number {
    return Atomics.load(this.page.ctl, CTL_SEV);
  }

  /** Blocks until a SEV after `seen` (or the timeout); true if one came. */
  waitSev(seen: number, timeoutMs: number): boolean {
    if (Atomics.load(this.page.ctl, CTL_SEV) !== seen) return true;
    return Atomics.wait(this.page.ctl, CTL_SEV, seen, timeoutMs) !== 'timed-out';
  }

  /**
   * Polls the 32-bit register at `off` until `done(value)` holds, sleeping on the SMMU's
   * update counter in between (a handshake, not a sleep). Returns the value, or undefined
   * after `timeoutMs`.
   */
  poll32(off: number, done: (v: number) => boolean, timeoutMs = 5000): number | undefined {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = this.updates;
      const v = this.read32(off);
      if (done(v)) return v;
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      this.waitUpdate(seen, left);
    }
  }

  /** Async form of poll32 (for threads that must keep their event loop running). */
  async poll32Async(off: number, done: (v: number) => boolean, timeoutMs = 5000): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = this.updates;
      const v = this.read32(off);
      if (done(v)) return v;
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      const r = Atomics.waitAsync(this.page.ctl, CTL_UPD, seen, left);
      if (r.async) await r.value;
    }
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
    Atomics.or(this.page.ctl, CTL_DIRTY, dirty);
    wake(this.page.ctl, CTL_PARK);
  }
}

function aligned(off: number, n: number): boolean {
  return Number.isInteger(off) && off >= 0 && off + n <= FRAME_BYTES && off % n === 0;
}

export { CR0 };
