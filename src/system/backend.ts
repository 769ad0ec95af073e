// Where a system's actors run. The System, Domain and Device handles talk to their actors
// through a Backend, so one program runs unchanged on worker threads (the default) or in
// sim mode (src/sim: every actor on the calling thread under a seeded scheduler).
import type { DmaEngine } from '../devices/dma-engine.ts';
import type { VsmmuError } from '../errors.ts';
import type { GuestKernel, GuestWorkerData } from '../guest/kernel.ts';
import { startActor } from '../runtime/actor.ts';
import { allowedCpus, boostedNice, setThreadCpus, setThreadNice } from '../runtime/priority.ts';
import type { SmmuCpu, ThreadPriority } from './options.ts';
import type { ControlApi } from '../runtime/control.ts';

export type { ControlApi };
import { SpinPolicy, WAIT_OK, waitUntilAsync } from '../runtime/wait.ts';
import type { SmmuActor, SmmuWorkerData } from '../smmu/actor.ts';
import type { XenActor, XenWorkerData } from '../xen/actor.ts';
import { threadRecorder, type TraceControl, type TraceFlushMessage } from '../runtime/trace.ts';
import type { Tracer, TraceDump, TraceStartOptions } from '../trace/tracer.ts';

/** An actor as its owner sees it: typed control calls and its end. */
export interface ActorLink<T> {
  readonly name: string;
  /** Control calls: each returns a promise, errors arrive as VsmmuErrors with their code. */
  readonly api: ControlApi<T>;
  /** Orderly end: calls in flight finish, the actor disposes itself. */
  close(): Promise<void>;
  /** Ends it now, as a crash would. */
  destroy(): Promise<void>;
  /** `fn` is called once if the actor dies by itself (its thread exits or throws). */
  onDeath(fn: (e: VsmmuError | { readonly exitCode: number } | Error) => void): void;
}

/** A word that moves when a waited-for condition may have changed (a ring's doorbell). */
export interface ParkWord {
  readonly sab: SharedArrayBuffer;
  readonly index: number;
}

/** Trace control of every actor a backend runs (docs/tracing.md). */
export interface BackendTrace {
  /** The tracer of `name`, for actors on the calling thread (the API's DMA engines). */
  tracer(name: string): Tracer;
  start(o: TraceStartOptions): Promise<void>;
  stop(): Promise<void>;
  /** Every ring (a dead actor's: what it flushed as it died). */
  collect(): Promise<TraceDump[]>;
}

export interface Backend {
  readonly mode: 'threads' | 'sim';
  /** Threads: the priority of the SMMU's and Xen's threads in force once they started
   *  ('equal' where they could not be raised). Sim: null (one thread). */
  readonly priority: ThreadPriority | null;
  /** Threads: the CPU the SMMU's thread has to itself (options.smmuCpu 'dedicated'), or null
   *  where it shares them (asked to, fewer than 2 CPUs, no taskset). Sim: null. */
  readonly smmuCpu: number | null;
  /** Tracing, when the backend records (threads: a ring per thread, over the control plane). */
  readonly trace?: BackendTrace;
  startSmmu(data: SmmuWorkerData): Promise<ActorLink<SmmuActor>>;
  startXen(data: XenWorkerData): Promise<ActorLink<XenActor>>;
  /** A guest kernel; sim mode bounds each call by `timeoutMs` of virtual time (threads: Supervised's timer). */
  startGuest(data: GuestWorkerData, name: string, timeoutMs?: number): Promise<ActorLink<GuestKernel>>;
  /** Runs a DMA engine that the program's own calls drive (device(name).dma()); its removal. */
  addEngine(engine: DmaEngine, name: string): () => void;
  /** Until `ready()` (stepping `engine` meanwhile on threads, parked on `park`), or `timeoutMs`. */
  wait(ready: () => boolean, timeoutMs: number, park?: ParkWord, engine?: DmaEngine): Promise<boolean>;
  /** Milliseconds on the backend's clock (wall or virtual). */
  now(): number;
}

/**
 * The default: one worker thread per actor (src/runtime); `priority` of the SMMU and Xen,
 * and `smmuCpu`: whether the SMMU gets a CPU of its own (the last one the process may use;
 * every actor thread started later goes to the others).
 */
