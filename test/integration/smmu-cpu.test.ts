// createSystem's `smmuCpu` on real threads: 'dedicated' binds the SMMU's thread to a CPU of
// its own and the guests' and Xen's to the others (src/runtime/priority.ts), read back from
// the kernel (/proc/self/task/TID/status).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSystem } from '../../src/system/system.ts';
import { allowedCpus, parseCpuList, setThreadCpus } from '../../src/runtime/priority.ts';

const onLinux = process.platform === 'linux';
const hasTaskset = ((): boolean => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The CPUs each named thread of this process may run on ("smmu", "xen", "guest:NAME"). */
function cpusByThread(): Map<string, number[] | null> {
  const out = new Map<string, number[] | null>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      if (name === 'smmu' || name === 'xen' || name.startsWith('guest:')) out.set(name, allowedCpus(Number(tid)));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

const DOMAINS = [
  { name: 'a', memory: '16M', viommu: 'smmuv3' as const, devices: [{ name: 'dma0', sid: 0x10 }] },
  { name: 'b', memory: '16M', viommu: 'smmuv3' as const, devices: [{ name: 'dma0', sid: 0x20 }] },
];

describe('CPU lists', () => {
  it('parses the kernel format and refuses anything else', () => {
    expect(parseCpuList('0-3,8,10-11\n')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(parseCpuList('5')).toEqual([5]);
    for (const bad of ['', 'x', '3-1', '1,,2', '-1', '0-99999']) expect(parseCpuList(bad)).toBeNull();
  });
});

describe.runIf(onLinux)('a CPU for the SMMU', () => {
  const mine = allowedCpus()!;

  it("'dedicated' gives the SMMU the last CPU and the guests and Xen the others, where it can", async () => {
    await using sys = await createSystem({ memory: '64M', smmuCpu: 'dedicated', domains: DOMAINS });
    // The guest's driver probes its vSMMU: traps to Xen and commands to the SMMU, across CPUs.
    await sys.domain('a').driver.probe();
    const cpus = cpusByThread();
    if (mine.length > 1 && hasTaskset) {
      const last = mine.at(-1)!;
      expect(sys.smmuCpu).toBe(last);
      expect(cpus.get('smmu')).toEqual([last]);
      for (const t of ['xen', 'guest:a', 'guest:b']) expect(cpus.get(t)).toEqual(mine.slice(0, -1));
    } else {
      // One CPU, or no taskset: every thread shares, and System.smmuCpu says so.
      expect(sys.smmuCpu).toBeNull();
      expect(cpus.get('smmu')).toEqual(mine);
    }
    expect(sys.warnings).toEqual([]);
    // The creating thread is the program's own: never bound.
    expect(allowedCpus()).toEqual(mine);
  });

  it("'shared' (the default) binds nothing", async () => {
    await using sys = await createSystem({ memory: '64M', domains: DOMAINS.slice(0, 1) });
    expect(sys.smmuCpu).toBeNull();
    const cpus = cpusByThread();
    for (const t of ['smmu', 'xen', 'guest:a']) expect(cpus.get(t)).toEqual(mine);
  });

  it('sim mode runs on one thread: no CPU of its own', async () => {
    await using sys = await createSystem({ memory: '64M', sim: { seed: 1 }, smmuCpu: 'dedicated', domains: DOMAINS.slice(0, 1) });
    expect(sys.smmuCpu).toBeNull();
  });

  it('a bad smmuCpu is EVSMMU_BADOPTIONS naming the choices', async () => {
    await expect(createSystem({ smmuCpu: 'own' as never })).rejects.toMatchObject({ code: 'EVSMMU_BADOPTIONS', message: 'smmuCpu must be "shared" or "dedicated", got "own"' });
  });

  it('setThreadCpus answers false where it cannot, and never throws', async () => {
    expect(await setThreadCpus(null, [0])).toBe(false);
    expect(await setThreadCpus(2 ** 30, [0])).toBe(false); // no such thread
  });
});
