// An SMMU in-process over 64 MiB of physical memory (the test pumps smmu.step()), its test
// world, and one transaction port with 64 KiB of data.
import { PhysMemory } from '../../src/mem/phys.ts';
import { SmmuPortClient } from '../../src/runtime/port-client.ts';
import type { TxCompletion, TxRequest } from '../../src/smmu/ports.ts';
import { Smmu } from '../../src/smmu/smmu.ts';
import { makeWorld, MIB, type World } from './smmu-world.ts';

export interface SmmuPort {
  readonly mem: PhysMemory;
  readonly smmu: Smmu;
  readonly w: World;
  /** Submits one transaction (tagged in order), steps the SMMU and returns its completion. */
  readonly run: (t: Omit<TxRequest, 'tag'>) => TxCompletion;
}

export function smmuPort(): SmmuPort {
  const mem = PhysMemory.create(64 * MIB);
  const smmu = new Smmu({ memory: mem });
  const w = makeWorld(mem, smmu.regsDesc, smmu.features, () => smmu.step());
  const dev = new SmmuPortClient(smmu.attachPort({ dataBytes: 1 << 16 }));
  let tag = 0;
  const run = (t: Omit<TxRequest, 'tag'>): TxCompletion => {
    dev.submit([{ ...t, tag: ++tag }]);
    smmu.step();
    return dev.collect(1, 100)[0]!;
  };
  return { mem, smmu, w, run };
}
