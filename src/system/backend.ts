// Where a system's actors run. The System, Domain and Device handles talk to their actors
// through a Backend, so one program runs unchanged on worker threads (the default) or in
// sim mode (src/sim: every actor on the calling thread under a seeded scheduler).
import type { DmaEngine } from '../devices/dma-engine.ts';
import type { VsmmuError } from '../errors.ts';
import type { GuestKernel, GuestWorkerData } from '../guest/kernel.ts';
import { startActor } from '../runtime/actor.ts';
import type { ControlApi } from '../runtime/control.ts';

export type { ControlApi };
import { SpinPolicy, WAIT_OK, waitUntilAsync } from '../runtime/wait.ts';
import type { SmmuActor, SmmuWorkerData } from '../smmu/actor.ts';
import type { XenActor, XenWorkerData } from '../xen/actor.ts';

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

export interface Backend {
  readonly mode: 'threads' | 'sim';
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

/** The default: one worker thread per actor (src/runtime). */
export function threadBackend(): Backend {
  const spin = new SpinPolicy();
  const link = async <T extends object>(entry: string, data: unknown, name: string): Promise<ActorLink<T>> => {
    const h = await startActor<T>(entry, data, { name });
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
    startSmmu: (data) => link<SmmuActor>('smmu', data, 'smmu'),
    startXen: (data) => link<XenActor>('xen', data, 'xen'),
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
