// Thin entry of the Xen actor: builds it from workerData, serves its control API.
import { serveActor } from '../src/runtime/actor.ts';
import { XenActor, type XenWorkerData } from '../src/xen/actor.ts';

serveActor((data) => new XenActor(data as XenWorkerData));
