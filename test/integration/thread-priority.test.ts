// createSystem's `priority` on real threads: the SMMU's and Xen's threads run 5 nice steps
// above the guests' (src/runtime/priority.ts), read back from the kernel.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/system/system.ts';
import { HARDWARE_BOOST, osThreadId, setThreadNice } from '../../src/runtime/priority.ts';

const onLinux = process.platform === 'linux';

/** The nice value of each thread of this process by its name (Node names a worker's thread
 *  after the worker: "smmu", "xen", "guest:NAME"). */
function niceByThread(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Fields after the name: state is field 3; nice is field 19.
    out.set(name, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return out;
}

const DOMAIN = { name: 'g', memory: '16M', devices: [{ name: 'dma0', sid: 0x10 }] };

describe.runIf(onLinux)('thread priorities', () => {
  it("'hardware-first' (the default) raises the SMMU's and Xen's threads 5 nice steps above the guest's where it may", async () => {
    await using sys = await createSystem({ memory: '64M', domains: [DOMAIN] });
    const nice = niceByThread();
    const base = nice.get('MainThread');
    if (sys.priority === 'hardware-first') {
      expect(nice.get('smmu')).toBe(base! - HARDWARE_BOOST);
      expect(nice.get('xen')).toBe(base! - HARDWARE_BOOST);
    } else {
      // Not permitted here (no CAP_SYS_NICE): everything stays equal, and System.priority says so.
      expect(sys.priority).toBe('equal');
      expect(nice.get('smmu')).toBe(base);
    }
    expect(sys.warnings).toEqual([]);
    expect(nice.get('guest:g')).toBe(base);
  });

  it('raises them relative to the creating thread: a process at nice 3 gets them at -2, its guests at 3', async () => {
    const me = osThreadId();
    const before = niceByThread().get('MainThread')!;
    expect(setThreadNice(me, before + 3)).toBe(true); // lowering one's own priority needs no privilege
    try {
      await using sys = await createSystem({ memory: '64M', domains: [DOMAIN] });
      const nice = niceByThread();
      expect(nice.get('guest:g')).toBe(before + 3);
      expect(nice.get('smmu')).toBe(sys.priority === 'hardware-first' ? before + 3 - HARDWARE_BOOST : before + 3);
    } finally {
      setThreadNice(me, before); // back (as root; otherwise this process stays 3 steps lower)
    }
  });

  it("'equal' leaves every thread at the process's priority", async () => {
    await using sys = await createSystem({ memory: '64M', priority: 'equal', domains: [DOMAIN] });
    const nice = niceByThread();
    expect(sys.priority).toBe('equal');
    expect(nice.get('smmu')).toBe(nice.get('MainThread'));
    expect(nice.get('xen')).toBe(nice.get('MainThread'));
  });

  it('sim mode runs on one thread: no priority', async () => {
    await using sys = await createSystem({ memory: '64M', sim: { seed: 1 }, domains: [DOMAIN] });
    expect(sys.priority).toBeNull();
  });

  it('a bad priority is EVSMMU_BADOPTIONS naming the choices', async () => {
    await expect(createSystem({ priority: 'high' as never })).rejects.toMatchObject({ code: 'EVSMMU_BADOPTIONS', message: 'priority must be "hardware-first" or "equal", got "high"' });
  });

  it('setThreadNice answers false where it cannot, and never throws', () => {
    const me = osThreadId();
    expect(me).toBeGreaterThan(0);
    expect(setThreadNice(me, niceByThread().get('MainThread') ?? 0)).toBe(true); // its own nice again
    expect(setThreadNice(null, 0)).toBe(false);
    // A thread id no thread has (pid_max is at most 2^22).
    expect(setThreadNice(2 ** 22 + 1, 0)).toBe(false);
  });
});
