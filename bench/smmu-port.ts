// An SMMU worker whose transaction port a benchmark drives straight from its own thread: a
// stage-1 stream at SID 1 (ASID 9) mapping `pages` 4 KiB pages from `va`, each page DMA'd
// once before returning, so the IOTLB holds them all.
import { PhysMemory } from '../src/mem/phys.ts';
import { startActor, type ActorHandle } from '../src/runtime/actor.ts';
import { SmmuPortClient } from '../src/runtime/port-client.ts';
import type { SmmuActor } from '../src/smmu/actor.ts';
import { TX_OK } from '../src/smmu/ports.ts';
import { cdSlot, makeWorld, MIB, RW, s1Cd, s1Ste, s1Table } from '../test/support/smmu-world.ts';

export async function startSmmuPort(o: { pages: number; va: number; capacity: number }): Promise<{ actor: ActorHandle<SmmuActor>; dev: SmmuPortClient }> {
  const mem = PhysMemory.create(64 * MIB);
  const actor = await startActor<SmmuActor>('smmu', { memory: mem.sab, txBudget: 1024 });
  const desc = await actor.api.describe();
  const w = makeWorld(mem, desc.regs, desc.features);
  w.drv.reset();
  const pt = s1Table(w);
  const buf = w.alloc.alloc(o.pages * 0x1000, 0x1000);
  for (let i = 0; i < o.pages; i++) pt.map(o.va + i * 0x1000, buf + i * 0x1000, 0x1000, RW);
  const cd = cdSlot(w);
  w.drv.writeCd(cd, s1Cd(pt, 9));
  w.drv.writeSte(1, s1Ste(cd));
  const dev = new SmmuPortClient(await actor.api.attachPort({ capacity: o.capacity, dataBytes: 1 << 16 }));
  for (let i = 0; i < o.pages; i++) {
    if (dev.run({ tag: i, sid: 1, iova: o.va + i * 0x1000, length: 8, offset: (i * 8) % 4096 }).status !== TX_OK) throw new Error('bench: port DMA failed');
  }
  return { actor, dev };
}
