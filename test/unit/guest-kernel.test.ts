// The guest kernel in one thread: vCPU traps go to the fake register file, the device's
// port is a stand-in that faults unmapped pages and produces the event + interrupt. Checks
// the control API, the workloads' logic and the trap-latency summary.

import { describe, expect, it } from 'vitest';
import { EVT } from '../../src/arch/events.ts';
import { PROT_EXEC, PROT_PRIV, PROT_READ, PROT_WRITE } from '../../src/arch/pgtable.ts';
import { DmaDevice } from '../../src/devices/dma-device.ts';
import { GuestKernel, parseProt } from '../../src/guest/kernel.ts';
import { Vcpu, type TrapPort } from '../../src/guest/vcpu.ts';
import { createIrqLines, IrqLines } from '../../src/runtime/irq.ts';
import type { VsmmuError } from '../../src/errors.ts';
import { GUEST_VSMMUV3_BASE } from '../../src/xen/layout.ts';
import { domUDts } from '../../src/xen/devicetree.ts';
import { FakeSmmu, guestRam } from '../support/guest-fake-smmu.ts';
import { FakePort } from '../support/guest-fake-port.ts';

const VSID = 0x21;
const PSID = 0x421;

function world() {
  const { ram, alloc } = guestRam();
  const fake = new FakeSmmu(ram, { features: { sidBits: 8 } });
  const trap: TrapPort & { valueLo: number; valueHi: number } = {
    valueLo: 0,
    valueHi: 0,
    access(write, size, ipa, lo, hi) {
      const off = ipa - GUEST_VSMMUV3_BASE;
      if (off < 0 || off >= 0x20000 || (off === 0x44 && write)) return false; // outside the window / an aborting register
      if (write) {
        fake.write32(off, lo);
        if (size === 8) fake.write32(off + 4, hi);
      } else {
        this.valueLo = fake.read32(off);
        this.valueHi = size === 8 ? fake.read32(off + 4) : 0;
      }
      return true;
    },
  };
  const irqDesc = createIrqLines({ lines: 1 });
  const irqSrc = new IrqLines(irqDesc);
  let kernel: GuestKernel | null = null;
  const port = new FakePort(
    (sid, iova) => (sid === PSID && kernel?.driver.attachment(VSID) ? kernel.iovaToIpa(VSID, iova) : -1),
    ram,
    (tx, iova) => {
      fake.pushEvent({ type: EVT.F_TRANSLATION, sid: VSID, inputLo: iova >>> 0, rnw: tx.write ? 0 : 1, cls: 2 });
      irqSrc.raise(0);
    },
  );
  kernel = new GuestKernel({
    name: 'domU1', ram, alloc, trap, irq: { desc: irqDesc, lines: { 33: 0 } },
    // The kernel learns its vSMMU and the device's vSID from its device tree only.
    deviceTree: domUDts({ name: 'domU1', memory: 64 * 1024 * 1024, vcpus: 1, viommu: 'smmuv3', devices: [{ name: 'dma0', sid: PSID }] }, { vsids: { dma0: VSID } }),
    devices: [{ name: 'dma0', pSid: PSID, device: new DmaDevice(port, PSID) }],
  });
  return { kernel, fake, port, ram };
}

