// Xen's vSMMU against the bare primitive it is built on, in the same run:
//   vSMMU register read (guest trap -> Xen worker -> answer)  vs a bare Atomics ping-pong
//   guest TLBI_NH_ASID + CMD_SYNC (guest -> Xen -> physical SMMU -> back to the guest's
//     CMDQ_CONS)                                                vs the same ping-pong
//   both, and a stage-1 fault (device DMA -> SMMU event -> Xen woken by the SMMU's interrupt
//     -> the guest's virtual event queue -> the guest's interrupt line)
//                                                   vs a bare relay guest -> xen -> smmu -> xen -> guest
// The main thread is the guest vCPU (and the device); Xen and the SMMU are worker threads
// (workers/xen.ts, workers/smmu.ts); the bare peers come from bench/bare.ts.
import { benchSuite } from './harness.ts';
import { startBare } from './bare.ts';
import { CMD_WORDS, cmdOf, encodeCommand } from '../src/arch/commands.ts';
import { R } from '../src/arch/registers.ts';
import { GuestRam, RangeP2m } from '../src/mem/guest-ram.ts';
import { PhysMemory } from '../src/mem/phys.ts';
import { startActor } from '../src/runtime/actor.ts';
import { IrqLines } from '../src/runtime/irq.ts';
import { TRAP_OK, TrapVcpu } from '../src/runtime/trap.ts';
import { TX_FAULT } from '../src/smmu/ports.ts';
import { SmmuPortClient } from '../src/runtime/port-client.ts';
import { TestGuest } from '../test/support/xen-guest.ts';
import type { SmmuActor } from '../src/smmu/actor.ts';
import type { XenActor, XenWorkerData } from '../src/xen/actor.ts';
import { GUEST_RAM0_BASE, GUEST_VSMMUV3_BASE } from '../src/xen/layout.ts';

const MiB = 1024 * 1024;

