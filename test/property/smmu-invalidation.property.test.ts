// No stale translation survives a completed invalidation, and no translation yields an
// address no mapping ever produced: random map/unmap + invalidation interleavings, checked
// against a fresh software walk (test/support/smmu-stale-model.ts).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { PhysMemory } from '../../src/mem/phys.ts';
import { SmmuPortClient } from '../../src/runtime/port-client.ts';
import { Smmu } from '../../src/smmu/smmu.ts';
import { checkSequence, makePool, opArb, type Harness, type Pool } from '../support/smmu-stale-model.ts';
import { startThreadedSmmu, type ThreadedSmmu } from '../support/smmu-thread.ts';
import { makeWorld, MIB } from '../support/smmu-world.ts';

describe('IOTLB coherence after invalidation (in-process SMMU)', () => {
  const mem = PhysMemory.create(64 * MIB);
  // A small IOTLB so that replacement happens too.
  const smmu = new Smmu({ memory: mem, iotlbEntries: 16 });
  const w = makeWorld(mem, smmu.regsDesc, smmu.features, () => smmu.step());
  const h: Harness = { w, dev: new SmmuPortClient(smmu.attachPort()), pump: () => smmu.step() };
  const pool = makePool(w);
  for (const mode of ['s1', 's2'] as const) {
    it(`stage ${mode === 's1' ? 1 : 2}: a translation after a completed invalidation matches a fresh walk`, () => {
      fc.assert(fc.property(fc.array(opArb, { minLength: 20, maxLength: 80, size: 'max' }), (ops) => checkSequence(h, pool, mode, ops)), { numRuns: 150 });
    });
  }
});

describe('IOTLB coherence after invalidation (SMMU on a real thread)', () => {
  let t: ThreadedSmmu;
  let pool: Pool;
  beforeAll(async () => {
    t = await startThreadedSmmu();
    pool = makePool(t.w);
  });
  afterAll(async () => {
    await t?.close();
  });
  it('stage 1, concurrent SMMU thread', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 20, maxLength: 60, size: 'max' }), (ops) => checkSequence({ w: t.w, dev: t.dev }, pool, 's1', ops)), { numRuns: 50 });
  });
});
