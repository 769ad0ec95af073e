// The whole path on real threads: physical SMMU worker, Xen worker, guest worker. The
// guest's Linux-like driver programs its vSMMU (MMIO traps to Xen), Xen installs nested
// STEs on the physical SMMU, the test DMA device's transactions go through S1 (guest) + S2
// (Xen) and land in the right host pages; after unmap + TLBI + SYNC the next DMA faults and
// the guest receives F_TRANSLATION with its vSID and the IOVA through its event queue and
// interrupt.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuestKernel, GuestWorkerData } from '../../src/guest/kernel.ts';
import { workloadPattern } from '../../src/guest/workloads.ts';
import { createDmaQueue } from '../../src/devices/dma-queue.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { startActor, type ActorHandle } from '../../src/runtime/actor.ts';
import type { SmmuActor } from '../../src/smmu/actor.ts';
import type { GuestAttachment, XenActor } from '../../src/xen/actor.ts';
import { domUDts } from '../../src/xen/devicetree.ts';
import type { DomainConfig } from '../../src/xen/xlcfg.ts';

const MiB = 1024 * 1024;
const PSID = 0x10;

describe('guest driver -> Xen vSMMU -> physical SMMU (threads)', () => {
  let mem: PhysMemory;
  let smmu: ActorHandle<SmmuActor>;
  let xen: ActorHandle<XenActor>;
  let guest: ActorHandle<GuestKernel>;
  let dom: GuestAttachment;
  let vsid = -1;

  beforeAll(async () => {
    mem = PhysMemory.create(64 * MiB);
    smmu = await startActor<SmmuActor>('smmu', { memory: mem.sab });
    const d = await smmu.api.describe();
    xen = await startActor<XenActor>('xen', {
      memory: mem.sab, regs: d.regs, smmuIrq: d.irq, heapBase: 4 * MiB, heapSize: 56 * MiB, cmdline: 'viommu=1',
    });
    const cfg: DomainConfig = { name: 'domU1', memory: 16 * MiB, vcpus: 1, viommu: 'smmuv3', devices: [{ name: 'dma0', sid: PSID }] };
    dom = await xen.api.createDomain(cfg);
    vsid = dom.domain.devices[0]?.vsid ?? -1;
    // The guest learns the vSMMU and the device's vSID from the device tree Xen makes for it.
    const deviceTree = domUDts(cfg, { vsids: { dma0: vsid } });
    const port = await smmu.api.attachPort({ name: 'dma0' });
    // The device's own interface (descriptor rings); its engine runs on the guest's thread.
    const queue = createDmaQueue(port.data);
    const data: GuestWorkerData = {
      name: 'domU1', domid: dom.domain.domid, memory: mem.sab, ram: dom.domain.ram, trap: dom.trap,
      irq: { desc: dom.irq, lines: { [dom.spi]: 0 } },
      deviceTree, devices: [{ name: 'dma0', pSid: PSID, queue }],
      hardware: [{ name: 'dma0', psid: PSID, port, queue }],
      driver: { cmdqMaxLog2: 8, evtqMaxLog2: 8 },
    };
    guest = await startActor<GuestKernel>('guest', data);
  }, 30_000);

  afterAll(async () => {
    await guest?.close();
    await xen?.close();
    await smmu?.close();
  });

  function paOf(ipa: number): number {
    for (const r of dom.domain.ram) if (ipa >= r.ipa && ipa < r.ipa + r.size) return r.pa + (ipa - r.ipa);
    return -1;
  }

  it('probes the vSMMU through traps', async () => {
    expect(vsid).toBeGreaterThanOrEqual(0);
    const info = await guest.api.probe();
    expect(info.features.s1).toBe(true);
    expect(info.strtab.twoLevel).toBe(true);
    expect(await guest.api.cmdqErrors()).toEqual([]);
  });

  it('map, DMA through S1+S2 into the right host pages, unmap, fault delivered with vSID and IOVA', async () => {
    const iova = 0x1000_0000;
    const size = 3 * 4096;
    const r = await guest.api.workloadMapDmaFault({ vSid: vsid, iova, size, irqTimeoutMs: 5000 });
    expect(r.steps.filter((s) => !s.ok)).toEqual([]);
    expect(r.ok).toBe(true);
    // The bytes are in host memory at the PA of the guest buffer (IPA -> PA through the p2m).
    const want = workloadPattern(size, vsid);
    for (let off = 0; off < size; off += 4096) {
      const pa = paOf(r.ipa + off);
      expect(pa).toBeGreaterThanOrEqual(0);
      expect(mem.readBytes(pa, 4096)).toEqual(want.subarray(off, off + 4096));
    }
    expect(r.dmaFault).toMatchObject({ name: 'F_TRANSLATION', s2: 0 });
    expect(r.fault).toMatchObject({ name: 'F_TRANSLATION', sid: vsid, iova, s2: 0 });
    const st = await guest.api.stats();
    expect(st.irqsTaken).toBeGreaterThanOrEqual(1);
    expect(st.trapLatency.count).toBeGreaterThan(0);
  });

  it('recovers from a command the vSMMU rejects (CERROR_ILL), as Linux', async () => {
    // TLBI_S12_VMALL: the guest's vSMMU has no stage 2, so Xen stops its queue with CERROR_ILL.
    const errs = await guest.api.issueCommands([[0x28, 0, 0, 0]], true);
    expect(errs).toEqual([{ cons: expect.any(Number) as number, code: 1, name: 'Illegal command', command: [0x28, 0, 0, 0], replaced: true }]);
    // The queue runs again: an ordinary invalidation + SYNC completes.
    expect(await guest.api.issueCommands([[0x11, 1 << 16, 0, 0]], true)).toEqual([]);
    const st = await guest.api.stats();
    expect(st.driver?.gerrors).toBeGreaterThanOrEqual(1);
  });

  it('PASID: a substream DMA translates through its own CD and tables', async () => {
    await guest.api.detach(vsid);
    await guest.api.attach(vsid, { asid: 5, ssidBits: 3 });
    await guest.api.attachPasid(vsid, 2, { asid: 6 });
    const a = await guest.api.alloc(4096, 4096);
    const b = await guest.api.alloc(4096, 4096);
    await guest.api.map(vsid, 0x4000, a, 4096, 'rw');
    await guest.api.map(vsid, 0x4000, b, 4096, 'rw', 2);
    expect(await guest.api.dma(vsid, { op: 'write', iova: 0x4000, length: 16, fill: 0x11 })).toMatchObject({ status: 'ok' });
    expect(await guest.api.dma(vsid, { op: 'write', iova: 0x4000, length: 16, fill: 0x22, ssid: 2 })).toMatchObject({ status: 'ok' });
    expect(mem.readBytes(paOf(a), 2)).toEqual(new Uint8Array([0x11, 0x11]));
    expect(mem.readBytes(paOf(b), 2)).toEqual(new Uint8Array([0x22, 0x22]));
    // An SSID without a CD: the SMMU refuses the transaction.
    expect((await guest.api.dma(vsid, { op: 'read', iova: 0x4000, length: 4, ssid: 5 })).status).not.toBe('ok');
    await guest.api.detach(vsid);
  });

  it('a cached translation stays usable until the TLBI + SYNC (iommu_unmap_fast, then iotlb_sync)', async () => {
    await guest.api.attach(vsid, { asid: 7 });
    const a = await guest.api.alloc(4096, 4096);
    await guest.api.map(vsid, 0x8000, a, 4096, 'rw');
    expect(await guest.api.dma(vsid, { op: 'write', iova: 0x8000, length: 8, fill: 0x33 })).toMatchObject({ status: 'ok' });
    // Unmapped in the guest's table but not invalidated: the SMMU's IOTLB still translates.
    expect(await guest.api.unmap(vsid, 0x8000, 4096, 0, false)).toBe(4096);
    expect(await guest.api.dma(vsid, { op: 'write', iova: 0x8000, length: 8, fill: 0x44 })).toMatchObject({ status: 'ok' });
    expect(mem.readBytes(paOf(a), 1)).toEqual(new Uint8Array([0x44]));
    expect(await guest.api.iotlbSync(vsid)).toBeGreaterThan(0);
    expect(await guest.api.dma(vsid, { op: 'write', iova: 0x8000, length: 8, fill: 0x55 })).toMatchObject({ status: 'fault' });
    expect(mem.readBytes(paOf(a), 1)).toEqual(new Uint8Array([0x44]));
  });

  it('streams DMA', async () => {
    const r = await guest.api.workloadDmaStream({ vSid: vsid, size: 4096, count: 50 });
    expect(r).toMatchObject({ count: 50, ok: 50, faults: 0, bytes: 50 * 4096 });
  });
});