{
  const bare = startBare();
  const mem = PhysMemory.create(64 * MiB);
  const smmu = await startActor<SmmuActor>('smmu', { memory: mem.sab });
  const d = await smmu.api.describe();
  const xen = await startActor<XenActor>('xen', {
    memory: mem.sab, regs: d.regs, smmuIrq: d.irq, heapBase: 4 * MiB, heapSize: 60 * MiB, cmdline: 'viommu=1',
  } satisfies XenWorkerData);
  const att = await xen.api.createDomain({ name: 'bench', memory: 8 * MiB, vcpus: 1, viommu: 'smmuv3', devices: [{ name: 'd0', sid: 0x10 }] });
  const vcpu = new TrapVcpu(att.trap);
  const ram = new GuestRam(mem, new RangeP2m(att.domain.ram).lookup);
  const V = GUEST_VSMMUV3_BASE;
  const wr = (off: number, v: number): void => {
    if (vcpu.write(V + off, 0, 4, v, 0) !== TRAP_OK) throw new Error('trap aborted');
  };
  const rd = (off: number): number => {
    if (vcpu.read(V + off, 0, 4) !== TRAP_OK) throw new Error('trap aborted');
    return vcpu.valueLo;
  };
  // A command queue of 256 entries in guest RAM, enabled.
  const CMDQ = GUEST_RAM0_BASE + 0x10_0000;
  wr(R.CMDQ_BASE, CMDQ + 8);
  wr(R.CMDQ_BASE + 4, 0);
  wr(R.CR0, 0x8);
  const tlbi = new Uint32Array(CMD_WORDS);
  const sync = new Uint32Array(CMD_WORDS);
  encodeCommand(cmdOf('TLBI_NH_ASID', { asid: 1 }), tlbi);
  encodeCommand(cmdOf('SYNC', { cs: 2 }), sync);
  // Linux's way (FACTS §8.1): CMD_SYNC with CS = SIG_IRQ and the MSI address of the SYNC's own
  // queue slot; the guest polls that slot in its RAM (no trap) until the vSMMU writes 0.
  const msiSync = (slotIpa: number): Uint32Array => {
    const w = new Uint32Array(CMD_WORDS);
    encodeCommand(cmdOf('SYNC', { cs: 1, msh: 3, msiAttr: 0xf, msiData: 0, msiAddress: slotIpa }), w);
    return w;
  };
  // A second guest whose device faults at stage 1: SMMU enabled with its event queue and
  // interrupts, a stage-1 domain for vSID 0x20 with nothing mapped.
  const fatt = await xen.api.createDomain({ name: 'faulty', memory: 8 * MiB, vcpus: 1, viommu: 'smmuv3', devices: [{ name: 'f0', sid: 0x20 }] });
  const fvcpu = new TrapVcpu(fatt.trap);
  const fg = new TestGuest(
    {
      read32: (off) => (fvcpu.read(V + off, 0, 4) === TRAP_OK ? fvcpu.valueLo : 0xdead),
      write32: (off, v) => void fvcpu.write(V + off, 0, 4, v, 0),
    },
    new GuestRam(mem, new RangeP2m(fatt.domain.ram).lookup),
  );
  fg.reset();
  fg.attachS1(0x20, 7);
  const firq = new IrqLines(fatt.irq);
  const dev = new SmmuPortClient(await smmu.api.attachPort({ sid: 0x20, name: 'f0' }));
  let tag = 0;
  let prod = 0;
  const put = (c: Uint32Array): void => {
    const at = CMDQ + (prod & 255) * 16;
    ram.store64(at, c[0] ?? 0, c[1] ?? 0);
    ram.store64(at + 8, c[2] ?? 0, c[3] ?? 0);
    prod = (prod + 1) & 511;
  };

  await benchSuite('xen', {
    tasks: [
      {
        name: 'bare ping-pong',
        fn: () => bare.pingPong(1),
      },
      { name: 'vSMMU register read (trap)', fn: () => rd(R.IDR0) },
      {
        name: 'guest TLBI + CMD_SYNC',
        fn: () => {
          put(tlbi);
          put(sync);
          wr(R.CMDQ_PROD, prod);
          while ((rd(R.CMDQ_CONS) & 0x1ff) !== prod);
        },
      },
      {
        name: 'guest TLBI + CMD_SYNC (MSI, polls its RAM)',
        fn: () => {
          put(tlbi);
          const slot = CMDQ + (prod & 255) * 16;
          put(msiSync(slot));
          wr(R.CMDQ_PROD, prod);
          while (ram.read32(slot) !== 0);
        },
      },
      { name: 'bare relay guest -> xen -> smmu -> xen -> guest', fn: () => bare.relay(1) },
      {
        name: 'stage-1 fault -> guest interrupt',
        // Acknowledge the last fault (guest reads its events, writes CONS: the line drops).
        beforeEach: () => {
          if (firq.pending() !== 0) fg.events();
        },
        fn: () => {
          // A new page each time: an identical record still in the queue would be merged.
          const iova = 0x1000_0000 + ((++tag & 1023) << 12);
          if (dev.run({ tag, sid: 0x20, iova, length: 4 }).status !== TX_FAULT) throw new Error('no fault');
          if (firq.wait(1, 5000) === 0) throw new Error('no guest interrupt for the fault');
        },
      },
    ],
    ratios: [
      { name: 'register trap / ping-pong', of: 'vSMMU register read (trap)', vs: 'bare ping-pong', kind: 'cost', target: { op: '<=', value: 3 } },
      { name: 'TLBI+SYNC (CONS polled by trap) / ping-pong', of: 'guest TLBI + CMD_SYNC', vs: 'bare ping-pong', kind: 'cost' },
      { name: 'TLBI+SYNC (MSI polled in RAM) / ping-pong', of: 'guest TLBI + CMD_SYNC (MSI, polls its RAM)', vs: 'bare ping-pong', kind: 'cost' },
      { name: 'TLBI+SYNC (CONS polled by trap) / relay', of: 'guest TLBI + CMD_SYNC', vs: 'bare relay guest -> xen -> smmu -> xen -> guest', kind: 'cost', target: { op: '<=', value: 1.5 } },
      { name: 'TLBI+SYNC (MSI polled in RAM) / relay', of: 'guest TLBI + CMD_SYNC (MSI, polls its RAM)', vs: 'bare relay guest -> xen -> smmu -> xen -> guest', kind: 'cost' },
      { name: 'S1 fault -> guest IRQ / relay', of: 'stage-1 fault -> guest interrupt', vs: 'bare relay guest -> xen -> smmu -> xen -> guest', kind: 'cost', target: { op: '<=', value: 2 } },
    ],
  });
  await xen.close();
  await smmu.close();
  await bare.close();
}
