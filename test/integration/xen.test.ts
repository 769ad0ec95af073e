// Xen and the physical SMMU on real worker threads; the test thread is the guest vCPU,
// trapping into Xen's vSMMU through its trap channel, and a DMA device on an SMMU port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVT } from '../../src/arch/events.ts';
import { R } from '../../src/arch/registers.ts';
import { TRAP_ABORT, TRAP_OK } from '../../src/runtime/trap.ts';
import { TX_FAULT, TX_OK } from '../../src/smmu/ports.ts';
import { GUEST_VSMMUV3_BASE } from '../../src/xen/layout.ts';
import { parseXlCfg } from '../../src/xen/xlcfg.ts';
import { G } from '../support/xen-guest.ts';
import { domCfg } from '../support/xen-rig.ts';
import { MiB, startGuest, startXenWorld, until, type ThreadGuest, type XenWorld } from '../support/xen-threads.ts';

let w: XenWorld;
let tag = 1;

beforeAll(async () => {
  w = await startXenWorld();
});
afterAll(async () => {
  await w?.close();
});

function dma(sid: number, iova: number, write: boolean, bytes?: Uint8Array): ReturnType<XenWorld['dev']['run']> {
  if (bytes) w.dev.data.set(bytes, 0);
  return w.dev.run({ tag: tag++, sid, iova, length: bytes?.length ?? 16, write });
}

async function guest(name: string, sids: number[], viommu: 'none' | 'smmuv3' = 'smmuv3'): Promise<ThreadGuest> {
  return startGuest(w, domCfg(name, sids.map((sid) => ({ sid })), viommu, 8 * MiB));
}

describe('vSMMUv3 registers through real traps', () => {
  it('answers ID registers, CR0/CR0ACK, RAZ/WI and aborts as documented', async () => {
    const t = await guest('regs', [0x40]);
    const { g, vcpu } = t;
    expect(g.r(R.IDR0) & 3).toBe(2); // S1P, no S2P
    expect(g.r(R.IDR1) & 63).toBe(16);
    g.w(R.CR0, 0xffff_ffff);
    expect(g.r(R.CR0ACK)).toBe(0xd);
    g.w(R.CR0, 0);
    g.w(0x8000, 0x1234);
    expect(g.r(0x8000)).toBe(0);
    expect(g.r(0x100a8 - 0x10000)).toBe(0); // no page-0 alias of EVENTQ_PROD
    expect(vcpu.read(GUEST_VSMMUV3_BASE + R.CR0, 0, 1)).toBe(TRAP_ABORT);
    expect(vcpu.read(GUEST_VSMMUV3_BASE + R.CR0 + 2, 0, 4)).toBe(TRAP_ABORT);
    expect(vcpu.read(0x0900_0000, 0, 4)).toBe(TRAP_ABORT); // nothing emulated there
    expect(vcpu.read(GUEST_VSMMUV3_BASE + R.STRTAB_BASE, 0, 8)).toBe(TRAP_OK);
    expect(t.aborts).toBe(0);
    await w.xen.api.destroyDomain(t.att.domain.domid);
  });
});

describe('guest commands on the physical SMMU', () => {
  it('translates DMA through the guest S1 and Xen S2, and honours the guest TLBI + SYNC', async () => {
    const t = await guest('dma', [0x41]);
    const { g } = t;
    g.reset();
    g.attachS1(0x41, 5);
    expect(until(() => g.drained())).toBe(true);
    g.map(0x41, 0x1000_0000, G.DATA, 0x1000);
    const c = dma(0x41, 0x1000_0010, true, new Uint8Array([1, 2, 3, 4]));
    expect(c.status).toBe(TX_OK);
    expect(t.ram.read32(G.DATA + 0x10)).toBe(0x04030201);
    g.unmap(0x41, 0x1000_0000, 0x1000);
    expect(dma(0x41, 0x1000_0010, false).status).toBe(TX_OK); // cached: stale until invalidated
    const before = (await w.smmu.api.stats()).commands.byOpcode['TLBI_NH_VA'] ?? 0;
    g.submit(g.cmd('TLBI_NH_VA', { asid: 5, addr: 0x1000_0000, leaf: 1 }), g.cmd('SYNC'));
    expect(until(() => g.drained())).toBe(true);
    expect(dma(0x41, 0x1000_0010, false).status).toBe(TX_FAULT);
    expect((await w.smmu.api.stats()).commands.byOpcode['TLBI_NH_VA']).toBe(before + 1);
    await w.xen.api.destroyDomain(t.att.domain.domid);
  });

  it('rejects a guest STE outside the allow-list: its DMA records C_BAD_STE once and raises the guest SPI', async () => {
    const t = await guest('badste', [0x42]);
    const { g } = t;
    g.reset();
    g.writeSte(0x42, [0x0b | (G.CDS + 0x42 * 64), 0, 0xd6 | (1 << 19)]); // MEV is Xen's
    g.submit(g.cmd('CFGI_STE', { sid: 0x42 }), g.cmd('SYNC'));
    expect(until(() => g.drained())).toBe(true);
    expect(g.events()).toEqual([]); // recorded by a transaction, once, not by CFGI_STE
    expect(dma(0x42, 0x1000, false).status).toBe(TX_FAULT);
    expect(until(() => (t.irq.pending() & 1) === 1)).toBe(true);
    expect(g.events().map((e) => [e.type, e.sid])).toEqual([[EVT.C_BAD_STE, 0x42]]);
    expect(t.irq.pending() & 1).toBe(0);
    await w.xen.api.destroyDomain(t.att.domain.domid);
  });

  it('answers an illegal command with CERROR_ILL until acknowledged, then resumes', async () => {
    const t = await guest('cerror', [0x43]);
    const { g } = t;
    g.reset();
    g.submit(g.cmd('TLBI_EL2_ALL'), g.cmd('SYNC'));
    expect(until(() => (g.r(R.GERROR) & 1) === 1)).toBe(true);
    expect(g.r(R.CMDQ_CONS)).toBe(((1 << 24) | 2) >>> 0); // after the 2 commands of reset, stopped at the bad one
    // Linux recovery: the bad slot becomes a SYNC, then GERRORN acknowledges.
    const sync = g.cmd('SYNC');
    t.ram.store64(G.CMDQ + 2 * 16, sync[0]!, sync[1]!);
    g.w(R.GERRORN, g.r(R.GERROR));
    expect(until(() => (g.r(R.CMDQ_CONS) & 0xfffff) === 4)).toBe(true);
    await w.xen.api.destroyDomain(t.att.domain.domid);
  });
});

