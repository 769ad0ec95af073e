// Blocking waits on a register page (src/ports/regpage.ts) for a driver thread that has
// nothing else to do until the device answers (control-plane work, tests): sleep on the
// device's UPD or SEV counter, never a timed poll.
import { CTL_SEV, CTL_UPD, type RegisterPage } from '../ports/regpage.ts';

/** Blocks until the device updates a register after `seen` was read (or the timeout). */
export function waitUpdate(page: RegisterPage, seen: number, timeoutMs: number): boolean {
  return Atomics.wait(page.ctl, CTL_UPD, seen, timeoutMs) !== 'timed-out';
}

/** Blocks until a SEV after `seen` (or the timeout); true if one came. */
export function waitSev(page: RegisterPage, seen: number, timeoutMs: number): boolean {
  if (Atomics.load(page.ctl, CTL_SEV) !== seen) return true;
  return Atomics.wait(page.ctl, CTL_SEV, seen, timeoutMs) !== 'timed-out';
}

/**
 * Polls the 32-bit register at `off` (read with `read32`) until `done(value)` holds,
 * sleeping on the device's update counter in between (a handshake, not a sleep). Returns
 * the value, or undefined after `timeoutMs`.
 */
export function pollRegister(page: RegisterPage, read32: (off: number) => number, off: number, done: (v: number) => boolean, timeoutMs = 5000): number | undefined {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const seen = page.updates;
    const v = read32(off);
    if (done(v)) return v;
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    waitUpdate(page, seen, left);
  }
}
