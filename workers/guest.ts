// Thin entry of a guest domain's kernel actor: builds it, its thread ports and the DMA
// engines that run on its thread (workers/guest-host.ts) from workerData, serves its control API.
import { GuestKernel, type GuestWorkerData } from '../src/guest/kernel.ts';
import { serveActor } from '../src/runtime/actor.ts';
import { threadGuestHost } from './guest-host.ts';

serveActor((raw) => {
  const data = raw as GuestWorkerData;
  return GuestKernel.fromWorkerData(data, threadGuestHost(data));
});
