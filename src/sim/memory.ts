// Recycled physical memories for sim-mode campaigns (SimOptions.recycleMemory). A stress
// seed's system writes some 600 distinct pages of its 248 MiB memory, and in a fresh
// SharedArrayBuffer each first touch is a host page fault: about 15 us each on this kind of
// machine, a quarter of a seed's run, and slower still when two workers fault at once (the
// host serialises them). A memory given back here keeps its pages resident; the next system
// of the same size takes it after `scrub()` has cleared the pages written (PhysMemory.tracked
// records them), so it starts from the same bytes as a new memory and its digest is the same.
import { PhysMemory } from '../mem/phys.ts';

/** Idle memories kept per size at most (a worker runs one seed at a time). */
const IDLE_PER_SIZE = 2;

const idle = new Map<number, PhysMemory[]>();

/** Zeroed, write-tracked memory of `size` bytes: a recycled one if this thread has one. */
export function takeMemory(size: number): PhysMemory {
  const mem = idle.get(size)?.pop();
  if (!mem) return PhysMemory.tracked(size);
  mem.scrub();
  return mem;
}

/** Gives back a memory from `takeMemory` once nothing uses it any more (its system closed). */
export function giveBackMemory(mem: PhysMemory): void {
  if (!mem.isTracked) return;
  let list = idle.get(mem.size);
  if (!list) idle.set(mem.size, (list = []));
  if (list.length < IDLE_PER_SIZE && !list.includes(mem)) list.push(mem);
}

/** Memories of `size` bytes waiting in this thread's pool. */
export function idleMemories(size: number): number {
  return idle.get(size)?.length ?? 0;
}
