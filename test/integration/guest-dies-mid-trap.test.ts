// A guest worker that dies while its vCPU is stopped on trapped MMIO (issue 15): its domain
// is destroyed (devices to abort, memory freed), Xen keeps serving the others, and nothing
// is held afterwards. Each guest here has traps in flight (a command storm written to its
// vSMMU, then PROD and CONS traffic) when it is killed.
import { describe, expect, it } from 'vitest';
import { cmdOf, encodeCommand } from '../../src/arch/commands.ts';
import { R } from '../../src/arch/registers.ts';
import type { Domain } from '../../src/index.ts';
import { CMDQ, IOVA, RAM, V, enableVsmmu, goesOn, twoGuests } from '../support/two-guests.ts';

async function storm(d: Domain): Promise<void> {
  await enableVsmmu(d, { cmdqLog2: 8 });
  const w = new Uint32Array(4);
  for (let i = 0; i < 255; i++) {
    encodeCommand(i % 2 === 0 ? cmdOf('TLBI_NH_ALL') : cmdOf('SYNC', { cs: 0 }), w);
    for (let j = 0; j < 4; j++) d.memory.write32(CMDQ + i * 16 + j * 4, w[j]!);
  }
}

describe('a guest worker that dies mid-trap', () => {
  it('its domain is destroyed, the others go on, nothing is held after', async () => {
    await using sys = await twoGuests('dies', 'lives');
    const dies = sys.domain('dies');
    const lives = sys.domain('lives');
    await lives.driver.probe();
    await lives.driver.attach('dma0', { asid: 1 });
    await storm(dies);
    // Traps in flight: PROD rung, CONS polled, many at once; killed while they are served.
    const inflight = Promise.allSettled([
      dies.mmio.write32(V + R.CMDQ_PROD, 255),
      ...Array.from({ length: 64 }, () => dies.mmio.read32(V + R.CMDQ_CONS)),
    ]);
    await dies.kill();
    for (const s of await inflight) if (s.status === 'rejected') expect(s.reason).toMatchObject({ code: 'EVSMMU_DOMAIN_CRASHED' });
    await expect(dies.mmio.read32(V + R.CR0)).rejects.toMatchObject({ code: 'EVSMMU_DOMAIN_CRASHED' });
    // The other guest goes on: map, DMA, unmap + TLBI + SYNC, fault.
    await lives.driver.map(IOVA, RAM + 0x10_0000, 4096);
    await goesOn(lives);
    const st = await sys.stats();
    expect(st.xen.xenBugs).toBe(0);
    expect(st.xenDomains.map((d) => d.name)).toEqual(['lives']);
    await lives.destroy();
    const acc = await sys.accounting();
    expect(acc).toMatchObject({ domains: 0, vmids: 0, vsids: 0, streams: 0, irqLines: 0, trapSlots: 0, pages: { domains: 0, withheld: 0 } });
  });
});
