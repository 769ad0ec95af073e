// A DMA stream that keeps the whole request ring in flight (256 = the device queue's and the
// SMMU port's capacity) on real threads. The device's thread parks on its port's completion
// doorbell; with the ring exactly full, a batch of descriptors can wait for request slots
// that the SMMU frees after it committed the completions that woke the device: the device
// must be woken by that release too, or it sleeps forever beside an idle SMMU
// (EVSMMU_TIMEOUT after a few batches). Bounded by counts; a stall fails on the device's
// own timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystem, type System } from '../../src/index.ts';

const RING = 256;

describe('DMA with the full request ring in flight (threads)', () => {
  let sys: System;

  beforeAll(async () => {
    sys = await createSystem({
      memory: '256M',
      sim: false,
      domains: [{ name: 'g1', memory: '32M', viommu: 'smmuv3', devices: [{ name: 'dma0', sid: 0x10 }, { name: 'dma1', sid: 0x11 }] }],
    });
    await sys.domain('g1').driver.probe();
  });

  afterAll(async () => {
    await sys?.close();
  });

  it('a guest device streams 2000 rings of DMAs with 256 in flight', async () => {
    const g1 = sys.domain('g1');
    const count = RING * 2000;
    const r = await g1.call('workloadDmaStream', { vSid: g1.device('dma0').vsid, count, size: 64, depth: RING, op: 'mixed' });
    expect(r).toMatchObject({ count, ok: count, faults: 0 });
  });

  it('the API device channel runs batches of a whole ring', async () => {
    const g1 = sys.domain('g1');
    const iova = 0x1000_0000;
    await g1.driver.attach('dma1', { asid: 2 });
    await g1.driver.map(iova, 0x4010_0000, 4096, 'rw', { device: 'dma1' });
    const batch = Array.from({ length: RING }, (_, i) => ({ iova: iova + (i % 64) * 64, length: 64 }));
    for (let n = 0; n < 300; n++) {
      const rs = await g1.device('dma1').dmaBatch(batch);
      expect(rs.every((o) => o.ok)).toBe(true);
    }
  });
});
