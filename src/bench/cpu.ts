// CPU time per thread of this process, by thread name (Linux: /proc/self/task/*/comm and
// schedstat, nanoseconds on CPU). Actor threads are named after their actor ('smmu', 'xen',
// 'guest:NAME'), so a cell's CPU time per actor is the difference of two snapshots.
// Elsewhere the snapshot is empty and the report says so (no per-thread figures).
import { readdirSync, readFileSync } from 'node:fs';

export type CpuSnapshot = ReadonlyMap<string, number>;

function readNs(tid: string): number {
  try {
    const [run] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
    return Number(run);
  } catch {
    return Number.NaN;
  }
}

/** Nanoseconds on CPU per thread name (threads of the same name summed). */
export function cpuSnapshot(): CpuSnapshot {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    let name: string;
    try {
      name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue; // the thread ended meanwhile
    }
    const ns = readNs(tid);
    if (Number.isFinite(ns)) out.set(name, (out.get(name) ?? 0) + ns);
  }
  return out;
}

/** Milliseconds on CPU between two snapshots for the named threads (absent: not listed). */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, names: readonly string[]): { thread: string; ms: number }[] {
  const out: { thread: string; ms: number }[] = [];
  for (const n of names) {
    // comm holds 15 characters at most.
    const key = n.slice(0, 15);
    const end = b.get(key);
    if (end === undefined) continue;
    out.push({ thread: n, ms: (end - (a.get(key) ?? 0)) / 1e6 });
  }
  return out;
}