export function threadBackend(priority: ThreadPriority = 'hardware-first', smmuCpu: SmmuCpu = 'shared'): Backend {
  const spin = new SpinPolicy();
  const tracing = threadTracing();
  let raised = true;
  const cpus = smmuCpu === 'dedicated' ? allowedCpus() : null;
  let own = cpus !== null && cpus.length > 1 ? (cpus.at(-1) as number) : null;
  const place = async (tid: number | null, name: string): Promise<void> => {
    if (own === null || cpus === null) return;
    if (!(await setThreadCpus(tid, name === 'smmu' ? [own] : cpus.slice(0, -1)))) own = null;
  };
  const link = async <T extends object>(entry: string, data: unknown, name: string, raise = false): Promise<ActorLink<T>> => {
    const h = await startActor<T>(entry, data, { name });
    if (raise && priority === 'hardware-first' && !setThreadNice(h.tid, boostedNice())) raised = false;
    await place(h.tid, name);
    tracing.add(h.api as unknown as ControlApi<TraceControl>, h.worker);
    return {
      name: h.name, api: h.api, close: () => h.close(), destroy: () => h.destroy(),
      onDeath: (fn) => {
        h.worker.once('exit', (exitCode: number) => fn({ exitCode }));
        h.worker.once('error', (e: Error) => fn(e));
      },
    };
  };
  return {
    mode: 'threads',
    get priority() {
      return raised ? priority : 'equal';
    },
    get smmuCpu() {
      return own;
    },
    trace: tracing.trace,
    startSmmu: (data) => link<SmmuActor>('smmu', data, 'smmu', true),
    startXen: (data) => link<XenActor>('xen', data, 'xen', true),
    startGuest: (data, name) => link<GuestKernel>('guest', data, `guest:${name}`),
    // The engine runs on this thread, stepped by the wait of whoever drives it.
    addEngine: () => () => {},
    async wait(ready, timeoutMs, park, engine) {
      const progressed = engine
        ? (): boolean => {
          if (engine.hasWork()) while (engine.step() > 0);
          return ready();
        }
        : ready;
      if (progressed()) return true;
      if (park) return (await waitUntilAsync(progressed, new Int32Array(park.sab), park.index, timeoutMs, spin)) === WAIT_OK;
      // Nothing to park on (an interrupt line seen from the program): a short timer poll.
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const left = deadline - performance.now();
        if (left <= 0) return progressed();
        await new Promise((r) => setTimeout(r, Math.min(1, left)));
        if (progressed()) return true;
      }
    },
    now: () => performance.now(),
  };
}

/** A collect that does not answer in this time (a hung guest) gives what the actor flushed. */
const COLLECT_TIMEOUT_MS = 5000;

/** Tracing on threads: a ring per worker (its control API) plus one for this thread. */
function threadTracing(): { trace: BackendTrace; add(api: ControlApi<TraceControl>, worker: { on(ev: 'message', f: (m: unknown) => void): unknown; once(ev: 'exit', f: () => void): unknown }): void } {
  const rec = threadRecorder();
  const tracers = new Map<string, Tracer>();
  const actors = new Set<{ api: ControlApi<TraceControl>; flushed: TraceDump | null; dead: boolean }>();
  // While tracing, an actor started later (a guest created meanwhile) starts tracing too.
  let active: TraceStartOptions | null = null;
  const each = <R>(f: (api: ControlApi<TraceControl>) => Promise<R>): Promise<PromiseSettledResult<R>[]> =>
    Promise.allSettled([...actors].filter((a) => !a.dead).map((a) => f(a.api)));
  return {
    add(api, worker) {
      const a = { api, flushed: null as TraceDump | null, dead: false };
      actors.add(a);
      if (active !== null) void api.traceStart(active).catch(() => {});
      worker.on('message', (m) => {
        if ((m as Partial<TraceFlushMessage> | null)?.kind === 'vsmmu:trace') a.flushed = (m as TraceFlushMessage).dump;
      });
      worker.once('exit', () => {
        a.dead = true;
        if (a.flushed === null) actors.delete(a);
      });
    },
    trace: {
      tracer(name) {
        let t = tracers.get(name);
        if (t === undefined) tracers.set(name, (t = rec.tracer(name)));
        return t;
      },
      async start(o) {
        for (const a of actors) if (a.dead) actors.delete(a);
        rec.start(o);
        active = o;
        await each((api) => api.traceStart(o));
      },
      async stop() {
        rec.stop();
        active = null;
        await each((api) => api.traceStop());
      },
      async collect() {
        const dumps: TraceDump[] = [rec.collect()];
        await Promise.all([...actors].map(async (a) => {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), COLLECT_TIMEOUT_MS)));
          const d = a.dead ? null : await Promise.race([a.api.traceCollect().catch(() => null), late]);
          clearTimeout(timer);
          const got = d ?? a.flushed;
          if (got !== null) dumps.push(got);
        }));
        return dumps;
      },
    },
  };
}
