// Trace points and the timeline file (docs/tracing.md): the tracer an actor is given, the
// bounded ring it records into, and the Chrome Trace Event writer and checker.
export { DEFAULT_TRACE_CAPACITY, flowId, guestFlowSpace, NO_TRACE, Tracer, TraceRecorder } from './tracer.ts';
export type { TraceArgs, TraceDump, TraceEvent, TracePhase, TraceStartOptions } from './tracer.ts';
export { chromeTrace, formatChromeTrace, traceJson } from './chrome.ts';
export type { ChromeTrace, ChromeTraceEvent, ChromeTraceOptions } from './chrome.ts';
export { validateChromeTrace } from './validate.ts';