describe('forwarded invalidations and continuations', () => {
  it('forwards CFGI_CD with the pSID: a changed CD takes effect only after CFGI_CD + SYNC', async () => {
    const t = await guest('cfgicd', [0x49]);
    const { g } = t;
    g.reset();
    const pt = g.attachS1(0x49, 4);
    expect(until(() => g.drained())).toBe(true);
    g.map(0x49, 0x1000_0000, G.DATA, 0x1000);
    expect(dma(0x49, 0x1000_0000, false).status).toBe(TX_OK);
    // Point the CD at an empty table: cached CD (and TLB) keep the old one until invalidated.
    const cdAt = G.CDS + 0x49 * 64;
    const empty = G.DATA + 0x10_0000;
    for (let i = 0; i < 512; i++) t.ram.store64(empty + 8 * i, 0, 0);
    t.ram.store64(cdAt + 8, empty, 0);
    expect(pt.root).not.toBe(empty);
    const before = await w.smmu.api.stats();
    g.submit(g.cmd('CFGI_CD', { sid: 0x49, leaf: 1 }), g.cmd('TLBI_NH_ASID', { asid: 4 }), g.cmd('SYNC'));
    expect(until(() => g.drained())).toBe(true);
    expect(dma(0x49, 0x1000_0000, false).status).toBe(TX_FAULT);
    const after = await w.smmu.api.stats();
    expect(after.commands.byOpcode['CFGI_CD']).toBe((before.commands.byOpcode['CFGI_CD'] ?? 0) + 1);
    expect(after.commands.errors).toEqual(before.commands.errors);
    await w.xen.api.destroyDomain(t.att.domain.domid);
  });

  it('turns TLBI_NSNH_ALL into NH_ALL for the VMID: another guest keeps its cached translations', async () => {
    const a = await guest('nsnh-a', [0x4a]);
    const b = await guest('nsnh-b', [0x4b]);
    for (const [t, sid] of [[a, 0x4a], [b, 0x4b]] as const) {
      t.g.reset();
      t.g.attachS1(sid, 1);
      expect(until(() => t.g.drained())).toBe(true);
      t.g.map(sid, 0x1000_0000, G.DATA, 0x1000);
      expect(dma(sid, 0x1000_0000, false).status).toBe(TX_OK);
      t.g.unmap(sid, 0x1000_0000, 0x1000); // stale in the IOTLB from now on
    }
    const before = (await w.smmu.api.stats()).commands.byOpcode;
    a.g.submit(a.g.cmd('TLBI_NSNH_ALL'), a.g.cmd('SYNC'));
    expect(until(() => a.g.drained())).toBe(true);
    const after = (await w.smmu.api.stats()).commands.byOpcode;
    expect(after['TLBI_NH_ALL']).toBe((before['TLBI_NH_ALL'] ?? 0) + 1);
    expect(after['TLBI_NSNH_ALL']).toBe(before['TLBI_NSNH_ALL']);
    expect(dma(0x4a, 0x1000_0000, false).status).toBe(TX_FAULT); // a's entries gone
    expect(dma(0x4b, 0x1000_0000, false).status).toBe(TX_OK); // b's survive: not a's to flush
    await w.xen.api.destroyDomain(a.att.domain.domid);
    await w.xen.api.destroyDomain(b.att.domain.domid);
  });

  it('processes a full queue in budgeted slices without holding the vCPU', async () => {
    const t = await guest('budget', [0x4c]);
    const { g } = t;
    g.reset();
    const before = (await w.smmu.api.stats()).commands.byOpcode['TLBI_NH_ASID'] ?? 0;
    const cmds = Array.from({ length: 250 }, (_, i) => g.cmd('TLBI_NH_ASID', { asid: i }));
    g.submit(...cmds, g.cmd('SYNC'));
    expect(until(() => g.drained())).toBe(true);
    expect((await w.smmu.api.stats()).commands.byOpcode['TLBI_NH_ASID']).toBe(before + 250);
    const info = await w.xen.api.domain(t.att.domain.domid);
    expect(info.vsmmu?.budgetStops).toBeGreaterThan(0);
    await w.xen.api.destroyDomain(t.att.domain.domid);
  });
});

