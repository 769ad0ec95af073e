// Thin entry of a guest domain's kernel actor: builds it from workerData, serves its control API.
import { serveActor } from '../src/runtime/actor.ts';
import { GuestKernel, type GuestWorkerData } from '../src/guest/kernel.ts';

serveActor((data) => GuestKernel.fromWorkerData(data as GuestWorkerData));
