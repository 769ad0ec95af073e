// Control plane: comlink over worker_threads, made safe for long-lived actors.
//  - nodeEndpoint: comlink's Endpoint over a Node MessagePort / Worker / parentPort (our
//    own ~30 lines; comlink's node-adapter has no types under nodenext, comlink#508).
//  - Errors: the worker side wraps every method so it returns an envelope
//    { ok: true, value } | { ok: false, error: ErrorRecord }; comlink's own "throw" path
//    keeps only message/name/stack. The caller side rebuilds a VsmmuError with its code.
//  - Exit: comlink never rejects a pending call when the peer dies (comlink#601/#655);
//    ControlClient tracks pending calls and rejects them with EVSMMU_WORKER_ERROR (uncaught
//    error in the worker) or EVSMMU_WORKER_EXIT (the worker exited), and refuses new ones.
// Control-plane only: a call costs a postMessage round trip and more; data goes on SABs.
import { expose, releaseProxy, wrap } from 'comlink';
import type { Endpoint, Remote } from 'comlink';
import { VsmmuError } from '../errors.ts';
import type { ErrorRecord } from '../errors.ts';

type Listener = Parameters<Endpoint['addEventListener']>[1];
type Transfer = NonNullable<Parameters<Endpoint['postMessage']>[1]>;

/** What a Node port looks like: MessagePort, Worker and parentPort all fit. */
export interface NodePort {
  // Node's Transferable differs from the DOM type comlink names; `never[]` accepts both.
  postMessage(value: unknown, transferList?: readonly never[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
  start?: () => void;
}

/** comlink Endpoint over a Node port: events arrive as { data }. */
export function nodeEndpoint(port: NodePort): Endpoint {
  const handlers = new WeakMap<Listener, (value: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transfer) => port.postMessage(message, (transfer ?? []) as unknown as readonly never[]),
    addEventListener: (_type: string, listener: Listener) => {
      const h = (data: unknown): void => {
        const ev = { data } as unknown as MessageEvent;
        if (typeof listener === 'function') listener(ev);
        else listener.handleEvent(ev);
      };
      handlers.set(listener, h);
      port.on('message', h);
    },
    removeEventListener: (_type: string, listener: Listener) => {
      const h = handlers.get(listener);
      if (!h) return;
      port.off('message', h);
      handlers.delete(listener);
    },
    start: () => port.start?.(),
  };
}

/** The wire result of every control call. */
export type Envelope = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: ErrorRecord };

/** Methods of T, each returning a promise of its awaited result. */
export type ControlApi<T> = {
  readonly [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

type WireApi = Record<string, (...args: unknown[]) => Envelope | Promise<Envelope>>;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Names of the callable methods of an object (own and inherited, not Object's). */
function methodNames(api: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = api; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const k of Object.getOwnPropertyNames(o)) {
      if (k !== 'constructor' && typeof (api as Record<string, unknown>)[k] === 'function') names.add(k);
    }
  }
  return [...names];
}

/** Worker side: exposes `api` on `port`, every method returning an Envelope. */
export function exposeControl(api: object, port: NodePort): void {
  const wire: WireApi = {};
  const target = api as Record<string, (...args: unknown[]) => unknown>;
  for (const name of methodNames(api)) {
    const fn = target[name] as (...a: unknown[]) => unknown;
    // Synchronous results answer without an extra promise turn; promises are awaited.
    wire[name] = (...args: unknown[]): Envelope | Promise<Envelope> => {
      try {
        const value = fn.apply(api, args);
        if (!isThenable(value)) return { ok: true, value };
        return Promise.resolve(value).then(
          (v): Envelope => ({ ok: true, value: v }),
          (e: unknown): Envelope => ({ ok: false, error: VsmmuError.recordOf(e) }),
        );
      } catch (e) {
        return { ok: false, error: VsmmuError.recordOf(e) };
      }
    };
  }
  expose(wire, nodeEndpoint(port));
}

/** Caller side of a control connection; calls reject when the worker dies. */
export class ControlClient<T> {
  /** Typed calls: resolve with the method's result or reject with a rebuilt VsmmuError. */
  readonly api: ControlApi<T>;
  /** The raw comlink remote (methods resolve to Envelopes). */
  readonly remote: Remote<WireApi>;
  private readonly pending = new Set<(e: VsmmuError) => void>();
  private readonly inflight = new Set<Promise<unknown>>();
  private dead: VsmmuError | undefined;
  private readonly methods = new Map<string, (...a: unknown[]) => Promise<Envelope>>();
  private readonly port: NodePort & { close(): void };

  constructor(port: NodePort & { close(): void }) {
    this.port = port;
    this.remote = wrap<WireApi>(nodeEndpoint(port));
    const cache = new Map<string, (...args: unknown[]) => Promise<unknown>>();
    this.api = new Proxy({} as ControlApi<T>, {
      get: (_t, name) => {
        if (typeof name !== 'string' || name === 'then') return undefined;
        let f = cache.get(name);
        if (!f) cache.set(name, (f = (...args: unknown[]) => this.call(name, args)));
        return f;
      },
    });
  }

  /** Calls `method` on the worker's API. */
  call(method: string, args: readonly unknown[]): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    // One comlink sub-proxy per method, kept: comlink builds (and registers for
    // finalization) a new proxy on every property read otherwise.
    let fn = this.methods.get(method);
    if (!fn) this.methods.set(method, (fn = this.remote[method] as unknown as (...a: unknown[]) => Promise<Envelope>));
    const p = new Promise<unknown>((resolve, reject) => {
      this.pending.add(reject);
      fn(...args).then(
        (env) => {
          this.pending.delete(reject);
          if (env.ok) resolve(env.value);
          else reject(VsmmuError.fromRecord(env.error));
        },
        (e: unknown) => {
          this.pending.delete(reject);
          reject(VsmmuError.fromRecord(VsmmuError.recordOf(e)));
        },
      );
    });
    this.inflight.add(p);
    const done = (): void => void this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Resolves once every call made so far has settled. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  get pendingCalls(): number {
    return this.pending.size;
  }

  /** The peer is gone: reject pending and future calls with `err`; close the port. */
  fail(err: VsmmuError): void {
    if (!this.dead) this.dead = err;
    for (const reject of this.pending) reject(this.dead);
    this.pending.clear();
    this.closePort();
  }

  /** Releases the comlink proxy and the port (no message is awaited: the peer may be gone).
   * Later calls reject with EVSMMU_ACTOR_CLOSED (or the error that ended the peer). */
  closePort(): void {
    this.dead ??= new VsmmuError('EVSMMU_ACTOR_CLOSED', 'actor control port is closed');
    try {
      void (this.remote[releaseProxy] as () => Promise<void>)().catch(() => {});
    } catch {
      // already released
    }
    this.port.close();
  }
}

export function workerExitError(name: string, exitCode: number): VsmmuError {
  return new VsmmuError('EVSMMU_WORKER_EXIT', `actor ${name} exited (code ${exitCode})`, { actor: name, exitCode });
}

export function workerErrorError(name: string, e: unknown): VsmmuError {
  const r = VsmmuError.recordOf(e);
  return new VsmmuError('EVSMMU_WORKER_ERROR', `actor ${name} failed: ${r.message}`, { actor: name, cause: r });
}
