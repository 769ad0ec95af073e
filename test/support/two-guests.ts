// Two guests on real threads, each with a DMA device behind its vSMMU: one that misbehaves
// (killed, fenced), one that must go on. The misbehaving guest programs its vSMMU by hand.
import { expect } from 'vitest';
import { R } from '../../src/arch/registers.ts';
import { createSystem, type Domain, type System } from '../../src/index.ts';

/** The guest's vSMMU (GUEST_VSMMUV3_BASE). */
export const V = 0x0404_0000;
export const RAM = 0x4000_0000;
export const CMDQ = RAM + 0x1_0000;
export const EVTQ = RAM + 0x2_0000;
/** The survivor's IOVA that goesOn() DMAs to; the test maps it. */
export const IOVA = 0x1000_0000;

/** A 128 MiB host with `victim` (dma0 at SID 0x10) and `survivor` (dma0 at SID 0x20), 16 MiB and a vSMMU each. */
export function twoGuests(victim: string, survivor: string): Promise<System> {
  return createSystem({
    memory: '128M',
    domains: [
      { name: victim, memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }] },
      { name: survivor, memory: '16M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x20 }] },
    ],
  });
}

/**
 * Enables `d`'s vSMMU register by register: a linear stream table of 2^6 STEs at RAM, the
 * command queue (2^cmdqLog2 entries) at CMDQ, with `evtq` the event queue (2^6) at EVTQ,
 * then CR0 = SMMUEN | EVENTQEN | CMDQEN.
 */
export async function enableVsmmu(d: Domain, o: { cmdqLog2: number; evtq?: boolean }): Promise<void> {
  const m = d.mmio;
  await m.write64(V + R.STRTAB_BASE, BigInt(RAM));
  await m.write32(V + R.STRTAB_BASE_CFG, 6);
  await m.write64(V + R.CMDQ_BASE, BigInt(CMDQ | o.cmdqLog2));
  if (o.evtq) await m.write64(V + R.EVENTQ_BASE, BigInt(EVTQ | 6));
  await m.write32(V + R.CR0, 0xd);
}

/** The survivor goes on, its IOVA mapped: a DMA passes, an unmap (TLBI + CMD_SYNC) completes, the next DMA faults. */
export async function goesOn(d: Domain): Promise<void> {
  expect((await d.device('dma0').dma({ iova: IOVA, length: 16 })).ok).toBe(true);
  expect(await d.driver.unmap(IOVA, 4096)).toBe(4096);
  expect((await d.device('dma0').dma({ iova: IOVA, length: 16 })).ok).toBe(false);
}
