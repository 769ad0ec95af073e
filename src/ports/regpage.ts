// A register page: a device's MMIO frame (the SMMU's 128 KiB, page 0 + page 1) on a
// SharedArrayBuffer, plus control words. Reads are loads; writes are stores plus a doorbell
// the device's actor services, so side effects become visible later, as on hardware.
// Which bits a write may change is the device's business (src/smmu/regpage.ts); this is
// the storage and the signalling, with no waiting.
//
// SAB layout (allocated by createRegisterPage):
//   bytes [0, 0x20000)  VALUES: every register's current value, u32 little-endian at its
//                       absolute offset (page 1 registers at 0x10000 + offset). Reserved
//                       offsets stay 0 (RAZ). Written by the driver side (software-writable
//                       bits only) and by the device (ID registers at creation, acks,
//                       errors, queue indices). Accessed with Atomics.load/store only.
//   bytes [0x20000, 0x20180)  CONTROL, Int32 words, each on its own 64-byte line:
//     DIRTY  side-effect classes written since the device last looked (smmu/regmap.ts
//            DIRTY); the driver Atomics.or's, the device Atomics.exchange's it with 0
//     PARK   the device actor's doorbell (ports/doorbell.ts protocol). Register writes and
//            the transaction rings of every port ring it.
//     UPD    counter the device bumps (and notifies) after it changes any register, so a
//            driver polling CR0ACK, CONS, GBPA or GERROR can wait instead of spinning
//     SEV    counter bumped and notified by CMD_SYNC with CS = SIG_SEV (the "event" a
//            driver in WFE would see)
//     STOP   spare (was the owner's stop flag; the service loop has its own now)
//     MAGIC  identifies the SAB
import { VsmmuError } from '../errors.ts';
import { wake, type DoorbellDesc } from './doorbell.ts';

export const FRAME_BYTES = 0x20000;
const CONTROL_BYTES = 0x180;
export const CTL_DIRTY = 0;
export const CTL_PARK = 16;
export const CTL_UPD = 32;
export const CTL_SEV = 48;
export const CTL_STOP = 64;
const CTL_MAGIC = 80;
const REG_MAGIC = 0x534d4d55; // 'SMMU'

export interface RegisterPageDesc {
  readonly sab: SharedArrayBuffer;
}

/** Allocates a zeroed register page (the device writes its reset state). */
export function createRegisterPage(): RegisterPageDesc {
  const sab = new SharedArrayBuffer(FRAME_BYTES + CONTROL_BYTES);
  Atomics.store(new Int32Array(sab, FRAME_BYTES, CONTROL_BYTES >> 2), CTL_MAGIC, REG_MAGIC);
  return { sab };
}

/** The device's doorbell on a page (its actor parks there). */
export function registerPageDoorbell(desc: RegisterPageDesc): DoorbellDesc {
  return controlWord(desc, CTL_PARK);
}

/** A control word of a page (CTL_*) as an Int32 index into the whole SAB. */
export function controlWord(desc: RegisterPageDesc, ctl: number): DoorbellDesc {
  return { sab: desc.sab, index: (FRAME_BYTES >> 2) + ctl };
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

  /** Device side: publish register changes to pollers (bump UPD and notify). */
  published(): void {
    Atomics.add(this.ctl, CTL_UPD, 1);
    Atomics.notify(this.ctl, CTL_UPD);
  }

  /** Driver side: record side-effect classes and ring the device's doorbell. */
  ring(dirty: number): void {
    Atomics.or(this.ctl, CTL_DIRTY, dirty);
    wake(this.ctl, CTL_PARK);
  }

  /** Counter of device-side register updates. */
  get updates(): number {
    return Atomics.load(this.ctl, CTL_UPD);
  }

  /** SEV events so far (CMD_SYNC with CS = SIG_SEV). */
  get sevCount(): number {
    return Atomics.load(this.ctl, CTL_SEV);
  }
}
