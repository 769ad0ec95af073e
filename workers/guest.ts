// Thin entry of a guest domain's kernel actor: builds it, its thread ports and the DMA
// engines that run on its thread (workers/guest-host.ts) from workerData, serves its control
// API (with trace control, src/runtime/trace.ts).
import { GuestKernel, type GuestWorkerData } from '../src/guest/kernel.ts';
import { serveActor } from '../src/runtime/actor.ts';
import { flushTraceOnFailure, threadRecorder, withTraceControl } from '../src/runtime/trace.ts';
import { threadGuestHost } from './guest-host.ts';

serveActor((raw) => {
  const data = raw as GuestWorkerData;
  const rec = threadRecorder();
  flushTraceOnFailure(rec);
  const tracer = rec.tracer(`guest ${data.name ?? 'guest'}`);
  return withTraceControl(GuestKernel.fromWorkerData(data, threadGuestHost(data, tracer)), rec);
});
