// Thin entry of the Xen actor: builds it from workerData (control-plane waits for the
// hardware sleep on the register page's update counter), steps it under the runtime's
// service loop, serves its control API.
import { serveActor } from '../src/runtime/actor.ts';
import { pollRegister } from '../src/runtime/regwait.ts';
import { serveStepped } from '../src/runtime/service.ts';
import { XenActor, type XenWorkerData } from '../src/xen/actor.ts';

serveActor((data) => {
  const actor = new XenActor(data as XenWorkerData, { pollRegister });
  return serveStepped(actor, actor, { doorbell: actor.doorbell });
});
