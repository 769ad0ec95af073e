// The one service loop: runs any step machine (the SMMU, Xen, ...) on a worker thread.
//
//   while not stopped:
//     slice: step(now) again and again; after the last step that did work, keep stepping
//            for LINGER_MS (work comes in bursts: a driver's commands, a device's batches,
//            a guest's traps; parking and waking costs tens of microseconds), but never
//            longer than SLICE_MS in all
//     then:  if the actor still has work, yield to the event loop once (setImmediate) so
//            control-plane calls (comlink messages) get through, and go on;
//            otherwise park on the actor's doorbell (Atomics.waitAsync) until it rings or
//            the actor's next deadline passes. No spin before the park: the linger was the
//            spin. A second one (up to 4 096 calls of hasWork(), ~0.3 ms for Xen) after every
//            idle spell took CPU from the guests beside it (docs/security.md, noisy
//            neighbour: Xen used 0.15 of a core where 0.08 does the work).
//
// The actor never waits itself: everything that can give it work (register writes, ring
// commits, trap requests, interrupt lines) rings its one doorbell, and what it waits for
// without a doorbell it reports as a deadline.
import type { DoorbellDesc } from '../ports/doorbell.ts';
import { wake } from '../ports/doorbell.ts';
import { waitUntilAsync } from './wait.ts';
import { NO_TRACE, type Tracer } from '../trace/tracer.ts';

/** What the runner drives. */
export interface Steppable {
  /** Does a bounded amount of work at `now` (ms, the runner's clock); returns how much (0: none). */
  step(now: number): number;
  /** Whether a step would find work now. */
  hasWork(): boolean;
  /** When the actor wants a step though its doorbell did not ring (ms); Infinity for never. */
  nextDeadline(now: number): number;
  /**
   * Optional: after a step, a word another thread will change when the actor can progress
   * (and its value now), or null. While work keeps arriving (a guest polling by trap) the
   * loop never parks; on a machine with more runnable threads than cores, blocking briefly
   * on this word gives that other thread (the hardware) the core it needs.
   */
  awaitingPeer?(): PeerWord | null;
}

/** A word in a SAB and the value it holds now. */
export interface PeerWord {
  readonly word: Int32Array;
  readonly index: number;
  readonly value: number;
}

export interface ServiceOptions {
  /** The actor's doorbell: every port that can give it work rings this word. */
  readonly doorbell: DoorbellDesc;
  /** Longest run of steps between two turns of the event loop (default 2 ms). */
  readonly sliceMs?: number;
  /** Steps kept going after the last that did work, before parking (default 0.2 ms). */
  readonly lingerMs?: number;
  /**
   * Adapt the linger to how the work arrives (default false): halved after each linger that
   * caught nothing (down to 0.01 ms), doubled back after each that did. For an actor whose
   * work is sparse requests (Xen: traps), lingering after each one that no other follows
   * soon keeps a core busy for nothing, and on a machine with more runnable threads than
   * cores that core is taken from the threads that have work.
   */
  readonly adaptiveLinger?: boolean;
  /** The clock handed to step() (default performance.now). */
  readonly now?: () => number;
  /** Parks and wake-ups, as slices on the track 'service loop' (docs/tracing.md). */
  readonly tracer?: Tracer;
}

const SLICE_MS = 2;
const LINGER_MS = 0.2;
const MIN_LINGER_MS = 0.01;
/** Longest block on a peer's word between two steps (see Steppable.awaitingPeer). */
const PEER_WAIT_MS = 0.05;

export class ServiceLoop {
  readonly #actor: Steppable;
  readonly #bell: Int32Array;
  readonly #bellIdx: number;
  readonly #slice: number;
  readonly #linger: number;
  readonly #adaptive: boolean;
  readonly #now: () => number;
  readonly #tr: Tracer;
  #stopped = false;
  #running: Promise<void> | null = null;
  readonly #ready = (): boolean => this.#stopped || this.#actor.hasWork();

  constructor(actor: Steppable, opts: ServiceOptions) {
    this.#actor = actor;
    this.#bell = new Int32Array(opts.doorbell.sab);
    this.#bellIdx = opts.doorbell.index;
    this.#slice = opts.sliceMs ?? SLICE_MS;
    this.#linger = opts.lingerMs ?? LINGER_MS;
    this.#adaptive = opts.adaptiveLinger ?? false;
    this.#now = opts.now ?? (() => performance.now());
    this.#tr = opts.tracer ?? NO_TRACE;
  }

  /** Starts serving (idempotent); resolves when stopped. A step that throws ends the loop. */
  start(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  async #run(): Promise<void> {
    const actor = this.#actor;
    const now = this.#now;
    const adaptive = this.#adaptive;
    let linger = this.#linger;
    while (!this.#stopped) {
      const t0 = now();
      let idle = false;
      let caught = false;
      let t = t0;
      for (let last = t0; t - t0 < this.#slice && t - last < linger; t = now()) {
        if (actor.step(t) > 0) {
          last = t;
          if (idle) caught = true;
          idle = false;
        } else {
          idle = true;
          if (this.#stopped) break;
        }
        const peer = actor.awaitingPeer?.();
        if (peer) Atomics.wait(peer.word, peer.index, peer.value, PEER_WAIT_MS);
      }
      // Adaptive: a slice that ended on its linger without a step catching work after an
      // idle one wasted the linger (the work is sparser): halve it; a caught step doubles it.
      if (adaptive && t - t0 < this.#slice) {
        linger = caught ? Math.min(this.#linger, linger * 2) : Math.max(MIN_LINGER_MS, linger / 2);
      }
      if (this.#stopped) break;
      if (actor.hasWork()) {
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      const tp = now();
      const deadline = actor.nextDeadline(tp);
      const timeout = deadline === Infinity ? Infinity : Math.max(0, deadline - tp);
      const parked = this.#tr.enabled ? this.#tr.stamp() : 0;
      await waitUntilAsync(this.#ready, this.#bell, this.#bellIdx, timeout, null);
      if (this.#tr.enabled && parked !== 0) this.#tr.slice('service loop', 'parked', parked, { woken: this.#stopped ? 'stop' : this.#actor.hasWork() ? 'doorbell' : 'deadline' });
    }
  }

  /** Stops after the current step; resolves once the loop has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    wake(this.#bell, this.#bellIdx);
    await this.#running;
  }
}

/**
 * Serves `machine` on this thread until `control`'s disposal: starts the loop now and makes
 * `control[Symbol.asyncDispose]` stop it first (then run the control object's own disposal).
 * Returns `control`, for serveActor.
 */
export function serveStepped<T extends object>(control: T, machine: Steppable, opts: ServiceOptions): T {
  const loop = new ServiceLoop(machine, opts);
  const own = (control as Partial<AsyncDisposable>)[Symbol.asyncDispose];
  Object.defineProperty(control, Symbol.asyncDispose, {
    configurable: true,
    value: async (): Promise<void> => {
      await loop.stop();
      await own?.call(control);
    },
  });
  void loop.start();
  return control;
}
