// The SMMU core in-process (single thread: the test pumps smmu.step()), driven only through
// its registers, physical memory and a transaction port.
import { describe, expect, it } from 'vitest';
import { cmdOf } from '../../src/arch/commands.ts';
import { CLASS, EVT } from '../../src/arch/events.ts';
import { CR0, GERROR, R } from '../../src/arch/registers.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { TX_FAULT, TX_OK, type TxRequest } from '../../src/smmu/ports.ts';
import { SmmuPortClient } from '../../src/runtime/port-client.ts';
import { Smmu, SMMU_IRQ } from '../../src/smmu/smmu.ts';
import {
  cdSlot, guestS2, makeWorld, MIB, nestedSte, RW, s1Cd, s1Ste, s1Table, s2Ste, s2Table, type World,
} from '../support/smmu-world.ts';

function setup(features = {}, opts: { iotlbEntries?: number } = {}) {
  const mem = PhysMemory.create(64 * MIB);
  const smmu = new Smmu({ memory: mem, features, ...opts });
  const w = makeWorld(mem, smmu.regsDesc, smmu.features, () => smmu.step());
  const dev = new SmmuPortClient(smmu.attachPort({ dataBytes: 1 << 20 }));
  const run = (t: TxRequest) => {
    dev.submit([t]);
    smmu.step();
    return dev.collect(1, 100)[0]!;
  };
  return { mem, smmu, w, dev, run };
}

/** An S1 stream: CD + table mapping `va` -> `pa` (4K), SID `sid`, ASID `asid`. */
function s1Stream(w: World, sid: number, asid: number, va: number, pa: number, size = 0x1000) {
  const pt = s1Table(w);
  pt.map(va, pa, size, RW);
  const cd = cdSlot(w);
  w.drv.writeCd(cd, s1Cd(pt, asid));
  w.drv.writeSte(sid, s1Ste(cd));
  return { pt, cd };
}

