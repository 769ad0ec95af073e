// Actor start-up and lifecycle. An actor is one worker thread running a thin entry
// (workers/NAME.ts) that calls serveActor(factory).
//
// Handshake (worker -> parent, on parentPort):
//   { kind: 'vsmmu:ready', port, tid } the control API is exposed on `port` (transferred);
//                                     `tid`: the thread's kernel id (null off Linux)
//   { kind: 'vsmmu:failed', error }   the factory threw; `error` is an ErrorRecord
// An import error in the entry never reaches serveActor: the Worker emits 'error', which
// rejects startActor too. Parent -> worker: { kind: 'vsmmu:close' } asks the actor to
// dispose itself and let its thread end.
//
// Lifecycle: starting -> ready -> (closing -> closed) | destroyed | crashed.
//   close():   drain (wait for calls in flight), dispose the actor in its thread, wait for
//              the thread to end by itself (terminate after closeTimeoutMs); later calls
//              reject with EVSMMU_ACTOR_CLOSED.
//   destroy(): terminate now; pending calls reject with EVSMMU_ACTOR_DESTROYED.
//   crash:     an uncaught error rejects pending calls with EVSMMU_WORKER_ERROR, an exit with
//              EVSMMU_WORKER_EXIT; later calls reject with the same error.
import { MessageChannel, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { MessagePort, ResourceLimits, Transferable as WorkerTransferable } from 'node:worker_threads';
import { VsmmuError } from '../errors.ts';
import type { ErrorRecord } from '../errors.ts';
import { ControlClient, exposeControl, workerErrorError, workerExitError } from './control.ts';
import type { ControlApi } from './control.ts';
import type { Remote } from 'comlink';
import { workerEntry } from './entry.ts';
import { osThreadId } from './priority.ts';

type Handshake = { kind: 'vsmmu:ready'; port: MessagePort; tid: number | null } | { kind: 'vsmmu:failed'; error: ErrorRecord };
const CLOSE = 'vsmmu:close';

export interface ActorOptions {
  /** Name in errors and thread name (default: the entry name). */
  readonly name?: string;
  readonly transferList?: readonly WorkerTransferable[];
  readonly resourceLimits?: ResourceLimits;
  /** Start-up bound (default 30 s): no handshake by then rejects with EVSMMU_ACTOR_START. */
  readonly startTimeoutMs?: number;
  /** close(): how long the thread may take to end by itself before it is terminated (5 s). */
  readonly closeTimeoutMs?: number;
}

export interface ActorHandle<T> extends AsyncDisposable {
  readonly name: string;
  readonly worker: Worker;
  /** Its thread's kernel id (Linux), for the scheduler (src/runtime/priority.ts); else null. */
  readonly tid: number | null;
  /** Typed control calls; reject with rebuilt VsmmuErrors, EVSMMU_WORKER_EXIT / EVSMMU_WORKER_ERROR. */
  readonly api: ControlApi<T>;
  /** The raw comlink remote (each method resolves to an Envelope). */
  readonly remote: Remote<Record<string, (...args: unknown[]) => Promise<unknown>>>;
  /** Drains calls in flight, disposes the actor, waits for its thread to end. */
  close(): Promise<void>;
  /** Terminates the thread now; pending calls reject with EVSMMU_ACTOR_DESTROYED. */
  destroy(): Promise<void>;
}

/**
 * Starts the actor whose entry is `entry` (a name in workers/, or a URL) with `data` as
 * workerData; resolves once it is ready, rejects with EVSMMU_ACTOR_START if it fails to start.
 */
export function startActor<T extends object>(entry: string | URL, data: unknown, opts: ActorOptions = {}): Promise<ActorHandle<T>> {
  const url = typeof entry === 'string' ? workerEntry(entry) : entry;
  const name = opts.name ?? (typeof entry === 'string' ? entry : (url.pathname.split('/').pop() ?? 'actor'));
  const worker = new Worker(url, {
    workerData: data,
    name,
    ...(opts.transferList ? { transferList: [...opts.transferList] } : {}),
    ...(opts.resourceLimits ? { resourceLimits: opts.resourceLimits } : {}),
  });
  return new Promise<ActorHandle<T>>((resolve, reject) => {
    const startError = (message: string, details: Record<string, unknown>): VsmmuError =>
      new VsmmuError('EVSMMU_ACTOR_START', `actor ${name} failed to start: ${message}`, { actor: name, ...details });
    const timer = setTimeout(() => {
      cleanup();
      reject(startError('no handshake in time', { timeoutMs: opts.startTimeoutMs ?? 30_000 }));
      void worker.terminate();
    }, opts.startTimeoutMs ?? 30_000);
    const onMessage = (m: Handshake): void => {
      if (m?.kind === 'vsmmu:ready') {
        cleanup();
        resolve(new Actor<T>(name, worker, m.port, m.tid, opts.closeTimeoutMs ?? 5_000));
      } else if (m?.kind === 'vsmmu:failed') {
        cleanup();
        reject(startError(m.error.message, { cause: m.error }));
        // The thread ends by itself (serveActor holds nothing after a failure).
      }
    };
    const onError = (e: unknown): void => {
      cleanup();
      reject(startError(VsmmuError.recordOf(e).message, { cause: VsmmuError.recordOf(e) }));
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(startError(`exited with code ${code} before its handshake`, { exitCode: code }));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

type State = 'ready' | 'closing' | 'closed' | 'destroyed' | 'crashed';

class Actor<T> implements ActorHandle<T> {
  readonly name: string;
  readonly worker: Worker;
  readonly tid: number | null;
  readonly api: ControlApi<T>;
  readonly remote: Remote<Record<string, (...args: unknown[]) => Promise<unknown>>>;
  private readonly client: ControlClient<T>;
  private state: State = 'ready';
  private readonly exited: Promise<number>;
  private readonly closeTimeoutMs: number;

  constructor(name: string, worker: Worker, port: MessagePort, tid: number | null, closeTimeoutMs: number) {
    this.name = name;
    this.worker = worker;
    this.tid = tid;
    this.closeTimeoutMs = closeTimeoutMs;
    this.client = new ControlClient<T>(port);
    this.api = this.client.api;
    this.remote = this.client.remote as unknown as ActorHandle<T>['remote'];
    worker.on('error', (e: unknown) => {
      if (this.state === 'ready' || this.state === 'closing') this.state = 'crashed';
      this.client.fail(workerErrorError(name, e));
    });
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code: number) => {
        if (this.state === 'ready') this.state = 'crashed';
        this.client.fail(workerExitError(name, code));
        resolve(code);
      });
    });
  }

  async close(): Promise<void> {
    if (this.state !== 'ready') {
      await this.exited;
      return;
    }
    this.state = 'closing';
    await this.client.drain();
    this.client.closePort();
    this.worker.postMessage({ kind: CLOSE });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.closeTimeoutMs)));
    const r = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') await this.worker.terminate();
    await this.exited;
    if (this.state === 'closing') this.state = 'closed';
  }

  async destroy(): Promise<void> {
    if (this.state === 'ready' || this.state === 'closing') {
      this.state = 'destroyed';
      this.client.fail(new VsmmuError('EVSMMU_ACTOR_DESTROYED', `actor ${this.name} was destroyed`, { actor: this.name }));
      await this.worker.terminate();
    }
    await this.exited;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The dispose hooks serveActor looks for on the actor object. */
interface Disposable_ {
  [Symbol.asyncDispose]?: () => Promise<void>;
  [Symbol.dispose]?: () => void;
}

/**
 * Worker side: builds the actor with `factory(workerData)`, exposes its methods as the
 * control API and posts the handshake; on close, disposes it (Symbol.asyncDispose or
 * Symbol.dispose if present) and releases every handle so the thread ends by itself.
 */
export function serveActor<T extends object>(factory: (data: unknown) => T | Promise<T>): void {
  const parent = parentPort;
  if (isMainThread || !parent) throw new VsmmuError('EVSMMU_ACTOR_CONTEXT', 'serveActor must run in a worker thread');
  void (async () => {
    let actor: T;
    try {
      actor = await factory(workerData);
    } catch (e) {
      parent.postMessage({ kind: 'vsmmu:failed', error: VsmmuError.recordOf(e) } satisfies Handshake);
      return;
    }
    const { port1, port2 } = new MessageChannel();
    exposeControl(actor, port1);
    const onControl = (m: { kind?: string }): void => {
      if (m?.kind !== CLOSE) return;
      parent.off('message', onControl);
      const d = actor as Disposable_;
      void (async () => {
        try {
          if (d[Symbol.asyncDispose]) await d[Symbol.asyncDispose]?.();
          else d[Symbol.dispose]?.();
        } finally {
          port1.close();
        }
      })();
    };
    parent.on('message', onControl);
    parent.postMessage({ kind: 'vsmmu:ready', port: port2, tid: osThreadId() } satisfies Handshake, [port2]);
  })();
}
