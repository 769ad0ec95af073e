// A worker that records a few trace events and then dies of an uncaught error (for
// test/integration/trace.test.ts: its ring must reach the parent first).
import { flushTraceOnFailure, threadRecorder } from '../../src/runtime/trace.ts';

const rec = threadRecorder();
flushTraceOnFailure(rec);
const t = rec.tracer('doomed');
rec.start({ capacity: 64 });
const t0 = t.stamp();
t.instant('work', 'about to fail');
t.slice('work', 'last slice', t0);
setImmediate(() => {
  throw new Error('planned crash');
});
