// A physical CMD_SYNC that never completes, on real threads (issue 15, reliability.md F5):
// the SMMU's command queue is stalled at the next CMD_SYNC (test hook); a guest's CMD_SYNC
// waiting for it ends, after Xen's timeout (10 s of Xen's clock), with the domain fenced
// (device aborted, its CMD_SYNC never complete), the queue recovered and the other guest
// running; Xen crashes the fenced domain and the system reaps it (EVSMMU_DOMAIN_CRASHED,
// memory freed).
import { describe, expect, it } from 'vitest';
import { cmdOf, encodeCommand, type Command } from '../../src/arch/commands.ts';
import { R } from '../../src/arch/registers.ts';
import type { Domain } from '../../src/index.ts';
import { CMDQ, IOVA, RAM, V, enableVsmmu, goesOn, twoGuests } from '../support/two-guests.ts';

/** Polls `done` until it holds or `ms` passed (a handshake with bounded time, not a sleep). */
async function until(done: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) if (await done()) return true;
  return false;
}

async function submit(d: Domain, prod: number, ...cmds: Command[]): Promise<number> {
  const w = new Uint32Array(4);
  for (const c of cmds) {
    encodeCommand(c, w);
    for (let i = 0; i < 4; i++) d.memory.write32(CMDQ + (prod & 63) * 16 + i * 4, w[i]!);
    prod = (prod + 1) & 127;
  }
  await d.mmio.write32(V + R.CMDQ_PROD, prod);
  return prod;
}

describe('a physical CMD_SYNC that never completes (threads)', () => {
  it('fences the waiting domain after the timeout and crashes it; the other guest goes on; its memory is freed', async () => {
    await using sys = await twoGuests('a', 'b');
    const a = sys.domain('a');
    const b = sys.domain('b');
    await enableVsmmu(a, { cmdqLog2: 6, evtq: true });
    await b.driver.probe();
    await b.driver.attach('dma0', { asid: 1 });
    await b.driver.map(IOVA, RAM + 0x10_0000, 4096);

    await sys.injectFault('stall-sync');
    await submit(a, 0, cmdOf('TLBI_NH_ALL'), cmdOf('SYNC', { cs: 0 }));
    // Xen fences a once its SYNC waited 10 s (Xen's clock); bounded here at 40 s.
    expect(await until(async () => (await sys.stats()).xen.syncTimeouts === 1, 40_000)).toBe(true);
    const st = await sys.stats();
    expect(st.xen.driver.queueRecoveries).toBe(1);
    expect(st.xen.xenBugs).toBe(0);
    // Xen crashed a (domain_crash) and the toolstack reaped it: destroyed, its memory freed.
    expect(a.dead?.code).toBe('EVSMMU_DOMAIN_CRASHED');
    expect(st.domains['a']).toEqual({ dead: 'EVSMMU_DOMAIN_CRASHED' });
    await expect(a.mmio.read32(V + R.CMDQ_CONS)).rejects.toMatchObject({ code: 'EVSMMU_DOMAIN_CRASHED' });
    const acc = await sys.accounting();
    expect(acc).toMatchObject({ domains: 1, vmids: 1, streams: 1, irqLines: 1, trapSlots: 1 });
    expect(acc.pages.withheld).toBe(0);
    // b goes on: DMA, unmap + TLBI + SYNC on the recovered queue, the fault after it.
    await goesOn(b);
  }, 90_000);
});
