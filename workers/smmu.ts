// Thin entry of the physical SMMU actor: builds it from workerData, steps it under the
// runtime's service loop, serves its control API (with trace control, src/runtime/trace.ts).
import { serveActor } from '../src/runtime/actor.ts';
import { serveStepped } from '../src/runtime/service.ts';
import { flushTraceOnFailure, threadRecorder, withTraceControl } from '../src/runtime/trace.ts';
import { SmmuActor, type SmmuWorkerData } from '../src/smmu/actor.ts';

serveActor((data) => {
  const rec = threadRecorder();
  flushTraceOnFailure(rec);
  const tracer = rec.tracer('smmu');
  const actor = new SmmuActor(data as SmmuWorkerData, { clock: () => performance.now(), tracer });
  return serveStepped(withTraceControl(actor, rec), actor.smmu, { doorbell: actor.doorbell, tracer });
});
