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

/** A clock in milliseconds, injected by whoever runs the kernel (wall clock on threads). */
export type GuestClock = () => number;

/**
 * The clock of a kernel built without one: it advances 1 us each time it is read, so a
 * poll loop bounded by N ms gives up after N * 1000 polls, deterministically. Threads
 * inject the wall clock instead.
 */
export function pollClock(): GuestClock {
  let t = 0;
  return () => (t += 0.001);
}

/** The vCPU's wait for interrupt (WFI), as the runner implements it; never called inside a step. */
export interface IrqWaitPort {
  /** Until a line in `mask` is pending or `timeoutMs` passes: the pending lines of `mask` (0: timeout). */
  wait(mask: number, timeoutMs: number): number;
  /** Absent: the runner takes the idle vCPU's interrupts itself (kernel.pollIrq in its steps). */
  waitAsync?(mask: number, timeoutMs: number): Promise<number>;
}

/** What the runner of a guest kernel injects besides its memory, trap and devices. */
export interface GuestRunner {
  readonly clock: GuestClock;
  /** Absent: interrupts are only polled (pollIrq, the driver's wait loops). */
  readonly irqWait?: IrqWaitPort;
  /** Idles the vCPU until `dueMs` on `clock` (a paced workload between transfers). */
  sleepUntil(dueMs: number): void;
  /** Lets the runner's other work through for about `ms` (an interrupt line stuck high). */
  pause(ms: number): Promise<void>;
  /**
   * One turn of a spin on memory (Linux's cpu_relax() while it polls a CMD_SYNC's MSI): a
   * runner that interleaves the actors on one thread runs the others a step, as they would
   * run beside the spinning vCPU. Absent (threads): they run anyway.
   */
  readonly relax?: () => void;
}

/** The runner of a kernel built without one: a polling clock, no waiting at all. */
export function pollingRunner(): GuestRunner {
  const clock = pollClock();
  return {
    clock,
    sleepUntil: (due) => {
      while (clock() < due) { /* the clock advances per read */ }
    },
    pause: () => Promise.resolve(),
  };
}
