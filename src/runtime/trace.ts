// Tracing on threads (docs/tracing.md): the clock every thread's recorder shares, and the
// control calls that start, stop and collect a worker's ring over the control plane.
//
// The clock is the wall clock as every thread sees it, performance.timeOrigin +
// performance.now() (each worker has its own timeOrigin), taken from a fixed epoch so that
// the double keeps nanoseconds (~1.8e12 ms since 1970 would keep only a quarter of a us).
import { parentPort } from 'node:worker_threads';
import { TraceRecorder, type TraceDump, type TraceStartOptions } from '../trace/tracer.ts';

/** 2025-01-01T00:00:00Z in ms: subtracted before adding performance.now(). */
const EPOCH_MS = 1_735_689_600_000;
const ORIGIN = performance.timeOrigin - EPOCH_MS;

/** Ms since EPOCH_MS on the wall clock shared by every thread. */
export function traceClock(): number {
  return ORIGIN + performance.now();
}

/** The control calls of a traced actor (added to its control API by withTraceControl). */
export interface TraceControl {
  traceStart(o?: TraceStartOptions): void;
  traceStop(): void;
  /** The ring's events (the ring keeps them until restarted). */
  traceCollect(): TraceDump;
}

/** Message a dying worker posts with its ring (see flushTraceOnFailure). */
export interface TraceFlushMessage {
  readonly kind: 'vsmmu:trace';
  readonly dump: TraceDump;
}

/** A recorder on this thread's shared clock. */
export function threadRecorder(): TraceRecorder {
  return new TraceRecorder(traceClock);
}

/** Adds traceStart / traceStop / traceCollect for `rec` to an actor's control object. */
export function withTraceControl<T extends object>(control: T, rec: TraceRecorder): T & TraceControl {
  const c: TraceControl = {
    traceStart: (o) => rec.start(o),
    traceStop: () => rec.stop(),
    traceCollect: () => rec.collect(),
  };
  for (const [k, v] of Object.entries(c)) Object.defineProperty(control, k, { value: v, configurable: true });
  return control as T & TraceControl;
}

/**
 * On an uncaught error in this worker, posts the ring to the parent before the thread dies
 * (the actor handle keeps it, see ActorHandle.lastTrace), so a crash leaves its timeline.
 */
export function flushTraceOnFailure(rec: TraceRecorder): void {
  process.on('uncaughtExceptionMonitor', () => {
    if (!rec.enabled) return;
    try {
      parentPort?.postMessage({ kind: 'vsmmu:trace', dump: rec.collect() } satisfies TraceFlushMessage);
    } catch {
      // Nothing more can be done for a dying thread.
    }
  });
}
