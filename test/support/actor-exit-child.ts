// Child process script: starts an actor, calls it, disposes it, and must then exit by
// itself (no handle left behind). Prints the call result for the parent test.
import { startActor } from '../../src/runtime/actor.ts';

const url = new URL('./actor-echo.ts', import.meta.url);
{
  await using actor = await startActor<{ add(a: number, b: number): number }>(url, { base: 100 });
  const r = await actor.api.add(1, 2);
  console.log(`result ${r}`);
}
const a2 = await startActor<{ add(a: number, b: number): number }>(url, { base: 0 });
console.log(`result2 ${await a2.api.add(2, 2)}`);
await a2.destroy();
console.log('disposed');