describe('event forwarding', () => {
  it('delivers stage-1 faults with the vSID and flags overflow', async () => {
    const t = await guest('events', [0x44]);
    const { g } = t;
    g.reset();
    g.attachS1(0x44, 7);
    expect(until(() => g.drained())).toBe(true);
    expect(dma(0x44, 0x7000_0000, false).status).toBe(TX_FAULT);
    expect(until(() => g.r(R.EVENTQ_PROD) !== 0)).toBe(true);
    expect(g.events().map((e) => [e.type, e.sid, e.inputLo])).toEqual([[EVT.F_TRANSLATION, 0x44, 0x7000_0000]]);
    // 70 more faults into a 64-entry queue the guest does not drain.
    for (let i = 0; i < 70; i++) dma(0x44, 0x7000_0000 + (i + 1) * 0x1000, false);
    expect(until(() => (g.r(R.EVENTQ_PROD) & 0x8000_0000) !== 0)).toBe(true);
    const evs = g.events();
    expect(evs.length).toBe(64);
    expect(evs.every((e) => e.sid === 0x44 && e.type === EVT.F_TRANSLATION)).toBe(true);
    expect((g.r(R.EVENTQ_CONS) & 0x8000_0000) >>> 0).toBe(0x8000_0000); // acknowledged
    const info = await w.xen.api.domain(t.att.domain.domid);
    expect(info.vsmmu?.eventOverflows).toBeGreaterThan(0);
    await w.xen.api.destroyDomain(t.att.domain.domid);
  });
});

describe('domain lifecycle', () => {
  it('destroys a domain with devices attached: DMA aborts, nothing leaks', async () => {
    const base = await w.xen.api.stats();
    const t = await guest('destroy', [0x45, 0x46]);
    const { g } = t;
    g.reset();
    g.attachS1(0x45, 1);
    expect(until(() => g.drained())).toBe(true);
    g.map(0x45, 0x1000_0000, G.DATA, 0x1000);
    expect(dma(0x45, 0x1000_0000, true, new Uint8Array([9])).status).toBe(TX_OK);
    await w.xen.api.destroyDomain(t.att.domain.domid);
    expect(dma(0x45, 0x1000_0000, true, new Uint8Array([9])).status).toBe(TX_FAULT);
    expect(dma(0x46, 0x4000_0000, false).status).toBe(TX_FAULT);
    const after = await w.xen.api.stats();
    expect(after.domains).toBe(base.domains);
    expect(after.vmidsInUse).toBe(base.vmidsInUse);
    expect(after.streams).toBe(base.streams);
    expect(after.memory.usedPages - base.memory.usedPages).toBeLessThanOrEqual(4); // an L2 stream table at most
    expect(after.xenBugs).toBe(0);
  });

  it('gives a domain without a vIOMMU stage-2-only DMA at its IPAs', async () => {
    const t = await guest('s2only', [0x47], 'none');
    expect(dma(0x47, G.DATA, true, new Uint8Array([7, 7])).status).toBe(TX_OK);
    expect(t.ram.read32(G.DATA) & 0xffff).toBe(0x0707);
    expect(t.vcpu.read(GUEST_VSMMUV3_BASE, 0, 4)).toBe(TRAP_ABORT); // no vSMMU there
    await w.xen.api.destroyDomain(t.att.domain.domid);
  });

  it('reports xl.cfg and command-line errors with stable codes across threads', async () => {
    expect(() => parseXlCfg('name = "x"\nmemory = 8\nviommu = "smmuv2"\n')).toThrow(expect.objectContaining({ code: 'EVSMMU_XLCFG_BAD_VALUE' }));
    const cfg = parseXlCfg('name = "y"\nmemory = 8\nviommu = "smmuv3"\ndmadev = [ "name=d0,sid=0x48" ]\n');
    const w2 = await startXenWorld({ xen: { cmdline: 'viommu=0' } });
    try {
      await expect(w2.xen.api.createDomain(cfg)).rejects.toMatchObject({ code: 'EVSMMU_VIOMMU_DISABLED' });
      await expect(w2.xen.api.destroyDomain(42)).rejects.toMatchObject({ code: 'EVSMMU_NODOMAIN' });
    } finally {
      await w2.close();
    }
    await expect(startXenWorld({ xen: { cmdline: 'viommu=maybe' } })).rejects.toMatchObject({ code: 'EVSMMU_ACTOR_START' });
  });
});
