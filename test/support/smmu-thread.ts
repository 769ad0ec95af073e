// Starts the physical SMMU on its own worker thread (workers/smmu.ts) and gives the test
// thread what a driver and a device have: the register page, physical memory, the IRQ lines
// and a transaction port.
import type { SmmuFeatures } from '../../src/arch/features.ts';
import { PhysMemory } from '../../src/mem/phys.ts';
import { startActor, type ActorHandle } from '../../src/runtime/actor.ts';
import { IrqLines } from '../../src/runtime/irq.ts';
import type { SmmuActor } from '../../src/smmu/actor.ts';
import { SmmuPortClient } from '../../src/runtime/port-client.ts';
import { makeWorld, MIB, type World } from './smmu-world.ts';

export interface ThreadedSmmu {
  readonly mem: PhysMemory;
  readonly actor: ActorHandle<SmmuActor>;
  readonly w: World;
  readonly irq: IrqLines;
  readonly dev: SmmuPortClient;
  readonly features: SmmuFeatures;
  close(): Promise<void>;
}

export async function startThreadedSmmu(features: Partial<SmmuFeatures> = {}): Promise<ThreadedSmmu> {
  const mem = PhysMemory.create(64 * MIB);
  const actor = await startActor<SmmuActor>('smmu', { memory: mem.sab, features });
  const d = await actor.api.describe();
  const w = makeWorld(mem, d.regs, d.features);
  const irq = new IrqLines(d.irq);
  const dev = new SmmuPortClient(await actor.api.attachPort({ dataBytes: 1 << 20 }));
  return { mem, actor, w, irq, dev, features: d.features, close: () => actor.close() };
}
