// A physical CMD_SYNC that never completes (reliability.md F5, XSA-373; issue 15): the real
// SMMU core and Xen in-process, the SMMU's test hook stalling its command queue at the next
// CMD_SYNC. After syncTimeoutMs of the actor's clock the waiting domain is fenced (devices to
// abort, its CMD_SYNC never reported complete), the physical queue is recovered, the other
// guest goes on, and destroying the fenced domain frees its memory.
import { describe, expect, it } from 'vitest';
import { R } from '../../src/arch/registers.ts';
import { XL_OK, XlateOut } from '../../src/smmu/translate.ts';
import { G } from '../support/xen-guest.ts';
import { domCfg, guestOf, xenRig, type XenRig } from '../support/xen-rig.ts';


function dma(r: XenRig, sid: number, iova: number): boolean {
  const out = new XlateOut();
  const ok = r.smmu.translator.translate(sid, false, 0, 0, iova >>> 0, 0, out) === XL_OK;
  r.smmu.step();
  return ok;
}

describe('a physical CMD_SYNC that never completes', () => {
  it('fences the waiting domain after the timeout, recovers the queue; the others go on; teardown frees it', () => {
    const T = 500;
    const r = xenRig({ syncTimeoutMs: T });
    const a = r.xen.createDomain(domCfg('a', [{ sid: 0x10 }]));
    const b = r.xen.createDomain(domCfg('b', [{ sid: 0x20 }]));
    const ga = guestOf(r, a.domid);
    const gb = guestOf(r, b.domid);
    for (const [g, sid] of [[ga, 0x10], [gb, 0x20]] as const) {
      g.reset();
      g.attachS1(sid, 1);
      g.map(sid, 0x1000_0000, G.DATA, 0x1000);
    }
    expect(dma(r, 0x10, 0x1000_0000)).toBe(true);
    expect(dma(r, 0x20, 0x1000_0000)).toBe(true);

    r.smmu.injectFault('stall-sync');
    ga.submit(ga.cmd('TLBI_NH_ASID', { asid: 1 }), ga.cmd('SYNC'));
    expect(ga.drained()).toBe(false); // waits for the physical SYNC, which never comes
    const vs = r.xen.domain(a.domid).vsmmu!;
    expect(vs.waitingForHardware()).toBe(true);
    expect(r.xen.checkSyncTimeouts(0)).toBe(false); // the wait starts (actor clock 0)
    expect(r.xen.nextSyncDeadline()).toBe(T);
    expect(r.xen.checkSyncTimeouts(T - 1)).toBe(false);
    expect(ga.r(R.CMDQ_CONS) & 0xfffff).not.toBe(ga.prod);
    // Meanwhile b's traps are answered.
    expect(gb.r(R.CR0ACK)).toBe(0xd);

    expect(r.xen.checkSyncTimeouts(T)).toBe(true);
    const st = r.xen.stats();
    expect(st.syncTimeouts).toBe(1);
    expect(st.driver.queueRecoveries).toBe(1);
    expect(st.xenBugs).toBe(0);
    // a: fenced. Its CMD_SYNC is never reported complete, its device is aborted.
    expect(vs.isFenced).toBe(true);
    expect(ga.drained()).toBe(false);
    while (r.xen.pump());
    r.xen.driver.finishSteWrites();
    expect(r.xen.driver.readSte(0x10)[0]! & 0xf).toBe(1); // V = 1, Config = abort
    expect(dma(r, 0x10, 0x1000_0000)).toBe(false);
    // b goes on: its invalidation and SYNC complete on the recovered queue.
    gb.unmap(0x20, 0x1000_0000, 0x1000);
    gb.submit(gb.cmd('TLBI_NH_VA', { asid: 1, addr: 0x1000_0000, leaf: 1 }), gb.cmd('SYNC'));
    for (let i = 0; i < 100 && !gb.drained(); i++) r.xen.pump();
    expect(gb.drained()).toBe(true);
    expect(dma(r, 0x20, 0x1000_0000)).toBe(false); // the unmap took effect
    // Teardown of the fenced domain completes (the hardware confirmed the abort STEs): freed.
    const before = r.xen.accounting();
    r.xen.destroyDomain(a.domid);
    const after = r.xen.accounting();
    expect(after.pages.withheld).toBe(0);
    expect(after.pages.domains).toBeLessThan(before.pages.domains);
    expect(after).toMatchObject({ domains: 1, vmids: 1, streams: 1 });
  });

  it('a SYNC that completes in time is never a timeout', () => {
    const r = xenRig({ syncTimeoutMs: 10 });
    const a = r.xen.createDomain(domCfg('a', [{ sid: 0x10 }]));
    const ga = guestOf(r, a.domid);
    ga.reset();
    ga.attachS1(0x10, 1);
    for (let t = 0; t < 100; t += 5) {
      ga.submit(ga.cmd('TLBI_NH_ASID', { asid: 1 }), ga.cmd('SYNC'));
      r.xen.checkSyncTimeouts(t);
      expect(ga.drained()).toBe(true);
    }
    expect(r.xen.stats().syncTimeouts).toBe(0);
    expect(r.xen.nextSyncDeadline()).toBe(Infinity);
  });
});
