// system.trace: a timeline of every actor in Chrome Trace Event JSON (docs/tracing.md).
// start() empties and enables every actor's ring; stop() disables them, collects the rings
// over the control plane (threads) or from the shared recorder (sim) and returns the trace,
// written to `file` when asked.
import { writeFile } from 'node:fs/promises';
import { VsmmuError } from '../errors.ts';
import { chromeTrace, formatChromeTrace, type ChromeTrace } from '../trace/chrome.ts';
import { DEFAULT_TRACE_CAPACITY, type TraceStartOptions } from '../trace/tracer.ts';
import type { BackendTrace } from './backend.ts';

export interface TraceStopOptions {
  /** Also write the trace to this file (JSON, one event per line). */
  readonly file?: string;
}

export class SystemTrace {
  readonly #bt: BackendTrace | undefined;
  readonly #meta: () => Readonly<Record<string, string | number>>;
  #active = false;

  /** @internal */
  constructor(bt: BackendTrace | undefined, meta: () => Readonly<Record<string, string | number>>) {
    this.#bt = bt;
    this.#meta = meta;
  }

  /** Whether a trace is being recorded. */
  get active(): boolean {
    return this.#active;
  }

  /**
   * Starts recording into a ring of `capacity` events per thread (default 65536; older events
   * are overwritten, so a long run keeps its last moments).
   */
  async start(o: TraceStartOptions = {}): Promise<void> {
    const bt = this.#backend();
    if (this.#active) throw new VsmmuError('EVSMMU_TRACE', 'a trace is already being recorded: stop() it first');
    const cap = o.capacity ?? DEFAULT_TRACE_CAPACITY;
    if (!(Number.isInteger(cap) && cap >= 16 && cap <= 1 << 24)) {
      throw new VsmmuError('EVSMMU_INVAL', `trace capacity ${String(cap)}: an integer in 16..${1 << 24}`, { capacity: cap });
    }
    this.#active = true;
    await bt.start({ capacity: cap });
  }

  /** Stops recording and returns the trace (what every ring holds), written to `file` if given. */
  async stop(o: TraceStopOptions = {}): Promise<ChromeTrace> {
    const bt = this.#backend();
    if (!this.#active) throw new VsmmuError('EVSMMU_TRACE', 'no trace is being recorded: start() one first');
    this.#active = false;
    await bt.stop();
    const t = chromeTrace(await bt.collect(), { metadata: this.#meta() });
    if (o.file !== undefined) await writeFile(o.file, formatChromeTrace(t));
    return t;
  }

  /** The trace so far, without stopping (a flush on request). */
  async snapshot(): Promise<ChromeTrace> {
    return chromeTrace(await this.#backend().collect(), { metadata: this.#meta() });
  }

  #backend(): BackendTrace {
    if (this.#bt === undefined) throw new VsmmuError('EVSMMU_TRACE', 'this runner records no trace');
    return this.#bt;
  }
}
