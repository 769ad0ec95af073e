// In-process rig: the physical SMMU core (src/smmu) stepped synchronously behind its register
// port, so Xen's driver and the Xen core can be tested on one thread. A register write is
// followed by SMMU steps until it has no work (hardware that reacts at once); a poll steps
// the SMMU until the condition holds or a bounded number of rounds passed.

import type { SmmuFeatures } from '../../src/arch/features.ts';
import { PageAllocator } from '../../src/mem/alloc.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { Smmu } from '../../src/smmu/smmu.ts';
import { SmmuRegisterPort } from '../../src/smmu/regpage.ts';
import type { DriverMmio } from '../../src/xen/smmu-driver.ts';
import { Xen, type XenOptions } from '../../src/xen/xen.ts';
import type { DomainConfig, DomainDevice } from '../../src/xen/xlcfg.ts';
import { GUEST_VSMMUV3_BASE } from '../../src/xen/layout.ts';
import { TestGuest } from './xen-guest.ts';

export const MiB = 1024 * 1024;

export interface SmmuRig {
  mem: PhysMemory;
  smmu: Smmu;
  port: SmmuRegisterPort;
  mmio: DriverMmio & { writes: Array<[number, number]> };
  alloc: PageAllocator;
  /** While true, a register write does not step the SMMU (hardware that has not reacted
   *  yet: the test steps it); polls still step it. */
  hold: boolean;
}

export function smmuRig(features: Partial<SmmuFeatures> = {}, memBytes = 64 * MiB): SmmuRig {
  const mem = PhysMemory.create(memBytes);
  const smmu = new Smmu({ memory: mem, features });
  const port = new SmmuRegisterPort(smmu.regsDesc, smmu.features);
  const settle = (): void => {
    for (let i = 0; i < 1000 && smmu.hasWork(); i++) smmu.step();
  };
  const writes: Array<[number, number]> = [];
  const mmio = {
    writes,
    read32: (off: number): number => port.read32(off),
    write32: (off: number, v: number): void => {
      writes.push([off, v >>> 0]);
      port.write32(off, v);
      if (!rig.hold) settle();
    },
    poll32: (off: number, done: (v: number) => boolean): number | undefined => {
      for (let i = 0; i < 1000; i++) {
        const v = port.read32(off);
        if (done(v)) return v;
        smmu.step();
      }
      return undefined;
    },
  };
  // Xen's heap: everything above the first MiB (kept for the tests' own structures).
  const alloc = new PageAllocator(MiB, memBytes - MiB);
  const rig: SmmuRig = { mem, smmu, port, mmio, alloc, hold: false };
  return rig;
}

export interface XenRig extends SmmuRig {
  xen: Xen;
}

export function xenRig(o: Partial<Omit<XenOptions, 'mem' | 'alloc' | 'mmio'>> & { features?: Partial<SmmuFeatures>; memBytes?: number } = {}): XenRig {
  const r = smmuRig(o.features ?? {}, o.memBytes ?? 64 * MiB);
  const xen = new Xen({ cmdline: 'viommu=1', ...o, mem: r.mem, alloc: r.alloc, mmio: r.mmio });
  xen.boot();
  return Object.assign(r, { xen });
}

export function domCfg(name: string, devices: Array<Partial<DomainDevice> & { sid: number }>, viommu: 'none' | 'smmuv3' = 'smmuv3', memory = 8 * MiB): DomainConfig {
  return {
    name,
    memory,
    vcpus: 1,
    viommu,
    devices: devices.map((d, i) => ({ name: d.name ?? `dma${i}`, sid: d.sid })),
  };
}

/**
 * A test guest of domain `domid` driving its vSMMU through Xen's trap dispatcher in-process:
 * a write runs Xen's continuations (pump) until none is left, as its service loop would.
 */
export function guestOf(r: XenRig, domid: number): TestGuest {
  const out = { lo: 0, hi: 0 };
  return new TestGuest(
    {
      read32: (off) => (r.xen.mmio(domid, false, 4, GUEST_VSMMUV3_BASE + off, 0, 0, out) ? out.lo : 0xdead),
      write32: (off, v) => {
        r.xen.mmio(domid, true, 4, GUEST_VSMMUV3_BASE + off, v, 0, out);
        while (r.xen.pump());
      },
    },
    r.xen.domain(domid).ram,
  );
}
