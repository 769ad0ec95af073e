// One thread, all real actors: the real SMMU (src/smmu), the real Xen (src/xen, as its
// worker builds it), a real DMA engine (src/devices) and the real guest kernel with its
// SMMUv3 driver (src/guest), all on this thread under a plain round-robin stepper. Nothing
// waits: a vCPU's trapped access posts on its trap slot and the stepper runs every actor
// until Xen has answered; the guest's WFI and the device's waits step the world too.
// The seed of the deterministic scheduler.
import { describe, expect, it } from 'vitest';
import { createDmaQueue, DmaQueueClient } from '../../src/devices/dma-queue.ts';
import { DmaDevice } from '../../src/devices/dma-device.ts';
import { DmaEngine } from '../../src/devices/dma-engine.ts';
import { GuestKernel } from '../../src/guest/kernel.ts';
import type { GuestRunner } from '../../src/guest/ports.ts';
import type { TrapPort } from '../../src/guest/vcpu.ts';
import { PageAllocator } from '../../src/mem/alloc.ts';
import { GuestRam, RangeP2m } from '../../src/mem/guest-ram.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { IrqLines } from '../../src/ports/irq.ts';
import { TRAP_OK, TrapVcpu } from '../../src/ports/trap.ts';
import { Smmu } from '../../src/smmu/smmu.ts';
import { XenActor } from '../../src/xen/actor.ts';
import { domUDts } from '../../src/xen/devicetree.ts';
import type { DomainConfig } from '../../src/xen/xlcfg.ts';

const MiB = 1024 * 1024;
const PSID = 0x42;
const ROUNDS = 200_000;

interface Stepped {
  step(now: number): number;
}

function world() {
  const mem = PhysMemory.create(64 * MiB);
  const smmu = new Smmu({ memory: mem, features: { sidBits: 8, stLevel2: false } });
  const actors: Stepped[] = [smmu];
  let now = 0;
  let rounds = 0;
  /** The kernel's idle interrupt loop (async WFI): resolved by the stepper, never waited for. */
  const idle: { mask: number; resolve: (lines: number) => void }[] = [];
  let lines: IrqLines | null = null;
  /** One round-robin round: every actor gets one step, in a fixed order. */
  const tick = (): void => {
    now += 0.001;
    rounds++;
    for (const a of actors) a.step(now);
    for (let i = idle.length - 1; i >= 0; i--) {
      const w = idle[i]!;
      const got = (lines?.pending() ?? 0) & w.mask;
      if (got !== 0) {
        idle.splice(i, 1);
        w.resolve(got);
      }
    }
  };
  /** Rounds until `ready()`, bounded. */
  const until = (ready: () => boolean): boolean => {
    for (let i = 0; i < ROUNDS; i++) {
      if (ready()) return true;
      tick();
    }
    return ready();
  };
  // Xen, built as its worker builds it; its control-plane waits step the world.
  const xen = new XenActor(
    { memory: mem.sab, regs: smmu.regsDesc, smmuIrq: smmu.irqDesc, heapBase: 16 * MiB, heapSize: 48 * MiB, cmdline: 'viommu=1' },
    {
      pollRegister: (_page, read32, off, done) => {
        let v = read32(off);
        for (let i = 0; i < ROUNDS && !done(v); i++) {
          tick();
          v = read32(off);
        }
        return done(v) ? v : undefined;
      },
    },
  );
  actors.push(xen);
  const cfg: DomainConfig = { name: 'one', memory: 16 * MiB, vcpus: 1, viommu: 'smmuv3', devices: [{ name: 'dma0', sid: PSID }] };
  const att = xen.createDomain(cfg);
  const vsid = att.domain.devices[0]?.vsid ?? -1;
  // The device: its engine (hardware) owns its SMMU port; its queue (the guest's interface
  // to it) shares the port's buffer memory.
  const port = smmu.attachPort({ sid: PSID, name: 'dma0' });
  const queue = createDmaQueue(port.data);
  const engine = new DmaEngine({ port, queue, psid: PSID });
  actors.push({ step: () => engine.step() });
  const device = new DmaDevice(new DmaQueueClient(queue), PSID, { name: 'dma0', wait: (ready) => until(ready) });
  // The vCPU: a trapped access posts and the world runs until Xen answered.
  const slot = new TrapVcpu(att.trap);
  const trap: TrapPort & { valueLo: number; valueHi: number } = {
    valueLo: 0,
    valueHi: 0,
    access(write, size, ipa, lo, hi) {
      slot.post(write, size, ipa % 2 ** 32, Math.floor(ipa / 2 ** 32), lo, hi);
      if (!until(() => slot.answered())) throw new Error('trap never answered');
      const ok = slot.take() === TRAP_OK;
      this.valueLo = slot.valueLo;
      this.valueHi = slot.valueHi;
      return ok;
    },
  };
  const irq = new IrqLines(att.irq);
  lines = irq;
  const runner: GuestRunner = {
    clock: () => now,
    irqWait: {
      wait: (mask) => (until(() => (irq.pending() & mask) !== 0) ? irq.pending() & mask : 0),
      waitAsync: (mask) => new Promise((resolve) => idle.push({ mask, resolve })),
    },
    sleepUntil: (due) => void until(() => now >= due),
    pause: () => Promise.resolve(tick()),
  };
  const p2m = new RangeP2m(att.domain.ram);
  const bank = p2m.ranges[0]!;
  const kernel = new GuestKernel({
    name: 'one',
    ram: new GuestRam(mem, p2m.lookup),
    alloc: new PageAllocator(bank.ipa + bank.size / 2, bank.size / 2),
    trap,
    irq: { desc: att.irq, lines: { [att.spi]: 0 } },
    deviceTree: domUDts(cfg, { vsids: { dma0: vsid } }),
    devices: [{ name: 'dma0', pSid: PSID, device }],
    runner,
  });
  return { smmu, xen, kernel, vsid, rounds: () => rounds };
}

describe('one thread, all real actors', () => {
  it('probe, attach, map, DMA, unmap + TLBI + SYNC, and the fault back to the guest', () => {
    const w = world();
    const probe = w.kernel.probe();
    expect(probe.features.s1).toBe(true); // the vSMMU's ID registers, read through traps
    const r = w.kernel.workloadMapDmaFault({ vSid: w.vsid, iova: 0x1000_0000, size: 3 * 4096 });
    expect(r.steps.map((s) => [s.name, s.ok])).toEqual([
      ['attach', true], ['alloc+map', true], ['dma-write', true], ['check-ram', true], ['dma-read', true],
      ['unmap', true], ['dma-after-unmap', true], ['ram-unchanged', true], ['fault-event', true],
    ]);
    expect(r.ok).toBe(true);
    expect(r.fault).toMatchObject({ name: 'F_TRANSLATION', sid: w.vsid, iova: 0x1000_0000 });
    // It went through the real pieces: Xen forwarded the guest's commands and the fault.
    const st = w.xen.stats();
    expect(st.traps).toBeGreaterThan(0);
    expect(st.driver.syncs).toBeGreaterThan(0);
    expect(w.smmu.stats().translationFaults).toBeGreaterThan(0);
    expect(w.rounds()).toBeGreaterThan(0);
  });
});
