// CPU time per thread of this process, by thread name (Linux: /proc/self/task/*/comm and
// schedstat: nanoseconds on CPU, then waiting on a run queue). Actor threads are named after
// their actor ('smmu', 'xen', 'guest:NAME'), so a cell's CPU time per actor is the
// difference of two snapshots. Elsewhere the snapshot is empty and the report says so (no
// per-thread figures).
import { readdirSync, readFileSync } from 'node:fs';

export type CpuSnapshot = ReadonlyMap<string, number>;
/** Nanoseconds each thread ran on a CPU and waited on a run queue, by thread name. */
export type SchedSnapshot = ReadonlyMap<string, { readonly run: number; readonly wait: number }>;

function readSchedstat(tid: string): { run: number; wait: number } {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
    return { run: Number(run), wait: Number(wait ?? 0) };
  } catch {
    return { run: Number.NaN, wait: 0 };
  }
}

/** Nanoseconds run and waited per thread name (threads of the same name summed). */
export function schedSnapshot(): SchedSnapshot {
  const out = new Map<string, { run: number; wait: number }>();
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
    const s = readSchedstat(tid);
    if (!Number.isFinite(s.run)) continue;
    const o = out.get(name) ?? { run: 0, wait: 0 };
    out.set(name, { run: o.run + s.run, wait: o.wait + s.wait });
  }
  return out;
}

/** Nanoseconds on CPU per thread name (threads of the same name summed). */
export function cpuSnapshot(): CpuSnapshot {
  return new Map([...schedSnapshot()].map(([name, s]) => [name, s.run]));
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
