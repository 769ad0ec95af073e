// Several guests at once, through the public API: each guest's devices map, unmap and DMA
// at random (seeded) while the others do the same, and every result is checked from outside
// against a model of what each guest mapped:
//   - a DMA to a mapped IOVA succeeds and its bytes land in the host pages of that guest's IPA;
//   - a DMA to an IOVA unmapped (with TLBI + SYNC) faults with F_TRANSLATION, and no byte moves;
//   - no guest's DMA ever changes another guest's memory (canaries checked at the end).
// Bounded by rounds and by time. On failure the message says how to replay the seed:
//   VSMMU_SEED=<seed> npx vitest run test/stress/system-stress.test.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystem, type Domain, type System } from '../../src/index.ts';
import { mulberry32 } from '../support/prng.ts';

const SEED = Number(process.env['VSMMU_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = 400;
const TIME_MS = 20_000;
const PAGES = 16; // IOVA slots per device
const IOVA = 0x1000_0000;
const BUF_IPA = 0x4010_0000; // low half of each guest's RAM: the guest kernel never uses it
const CANARY_IPA = 0x4080_0000;

interface DevModel {
  mapped: Map<number, number>; // IOVA page -> IPA page
}

describe('system stress: guests mapping, unmapping and DMAing concurrently', () => {
  let sys: System;
  const guests: Domain[] = [];

  beforeAll(async () => {
    sys = await createSystem({
      memory: '256M',
      domains: [1, 2, 3].map((g) => ({
        name: `g${g}`, memory: '32M', viommu: 'smmuv3' as const,
        devices: [{ name: 'dma0', sid: 0x100 * g }, { name: 'dma1', sid: 0x100 * g + 1 }],
      })),
    });
    for (const d of sys.domains) {
      guests.push(d);
      d.memory.write(CANARY_IPA, new Uint8Array(4096).fill(0xc0 + d.domid));
      await d.driver.probe();
      await d.driver.attach('dma0', { asid: 1 });
      await d.driver.attach('dma1', { asid: 2 });
    }
  });

  afterAll(async () => {
    await sys?.close();
  });

  it(`keeps every guest's DMA where it mapped it (seed ${SEED})`, { timeout: TIME_MS + 30_000 }, async () => {
    const replay = `replay with VSMMU_SEED=${SEED} npx vitest run test/stress/system-stress.test.ts`;
    const deadline = performance.now() + TIME_MS;
    let dmas = 0;
    let faults = 0;

    const runGuest = async (d: Domain, gi: number): Promise<void> => {
      const rnd = mulberry32(SEED + gi);
      const models: DevModel[] = d.devices.map(() => ({ mapped: new Map() }));
      for (let round = 0; round < ROUNDS && performance.now() < deadline; round++) {
        const di = rnd() % d.devices.length;
        const dev = d.devices[di]!;
        const m = models[di]!;
        const slot = rnd() % PAGES;
        const iova = IOVA + slot * 4096;
        const op = rnd() % 3;
        const where = `${replay} (guest ${d.name}, ${dev.name}, round ${round}, IOVA 0x${iova.toString(16)})`;
        if (op === 0 && !m.mapped.has(iova)) {
          const ipa = BUF_IPA + (di * PAGES + slot) * 4096;
          await d.driver.map(iova, ipa, 4096, 'rw', { device: dev });
          m.mapped.set(iova, ipa);
        } else if (op === 1 && m.mapped.has(iova)) {
          await d.driver.unmap(iova, 4096, { device: dev });
          m.mapped.delete(iova);
        } else {
          const data = Uint8Array.from({ length: 64 }, () => rnd() & 0xff);
          const r = await dev.dma({ iova: iova + 128, data });
          dmas++;
          const ipa = m.mapped.get(iova);
          if (ipa === undefined) {
            expect(r.ok, where).toBe(false);
            if (!r.ok) expect(r.fault, where).toMatchObject({ name: 'F_TRANSLATION', s2: 0 });
            faults++;
          } else {
            expect(r, where).toEqual({ ok: true, bytes: 64 });
            expect(sys.host.read(d.ipaToPa(ipa) + 128, 64), where).toEqual(data);
          }
        }
      }
    };
    await Promise.all(guests.map((d, i) => runGuest(d, i)));

    for (const d of guests) {
      expect(d.memory.read(CANARY_IPA, 4096), `${replay}: canary of ${d.name}`).toEqual(new Uint8Array(4096).fill(0xc0 + d.domid));
      expect(d.dead, replay).toBeNull();
    }
    const st = await sys.stats();
    expect(st.xen.xenBugs, replay).toBe(0);
    expect(dmas).toBeGreaterThan(0);
    expect(faults).toBeGreaterThan(0);
  });
});
