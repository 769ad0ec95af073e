// DMA through the SMMU on its own thread: linear and 2-level stream tables, stage 1, stage 2
// and nested translation, SMMUEN = 0 (GBPA bypass / abort), several ports, statistics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmdOf } from '../../src/arch/commands.ts';
import { CR0, R } from '../../src/arch/registers.ts';
import { steOf } from '../../src/arch/ste.ts';
import { TX_BADREQ, TX_EABT, TX_FAULT, TX_OK } from '../../src/smmu/ports.ts';
import { SmmuPortClient } from '../../src/runtime/port-client.ts';
import { startThreadedSmmu, type ThreadedSmmu } from '../support/smmu-thread.ts';
import { cdSlot, guestS2, nestedSte, RW, s1Cd, s1Ste, s1Table, s2Ste, s2Table } from '../support/smmu-world.ts';

let t: ThreadedSmmu;
beforeAll(async () => {
  t = await startThreadedSmmu();
});
afterAll(async () => {
  await t?.close();
});

const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe('DMA through the SMMU (real thread)', () => {
  for (const twoLevel of [false, true]) {
    it(`stage-1 DMA write then read back, ${twoLevel ? '2-level' : 'linear'} stream table, page-crossing`, () => {
      t.w.drv.reset({ sidBits: twoLevel ? 16 : 8, twoLevel });
      const sid = twoLevel ? 0x1234 : 0x42;
      const pt = s1Table(t.w);
      const p1 = t.w.alloc.alloc(0x1000, 0x1000);
      const p2 = t.w.alloc.alloc(0x1000, 0x1000);
      pt.map(0x7000_0000, p1, 0x1000, RW);
      pt.map(0x7000_1000, p2, 0x1000, RW);
      const cd = cdSlot(t.w);
      t.w.drv.writeCd(cd, s1Cd(pt, 3));
      t.w.drv.writeSte(sid, s1Ste(cd));
      const data = pattern(256, 3);
      t.dev.data.set(data, 0);
      expect(t.dev.run({ tag: 1, sid, iova: 0x7000_0f80, length: 256, write: true })).toMatchObject({ status: TX_OK, bytes: 256 });
      expect([...t.mem.readBytes(p1 + 0xf80, 128)]).toEqual([...data.subarray(0, 128)]);
      expect([...t.mem.readBytes(p2, 128)]).toEqual([...data.subarray(128)]);
      expect(t.dev.run({ tag: 2, sid, iova: 0x7000_0f80, length: 256, offset: 4096 })).toMatchObject({ status: TX_OK, bytes: 256 });
      expect([...t.dev.data.subarray(4096, 4096 + 256)]).toEqual([...data]);
    });
  }

  it('stage-2 and nested DMA; the guest sees the bytes at its IPA', () => {
    t.w.drv.reset();
    const s2 = s2Table(t.w);
    const pa = t.w.alloc.alloc(0x1000, 0x1000);
    s2.map(0x9_0000_0000, pa, 0x1000, RW);
    t.w.drv.writeSte(1, s2Ste(s2, 2));
    t.dev.data.set(pattern(64, 9), 0);
    expect(t.dev.run({ tag: 1, sid: 1, iova: 0x9_0000_0040, length: 64, write: true }).status).toBe(TX_OK);
    expect([...t.mem.readBytes(pa + 0x40, 64)]).toEqual([...pattern(64, 9)]);
    const g = guestS2(t.w, 5);
    const gpt = s1Table(t.w, 12, true);
    const bufIpa = t.w.guestAlloc.alloc(0x2000, 0x1000);
    gpt.map(0xdead_0000, bufIpa, 0x2000, RW);
    const cd = cdSlot(t.w, 1, true);
    t.w.drv.writeCd(cd, s1Cd(gpt, 8), t.w.guest);
    t.w.drv.writeSte(2, nestedSte(g.pt, 5, cd));
    t.dev.data.set(pattern(100, 1), 200);
    expect(t.dev.run({ tag: 2, sid: 2, iova: 0xdead_0fd0, length: 100, write: true, offset: 200 }).status).toBe(TX_OK);
    expect([...t.w.guest.readBytes(bufIpa + 0xfd0, 100)]).toEqual([...pattern(100, 1)]);
  });

  it('SMMUEN = 0: GBPA bypass, then GBPA.ABORT (no event); outputs outside memory are TX_EABT', () => {
    const d = t.w.drv;
    d.reset({ enable: false });
    // The reset found the SMMU enabled and set GBPA.ABORT (as Linux): choose bypass.
    expect(d.port.read32(R.GBPA) & 0x00100000).toBe(0x00100000);
    d.port.write32(R.GBPA, 0x80000000 | 0x1000);
    d.waitReg(R.GBPA, (v) => (v & 0x80000000) === 0);
    const pa = t.w.alloc.alloc(0x1000, 0x1000);
    t.mem.write32(pa + 8, 0xfeedf00d);
    expect(t.dev.run({ tag: 1, sid: 77, iova: pa + 8, length: 4 }).status).toBe(TX_OK);
    expect(new DataView(t.dev.data.buffer).getUint32(0, true)).toBe(0xfeedf00d);
    expect(t.dev.run({ tag: 2, sid: 77, iova: 0x40_0000_0000, length: 4 }).status).toBe(TX_EABT);
    d.port.write32(R.GBPA, 0x80000000 | 0x00100000);
    d.waitReg(R.GBPA, (v) => (v & 0x80000000) === 0);
    expect(t.dev.run({ tag: 3, sid: 77, iova: pa, length: 4 })).toMatchObject({ status: TX_FAULT, faultType: 0, recorded: false });
    expect(d.readEvents()).toEqual([]);
    // Enabling translation takes the stream table: SID 77 has an all-zero (V = 0) STE.
    d.port.write32(R.CR0, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
    d.waitReg(R.CR0ACK, (v) => (v & CR0.SMMUEN) !== 0);
    expect(t.dev.run({ tag: 4, sid: 77, iova: pa, length: 4 }).faultType).toBe(4); // C_BAD_STE
    d.port.write32(R.GBPA, 0x80000000 | 0x1000);
    d.waitReg(R.GBPA, (v) => (v & 0x80000000) === 0);
  });

  it('malformed requests complete with TX_BADREQ; several ports are served; statistics count per port', async () => {
    t.w.drv.reset();
    t.w.drv.writeSte(3, steOf({ v: 1, config: 4 }));
    expect(t.dev.run({ tag: 1, sid: 3, iova: 0x1000, length: 0 }).status).toBe(TX_BADREQ);
    expect(t.dev.run({ tag: 2, sid: 3, iova: 0x1000, length: 16, offset: (1 << 20) - 8 }).status).toBe(TX_BADREQ);
    const dev2 = new SmmuPortClient(await t.actor.api.attachPort({ dataBytes: 4096, name: 'nic' }));
    const pa = t.w.alloc.alloc(0x1000, 0x1000);
    t.mem.write32(pa, 0x600d600d);
    const txs = Array.from({ length: 100 }, (_, i) => ({ tag: i, sid: 3, iova: pa, length: 4, offset: (i * 4) % 4096 }));
    dev2.submit(txs);
    const c = dev2.collect(100);
    expect(c.map((x) => x.tag)).toEqual(txs.map((x) => x.tag));
    expect(c.every((x) => x.status === TX_OK)).toBe(true);
    const s = await t.actor.api.stats();
    const nic = s.ports.find((p) => p.name === 'nic');
    expect(nic).toMatchObject({ transactions: 100, bytes: 400, faults: 0 });
    expect(s.ports[0]!.badRequests).toBeGreaterThanOrEqual(2);
    expect(s.uptimeMs).toBeGreaterThan(0);
    t.w.drv.cmdSync([cmdOf('CFGI_STE', { sid: 3, leaf: 1 })]);
  });

  it('a port bound to a StreamID: the device cannot choose another one', async () => {
    t.w.drv.reset();
    t.w.drv.writeSte(5, steOf({ v: 1, config: 4 })); // bypass
    t.w.drv.writeSte(6, steOf({ v: 1, config: 0 })); // abort
    const pa = t.w.alloc.alloc(0x1000, 0x1000);
    t.mem.write32(pa, 0x5a5a5a5a);
    const bound = new SmmuPortClient(await t.actor.api.attachPort({ dataBytes: 4096, name: 'bound', sid: 6 }));
    // The record claims the bypass stream 5; the wiring says 6, which aborts.
    expect(bound.run({ tag: 1, sid: 5, iova: pa, length: 4 })).toMatchObject({ status: TX_FAULT, faultType: 0 });
    const free = new SmmuPortClient(await t.actor.api.attachPort({ dataBytes: 4096, name: 'bus' }));
    expect(free.run({ tag: 2, sid: 5, iova: pa, length: 4 })).toMatchObject({ status: TX_OK, bytes: 4 });
    await expect(t.actor.api.attachPort({ sid: -5 })).rejects.toMatchObject({ code: 'EVSMMU_PORT_CONFIG' });
  });

  it('a device that does not drain completions stalls only its port; draining resumes it', async () => {
    t.w.drv.reset();
    t.w.drv.writeSte(3, steOf({ v: 1, config: 4 }));
    const pa = t.w.alloc.alloc(0x1000, 0x1000);
    const small = new SmmuPortClient(await t.actor.api.attachPort({ capacity: 4, dataBytes: 4096 }));
    const tx = (i: number) => ({ tag: i, sid: 3, iova: pa, length: 4 });
    small.submit([0, 1, 2, 3].map(tx)); // fills the completion ring once served
    small.submit([4, 5, 6, 7].map(tx)); // waits behind the full completion ring
    // Meanwhile other ports are still served.
    expect(t.dev.run({ tag: 99, sid: 3, iova: pa, length: 4 }).status).toBe(TX_OK);
    expect(small.collect(8).map((c) => c.tag)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