describe('guest kernel', () => {
  it('parses protections', () => {
    expect(parseProt('rw')).toBe(PROT_READ | PROT_WRITE);
    expect(parseProt('rxp')).toBe(PROT_READ | PROT_EXEC | PROT_PRIV);
    expect(parseProt(5)).toBe(5);
    expect(() => parseProt('rq')).toThrow(/letters/);
  });

  it('runs map-dma-fault: bytes land, the DMA after unmap faults, the event arrives with vSID and IOVA', () => {
    const { kernel, port } = world();
    const r = kernel.workloadMapDmaFault({ vSid: VSID, iova: 0x1000_0000, size: 3 * 4096 });
    expect(r.steps.map((s) => [s.name, s.ok])).toEqual([
      ['attach', true], ['alloc+map', true], ['dma-write', true], ['check-ram', true], ['dma-read', true],
      ['unmap', true], ['dma-after-unmap', true], ['ram-unchanged', true], ['fault-event', true],
    ]);
    expect(r.ok).toBe(true);
    expect(r.fault).toMatchObject({ name: 'F_TRANSLATION', sid: VSID, iova: 0x1000_0000 });
    expect(r.dmaFault).toMatchObject({ name: 'F_TRANSLATION', iova: 0x1000_0000 });
    // The device issued its pSID.
    expect(new Set(port.seen.map((t) => t.sid))).toEqual(new Set([PSID]));
    const st = kernel.stats();
    expect(st.irqsTaken).toBe(1);
    expect(st.driver?.evtq.events).toBe(1);
    expect(st.trapLatency.count).toBeGreaterThan(20);
    expect(st.trapLatency.p99Us).toBeGreaterThanOrEqual(st.trapLatency.p50Us);
  });

  it('reports a failing step instead of throwing', () => {
    const { kernel } = world();
    const r = kernel.workloadMapDmaFault({ vSid: VSID, size: 4000 }); // not page-aligned
    expect(r.ok).toBe(false);
    expect(r.steps.at(-1)).toMatchObject({ name: 'alloc+map', ok: false });
  });

  it('streams DMA at a chosen size and rate', () => {
    const { kernel } = world();
    const r = kernel.workloadDmaStream({ vSid: VSID, size: 512, count: 40, op: 'mixed' });
    expect(r).toMatchObject({ count: 40, ok: 40, faults: 0, bytes: 40 * 512 });
    expect(r.latency.count).toBe(40);
    const paced = kernel.workloadDmaStream({ vSid: VSID, size: 64, count: 10, rate: 1000 });
    expect(paced.elapsedMs).toBeGreaterThanOrEqual(9);
    // The window was unmapped afterwards.
    expect(kernel.iovaToIpa(VSID, 0x2000_0000)).toBe(-1);
  });

  it('DMA API: writes a pattern, reads back, faults on unmapped IOVAs', () => {
    const { kernel } = world();
    kernel.probe();
    kernel.attach(VSID, { asid: 2 });
    const buf = kernel.alloc(8192, 4096);
    kernel.map(VSID, 0x5000, buf, 8192, 'rw');
    expect(kernel.dma(VSID, { op: 'write', iova: 0x5100, length: 300, fill: 0xab })).toMatchObject({ status: 'ok', bytes: 300 });
    expect([...kernel.memRead(buf + 0x100, 300)].every((b) => b === 0xab)).toBe(true);
    expect(kernel.dma(VSID, { op: 'read', iova: 0x5100, length: 4 }).data).toEqual(new Uint8Array([0xab, 0xab, 0xab, 0xab]));
    expect(kernel.dma(VSID, { op: 'read', iova: 0x9000, length: 4 })).toMatchObject({ status: 'fault', bytes: 0 });
    expect(() => kernel.dma(0x99, { op: 'read', iova: 0, length: 4 })).toThrow(/no device/);
  });

  it('traps MMIO, turns an abort into a synchronous external abort, and times accesses', () => {
    const { kernel, fake } = world();
    const B = GUEST_VSMMUV3_BASE;
    expect(kernel.mmioRead(B)).toEqual([fake.get(0), 0]);
    expect(kernel.mmioRead(B, 8)).toEqual([fake.get(0), fake.get(4)]);
    kernel.mmioWrite(B + 0x90, 8, 0x1234_5000, 0x4000_0000);
    expect([fake.get(0x90), fake.get(0x94)]).toEqual([0x1234_5000, 0x4000_0000]);
    expect(() => kernel.mmioWrite(B + 0x44, 4, 1)).toThrow(expect.objectContaining({ code: 'EVSMMU_GUEST_SEA' }) as unknown as Error);
    expect(() => kernel.mmioRead(0x0300_1000)).toThrow(expect.objectContaining({ code: 'EVSMMU_GUEST_SEA' }) as unknown as Error);
    expect(kernel.stats().mmioAborts).toBe(2);
    let code = '';
    try {
      kernel.mmioRead(B, 2 as 4);
    } catch (e) {
      code = (e as VsmmuError).code;
    }
    expect(code).toBe('EVSMMU_INVAL');
    expect(kernel.stats().trapLatency.count).toBe(5);
  });

  it('vCPU interrupts: pending, acknowledge, wait', () => {
    const desc = createIrqLines({ lines: 2 });
    const src = new IrqLines(desc);
    const v = new Vcpu({ trap: { valueLo: 0, valueHi: 0, access: () => true }, irq: { desc, lines: { 33: 1 } } });
    expect(v.irqPending(33)).toBe(false);
    expect(v.waitIrq([33], 1)).toEqual([]);
    src.raise(1);
    expect(v.irqPending(33)).toBe(true);
    expect(v.waitIrq([33], 1)).toEqual([33]);
    expect(v.ackIrq(33)).toBe(true);
    expect(v.irqPending(33)).toBe(false);
    expect(() => v.irqPending(34)).toThrow(/not wired/);
  });
});
