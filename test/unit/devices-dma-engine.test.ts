// The DMA engine as hardware: a driver posts descriptors on the device's own queue (SAB
// rings), the engine, when stepped, turns them into SMMU port transactions stamped with its
// StreamID and returns the port's completions in order. Nothing waits; the test plays the
// SMMU's side of the port by hand.
import { describe, expect, it } from 'vitest';
import { DmaDevice } from '../../src/devices/dma-device.ts';
import { DmaEngine } from '../../src/devices/dma-engine.ts';
import { createDmaQueue, DmaQueueClient } from '../../src/devices/dma-queue.ts';
import { createDoorbell } from '../../src/ports/doorbell.ts';
import { CP_TAG, PortServer, RQ_SID, RQ_TAG, TX_OK, writeCompletion } from '../../src/smmu/ports.ts';

function rig() {
  const server = new PortServer(1, { capacity: 8, dataBytes: 4096 }, createDoorbell());
  const queue = createDmaQueue(server.desc.data, 8);
  const engine = new DmaEngine({ port: server.desc, queue, psid: 0x42 });
  const client = new DmaQueueClient(queue);
  /** The SMMU: completes every request it finds, OK with all bytes; returns the StreamIDs seen. */
  const smmu = (): number[] => {
    const sids: number[] = [];
    const n = server.req.tryAcquire(64);
    if (n > 0 && server.cpl.tryReserve(n) === n) {
      for (let k = 0; k < n; k++) {
        const o = server.req.offset(k);
        sids.push(server.req.u32[o + RQ_SID] ?? -1);
        const co = server.cpl.offset(k);
        server.cpl.u32[co + CP_TAG] = server.req.u32[o + RQ_TAG] ?? 0;
        writeCompletion(server.cpl.u32, co, TX_OK, 8);
      }
      server.cpl.commit(n);
      server.req.release(n);
    }
    return sids;
  };
  return { server, engine, client, smmu };
}

describe('DMA engine (devices)', () => {
  it('stamps its own StreamID on every descriptor and returns completions in order', () => {
    const { engine, client, smmu } = rig();
    const txs = [0, 1, 2].map((i) => ({ tag: 10 + i, sid: 0x999, iova: 0x1000 * i, length: 8 }));
    expect(client.post(txs)).toBe(3);
    expect(engine.hasWork()).toBe(true);
    expect(engine.step()).toBe(3);
    expect(smmu()).toEqual([0x42, 0x42, 0x42]);
    expect(client.pending()).toBe(0); // not before the engine steps
    expect(engine.step()).toBe(3);
    expect(client.reap(8).map((c) => [c.tag, c.status, c.bytes])).toEqual([[10, TX_OK, 8], [11, TX_OK, 8], [12, TX_OK, 8]]);
    expect(engine.stats).toMatchObject({ descriptors: 3, completions: 3, bytes: 24, faults: 0 });
    expect(engine.step()).toBe(0);
  });

  it('never takes more descriptors than the completion ring can give back', () => {
    const { engine, client, smmu } = rig();
    const txs = Array.from({ length: 8 }, (_, i) => ({ tag: i, sid: 0, iova: 0, length: 8 }));
    expect(client.post(txs)).toBe(8);
    engine.step();
    smmu();
    engine.step(); // 8 completions wait in the queue, unreaped
    expect(client.post(txs)).toBe(8);
    expect(engine.step()).toBe(0); // no room to return completions: the descriptors wait
    expect(client.reap(8)).toHaveLength(8);
    expect(engine.step()).toBe(8);
  });

  it('a driver-side transfer yields until the device completes, and resumes when stepped', () => {
    const { engine, client, smmu } = rig();
    const dev = new DmaDevice(client, 0x42);
    const g = dev.transfer(false, 0x1000, 8, {}, null);
    let r = g.next();
    expect(r.done).toBe(false); // waiting for its completion
    if (!r.done) expect(r.value()).toBe(false);
    engine.step();
    smmu();
    engine.step();
    if (!r.done) expect(r.value()).toBe(true);
    r = g.next();
    expect(r).toMatchObject({ done: true, value: { status: 'ok', bytes: 8 } });
  });
});
