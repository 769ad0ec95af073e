// Scheduling priority of actor threads. On the machine being emulated the SMMU is hardware:
// it translates beside the CPUs and is never descheduled so that a vCPU can run; Xen's trap
// handler runs while the trapping vCPU waits. On threads, with more guests than cores,
// Linux's scheduler knows none of that: a guest that the SMMU's completions wake preempts the
// SMMU on its core, and the SMMU waits, runnable, while its guests run. So the SMMU's and
// Xen's threads run at a higher priority than the guests' where the process may raise it
// (CAP_SYS_NICE, or root); elsewhere they keep the guests' priority (System.priority says
// which is in force: a performance choice, not a fault, so no warning).
//
// How much higher (docs/performance.md, "Thread priorities"; 8 guests streaming on 2 cores,
// the process at nice 0): at nice -10 the SMMU keeps a core to itself, the guests and
// everything else share the other, and a guest's trap takes 1.3 ms instead of 0.2 ms; Xen
// at -10 serves an uncapped guest's fault flood before the victims run (they keep 0.34x
// instead of 0.55x). At -5 the stream gains 10-20% with trap latency in the same ratio to
// the machine's (and an uncapped flooder still needs its cap: docs/security.md).
//
// Placement (createSystem's smmuCpu 'dedicated', opt-in): the SMMU's thread is bound to a CPU
// of its own and the guests' and Xen's to the others, so no vCPU ever preempts it and its
// caches stay its own. On 2 CPUs, 8 guests then stream about 1.3x faster, but the guests and
// Xen share one CPU and a trap waits ~1 ms for its vCPU's turn (docs/performance.md, "A CPU
// for the SMMU"). Node has no sched_setaffinity: util-linux's taskset sets it, once per
// thread as it starts (an unprivileged call for threads of one's own process).
import { getPriority, setPriority } from 'node:os';
import { readFileSync, readlinkSync } from 'node:fs';
import { execFile } from 'node:child_process';

/** How many nice steps the SMMU's and Xen's threads run above the thread that created the
 *  system (the guests keep its nice value): a process started at nice 10 gets them at 5,
 *  not above everything else on the machine. */
export const HARDWARE_BOOST = 5;

/** The nice value HARDWARE_BOOST steps above the calling thread's (at most -20). */
export function boostedNice(): number {
  return Math.max(-20, getPriority() - HARDWARE_BOOST);
}

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
 * Sets the nice value of thread `tid` of this process (Linux's nice is per thread): false
 * where it cannot (no thread id on this platform, no permission, no such thread).
 */
export function setThreadNice(tid: number | null, nice: number): boolean {
  if (tid === null) return false;
  try {
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

/** A kernel CPU list ("0-3,8,10-11") as CPU numbers in order; null if it is not one. */
export function parseCpuList(text: string): number[] | null {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b > 65535) return null;
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

/** The CPUs thread `tid` of this process (default: the calling thread) may run on (Linux), or null. */
export function allowedCpus(tid: number | 'thread-self' = 'thread-self'): number[] | null {
  try {
    const status = readFileSync(tid === 'thread-self' ? '/proc/thread-self/status' : `/proc/self/task/${tid}/status`, 'utf8');
    const line = status.split('\n').find((l) => l.startsWith('Cpus_allowed_list:'));
    return line ? parseCpuList(line.slice(line.indexOf(':') + 1)) : null;
  } catch {
    return null;
  }
}

/** Binds thread `tid` of this process to `cpus` (taskset); false where it cannot (no taskset, no such thread). */
export function setThreadCpus(tid: number | null, cpus: readonly number[]): Promise<boolean> {
  if (tid === null) return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile('taskset', ['-p', '-c', cpus.join(','), String(tid)], (e) => resolve(e === null));
  });
}
