// The guest driver against Xen's real vSMMUv3 emulation (src/xen/vsmmuv3.ts), in one
// thread: the vSMMU's MMIO is the driver's port (Xen runs its queue after each trap), its
// physical side is a recording stub. Checks that a Linux-convention guest probes, attaches
// (Xen sees an S1 config for the pSID), invalidates (forwarded with the VMID) and receives
// a forwarded stage-1 fault with its vSID through the event queue and the interrupt.

import { describe, expect, it } from 'vitest';
import { decodeCommand } from '../../src/arch/commands.ts';
import { DEFAULT_FEATURES } from '../../src/arch/features.ts';
import { encodeEvent, eventOf, EVT } from '../../src/arch/events.ts';
import { PROT_READ, PROT_WRITE } from '../../src/arch/pgtable.ts';
import { SmmuV3Driver } from '../../src/guest/driver.ts';
import type { MmioPort } from '../../src/guest/ports.ts';
import { VSmmuV3, type VsmmuPhys } from '../../src/xen/vsmmuv3.ts';
import type { GuestSteConfig } from '../../src/xen/vsmmuv3-ste.ts';
import { guestRam } from '../support/guest-fake-smmu.ts';

function system() {
  const { ram, alloc } = guestRam();
  const installs: { psid: number; cfg: GuestSteConfig }[] = [];
  const forwarded: Uint32Array[] = [];
  let tickets = 0;
  const backend: VsmmuPhys = {
    setStreamConfig: (psid, cfg) => installs.push({ psid, cfg }),
    forward: (cmd) => forwarded.push(Uint32Array.from(cmd)),
    sync: () => ++tickets,
    syncDone: () => true,
  };
  let irq = false;
  const v = new VSmmuV3({
    phys: DEFAULT_FEATURES, ipaBits: 40, backend, vmid: 3, irq: (l) => (irq = l),
    ram: {
      hi: 0,
      load64(a: number): number {
        const lo = ram.load64(a);
        this.hi = ram.hi;
        return lo;
      },
      store64: (a, lo, hi) => ram.store64(a, lo, hi),
      store32: (a, val) => ram.owns(a, 4) && (ram.write32(a, val), true),
    },
  });
  // The vCPU's view: every write is a trap after which Xen runs the queue.
  const mmio: MmioPort = {
    read32: (off) => { v.run(); return v.read32(off); },
    write32: (off, val) => { v.write32(off, val); while (v.hasWork() && !v.waitingForHardware()) if (v.run() === 0) break; },
  };
  const drv = new SmmuV3Driver(mmio, ram, alloc, { irqPending: () => irq });
  return { v, drv, ram, alloc, installs, forwarded, irqLevel: () => irq };
}

describe('guest driver on the vSMMUv3 emulation', () => {
  it('probes, attaches, maps/unmaps with forwarded TLBIs, and takes a forwarded fault', () => {
    const s = system();
    const psid = 0x77;
    const vsid = s.v.attachDevice(psid);
    const info = s.drv.probe();
    expect(info.features.s1).toBe(true);
    expect(info.features.s2).toBe(false);
    expect(info.ias).toBe(40);
    // The vSMMU advertises MSI; with a coherent physical SMMU the driver polls the SYNC slot.
    expect(info.cmdq.msiPoll).toBe(true);
    s.installs.length = 0;
    const a = s.drv.attach({ vSid: vsid }, { asid: 4 });
    const last = s.installs.at(-1);
    expect(last?.psid).toBe(psid);
    expect(last?.cfg.kind).toBe('nested');
    expect(last?.cfg.words[0]).toBe((0xb | a.cdTableIpa) >>> 0);

    const buf = s.alloc.alloc(0x4000, 0x1000);
    s.drv.map(vsid, 0x10000, buf, 0x4000, PROT_READ | PROT_WRITE);
    s.forwarded.length = 0;
    s.drv.unmap(vsid, 0x10000, 0x4000);
    const tlbi = s.forwarded.map((w) => decodeCommand(w)).filter((c) => c.name === 'TLBI_NH_VA');
    expect(tlbi.length).toBeGreaterThan(0);
    for (const c of tlbi) if (c.name === 'TLBI_NH_VA') expect([c.vmid, c.asid]).toEqual([3, 4]);

    // A physical stage-1 fault of the device reaches the guest with its vSID.
    const w = new Uint32Array(8);
    encodeEvent(eventOf({ type: EVT.F_TRANSLATION, sid: psid, inputLo: 0x10000, rnw: 0, cls: 2 }), w, 0);
    expect(s.v.forwardEvent(w, psid)).toBe(true);
    expect(s.irqLevel()).toBe(true);
    expect(s.drv.handleIrq()).toBe(1);
    expect(s.drv.faults()[0]).toMatchObject({ name: 'F_TRANSLATION', sid: vsid, iova: 0x10000 });
    expect(s.v.stats.cerrorIll).toBe(0);
    expect(s.drv.cmdqErrors()).toEqual([]);
  });
});
