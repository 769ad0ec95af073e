// Scheduling priority of actor threads. On the machine being emulated the SMMU is hardware:
// it translates beside the CPUs and is never descheduled so that a vCPU can run; Xen's trap
// handler runs while the trapping vCPU waits. On threads, with more guests than cores,
// Linux's scheduler knows none of that: a guest that the SMMU's completions wake preempts the
// SMMU on its core, and the SMMU waits, runnable, while its guests run. So the SMMU's and
// Xen's threads run at a higher priority than the guests' where the process may raise it
// (CAP_SYS_NICE, or root); elsewhere they keep the guests' priority and the system says why.
//
// How much higher (docs/performance.md, "Thread priorities"; 8 guests streaming 4 KiB on
// 2 cores): Xen works in short bursts while a vCPU waits, so it gets the most. The SMMU is
// busy all the time under a stream: at nice -10 it keeps its core to itself, the eight
// guests and everything else share the other, and a guest's trap takes 1.3 ms instead of
// 0.2 ms; at -5 the stream gains most of that (0.66-0.68 of one guest's rate, from
// 0.38-0.57) and traps are answered as fast as with equal priorities.
import { setPriority } from 'node:os';
import { readlinkSync } from 'node:fs';

/** The nice value of the SMMU's thread (guests keep the process's, usually 0). */
export const SMMU_NICE = -5;
/** The nice value of Xen's thread. */
export const XEN_NICE = -10;

/** The calling thread's kernel thread id (Linux: /proc/thread-self), or null elsewhere. */
export function osThreadId(): number | null {
  try {
    const id = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(id) && id > 0 ? id : null;
  } catch {
    return null;
  }
}

/**
 * Sets the nice value of thread `tid` of this process (Linux's nice is per thread). Null on
 * success, else why it could not (no thread id on this platform, or no permission).
 */
export function setThreadNice(tid: number | null, nice: number): string | null {
  if (tid === null) return 'this platform names no threads to the scheduler';
  try {
    setPriority(tid, nice);
    return null;
  } catch (e) {
    const code = (e as { info?: { code?: string } }).info?.code ?? (e as { code?: string }).code ?? 'error';
    return code === 'EACCES' || code === 'EPERM'
      ? `raising a thread's priority needs CAP_SYS_NICE or root (${code})`
      : `setpriority failed (${code})`;
  }
}