describe('SMMU core (in-process)', () => {
  it('resets and enables in Linux order; ID registers and ACKs', () => {
    const { w, smmu } = setup();
    expect(w.drv.port.read32(R.IDR0) & 3).toBe(3); // S1P | S2P
    w.drv.reset();
    expect(w.drv.port.read32(R.CR0ACK)).toBe(CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
    expect(w.drv.port.read32(R.IRQ_CTRLACK)).toBe(5);
    expect(smmu.stats().commands.byOpcode).toMatchObject({ CFGI_STE_RANGE: 1, TLBI_NSNH_ALL: 1, SYNC: 2 });
  });

  it('translates a stage-1 DMA read and write through a port, page-crossing', () => {
    const { w, dev, run, mem } = setup();
    w.drv.reset();
    const pt = s1Table(w);
    pt.map(0x10_0000, 0x50_0000, 0x1000, RW);
    pt.map(0x10_1000, 0x70_3000, 0x1000, RW);
    const cd = cdSlot(w);
    w.drv.writeCd(cd, s1Cd(pt, 3));
    w.drv.writeSte(5, s1Ste(cd));
    mem.writeBytes(0x50_0ff0, Uint8Array.from({ length: 16 }, (_, i) => i + 1));
    mem.writeBytes(0x70_3000, Uint8Array.from({ length: 16 }, (_, i) => 0x80 + i));
    const c = run({ tag: 7, sid: 5, iova: 0x10_0ff0, length: 32, offset: 100 });
    expect(c).toMatchObject({ tag: 7, status: TX_OK, bytes: 32 });
    expect([...dev.data.subarray(100, 132)]).toEqual([...Array.from({ length: 16 }, (_, i) => i + 1), ...Array.from({ length: 16 }, (_, i) => 0x80 + i)]);
    // Unaligned small copies (byte path), both directions.
    expect(run({ tag: 10, sid: 5, iova: 0x10_0ff3, length: 7, offset: 201 }).status).toBe(TX_OK);
    expect([...dev.data.subarray(201, 208)]).toEqual([4, 5, 6, 7, 8, 9, 10]);
    dev.data.set([0xa1, 0xa2, 0xa3], 301);
    expect(run({ tag: 11, sid: 5, iova: 0x10_0ff1, length: 3, offset: 301, write: true }).status).toBe(TX_OK);
    expect([...mem.readBytes(0x50_0ff0, 5)]).toEqual([1, 0xa1, 0xa2, 0xa3, 5]);
    dev.data.fill(0xee, 0, 8);
    expect(run({ tag: 8, sid: 5, iova: 0x10_1ffc, length: 8, write: true }).status).toBe(TX_FAULT); // 0x10_2000 unmapped
    expect(mem.read32(0x70_3ffc)).toBe(0); // nothing moved: every page is checked first
    expect(run({ tag: 9, sid: 5, iova: 0x10_1ff8, length: 8, write: true }).status).toBe(TX_OK);
    expect(mem.read32(0x70_3ff8)).toBe(0xeeeeeeee);
  });

  it('a stale translation persists until TLBI_NH_VA + SYNC', () => {
    const { w, run, smmu } = setup();
    w.drv.reset();
    const { pt } = s1Stream(w, 1, 9, 0x20_0000, 0x30_0000);
    expect(run({ tag: 1, sid: 1, iova: 0x20_0010, length: 4 }).status).toBe(TX_OK);
    pt.unmap(0x20_0000, 0x1000);
    pt.map(0x20_0000, 0x31_0000, 0x1000, RW);
    w.mem.write32(0x30_0010, 0x1111);
    w.mem.write32(0x31_0010, 0x2222);
    const dev = new SmmuPortClient(smmu.attachPort());
    const read = () => {
      dev.submit([{ tag: 2, sid: 1, iova: 0x20_0010, length: 4 }]);
      smmu.step();
      expect(dev.collect(1, 100)[0]!.status).toBe(TX_OK);
      return new DataView(dev.data.buffer).getUint32(0, true);
    };
    expect(read()).toBe(0x1111); // stale: no invalidation yet
    w.drv.cmdSync([cmdOf('TLBI_NH_VA', { asid: 9, addr: 0x20_0000, leaf: 1 })]);
    expect(read()).toBe(0x2222);
  });

  it('stage 2 and nested translation; S2 fault on the CD fetch is CLASS CD', () => {
    const { w, run, mem } = setup();
    w.drv.reset();
    // Stage 2 only.
    const s2 = s2Table(w);
    s2.map(0x8000_0000, 0x60_0000, 0x1000, RW);
    w.drv.writeSte(2, s2Ste(s2, 4));
    mem.write32(0x60_0020, 0xabcd);
    expect(run({ tag: 1, sid: 2, iova: 0x8000_0020, length: 4 }).status).toBe(TX_OK);
    // Nested: guest S1 tables and CD in IPA space, Xen's S2 maps the guest's RAM.
    const g = guestS2(w, 7);
    const gpt = s1Table(w, 12, true);
    const bufIpa = w.guestAlloc.alloc(0x1000, 0x1000);
    gpt.map(0x1_0000_0000, bufIpa, 0x1000, RW);
    const cdIpa = cdSlot(w, 1, true);
    w.drv.writeCd(cdIpa, s1Cd(gpt, 1), w.guest);
    w.drv.writeSte(3, nestedSte(g.pt, 7, cdIpa));
    w.guest.write(bufIpa + 8, 4, 0x5a5a5a5a);
    const ok = run({ tag: 2, sid: 3, iova: 0x1_0000_0008, length: 4 });
    expect(ok.status).toBe(TX_OK);
    // A nested STE whose CD IPA is outside the guest's stage 2.
    w.drv.writeSte(4, nestedSte(g.pt, 7, 0x7000_0000));
    const bad = run({ tag: 3, sid: 4, iova: 0x1000, length: 4, priv: true });
    expect(bad).toMatchObject({ status: TX_FAULT, faultType: EVT.F_TRANSLATION, s2: 1, cls: CLASS.CD, recorded: true });
    const ev = w.drv.readEvents();
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ type: EVT.F_TRANSLATION, sid: 4, s2: 1, cls: CLASS.CD, ipa: 0x7000_0000, rnw: 1, pnu: 1, inputLo: 0x1000, inputHi: 0 });
  });

  it('CERROR_ILL stops the queue at the command until GERRORN acknowledges', () => {
    const { w, smmu } = setup();
    w.drv.reset();
    const before = w.drv.port.read32(R.CMDQ_CONS);
    w.drv.submit([cmdOf('TLBI_NSNH_ALL'), { name: 'UNKNOWN', op: 0x77, raw: [0x77, 0, 0, 0] }, cmdOf('SYNC', { cs: 0 })]);
    smmu.step();
    const cons = w.drv.port.read32(R.CMDQ_CONS);
    expect((cons >>> 24) & 0x7f).toBe(1);
    expect(cons & 0xfffff).toBe((before + 1) & 0x1ff);
    const gerror = w.drv.port.read32(R.GERROR);
    expect(gerror & GERROR.CMDQ_ERR).toBe(1);
    smmu.step();
    expect(w.drv.port.read32(R.CMDQ_CONS) & 0xfffff).toBe((before + 1) & 0x1ff); // stopped
    // Linux's recovery: replace the bad command with a SYNC, acknowledge.
    const at = w.drv.cmdqBase + ((before + 1) & 0xff) * 16;
    w.mem.store64(at, 0x46, 0);
    w.mem.store64(at + 8, 0, 0);
    w.drv.port.write32(R.GERRORN, gerror);
    smmu.step();
    expect(w.drv.port.read32(R.CMDQ_CONS) & 0x1ff).toBe(w.drv.prod);
  });

  it('event-queue interrupt: wired line when enabled, raised on enable for pending events, MSI when configured', () => {
    const { w, smmu, run } = setup();
    w.drv.reset({ irq: false });
    smmu.irq.take();
    run({ tag: 1, sid: 9, iova: 0x1000, length: 4 }); // C_BAD_STE, IRQ disabled
    expect(smmu.irq.take()).toBe(0);
    w.drv.port.write32(R.IRQ_CTRL, 5);
    smmu.step();
    expect(smmu.irq.take()).toBe(1 << SMMU_IRQ.EVENTQ); // pending events signalled on enable
    w.drv.readEvents();
    const msi = w.alloc.alloc(0x1000, 0x1000);
    w.drv.port.write64(R.EVENTQ_IRQ_CFG0, BigInt(msi + 0x10));
    w.drv.port.write32(R.EVENTQ_IRQ_CFG1, 0xcafe);
    run({ tag: 2, sid: 9, iova: 0x1000, length: 4 });
    expect(w.mem.read32(msi + 0x10)).toBe(0xcafe);
    expect(smmu.irq.take()).toBe(0);
    expect(smmu.stats().msiWrites).toBe(1);
  });

  it('reset() returns registers and caches to their reset state', () => {
    const { w, smmu, run } = setup();
    w.drv.reset();
    s1Stream(w, 1, 2, 0x1000, 0x40_0000);
    expect(run({ tag: 1, sid: 1, iova: 0x1000, length: 4 }).status).toBe(TX_OK);
    expect(smmu.iotlb.entries).toBe(1);
    smmu.reset();
    expect(smmu.iotlb.entries).toBe(0);
    expect(smmu.configCache.steEntries).toBe(0);
    expect(w.drv.port.read32(R.CR0ACK)).toBe(0);
    expect(w.drv.port.read32(R.GBPA)).toBe(0x1000);
    expect(w.drv.port.read32(R.IDR0)).not.toBe(0);
  });

  it('a command-queue budget bounds the work of one step; the rest continues', () => {
    const mem = PhysMemory.create(64 * MIB);
    const smmu = new Smmu({ memory: mem, cmdBudget: 4 });
    const w = makeWorld(mem, smmu.regsDesc, smmu.features, () => smmu.step());
    w.drv.reset();
    const before = smmu.stats().commands.executed;
    w.drv.submit(Array.from({ length: 10 }, () => cmdOf('TLBI_NSNH_ALL')));
    smmu.step();
    expect(smmu.stats().commands.executed - before).toBe(4);
    smmu.step();
    smmu.step();
    expect(smmu.stats().commands.executed - before).toBe(10);
  });

  it('TBI: a tagged address translates with CD.TBI0 and faults without it; TLBI by the untagged VA removes it', () => {
    const { w, run, mem } = setup();
    w.drv.reset();
    const pt = s1Table(w);
    pt.map(0x3000, 0x44_0000, 0x1000, RW);
    mem.write32(0x44_0010, 0x7a6);
    const cd = cdSlot(w);
    w.drv.writeCd(cd, s1Cd(pt, 6, { tbi0: 1 }));
    w.drv.writeSte(1, s1Ste(cd));
    const tagged = (0xab00_0000n << 32n) | 0x3010n;
    expect(run({ tag: 1, sid: 1, iova: tagged, length: 4 }).status).toBe(TX_OK);
    expect(run({ tag: 2, sid: 1, iova: 0x3010, length: 4 }).status).toBe(TX_OK);
    pt.unmap(0x3000, 0x1000);
    expect(run({ tag: 3, sid: 1, iova: tagged, length: 4 }).status).toBe(TX_OK); // cached
    w.drv.cmdSync([cmdOf('TLBI_NH_VA', { asid: 6, addr: 0x3000 })]);
    expect(run({ tag: 4, sid: 1, iova: tagged, length: 4 }).faultType).toBe(EVT.F_TRANSLATION);
    const cd2 = cdSlot(w);
    pt.map(0x3000, 0x44_0000, 0x1000, RW);
    w.drv.writeCd(cd2, s1Cd(pt, 7));
    w.drv.writeSte(2, s1Ste(cd2));
    expect(run({ tag: 5, sid: 2, iova: tagged, length: 4 }).faultType).toBe(EVT.F_TRANSLATION);
  });
});

