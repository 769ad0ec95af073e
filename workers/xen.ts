// Thin entry of the Xen actor: builds it from workerData (control-plane waits for the
// hardware sleep on the register page's update counter), steps it under the runtime's
// service loop, serves its control API (with trace control, src/runtime/trace.ts).
import { serveActor } from '../src/runtime/actor.ts';
import { pollRegister } from '../src/runtime/regwait.ts';
import { serveStepped } from '../src/runtime/service.ts';
import { flushTraceOnFailure, threadRecorder, withTraceControl } from '../src/runtime/trace.ts';
import { XenActor, type XenWorkerData } from '../src/xen/actor.ts';

serveActor((data) => {
  const rec = threadRecorder();
  flushTraceOnFailure(rec);
  const tracer = rec.tracer('xen');
  const actor = new XenActor(data as XenWorkerData, { pollRegister, tracer, clock: () => performance.now() });
  return serveStepped(withTraceControl(actor, rec), actor, { doorbell: actor.doorbell, tracer, adaptiveLinger: true });
});
