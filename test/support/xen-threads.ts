// Real threads: the physical SMMU worker and the Xen worker sharing physical memory, and a
// test-side guest vCPU that traps into Xen through its trap channel.

import type { SmmuFeatures } from '../../src/arch/features.ts';
import { GuestRam, RangeP2m } from '../../src/mem/guest-ram.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { startActor, type ActorHandle } from '../../src/runtime/actor.ts';
import { IrqLines } from '../../src/runtime/irq.ts';
import { TRAP_OK, TrapVcpu } from '../../src/runtime/trap.ts';
import type { SmmuActor } from '../../src/smmu/actor.ts';
import { SmmuPortClient } from '../../src/runtime/port-client.ts';
import type { GuestAttachment, XenActor, XenWorkerData } from '../../src/xen/actor.ts';
import { GUEST_VSMMUV3_BASE } from '../../src/xen/layout.ts';
import type { DomainConfig } from '../../src/xen/xlcfg.ts';
import { TestGuest } from './xen-guest.ts';

export const MiB = 1024 * 1024;

export interface XenWorld {
  mem: PhysMemory;
  smmu: ActorHandle<SmmuActor>;
  xen: ActorHandle<XenActor>;
  dev: SmmuPortClient;
  close(): Promise<void>;
}

export async function startXenWorld(
  o: { features?: Partial<SmmuFeatures>; xen?: Partial<Omit<XenWorkerData, 'memory' | 'regs'>> } = {},
): Promise<XenWorld> {
  const mem = PhysMemory.create(64 * MiB);
  const smmu = await startActor<SmmuActor>('smmu', { memory: mem.sab, features: o.features ?? {} });
  const d = await smmu.api.describe();
  let xen: ActorHandle<XenActor>;
  try {
    xen = await startActor<XenActor>('xen', {
      memory: mem.sab, regs: d.regs, smmuIrq: d.irq, heapBase: 4 * MiB, heapSize: 60 * MiB, cmdline: 'viommu=1',
      timeoutMs: 5000, ...(o.xen ?? {}),
    } satisfies XenWorkerData);
  } catch (e) {
    await smmu.close();
    throw e;
  }
  const dev = new SmmuPortClient(await smmu.api.attachPort({ dataBytes: 1 << 16 }));
  return {
    mem, smmu, xen, dev,
    close: async () => {
      await xen.close();
      await smmu.close();
    },
  };
}

export interface ThreadGuest {
  att: GuestAttachment;
  vcpu: TrapVcpu;
  ram: GuestRam;
  irq: IrqLines;
  g: TestGuest;
  aborts: number;
}

/** Creates a domain in the Xen worker and a guest vCPU for it on the test thread. */
export async function startGuest(w: XenWorld, cfg: DomainConfig): Promise<ThreadGuest> {
  const att = await w.xen.api.createDomain(cfg);
  const vcpu = new TrapVcpu(att.trap);
  const ram = new GuestRam(w.mem, new RangeP2m(att.domain.ram).lookup);
  const irq = new IrqLines(att.irq);
  const t: ThreadGuest = { att, vcpu, ram, irq, g: undefined as unknown as TestGuest, aborts: 0 };
  t.g = new TestGuest(
    {
      read32: (off) => {
        if (vcpu.read(GUEST_VSMMUV3_BASE + off, 0, 4, 5000) !== TRAP_OK) {
          t.aborts++;
          return 0;
        }
        return vcpu.valueLo;
      },
      write32: (off, v) => {
        if (vcpu.write(GUEST_VSMMUV3_BASE + off, 0, 4, v, 0, 5000) !== TRAP_OK) t.aborts++;
      },
    },
    ram,
  );
  return t;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Polls `cond` until it holds or `timeoutMs` of wall time has passed: a handshake, no sleeps.
 * Conditions that read shared memory (an IRQ line) take no trap, so a bound in rounds would
 * be a few microseconds and fail on a loaded machine; after the first spins each miss yields
 * the core for 50 us so the other threads can run.
 */
export function until(cond: () => boolean, timeoutMs = 10_000): boolean {
  const deadline = performance.now() + timeoutMs;
  for (let i = 0; ; i++) {
    if (cond()) return true;
    if (performance.now() > deadline) return false;
    if (i >= 1000) Atomics.wait(pause, 0, 0, 0.05);
  }
}