describe('port arbitration', () => {
  it('serves busy ports equally, wherever the idle ones sit among them', () => {
    // A step's budget covers one busy port's backlog, so whichever busy port a step serves
    // first gets it all: every busy port must be first equally often. Starting one port
    // further each step did not do that: a busy port after a run of idle ones was first
    // once per idle port before it (here port 3 three times as often as port 4).
    const mem = PhysMemory.create(64 * MIB);
    const smmu = new Smmu({ memory: mem, txBudget: 32 });
    const ports = Array.from({ length: 6 }, () => new SmmuPortClient(smmu.attachPort({ dataBytes: 1 << 16 })));
    const busy = [0, 3, 4];
    const served = new Map(busy.map((i) => [i, 0]));
    const tx: TxRequest = { tag: 0, sid: 0, iova: 0x1000, length: 64 }; // SMMUEN = 0: GBPA bypass
    for (let step = 0; step < 60; step++) {
      for (const i of busy) {
        const p = ports[i]!;
        p.submit(Array.from({ length: p.requests.free() }, () => tx));
      }
      expect(smmu.step()).toBeGreaterThan(0);
      for (const i of busy) {
        const n = ports[i]!.completions.available();
        served.set(i, served.get(i)! + ports[i]!.collect(n).length);
      }
    }
    const counts = [...served.values()];
    expect(counts.reduce((a, b) => a + b)).toBe(60 * 32);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(32);
  });
});
